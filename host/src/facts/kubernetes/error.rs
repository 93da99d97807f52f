//! Kubernetes source errors, with the status code SPIRE returns for each.

use crate::facts::cgroup::LocateError;
use crate::fault::Fault;

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
    #[error(transparent)]
    Credentials(#[from] CredentialError),
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

impl KubeletError {
    /// Who must act: the operator for credentials and recorded files, else the kubelet.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Credentials(_) | Self::File { .. } => Fault::Config,
            Self::Transport(_) | Self::Status { .. } | Self::Parse(_) | Self::NotAnObject | Self::NoItems => {
                Fault::Kubelet
            }
        }
    }
}

impl K8sError {
    /// Who must act for this to go away.
    pub fn fault(&self) -> Fault {
        match self {
            Self::KubeletDisabled | Self::Unsupported(_) => Fault::Config,
            Self::Locate(e) if e.is_precondition() => Fault::Workload,
            Self::Locate(_) => Fault::Host,
            Self::Kubelet(e) => e.fault(),
            Self::NotFound | Self::DecodePod(_) | Self::TwoPods | Self::NamespaceLabels { .. } => Fault::Kubelet,
        }
    }

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

/// The kubelet or API server client could not be built from its configuration (SPIRE: at
/// Configure). Always the operator's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    /// The endpoint needs no kubelet client (a recorded pod list, or the kubelet disabled).
    #[error("no kubelet client for endpoint {0}")]
    NoClient(String),
    /// `certificate_path` without `private_key_path`.
    #[error("the private key path is required with the certificate path")]
    KeyMissing,
    /// `private_key_path` without `certificate_path`.
    #[error("the certificate path is required with the private key path")]
    CertificateMissing,
    /// A credential file cannot be read or used.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The API server client (namespace labels) cannot be created.
    #[error("unable to create the API server client: {0}")]
    ApiServer(String),
}

impl ClientConfigError {
    /// Always the operator's.
    pub fn fault(&self) -> Fault {
        Fault::Config
    }
}

/// Which kubelet credential file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `kubelet_ca_path`.
    Ca,
    /// `certificate_path`.
    Certificate,
    /// `private_key_path`.
    PrivateKey,
    /// `token_path`.
    Token,
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ca => "kubelet CA",
            Self::Certificate => "certificate",
            Self::PrivateKey => "private key",
            Self::Token => "token",
        })
    }
}

/// A kubelet credential that cannot be loaded, in SPIRE's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The file cannot be read.
    #[error("unable to load {what}: open {path}: {problem}")]
    Read {
        /// Which file.
        what: Credential,
        /// Its path.
        path: std::path::PathBuf,
        /// The I/O error.
        problem: String,
    },
    /// The CA bundle is not usable PEM.
    #[error("unable to parse kubelet CA: {0}")]
    Ca(TlsError),
    /// The certificate and key (or the TLS configuration built from them) are not usable.
    #[error("unable to load keypair: {0}")]
    Keypair(TlsError),
    /// The HTTP client cannot be built.
    #[error("unable to build the kubelet client: {0}")]
    Client(String),
}

/// Why PEM material could not make a TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A PEM section does not parse.
    #[error("{0}")]
    Pem(String),
    /// No certificate in a file that must hold one.
    #[error("{0}")]
    NoCertificates(&'static str),
    /// rustls refused a certificate, key or setting.
    #[error("{0}")]
    Rustls(String),
}
