//! What an attested agent gets: SPIRE's agent ID and its `k8s_psat` selector values.

use std::collections::BTreeMap;

use super::AgentFacts;
use super::error::PsatError;
use crate::psat::settings::ClusterSettings;
use crate::spiffe_id::{InvalidSpiffeId, SpiffeId, TrustDomain, is_valid_path_segment};

/// The selector type of every value (`k8s_psat:<value>`).
pub const SELECTOR_TYPE: &str = "k8s_psat";

/// `spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node UID>`, or `…/<cluster>/pod/<pod UID>` with
/// `use_pod_uid_for_agent_id`.
///
/// SPIRE joins the parts as a URL path (cleaned, percent-escaped); for parts that are valid
/// SPIFFE ID segments that is this plain join, and for any other it makes an ID SPIRE's core
/// then refuses, so a part that is not one valid segment is refused here, by name.
pub fn agent_id(
    trust_domain: &TrustDomain,
    cluster: &str,
    use_pod_uid: bool,
    facts: &AgentFacts,
) -> Result<SpiffeId, PsatError> {
    let (uid, suffix) = if use_pod_uid {
        (&facts.pod_uid, format!("pod/{}", facts.pod_uid))
    } else {
        (&facts.node_uid, facts.node_uid.clone())
    };
    let id = format!("spiffe://{trust_domain}/spire/agent/{SELECTOR_TYPE}/{cluster}/{suffix}");
    // One segment each: a `/` in either would move the ID elsewhere under `/spire/agent/`.
    for (what, part) in [("the cluster name", cluster), ("the UID", uid.as_str())] {
        if !is_valid_path_segment(part) {
            return Err(PsatError::AgentId { id, problem: format!("{what} is not one valid path segment") });
        }
    }
    id.parse().map_err(|e: InvalidSpiffeId| PsatError::AgentId { id, problem: e.to_string() })
}

/// SPIRE's selector values, in its order: cluster, agent namespace, service account, pod name,
/// pod UID (the token's), node IP (the pod's `status.hostIP`), node name (the pod's
/// `spec.nodeName`), node UID; then the node's allowed labels, then the pod's. SPIRE walks Go
/// maps, so its label order varies; here labels come sorted by key.
pub fn selector_values(cluster: &ClusterSettings, facts: &AgentFacts) -> Vec<String> {
    let mut values = vec![
        format!("cluster:{}", facts.cluster),
        format!("agent_ns:{}", facts.namespace),
        format!("agent_sa:{}", facts.service_account),
        format!("agent_pod_name:{}", facts.pod_name),
        format!("agent_pod_uid:{}", facts.pod_uid),
        format!("agent_node_ip:{}", facts.node_ip),
        format!("agent_node_name:{}", facts.node_name),
        format!("agent_node_uid:{}", facts.node_uid),
    ];
    labels(&mut values, "agent_node_label", &facts.node_labels, |k| cluster.allowed_node_label_keys.contains(k));
    labels(&mut values, "agent_pod_label", &facts.pod_labels, |k| cluster.allowed_pod_label_keys.contains(k));
    values
}

/// `<kind>:<key>:<value>` for each allowed label (values are not escaped, as in SPIRE).
fn labels(out: &mut Vec<String>, kind: &str, labels: &BTreeMap<String, String>, allowed: impl Fn(&str) -> bool) {
    out.extend(labels.iter().filter(|(k, _)| allowed(k)).map(|(k, v)| format!("{kind}:{k}:{v}")));
}

#[cfg(test)]
mod tests;
