//! Kubernetes source errors, with the status code SPIRE returns for each.

use crate::facts::cgroup::LocateError;

/// A gRPC-style status code, as SPIRE's `k8s` attestor assigns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The request or configuration is wrong.
    InvalidArgument,
    /// The system is not in a state to answer (not configured, conflicting cgroups).
    FailedPrecondition,
    /// A host or kubelet fault.
    Internal,
    /// The kubelet could not be reached or answered badly.
    Unavailable,
    /// The container never showed up.
    DeadlineExceeded,
}

/// Why the kubelet's pod list could not be fetched. Never cached; shared by every caller
/// waiting on the same request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeletError {
    /// Configuration files could not be (re)loaded: CA, key pair, token.
    #[error("{0}")]
    Credentials(String),
    /// The request failed (connection, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// Not 200.
    #[error("unexpected status code on pods response: {status} {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Up to 1024 bytes of the body.
        body: String,
    },
    /// Not JSON.
    #[error("unable to parse kubelet response: {0}")]
    Parse(String),
    /// JSON, but not an object.
    #[error("invalid kubelet response: expected an object")]
    NotAnObject,
    /// No `items` array.
    #[error("invalid kubelet response: expected an items array")]
    NoItems,
    /// The recorded pod list file could not be read.
    #[error("cannot read pod list file {path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        problem: String,
    },
}

/// Why Kubernetes facts could not be gathered. Messages are SPIRE's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum K8sError {
    /// Config: `disable_kubelet_client = true`.
    #[error("kubelet client is disabled")]
    KubeletDisabled,
    /// The cgroups could not be read or contradict each other.
    #[error(transparent)]
    Locate(#[from] LocateError),
    /// Kubelet: the last attempt's fetch failed.
    #[error(transparent)]
    Kubelet(#[from] KubeletError),
    /// The container never appeared in the pod list.
    #[error("no selectors found after max poll attempts")]
    NotFound,
    /// Kubelet: an examined pod is not a pod.
    #[error("unable to decode pod info from kubelet response: {0}")]
    DecodePod(String),
    /// Kubelet: the container id appears in two pods (pod UID unknown).
    #[error("two pods found with same container Id")]
    TwoPods,
    /// API server: namespace labels could not be read.
    #[error("unable to get namespace labels for {namespace:?}: {problem}")]
    NamespaceLabels {
        /// The namespace.
        namespace: String,
        /// The API error.
        problem: String,
    },
    /// Config: a feature this build does not have.
    #[error("{0}")]
    Unsupported(String),
}

impl K8sError {
    /// SPIRE's status code for this error.
    pub fn code(&self) -> Code {
        match self {
            Self::KubeletDisabled => Code::FailedPrecondition,
            Self::Locate(e) if e.is_precondition() => Code::FailedPrecondition,
            Self::Locate(_) | Self::TwoPods | Self::NamespaceLabels { .. } => Code::Internal,
            Self::Kubelet(_) | Self::DecodePod(_) => Code::Unavailable,
            Self::NotFound => Code::DeadlineExceeded,
            Self::Unsupported(_) => Code::InvalidArgument,
        }
    }
}

/// The kubelet client could not be built from its configuration (SPIRE: at Configure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientConfigError(pub String);
