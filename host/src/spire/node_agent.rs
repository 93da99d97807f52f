//! The agent `NodeAttestor` role, SPIRE's `k8s_psat` agent half: on every `AidAttestation` read
//! the projected service-account token afresh and send `{"cluster":"…","token":"…"}` as the one
//! payload, then end the stream (no challenge follows).

mod payload;
mod settings;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tonic::{Request, Response, Status, Streaming};

use super::configurable::RoleConfig;
use super::proto::spire::plugin::agent::nodeattestor::v1 as na;
use super::proto::spire::service::common::config::v1 as cfg;
use crate::config::ConfigError;
use crate::fault::Fault;

pub use payload::encode as payload;
pub use settings::{DEFAULT_TOKEN_PATH, NodeAgentSettings};

/// The largest token file read. A projected token is about 1 KiB; SPIRE reads any size, but a
/// payload over gRPC's default 4 MiB message limit cannot reach the server anyway, and a
/// `token_path` pointing at a device (`/dev/zero`) must not grow the agent without bound.
pub const MAX_TOKEN_BYTES: u64 = 4 << 20;

/// Why there is no payload to send.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No `Configure` has succeeded yet (SPIRE's message).
    #[error("not configured")]
    NotConfigured,
    /// The token file could not be read (SPIRE's message; the cause worded as Go words it).
    #[error("unable to load token from {}: {op} {}: {}", path.display(), path.display(), go_io_text(source))]
    Unreadable {
        /// The configured `token_path`.
        path: PathBuf,
        /// `open` or `read`, as Go's `*PathError` names the failed step.
        op: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The token file is empty (SPIRE's message).
    #[error("unable to load token from {}: {:?} is empty", path.display(), path.display().to_string())]
    Empty {
        /// The configured `token_path`.
        path: PathBuf,
    },
    /// The token file is larger than [`MAX_TOKEN_BYTES`].
    #[error("unable to load token from {}: larger than {MAX_TOKEN_BYTES} bytes", path.display())]
    TooLarge {
        /// The configured `token_path`.
        path: PathBuf,
    },
}

impl AgentError {
    /// Who must act: every case is the deployment's (no `Configure` yet, the projected token
    /// volume not mounted where `token_path` says).
    pub fn fault(&self) -> Fault {
        Fault::Config
    }

    /// SPIRE's code for it.
    pub fn status(&self) -> Status {
        match self {
            Self::NotConfigured => Status::failed_precondition(self.to_string()),
            Self::Unreadable { .. } | Self::Empty { .. } | Self::TooLarge { .. } => {
                Status::invalid_argument(self.to_string())
            }
        }
    }
}

/// An OS error as Go's `syscall.Errno` prints it: the C library's text, lower-cased first
/// letter, without Rust's ` (os error N)`.
fn go_io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => &text[..at],
        _ => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The whole token file, as SPIRE reads it (no trimming), refused when missing or empty.
pub fn read_token(path: &Path) -> Result<Vec<u8>, AgentError> {
    let file = std::fs::File::open(path).map_err(|source| AgentError::Unreadable {
        path: path.to_owned(),
        op: "open",
        source,
    })?;
    let mut token = Vec::new();
    file.take(MAX_TOKEN_BYTES + 1).read_to_end(&mut token).map_err(|source| AgentError::Unreadable {
        path: path.to_owned(),
        op: "read",
        source,
    })?;
    match token.len() {
        0 => Err(AgentError::Empty { path: path.to_owned() }),
        n if n as u64 > MAX_TOKEN_BYTES => Err(AgentError::TooLarge { path: path.to_owned() }),
        _ => Ok(token),
    }
}

/// The agent node attestor. Settings are swapped whole by `Configure`.
#[derive(Default)]
pub struct NodeAgentPlugin {
    current: RwLock<Option<Arc<NodeAgentSettings>>>,
}

impl NodeAgentPlugin {
    /// A plugin that answers "not configured" until its first `Configure`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The payload for one attestation: the token file read now.
    pub async fn payload(&self) -> Result<Vec<u8>, AgentError> {
        let settings = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let settings = settings.ok_or(AgentError::NotConfigured)?;
        let path = settings.token_path.clone();
        // A file read may block (a network mount, a slow disk): not on an executor thread.
        let token = tokio::task::spawn_blocking(move || read_token(&path)).await.map_err(|e| {
            AgentError::Unreadable { path: settings.token_path.clone(), op: "read", source: std::io::Error::other(e) }
        })??;
        Ok(payload::encode(&settings.cluster, &token))
    }
}

impl RoleConfig for NodeAgentPlugin {
    type Parsed = NodeAgentSettings;

    fn parse(core: Option<&cfg::CoreConfiguration>, hcl: &str) -> Result<NodeAgentSettings, ConfigError> {
        NodeAgentSettings::parse(core.map(|c| c.trust_domain.as_str()), hcl)
    }

    fn apply(&self, settings: NodeAgentSettings) -> Result<(), Status> {
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(settings));
        Ok(())
    }
}

#[tonic::async_trait]
impl na::node_attestor_server::NodeAttestor for NodeAgentPlugin {
    type AidAttestationStream = tokio_stream::Once<Result<na::PayloadOrChallengeResponse, Status>>;

    async fn aid_attestation(
        &self,
        _request: Request<Streaming<na::Challenge>>,
    ) -> Result<Response<Self::AidAttestationStream>, Status> {
        super::guard::test_panic("aid_attestation");
        match self.payload().await {
            Ok(payload) => {
                tracing::debug!(bytes = payload.len(), "k8s_psat payload sent");
                let message = na::PayloadOrChallengeResponse {
                    data: Some(na::payload_or_challenge_response::Data::Payload(payload)),
                };
                Ok(Response::new(tokio_stream::once(Ok(message))))
            }
            Err(e) => {
                tracing::warn!(error = %e, "node attestation payload not sent");
                Err(e.status())
            }
        }
    }
}

#[cfg(test)]
mod tests;
