//! Human-readable renderings.

use std::fmt::Write;

use crate::attestation::Attestation;

/// `attestor attest --output text`.
pub(super) fn attestation(a: &Attestation) -> String {
    let mut s = String::new();
    let u = &a.workload().unix;
    let who = u.user.clone().unwrap_or_else(|| format!("uid {}", u.euid));
    let exe = u.exe_path.as_ref().map(|p| format!(", {}", p.display())).unwrap_or_default();
    let _ = writeln!(s, "pid {} ({who}{exe})", u.pid);
    let d = a.decision();
    if !d.gate.allowed() {
        let _ = writeln!(s, "\nrefused by the attest gate: {}", d.gate.determining.join(", "));
        for e in &d.gate.errors {
            let _ = writeln!(s, "  error: {e}");
        }
    }
    let _ = writeln!(s, "\nSPIFFE IDs:");
    if d.issued.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for id in &d.issued {
        let _ = writeln!(s, "  {}  [{}]", id.id, id.policies.join(", "));
    }
    let not_issued: Vec<_> = d.candidates.iter().filter(|c| c.decision != crate::policy::Fate::Allow).collect();
    if !not_issued.is_empty() {
        let _ = writeln!(s, "\nNot issued:");
        for c in not_issued {
            let id = c.spiffe_id.as_ref().map(|i| format!(" {i}")).unwrap_or_default();
            let why = c
                .why
                .clone()
                .or_else(|| (!c.determining.is_empty()).then(|| format!("denied by {}", c.determining.join(", "))));
            let _ = writeln!(s, "  {}{id}: {} ({})", c.rule, c.decision.as_str(), why.unwrap_or_default());
        }
    }
    let _ = writeln!(s, "\nSelectors ({} of {} emitted):", d.selectors.emitted, d.selectors.gathered);
    for sel in &d.emitted {
        let _ = writeln!(s, "  {sel}");
    }
    for sup in &d.selectors.suppressed {
        let _ = writeln!(s, "  - {} (suppressed by {})", sup.selector, sup.by.join(", "));
    }
    if !a.modules().is_empty() {
        let _ = writeln!(s, "\nModules:");
        for m in a.modules() {
            match &m.error {
                None => {
                    let _ = writeln!(
                        s,
                        "  {}: {} selectors, {} facts, {} fuel, {} µs",
                        m.name, m.selectors, m.facts, m.fuel_used, m.elapsed_us
                    );
                }
                Some(e) => {
                    let _ = writeln!(s, "  {}: failed (optional, output dropped): {e}", m.name);
                }
            }
        }
    }
    for e in &d.errors {
        let _ = writeln!(s, "error (failed closed): {e}");
    }
    let _ = writeln!(s, "\npolicy generation {} ({} µs)", d.policy_generation, d.eval_us);
    s
}
