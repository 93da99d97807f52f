//! Why a `k8s_psat` attestation was refused: SPIRE's gRPC code and message for each step, and
//! who must act.

use std::fmt;

use super::payload::PayloadError;
use super::review::ReviewError;
use crate::fault::Fault;
use crate::psat::client::ClientError;

/// The gRPC code SPIRE's `k8s_psat` server plugin answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The payload is unusable, or names a cluster not configured.
    InvalidArgument,
    /// The plugin has not been configured.
    FailedPrecondition,
    /// The token, its service account or its pod is not accepted.
    PermissionDenied,
    /// The API server could not answer, or answered what cannot be used.
    Internal,
}

impl Code {
    /// The name as gRPC spells it (`InvalidArgument`, …), for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgument",
            Self::FailedPrecondition => "FailedPrecondition",
            Self::PermissionDenied => "PermissionDenied",
            Self::Internal => "Internal",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest piece of outside text (a cluster name from the payload, a username, pod or UID from
/// the API server) quoted in a message.
const QUOTED_MAX: usize = 256;

/// `text` quoted as Go's `%q` does for printable text (SPIRE's messages use `%q`), cut to
/// [`QUOTED_MAX`] bytes: outside text never reaches a status unbounded.
pub(crate) fn quoted(text: &str) -> String {
    if text.len() <= QUOTED_MAX {
        return format!("{text:?}");
    }
    let mut cut = QUOTED_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}… ({} bytes in all)", &text[..cut], text.len())
}

/// Each of `items` quoted as [`quoted`] does, joined with `, `.
pub(crate) fn quoted_list(items: &[String]) -> String {
    items.iter().map(|i| quoted(i)).collect::<Vec<_>>().join(", ")
}

/// A refused attestation. Messages are SPIRE's (the plugin framework adds
/// `nodeattestor(k8s_psat): ` in front); outside text in them is bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsatError {
    /// Step 1, the operator's: no configuration has been applied yet.
    #[error("not configured")]
    NotConfigured,
    /// Step 2, the agent's: the request carries no payload.
    #[error("missing attestation payload")]
    MissingPayload,
    /// Step 2, the agent's: the payload is not SPIRE's JSON (or is over the size cap).
    #[error("failed to unmarshal data payload: {0}")]
    Payload(#[from] PayloadError),
    /// Step 2, the agent's: `cluster` is empty or absent.
    #[error("missing cluster in attestation data")]
    MissingCluster,
    /// Step 2, the agent's: `token` is empty or absent.
    #[error("missing token in attestation data")]
    MissingToken,
    /// Step 2, the operator's (or an agent configured for the wrong server): no such cluster.
    #[error("not configured for cluster {}", quoted(.cluster))]
    UnknownCluster {
        /// The cluster the agent named.
        cluster: String,
    },
    /// Step 3, the API server's: the TokenReview failed, carried an error (a real API server
    /// reports a wrong audience or an expired token this way), or granted none of the audiences.
    #[error("unable to validate token with TokenReview API for cluster {}: {source}", quoted(.cluster))]
    TokenReview {
        /// The cluster.
        cluster: String,
        /// What the client said.
        source: ClientError,
    },
    /// Step 3, the agent's: the review did not authenticate the token.
    #[error("token not authenticated according to TokenReview API for cluster {}", quoted(.cluster))]
    NotAuthenticated {
        /// The cluster.
        cluster: String,
    },
    /// Step 4: the reviewed username is not `system:serviceaccount:<ns>:<sa>`.
    #[error("fail to parse username from token review status for cluster {}: {source}", quoted(.cluster))]
    Username {
        /// The cluster.
        cluster: String,
        /// What is wrong with it.
        source: ReviewError,
    },
    /// Step 5, the agent's: its service account is not in the cluster's allow-list.
    #[error("{} is not an allowed service account for cluster {}", quoted(.service_account), quoted(.cluster))]
    NotAllowed {
        /// `<namespace>:<service account>`.
        service_account: String,
        /// The cluster.
        cluster: String,
    },
    /// Step 6: the review names no single, non-empty pod.
    #[error("fail to get pod name from token review status for cluster {}: {source}", quoted(.cluster))]
    PodName {
        /// The cluster.
        cluster: String,
        /// What is wrong with it.
        source: ReviewError,
    },
    /// Step 6: the review names no single, non-empty pod UID.
    #[error("fail to get pod UID from token review status for cluster {}: {source}", quoted(.cluster))]
    PodUid {
        /// The cluster.
        cluster: String,
        /// What is wrong with it.
        source: ReviewError,
    },
    /// Step 7, the API server's: the pod could not be read.
    #[error("fail to get pod from k8s API server for cluster {}: {source}", quoted(.cluster))]
    GetPod {
        /// The cluster.
        cluster: String,
        /// What the client said.
        source: ClientError,
    },
    /// Step 8, the agent's: the pod of that name is not the one the token was bound to (the API
    /// server keeps accepting a bound token for about 10 s after its pod is replaced).
    #[error(
        "pod UID mismatch for pod {} in cluster {}: token bound to pod UID {}",
        quoted(.pod), quoted(.cluster), quoted(.token_pod_uid)
    )]
    PodUidMismatch {
        /// The pod's name.
        pod: String,
        /// The cluster.
        cluster: String,
        /// The UID the token is bound to.
        token_pod_uid: String,
    },
    /// Step 9, the API server's: the pod's node could not be read.
    #[error("fail to get node from k8s API server for cluster {}: {source}", quoted(.cluster))]
    GetNode {
        /// The cluster.
        cluster: String,
        /// What the client said.
        source: ClientError,
    },
    /// Step 9, the API server's: the node has no UID.
    #[error("node UID is empty for cluster {}", quoted(.cluster))]
    EmptyNodeUid {
        /// The cluster.
        cluster: String,
    },
    /// Step 10, the API server's: the node or pod UID cannot be a SPIFFE ID path segment
    /// (SPIRE would send an ID its own core then refuses).
    #[error("invalid agent ID {}: {problem}", quoted(.id))]
    AgentId {
        /// The ID as it would have been.
        id: String,
        /// Why it is not one.
        problem: String,
    },
    /// After step 10, the node policies': a `forbid` on `attest_node` matched the agent, or a
    /// node policy failed to evaluate (errors deny). `by` names the policies and their reasons.
    #[error(
        "agent {} on node {} in cluster {} refused by {by}",
        quoted(.service_account), quoted(.node), quoted(.cluster)
    )]
    PolicyDenied {
        /// `<namespace>:<service account>`.
        service_account: String,
        /// The agent's node.
        node: String,
        /// The cluster.
        cluster: String,
        /// `node policy "<id>" (<reason>)`, or the evaluation errors.
        by: String,
    },
    /// After step 10, the node policies': the node identity rule that matched cannot render
    /// this agent's ID (a label its node lacks), so the agent is refused rather than given an
    /// ID its operator did not choose.
    #[error(
        "node identity rule {} matched agent {} on node {} in cluster {}, but its agent ID cannot be rendered: {why}",
        quoted(.rule), quoted(.service_account), quoted(.node), quoted(.cluster)
    )]
    PolicyNotRendered {
        /// The rule.
        rule: String,
        /// `<namespace>:<service account>`.
        service_account: String,
        /// The agent's node.
        node: String,
        /// The cluster.
        cluster: String,
        /// Why not.
        why: String,
    },
    /// The node policies could not be evaluated at all: the host's fault, never a policy
    /// outcome.
    #[error("{0}")]
    PolicyFailed(String),
}

