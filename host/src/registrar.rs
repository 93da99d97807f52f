//! `attestor registrar`: keeps SPIRE server's registration entries in step with the identity
//! rules. Pods, namespaces and nodes are watched through the API server; each pod's facts (what
//! the pod object says; what only a running process has is unknown) go through the same policy
//! set the plugin uses; the entries that follow are written through SPIRE server's Entry API.
//!
//! `entry.rs` is a registration entry in plain types; `entry_api.rs` is the Entry API client (SPIRE server's admin socket; the protos are
//! spire-api-sdk's, in `proto/spire/api/`), `proto.rs` the generated code.

pub mod cluster;
pub mod desired;
pub mod entry;
pub mod entry_api;
pub mod lease;
pub mod metrics;
pub mod plan;
pub mod pods;
pub mod proto;
pub mod reconcile;
pub mod run;
pub mod settings;
