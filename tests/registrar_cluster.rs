//! The registrar's view of the cluster against a loopback API server with real list and watch semantics (being written).
