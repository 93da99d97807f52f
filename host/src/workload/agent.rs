//! `AgentFacts`: what node attestation learnt about a SPIRE agent asking to join (the
//! `k8s_psat` server role: its token's review, its pod and its node), the subject of node
//! policies (`Attest::Action::"attest_node"`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::OwnerReference;

/// What the token review, the pod and the node said about an agent.
///
/// Serialised, this is the "agent facts file" `attestor policy explain` and node fixtures read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFacts {
    /// The cluster named in the payload (a configured one).
    pub cluster: String,
    /// The agent's namespace (from the reviewed username).
    pub namespace: String,
    /// The agent's service account (from the reviewed username).
    pub service_account: String,
    /// The agent's pod (from the review).
    pub pod_name: String,
    /// The pod's UID (from the review; equal to the pod's own).
    pub pod_uid: String,
    /// The pod's node (`spec.nodeName`; empty if unscheduled).
    #[serde(default)]
    pub node_name: String,
    /// The node's UID (never empty once attested).
    #[serde(default)]
    pub node_uid: String,
    /// The node's IP as the pod sees it (`status.hostIP`; may be empty).
    #[serde(default)]
    pub node_ip: String,
    /// Every label of the node, allowed as a selector or not.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// Every label of the pod, allowed as a selector or not.
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
    /// Every annotation of the pod.
    #[serde(default)]
    pub pod_annotations: BTreeMap<String, String>,
    /// The pod's first owner reference (a DaemonSet, for a usual agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerReference>,
    /// `spec.hostNetwork`.
    #[serde(default)]
    pub host_network: bool,
    /// The audiences the review granted (`status.audiences`).
    #[serde(default)]
    pub audiences: Vec<String>,
}
