//! The registrar's view of the cluster (being written).
