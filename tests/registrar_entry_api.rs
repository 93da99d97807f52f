//! The registrar's Entry API client against a stateful loopback SPIRE Entry API server (being written).
