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
    /// `issued`, `denied`, `dropped` or `not_rendered`.
    pub decision: &'static str,
    /// Determining policies of the issue pass (the guards that denied it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub determining: Vec<String>,
    /// The `@reason` of each determining guard.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Why it was not rendered, or dropped, or which error denied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip)]
    pub(crate) priority: i64,
}

/// A SPIFFE ID the workload may hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssuedId {
    /// The ID.
    pub id: SpiffeId,
    /// The identity rules that proposed it.
    pub policies: Vec<String>,
    /// The Workload API hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
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
