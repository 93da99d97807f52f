//! Node policies in the server role: the Cedar set of `policy { dir }`, loaded at `Configure`,
//! looked at again every `reload_interval` (and on SIGHUP), and asked about every agent SPIRE's
//! ten steps admitted (`Attest::Action::"attest_node"`). A `forbid` refuses the agent with
//! `PermissionDenied` naming the policy; an evaluation error refuses it too; a node identity
//! rule may choose its agent ID.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::attest::{Attested, PsatError, quoted_list};
use crate::policy::{NodeDecision, NodeVerdict, Policies, PolicyError, PolicySettings, WatchedPolicies};
use crate::spiffe_id::TrustDomain;

/// The server role's `policy { … }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePolicySettings {
    /// The policy directory (required: the embedded default set has no node policies).
    pub dir: PathBuf,
    /// How often the directory is looked at for changes.
    pub reload_interval: Duration,
}

/// A node policy set that can be reloaded while agents are attested.
pub struct NodePolicy {
    settings: NodePolicySettings,
    set: WatchedPolicies,
}

impl std::fmt::Debug for NodePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePolicy").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl NodePolicy {
    /// Read and check the set in `settings.dir`, for agents of `trust_domain`.
    pub fn load(settings: NodePolicySettings, trust_domain: TrustDomain) -> Result<Self, PolicyError> {
        let policy_settings = PolicySettings {
            dir: Some(settings.dir.clone()),
            reload_interval: settings.reload_interval,
            ..PolicySettings::default()
        };
        Ok(Self { set: WatchedPolicies::load(policy_settings, trust_domain)?, settings })
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> &NodePolicySettings {
        &self.settings
    }

    /// The set in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.set.policies()
    }

    /// Read the directory again; when a file changed, load the set and swap it in. Returns the
    /// generations (`from`, `to`) when a new set is in force; a set that does not load leaves
    /// the old one in force, and is refused again only when its files change once more.
    pub fn reload(&self) -> Result<Option<(String, String)>, PolicyError> {
        self.set.reload()
    }

    /// Ask the set in force about an attested agent.
    pub fn decide(&self, attested: &Attested) -> Result<NodeDecision, PsatError> {
        self.policies().decide_node(&attested.facts).map_err(|e| PsatError::PolicyFailed(e.to_string()))
    }
}

/// The agent as its decision leaves it: refused with the policies that refused it, or admitted
/// under SPIRE's agent ID or the one a node identity rule chose.
pub fn admit(mut attested: Attested, decision: &NodeDecision) -> Result<Attested, PsatError> {
    let f = &attested.facts;
    let service_account = format!("{}:{}", f.namespace, f.service_account);
    match &decision.verdict {
        NodeVerdict::Allow => Ok(attested),
        NodeVerdict::AllowAs { agent_id, .. } => {
            attested.agent_id = agent_id.clone();
            Ok(attested)
        }
        NodeVerdict::Deny => Err(PsatError::PolicyDenied {
            service_account,
            node: f.node_name.clone(),
            cluster: f.cluster.clone(),
            by: refusal(decision),
        }),
        NodeVerdict::NotRendered { rule, why } => Err(PsatError::PolicyNotRendered {
            rule: rule.clone(),
            service_account,
            node: f.node_name.clone(),
            cluster: f.cluster.clone(),
            why: why.clone(),
        }),
    }
}

/// `node policy "a" (reason)`, `node policies "a", "b" (reason; reason)`, or the errors.
fn refusal(d: &NodeDecision) -> String {
    let mut by = match d.determining.len() {
        0 => String::from("node policies"),
        1 => format!("node policy {}", quoted_list(&d.determining)),
        _ => format!("node policies {}", quoted_list(&d.determining)),
    };
    if !d.reasons.is_empty() {
        by.push_str(&format!(" ({})", crate::text::bounded(&d.reasons.join("; "), 512)));
    }
    if !d.errors.is_empty() {
        by.push_str(&format!(": evaluation error (fails closed): {}", crate::text::bounded(&d.errors.join("; "), 512)));
    }
    by
}

#[cfg(test)]
mod tests;
