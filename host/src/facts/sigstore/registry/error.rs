//! `RegistryError`: what went wrong talking to a registry, naming the host, what was being
//! fetched and the problem; outside text (bodies, headers, parser messages) bounded.

use std::path::PathBuf;
use std::time::Duration;

use crate::fault::Fault;

/// A registry request that failed, or a client that could not be built.
///
/// Every variant about a request carries `host` (the host asked, and the registry it stands for
/// when it is a mirror) and `what` (what was fetched: a manifest, a blob or the referrers of an
/// image, with the repository and reference).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// `registry_ca_path` cannot be read or holds no usable certificate.
    #[error("registry_ca_path {path}: {problem}")]
    CaFile {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A `registry_mirrors` entry is not an https base URL.
    #[error("registry_mirrors: the mirror of {registry} ({url:?}) is not usable: {problem}")]
    Mirror {
        /// The registry host the mirror is for.
        registry: String,
        /// The configured URL, bounded.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `HTTPS_PROXY` in the environment is not a proxy URL.
    #[error("HTTPS_PROXY is not a usable proxy URL (its value is not repeated: it may hold a password): {0}")]
    Proxy(String),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the registry HTTP client: {0}")]
    Client(String),
    /// The TLS handshake failed: an untrusted or invalid certificate, or no common protocol.
    #[error("registry {host}: {what}: TLS failure: {problem}")]
    Tls {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The TLS library's reason.
        problem: String,
    },
    /// The host could not be reached, or the connection broke.
    #[error("registry {host}: {what}: cannot reach the registry: {problem}")]
    Transport {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The transport's reason.
        problem: String,
    },
    /// No complete answer (headers and body) within the request timeout.
    #[error("registry {host}: {what}: no complete answer within {timeout:?}")]
    Timeout {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The timeout.
        timeout: Duration,
    },
    /// An HTTP status that is neither success, not found, nor an authentication challenge
    /// (429 and 5xx included: never retried here, the caller remembers failures briefly).
    #[error("registry {host}: {what}: answered HTTP {status}{detail}")]
    Status {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The status code.
        status: u16,
        /// The start of the registry's error body, bounded, with a leading separator.
        detail: String,
    },
    /// Authentication failed: 401 again after authenticating, or credentials refused by the
    /// token endpoint, or a challenge that needs credentials none of which are configured.
    #[error("registry {host}: {what}: {problem}")]
    Unauthorized {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// What happened.
        problem: String,
        /// Whether configured credentials were sent (then they are what was refused).
        credentials: bool,
    },
    /// A registry that accepts only HTTP Basic credentials, and none are configured for it.
    #[error("registry {host}: {what}: the registry asks for credentials and registry_credentials has none for it")]
    NeedsCredentials {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
    },
    /// A 401 whose `WWW-Authenticate` challenge cannot be answered, or a token endpoint that
    /// answered something unusable.
    #[error("registry {host}: {what}: authentication failed: {problem}")]
    Challenge {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// What is wrong with the challenge or the token answer.
        problem: String,
    },
    /// A redirect that is not followed: to http, without a usable `Location`, or too many.
    #[error("registry {host}: {what}: redirect refused: {problem}")]
    Redirect {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// Why.
        problem: String,
    },
    /// A body larger than the configured cap (announced or actual).
    #[error("registry {host}: {what}: larger than the {max} bytes read")]
    TooLarge {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The cap.
        max: usize,
    },
    /// Bytes whose sha256 is not the digest they were asked by.
    #[error("registry {host}: {what}: content hashes to {actual}, not to the digest asked for")]
    Digest {
        /// The host asked.
        host: String,
        /// What was fetched (naming the expected digest).
        what: String,
        /// The digest of what was received.
        actual: String,
    },
    /// Bytes whose length is not the size their descriptor states.
    #[error("registry {host}: {what}: {actual} bytes, but its descriptor says {expected}")]
    Size {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// A manifest or index that does not parse, or lacks what it must have.
    #[error("registry {host}: {what}: malformed: {problem}")]
    Malformed {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// The problem, bounded.
        problem: String,
    },
    /// More layers or referrers than `max_layers`.
    #[error("registry {host}: {what}: {count} {items}, more than the {max} read")]
    TooMany {
        /// The host asked.
        host: String,
        /// What was fetched.
        what: String,
        /// How many there are.
        count: usize,
        /// `layers` or `referrers`.
        items: &'static str,
        /// The cap.
        max: usize,
    },
}

impl RegistryError {
    /// Who must act: the operator for a bad CA file, mirror or refused credentials (or missing
    /// ones the registry demands), this host for a client it cannot build, the registry for
    /// everything it answered or failed to answer.
    pub fn fault(&self) -> Fault {
        match self {
            Self::CaFile { .. } | Self::Mirror { .. } | Self::Proxy(_) | Self::NeedsCredentials { .. } => Fault::Config,
            Self::Unauthorized { credentials: true, .. } => Fault::Config,
            Self::Client(_) => Fault::Host,
            _ => Fault::Registry,
        }
    }
}
