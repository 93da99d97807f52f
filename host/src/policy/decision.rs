//! What the policy stage answers, and why: the audit record of one attestation.

use serde::Serialize;

use crate::selector::Selector;
use crate::spiffe_id::SpiffeId;

/// An allow or deny with the policies that determined it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `"allow"` or `"deny"`.
    pub decision: &'static str,
    /// Ids of the determining policies (host baselines excluded), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub determining: Vec<String>,
    /// The `@reason` of each determining policy that has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Evaluation errors; any error in a gate or guard pass is a deny.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Verdict {
    /// Whether the answer was allow.
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }
}

/// The fate of one candidate, as the audit record spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Rendered, and every guard allowed it: the workload holds this ID.
    Allow,
    /// Rendered, and a guard (or an evaluation error) denied it.
    Deny,
    /// Allowed, but left out: a fallback beside a primary identity, or over the cap.
    Dropped,
    /// The rule matched but its templates could not be rendered for this workload.
    NotRendered,
}

impl Fate {
    /// The record's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Dropped => "dropped",
            Self::NotRendered => "not_rendered",
        }
    }
}

/// What happened to one identity rule's candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The identity rule.
    pub rule: String,
    /// The rendered ID, when rendering succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe_id: Option<SpiffeId>,
    /// The rendered hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Whether the rule is a fallback.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// What happened to it.
    pub decision: Fate,
    /// Determining policies of the issue pass (the guards that denied it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub determining: Vec<String>,
    /// The `@reason` of each determining guard.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Why it was not rendered, or dropped, or which error denied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Rendered DNS names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    #[serde(skip)]
    pub(crate) priority: i64,
    #[serde(skip)]
    pub(crate) rule_index: usize,
}

/// A SPIFFE ID the workload may hold, and what its SVIDs should carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssuedId {
    /// The ID.
    pub id: SpiffeId,
    /// The identity rules that proposed it.
    pub policies: Vec<String>,
    /// The Workload API hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// DNS SANs (`@dns`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// X.509-SVID TTL in seconds (`@ttl`, capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// JWT-SVID TTL in seconds (`@jwt_ttl`, capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_ttl_seconds: Option<u64>,
    /// Trust domains to federate with (`@federates_with`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub federates_with: Vec<crate::TrustDomain>,
}

impl IssuedId {
    /// Fold in what another rule that rendered the same ID asks for: the SVID carries every
    /// DNS name and federation of both, the shorter of each TTL; the first rule's hint stays.
    pub(crate) fn absorb(&mut self, other: IssuedId) {
        for p in other.policies {
            if !self.policies.contains(&p) {
                self.policies.push(p);
            }
        }
        for d in other.dns_names {
            if !self.dns_names.contains(&d) {
                self.dns_names.push(d);
            }
        }
        for td in other.federates_with {
            if !self.federates_with.contains(&td) {
                self.federates_with.push(td);
            }
        }
        let shorter = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.ttl_seconds = shorter(self.ttl_seconds, other.ttl_seconds);
        self.jwt_ttl_seconds = shorter(self.jwt_ttl_seconds, other.jwt_ttl_seconds);
    }
}

/// A selector kept on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// The selector.
    pub selector: Selector,
    /// The policies that suppressed it (or that errored, which also suppresses).
    pub by: Vec<String>,
}

/// Counts and suppressed selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SelectorReport {
    /// Selectors gathered (sources and modules).
    pub gathered: usize,
    /// Selectors that leave the host.
    pub emitted: usize,
    /// Those kept back, with the policies that kept them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
}

/// The policy stage's answer for one workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Hash of every input that can change a decision.
    pub policy_generation: String,
    /// The `attest` gate.
    pub gate: Verdict,
    /// Every identity rule that matched, and its fate.
    pub candidates: Vec<Candidate>,
    /// The IDs the workload may hold; the first is the default.
    pub issued: Vec<IssuedId>,
    /// Selector counts and suppressions.
    pub selectors: SelectorReport,
    /// The selectors that leave the host, in gathered order.
    #[serde(skip)]
    pub emitted: Vec<Selector>,
    /// Evaluation errors (each already turned into a deny or a suppression).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Time spent deciding, in microseconds.
    pub eval_us: u64,
}
