//! Node attestation records: one per agent the server role attested or refused, in the same
//! sink as workload records, with the node policies' decision when node policies are configured.
//!
//! Pod annotations never appear (they can hold credentials) unless the operator asked for debug
//! records; labels are left to debug records too, to keep the line short.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::AuditLog;
use crate::fault::Fault;
use crate::policy::NodeDecision;
use crate::workload::AgentFacts;

/// How one node attestation ended.
#[derive(Clone, Copy, Debug)]
pub enum NodeEnd<'a> {
    /// Admitted under this agent ID.
    Admitted {
        /// The agent ID SPIRE was given.
        agent_id: &'a str,
    },
    /// Refused, with the message SPIRE was given, its gRPC code and who must act.
    Refused {
        /// The message.
        message: &'a str,
        /// The gRPC code's name.
        code: &'a str,
        /// Who must act.
        fault: Fault,
    },
}

/// The record of one node attestation at `now`: the agent as far as it is known (`None` when it
/// was refused before its review was read), the node policies' decision (`None` without node
/// policies, or when they were not reached) and the end (`None`: only the policies were asked,
/// as `policy explain` does). `debug` adds the full facts.
pub fn node_record(
    agent: Option<&AgentFacts>,
    decision: Option<&NodeDecision>,
    end: Option<NodeEnd<'_>>,
    debug: bool,
    now: SystemTime,
) -> Value {
    let mut r = Map::new();
    r.insert("time".into(), json!(crate::time::clock::rfc3339_seconds(now)));
    r.insert("event".into(), json!("node_attestation"));
    if let Some(d) = decision {
        r.insert("policy_generation".into(), json!(d.policy_generation));
    }
    if let Some(a) = agent {
        let mut s = Map::new();
        for (k, v) in [
            ("cluster", &a.cluster),
            ("ns", &a.namespace),
            ("sa", &a.service_account),
            ("pod", &a.pod_name),
            ("pod_uid", &a.pod_uid),
            ("node", &a.node_name),
            ("node_uid", &a.node_uid),
        ] {
            s.insert(k.into(), json!(v));
        }
        if debug {
            s.insert("facts".into(), serde_json::to_value(a).unwrap_or(Value::Null));
        }
        r.insert("agent".into(), Value::Object(s));
    }
    if let Some(d) = decision {
        r.insert("node_decision".into(), json!(d));
    }
    match end {
        None => {}
        Some(NodeEnd::Admitted { agent_id }) => {
            r.insert("agent_id".into(), json!(agent_id));
        }
        Some(NodeEnd::Refused { message, code, fault }) => {
            r.insert("failed".into(), json!(message));
            r.insert("code".into(), json!(code));
            r.insert("fault".into(), json!(fault));
        }
    }
    Value::Object(r)
}

impl AuditLog {
    /// Record one node attestation (see [`node_record`]).
    pub fn node(&self, agent: Option<&AgentFacts>, decision: Option<&NodeDecision>, end: NodeEnd<'_>) {
        if self.enabled() {
            self.write(node_record(agent, decision, Some(end), self.debug, SystemTime::now()).to_string());
        }
    }
}
