//! SPIRE's `k8s_psat` node attestation, server side: an agent presents a projected service
//! account token; the API server's TokenReview says whose it is, the pod and node it names are
//! looked up, and the agent gets SPIRE's agent ID and selectors.
//!
//! `client.rs` is the three questions asked of the API server (SPIRE's `apiserver.Client`),
//! as a trait so the attestation logic is tested against an in-memory fake; `kube_client.rs`
//! asks a real API server with `kube`; `settings.rs` is the `clusters` configuration;
//! `attest.rs` is the attestation itself, step by step in SPIRE's order; `policy.rs` is what
//! attestor adds after SPIRE's steps: the operator's Cedar node policies (`attest_node`), which
//! may refuse an admitted agent or choose its agent ID.
//!
//! Served by the plugin's `node-attestor-server` role (`spire/node_server.rs`).

pub mod attest;
pub mod client;
pub mod kube_client;
pub mod policy;
pub mod settings;
