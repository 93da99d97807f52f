//! The SPIRE server Entry API client (being written).