impl PsatError {
    /// SPIRE's gRPC code for this refusal.
    pub fn code(&self) -> Code {
        match self {
            Self::NotConfigured => Code::FailedPrecondition,
            Self::MissingPayload
            | Self::Payload(_)
            | Self::MissingCluster
            | Self::MissingToken
            | Self::UnknownCluster { .. } => Code::InvalidArgument,
            Self::NotAuthenticated { .. }
            | Self::NotAllowed { .. }
            | Self::PodUidMismatch { .. }
            | Self::PolicyDenied { .. }
            | Self::PolicyNotRendered { .. } => Code::PermissionDenied,
            Self::TokenReview { .. }
            | Self::Username { .. }
            | Self::PodName { .. }
            | Self::PodUid { .. }
            | Self::GetPod { .. }
            | Self::GetNode { .. }
            | Self::EmptyNodeUid { .. }
            | Self::AgentId { .. }
            | Self::PolicyFailed(_) => Code::Internal,
        }
    }

    /// Who must act: the agent (the workload of this attestation) for its payload, token,
    /// service account and pod; the API server for what it could not answer; the operator for a
    /// server not configured or a cluster it does not know; the policy author for a node policy's
    /// refusal.
    pub fn fault(&self) -> Fault {
        match self {
            Self::NotConfigured | Self::UnknownCluster { .. } => Fault::Config,
            Self::MissingPayload
            | Self::Payload(_)
            | Self::MissingCluster
            | Self::MissingToken
            | Self::NotAuthenticated { .. }
            | Self::Username { .. }
            | Self::NotAllowed { .. }
            | Self::PodName { .. }
            | Self::PodUid { .. }
            | Self::PodUidMismatch { .. } => Fault::Workload,
            Self::TokenReview { source, .. } | Self::GetPod { source, .. } | Self::GetNode { source, .. } => {
                source.fault()
            }
            Self::EmptyNodeUid { .. } | Self::AgentId { .. } => Fault::Kubelet,
            Self::PolicyDenied { .. } | Self::PolicyNotRendered { .. } => Fault::Policy,
            Self::PolicyFailed(_) => Fault::Host,
        }
    }
}
