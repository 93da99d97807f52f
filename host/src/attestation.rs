//! The `Attestation`: the one value every surface renders.

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

/// The answer for one PID: which selectors leave the host, which SPIFFE IDs it may hold, and
/// everything needed to explain why.
#[derive(Clone, Debug, PartialEq)]
pub struct Attestation {
    /// The workload, fully gathered and enriched.
    pub workload: Workload,
    /// Module outcomes, in config order.
    pub modules: Vec<ModuleReport>,
    /// The policy decision.
    pub decision: Decision,
}

impl Attestation {
    /// The PID.
    pub fn pid(&self) -> Pid {
        self.workload.unix.pid
    }

    /// Selectors that leave the host.
    pub fn selectors(&self) -> &[Selector] {
        &self.decision.emitted
    }

    /// SPIFFE IDs the workload may hold, default first.
    pub fn spiffe_ids(&self) -> &[IssuedId] {
        &self.decision.issued
    }

    /// The JSON object `attestor attest --output json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let d = &self.decision;
        serde_json::json!({
            "pid": self.pid().0,
            "selectors": self.selectors(),
            "spiffe_ids": self.spiffe_ids(),
            "policy_generation": d.policy_generation,
            "gate": d.gate,
            "candidates": d.candidates,
            "suppressed_selectors": d.selectors.suppressed,
            "selector_counts": { "gathered": d.selectors.gathered, "emitted": d.selectors.emitted },
            "modules": self.modules,
            "errors": d.errors,
            "eval_us": d.eval_us,
        })
    }
}
