//! The three questions the server role asks a cluster's API server, as SPIRE's
//! `apiserver.Client` asks them: a TokenReview of the agent's token, the agent's pod, and the
//! pod's node. A trait, so the attestation logic runs against an in-memory fake in tests and
//! against `kube` ([`super::kube_client`]) in service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use k8s_openapi::api::authentication::v1::TokenReviewStatus;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::fault::Fault;

/// An answer from the API server, boxed so clients can be held as `dyn ApiClient`.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>;

/// What the server role asks one cluster's API server.
pub trait ApiClient: Send + Sync + fmt::Debug {
    /// A TokenReview of `token` for `audiences` (empty: none are sent, and the API server
    /// checks its own). `Ok` only when the review carries no error and, when it authenticated
    /// the token and audiences were asked for, granted one of them (SPIRE's helper checks).
    fn validate_token<'a>(&'a self, token: &'a str, audiences: &'a [String]) -> Answer<'a, TokenReviewStatus>;

    /// The pod `namespace/name`.
    fn get_pod<'a>(&'a self, namespace: &'a str, name: &'a str) -> Answer<'a, Pod>;

    /// The node `name`.
    fn get_node<'a>(&'a self, name: &'a str) -> Answer<'a, Node>;
}

/// Why the API server could not answer, in SPIRE's words (`unable to query token review API:
/// …`, `token review API response contains an error: …`, `token review API did not validate
/// audience: wanted one of [...] but got [...]`, `empty namespace`, `empty pod name`, `unable
/// to query pods API: …`, `unable to query nodes API: …`). Outside text in it is bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// SPIRE's message.
    pub message: String,
}

impl ClientError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// Who must act: the API server (or the credentials the server role uses for it).
    pub fn fault(&self) -> Fault {
        Fault::Kubelet
    }
}
