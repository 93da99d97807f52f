//! Node attestation: may an agent that passed SPIRE's `k8s_psat` checks join, and under which
//! agent ID?
//!
//! One Cedar request per agent, on `attest_node`. A satisfied `forbid`, or any evaluation error,
//! refuses the agent (errors deny). Otherwise the satisfied permits beside the host's baseline
//! are the node identity rules that matched; the first of them (priority, then id) renders the
//! agent ID, and with none SPIRE's own ID stands. A matching rule whose template cannot be
//! rendered (a label the node lacks) refuses the agent: an agent never falls back silently to an
//! ID its operator did not choose.

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use cedar_policy::Entities;
use serde::Serialize;

use super::decide::{Ask, elapsed_us};
use super::entities;
use super::error::DecideError;
use super::template::{RenderEnv, RenderSubject, ValueRule};
use super::{Pass, Policies};
use crate::spiffe_id::SpiffeId;
use crate::workload::AgentFacts;

/// What the node policies answered for one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum NodeVerdict {
    /// Admitted; no node identity rule matched, so SPIRE's agent ID stands.
    Allow,
    /// Admitted under the agent ID `rule` rendered.
    AllowAs {
        /// The agent ID.
        agent_id: SpiffeId,
        /// The node identity rule that chose it.
        rule: String,
    },
    /// Refused by the `forbid`s in `determining`, or by an evaluation error.
    Deny,
    /// A node identity rule matched, but its template cannot be rendered for this agent.
    NotRendered {
        /// The rule.
        rule: String,
        /// Why (the variable the agent lacks, or its unusable value).
        why: String,
    },
}

/// The node policies' decision for one agent, and why: what the audit record and `policy
/// explain` show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeDecision {
    /// The policy generation that decided (the audit record carries it at its top level, as
    /// workload records do, so it is not repeated inside the decision).
    #[serde(skip_serializing)]
    pub policy_generation: String,
    /// Allowed (with or without a chosen ID) or refused.
    #[serde(flatten)]
    pub verdict: NodeVerdict,
    /// On refusal, the `forbid`s that matched; on admission, the node identity rules that
    /// matched, in the order they were tried. Host baselines are never listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub determining: Vec<String>,
    /// The `@reason` of each determining `forbid` that has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Evaluation errors; any is a refusal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Time spent deciding, in microseconds.
    pub eval_us: u64,
}

impl NodeDecision {
    /// Whether the agent may join.
    pub fn allowed(&self) -> bool {
        matches!(self.verdict, NodeVerdict::Allow | NodeVerdict::AllowAs { .. })
    }

    /// The agent ID a node identity rule chose, if any did.
    pub fn agent_id(&self) -> Option<&SpiffeId> {
        match &self.verdict {
            NodeVerdict::AllowAs { agent_id, .. } => Some(agent_id),
            _ => None,
        }
    }
}

impl Policies {
    /// Decide for an agent that passed node attestation, now.
    pub fn decide_node(&self, agent: &AgentFacts) -> Result<NodeDecision, DecideError> {
        self.decide_node_at(agent, SystemTime::now())
    }

    /// Decide for an agent as of `now` (the `context.now` policies see).
    pub fn decide_node_at(&self, agent: &AgentFacts, now: SystemTime) -> Result<NodeDecision, DecideError> {
        let started = Instant::now();
        let subject = entities::agent(agent, &self.trust_domain, &self.types)?;
        let context = entities::node_context(now, &self.trust_domain)?;
        let schema = self.strict_runtime_checks.then_some(&self.schema);
        let store = Entities::from_entities(subject.entities.clone(), schema).map_err(DecideError::facts)?;
        let ask = Ask { subject: &subject, context: &context, namespace: Some(&agent.namespace), store: &store };
        let answer = self.ask(Pass::AttestNode, &ask, self.types.attest_node.clone(), subject.trust_domain.clone())?;
        let decision = |verdict, determining: Vec<String>, reasons, errors| NodeDecision {
            policy_generation: self.generation.clone(),
            verdict,
            determining,
            reasons,
            errors,
            eval_us: elapsed_us(started),
        };
        if !answer.allow || !answer.errors.is_empty() {
            let reasons = answer.determining.iter().filter_map(|id| self.metas.get(id)?.reason.clone()).collect();
            return Ok(decision(NodeVerdict::Deny, answer.determining, reasons, answer.errors));
        }
        // Allowed: the permits that matched are node identity rules (a permit on attest_node
        // without @spiffe_id is only a lint warning and decides nothing).
        let matched: BTreeSet<&str> = answer.determining.iter().map(String::as_str).collect();
        let tried: Vec<String> =
            self.node_rules.iter().filter(|r| matched.contains(r.id.as_str())).map(|r| r.id.clone()).collect();
        let Some(rule) = self.node_rules.iter().find(|r| matched.contains(r.id.as_str())) else {
            return Ok(decision(NodeVerdict::Allow, Vec::new(), Vec::new(), Vec::new()));
        };
        let env = RenderEnv {
            subject: RenderSubject::Agent(agent),
            trust_domain: &self.trust_domain,
            cluster: Some(&agent.cluster),
        };
        let verdict = match rule.spiffe_id.render(&env, ValueRule::PathSegment) {
            Err(e) => NodeVerdict::NotRendered { rule: rule.id.clone(), why: e.to_string() },
            Ok(rendered) => match rendered.parse::<SpiffeId>() {
                Ok(id) if id.trust_domain() == &self.trust_domain && id.path().starts_with(super::AGENT_PATH) => {
                    NodeVerdict::AllowAs { agent_id: id, rule: rule.id.clone() }
                }
                Ok(id) => NodeVerdict::NotRendered {
                    rule: rule.id.clone(),
                    why: format!(
                        "render failed: {id} is not an agent ID of {} (under {})",
                        self.trust_domain,
                        super::AGENT_PATH
                    ),
                },
                Err(e) => NodeVerdict::NotRendered {
                    rule: rule.id.clone(),
                    why: format!("render failed: {rendered:?} is not a SPIFFE ID: {e}"),
                },
            },
        };
        Ok(decision(verdict, tried, Vec::new(), Vec::new()))
    }
}

#[cfg(test)]
mod tests;
