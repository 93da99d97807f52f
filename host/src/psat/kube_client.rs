//! The real [`ApiClient`]: SPIRE's `apiserver.Client` on `kube` (rustls, ring), one per cluster.
//!
//! SPIRE rebuilds its clientset from the kubeconfig (or the in-cluster files) on every call; a
//! `kube::Client` is a connection pool, and building one costs a file read, a YAML parse and
//! a TLS configuration, so [`KubeClient`] builds it once and again only when a file it was
//! built from changes ([`source`]: length, mtime and inode of each, a `stat` per file per call).
//! [`KubeClients`] holds one per configured cluster.

mod clients;
mod review;
mod source;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};

pub use clients::KubeClients;
pub use review::{check_review, go_quote_list};
use source::{Built, Source};

use super::client::{Answer, ApiClient, ClientError};

/// The longest piece of outside text (an API server's message) repeated in an error.
const MAX_TEXT: usize = 1024;

/// One cluster's API server, asked through `kube`.
#[derive(Debug)]
pub struct KubeClient {
    source: Source,
    timeout: Duration,
    /// The client last built and the file stamps it was built from.
    current: Mutex<Option<Arc<Built>>>,
    /// Held while building, so concurrent callers that find the client stale build it once.
    building: tokio::sync::Mutex<()>,
    builds: AtomicU64,
}

impl KubeClient {
    /// How long a call may take when nothing else is said. SPIRE sets none (its gRPC caller's
    /// deadline applies); an API server that never answers must not hold an attestation forever.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A client for the kubeconfig file `kube_config_file`, or for the in-cluster service
    /// account when it is empty (SPIRE's rule), each call bounded by `timeout`. Nothing is
    /// read until the first call.
    pub fn new(kube_config_file: &str, timeout: Duration) -> Self {
        Self {
            source: Source::new(kube_config_file),
            timeout,
            current: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
            builds: AtomicU64::new(0),
        }
    }

    /// The kubeconfig file this client reads (empty: in-cluster).
    pub fn kube_config_file(&self) -> &str {
        self.source.kube_config_file()
    }

    /// The time limit of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times the underlying `kube::Client` was built (or its build attempted).
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// The client, rebuilt when a file it came from changed: SPIRE's `unable to get clientset:
    /// …` when it cannot be built.
    async fn client(&self) -> Result<kube::Client, ClientError> {
        if let Some(client) = self.fresh() {
            return client;
        }
        let _building = self.building.lock().await;
        // Another caller may have rebuilt it while this one waited.
        if let Some(client) = self.fresh() {
            return client;
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let built = Arc::new(self.source.build(self.timeout).await);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(built.clone());
        built.client()
    }

    /// The current client (or its build error) if its files are unchanged.
    fn fresh(&self) -> Option<Result<kube::Client, ClientError>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()?;
        current.unchanged().then(|| current.client())
    }

    /// `call` within the time limit; failures become `<what>: <why>`.
    async fn within<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ClientError::new(format!("{what}: {}", describe(&e)))),
            Err(_) => Err(ClientError::new(format!("{what}: no answer within {:?}", self.timeout))),
        }
    }

    async fn review(&self, token: &str, audiences: &[String]) -> Result<TokenReviewStatus, ClientError> {
        let client = self.client().await?;
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                // SPIRE sends its list as is; an empty one is left out, so the API server checks
                // its own audiences.
                audiences: (!audiences.is_empty()).then(|| audiences.to_vec()),
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(client);
        let answer =
            self.within("unable to query token review API", api.create(&PostParams::default(), &review)).await?;
        check_review(answer.status, audiences)
    }

    async fn pod(&self, namespace: &str, name: &str) -> Result<Pod, ClientError> {
        if namespace.is_empty() {
            return Err(ClientError::new("empty namespace"));
        }
        if name.is_empty() {
            return Err(ClientError::new("empty pod name"));
        }
        let api: Api<Pod> = Api::namespaced(self.client().await?, namespace);
        self.within("unable to query pods API", api.get(name)).await
    }

    async fn node(&self, name: &str) -> Result<Node, ClientError> {
        if name.is_empty() {
            return Err(ClientError::new("empty node name"));
        }
        let api: Api<Node> = Api::all(self.client().await?);
        self.within("unable to query nodes API", api.get(name)).await
    }
}

impl ApiClient for KubeClient {
    fn validate_token<'a>(&'a self, token: &'a str, audiences: &'a [String]) -> Answer<'a, TokenReviewStatus> {
        Box::pin(self.review(token, audiences))
    }

    fn get_pod<'a>(&'a self, namespace: &'a str, name: &'a str) -> Answer<'a, Pod> {
        Box::pin(self.pod(namespace, name))
    }

    fn get_node<'a>(&'a self, name: &'a str) -> Answer<'a, Node> {
        Box::pin(self.node(name))
    }
}

/// A `kube` error on one line, bounded. An API server's refusal is its `Status` message (what
/// client-go prints, so SPIRE's text) followed by the HTTP code and reason, which client-go's
/// message leaves to be guessed (`(403 Forbidden)`).
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() { "no message" } else { status.message.as_str() };
            let mut text = crate::text::bounded(message, MAX_TEXT);
            match (status.code, status.reason.is_empty()) {
                (0, true) => {}
                (0, false) => text.push_str(&format!(" ({})", crate::text::bounded(&status.reason, 64))),
                (code, true) => text.push_str(&format!(" ({code})")),
                (code, false) => text.push_str(&format!(" ({code} {})", crate::text::bounded(&status.reason, 64))),
            }
            text
        }
        other => crate::text::bounded(&crate::text::chain(other), MAX_TEXT),
    }
}

#[cfg(test)]
mod tests;
