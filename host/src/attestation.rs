//! The `Attestation`: the one value every surface renders.

use std::sync::Arc;

use serde::Serialize;

use crate::policy::{Decision, IssuedId};
use crate::sandbox::{LogLine, ModuleRun};
use crate::selector::Selector;
use crate::workload::{Pid, Workload};

/// How one module fared, for output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleReport {
    /// Module name.
    pub name: String,
    /// Selectors it added.
    pub selectors: usize,
    /// Facts it added.
    pub facts: usize,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time in microseconds.
    pub elapsed_us: u64,
    /// For an optional module that failed: why its output was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Lines it logged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
}

impl From<ModuleRun> for ModuleReport {
    fn from(r: ModuleRun) -> Self {
        let (selectors, facts, error) = match r.outcome {
            Ok((s, f)) => (s, f, None),
            Err(e) => (0, 0, Some(e.to_string())),
        };
        Self {
            name: r.module,
            selectors,
            facts,
            fuel_used: r.stats.fuel_used,
            elapsed_us: u64::try_from(r.stats.elapsed.as_micros()).unwrap_or(u64::MAX),
            error,
            logs: r.stats.logs,
        }
    }
}

/// What one set of gathered facts led to: the workload as enriched by modules, how each module
/// fared, and the policy decision. Immutable, and shared: every attestation of the same facts in
/// the same generation is answered with the same `Outcome` (see `generation.rs`).
#[derive(Debug)]
pub struct Outcome {
    /// The workload, fully gathered and enriched.
    pub workload: Workload,
    /// Module outcomes, in config order.
    pub modules: Vec<ModuleReport>,
    /// The policy decision.
    pub decision: Decision,
    /// The audit record without its time, rendered once, and the outcome's id (see `audit.rs`).
    pub(crate) audit: std::sync::OnceLock<RenderedRecord>,
    /// When this outcome's full audit record was last written (seconds since the epoch).
    pub(crate) audited_at: std::sync::atomic::AtomicU64,
}

/// An outcome's audit record, rendered once by `audit.rs` (which alone decides its shape) and
/// kept with the outcome, so a reused outcome is never serialised again.
#[derive(Debug)]
pub(crate) struct RenderedRecord {
    /// The outcome's id: the first 16 hex digits of the SHA-256 of its full record.
    pub(crate) id: String,
    /// Every field but the time, as the inside of a JSON object (`"a":1,…}`), to follow
    /// `{"time":"…",`; the id is among them (`outcome`).
    pub(crate) body: String,
    /// What a short record repeats: `"policy_generation":…,"issued":[…]`.
    pub(crate) short: String,
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        (&self.workload, &self.modules, &self.decision) == (&other.workload, &other.modules, &other.decision)
    }
}

impl Outcome {
    /// An outcome from its parts.
    pub fn new(workload: Workload, modules: Vec<ModuleReport>, decision: Decision) -> Self {
        Self {
            workload,
            modules,
            decision,
            audit: std::sync::OnceLock::new(),
            audited_at: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether the same facts may be answered with this outcome again: every module answered
    /// (an optional module's failure may be transient) and no policy failed to evaluate.
    pub fn reusable(&self) -> bool {
        self.decision.errors.is_empty() && self.modules.iter().all(|m| m.error.is_none())
    }
}

/// The answer for one PID: which selectors leave the host, which SPIFFE IDs it may hold, and
/// everything needed to explain why. Built only by the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Attestation {
    outcome: Arc<Outcome>,
    reused: bool,
}

impl Attestation {
    /// A freshly decided outcome.
    pub(crate) fn decided(outcome: Arc<Outcome>) -> Self {
        Self { outcome, reused: false }
    }

    /// An outcome decided earlier for the same facts in the same generation.
    pub(crate) fn reused(outcome: Arc<Outcome>) -> Self {
        Self { outcome, reused: true }
    }

    /// Whether the outcome was decided for an earlier attestation of the same facts (modules
    /// and policies did not run again: both are deterministic in the facts).
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// The outcome.
    pub fn outcome(&self) -> &Arc<Outcome> {
        &self.outcome
    }

    /// The workload, fully gathered and enriched.
    pub fn workload(&self) -> &Workload {
        &self.outcome.workload
    }

    /// Module outcomes, in config order.
    pub fn modules(&self) -> &[ModuleReport] {
        &self.outcome.modules
    }

    /// The policy decision.
    pub fn decision(&self) -> &Decision {
        &self.outcome.decision
    }

    /// The PID.
    pub fn pid(&self) -> Pid {
        self.outcome.workload.unix.pid
    }

    /// Selectors that leave the host.
    pub fn selectors(&self) -> &[Selector] {
        &self.outcome.decision.emitted
    }

    /// SPIFFE IDs the workload may hold, default first.
    pub fn spiffe_ids(&self) -> &[IssuedId] {
        &self.outcome.decision.issued
    }

    /// The JSON object `attestor attest --output json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let d = self.decision();
        serde_json::json!({
            "pid": self.pid().0,
            "selectors": self.selectors(),
            "spiffe_ids": self.spiffe_ids(),
            "policy_generation": d.policy_generation,
            "gate": d.gate,
            "candidates": d.candidates,
            "suppressed_selectors": d.selectors.suppressed,
            "selector_counts": { "gathered": d.selectors.gathered, "emitted": d.selectors.emitted },
            "modules": self.modules(),
            "errors": d.errors,
            "eval_us": d.eval_us,
        })
    }
}
