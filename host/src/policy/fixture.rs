//! Policy fixtures: captured (or hand-written) facts plus what the policies must decide for
//! them, run through the real decision path by `attestor policy test`.
//!
//! ```yaml
//! name: ledger gets the app ID, not the fallback
//! facts: fixtures/ledger.facts.json      # `attestor attest --dump-facts`, or inline facts
//! now: 2026-03-01T12:00:00Z              # optional `context.now`
//! expect:
//!   gate: allow
//!   issued: [spiffe://example.org/payments/ledger]
//!   default: spiffe://example.org/payments/ledger
//!   denied: {spiffe://example.org/billing/ledger: [prefix-ownership]}
//!   not_rendered: [team-x]
//!   dropped: [k8s-ns-sa]
//!   identities:
//!     spiffe://example.org/payments/ledger: {hint: app, dns_names: [ledger.payments.svc], ttl: 30m}
//!   suppressed_selectors: [k8s:pod-label:internal.example.com/cost-center:cc-1234]
//!   emitted_selectors: [k8s:ns:payments]
//!   emitted_count: 7
//!   errors: 0
//! ```
//!
//! Every expectation is optional; those given are exact (`issued`, `denied` (IDs and their
//! policies), `not_rendered`, `dropped`, `gate_by` and `suppressed_selectors` are compared as
//! sets; `identities` compares only the fields given), except `emitted_selectors`, which lists
//! selectors that must be among those emitted.
//!
//! A node fixture gives `agent:` (an agent facts file, or inline facts) instead of `facts:`, and
//! expects what the node policies (`attest_node`) decide:
//!
//! ```yaml
//! name: agents only on the general pool
//! agent: fixtures/agent-gpu.json
//! expect:
//!   node: deny                  # allow or deny (a rule that cannot render denies too)
//!   node_by: [general-pool-only] # deny: the forbids that matched; allow: the rules that matched
//!   agent_id: spiffe://example.org/spire/agent/k8s_psat/prod/pool/general/node-uid-1
//!   agent_rule: by-pool         # the node identity rule that chose the ID, or `none`
//!   errors: 0
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::{Decision, Fate, NodeDecision, NodeVerdict, Policies};
use crate::workload::{AgentFacts, Workload};

/// A fixture file that cannot be used: the author's to fix.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a fixture (YAML syntax, unknown keys, bad values).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The gate's expected answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateExpect {
    /// The workload may be attested.
    Allow,
    /// A gate refused it.
    Deny,
}

/// What a fixture expects. Absent fields are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The gate's answer.
    pub gate: Option<GateExpect>,
    /// Exactly these IDs are issued (any order).
    pub issued: Option<Vec<String>>,
    /// The default (first) issued ID.
    pub default: Option<String>,
    /// Exactly these IDs are denied candidates, each by exactly these policies (over every
    /// rule that proposed it).
    pub denied: Option<BTreeMap<String, Vec<String>>>,
    /// Exactly these identity rules matched but could not render.
    pub not_rendered: Option<Vec<String>>,
    /// Exactly these identity rules were allowed but left out (a fallback beside a primary
    /// identity, or over the cap).
    pub dropped: Option<Vec<String>>,
    /// The gate was decided by exactly these policies (with `gate: deny`, the gates that matched).
    pub gate_by: Option<Vec<String>>,
    /// What issued IDs carry; only the fields given are compared.
    pub identities: Option<BTreeMap<String, IdentityExpect>>,
    /// Exactly this many selectors leave the host.
    pub emitted_count: Option<usize>,
    /// Exactly these selectors are kept on the host.
    pub suppressed_selectors: Option<Vec<String>>,
    /// These selectors (at least) leave the host.
    pub emitted_selectors: Option<Vec<String>>,
    /// This many evaluation errors.
    pub errors: Option<usize>,
    /// Node fixtures: the node policies' answer.
    pub node: Option<GateExpect>,
    /// Node fixtures: on deny, exactly these `forbid`s matched; on allow, exactly these node
    /// identity rules matched.
    pub node_by: Option<Vec<String>>,
    /// Node fixtures: the agent ID a node identity rule chose.
    pub agent_id: Option<String>,
    /// Node fixtures: the node identity rule that chose the agent ID, or `none`.
    pub agent_rule: Option<String>,
}

impl Expect {
    /// The workload expectations given (what a node fixture may not expect).
    fn workload_keys(&self) -> Vec<&'static str> {
        let given = [
            ("gate", self.gate.is_some()),
            ("issued", self.issued.is_some()),
            ("default", self.default.is_some()),
            ("denied", self.denied.is_some()),
            ("not_rendered", self.not_rendered.is_some()),
            ("dropped", self.dropped.is_some()),
            ("gate_by", self.gate_by.is_some()),
            ("identities", self.identities.is_some()),
            ("emitted_count", self.emitted_count.is_some()),
            ("suppressed_selectors", self.suppressed_selectors.is_some()),
            ("emitted_selectors", self.emitted_selectors.is_some()),
        ];
        given.into_iter().filter(|(_, g)| *g).map(|(k, _)| k).collect()
    }

    /// The node expectations given (what a workload fixture may not expect).
    fn node_keys(&self) -> Vec<&'static str> {
        let given = [
            ("node", self.node.is_some()),
            ("node_by", self.node_by.is_some()),
            ("agent_id", self.agent_id.is_some()),
            ("agent_rule", self.agent_rule.is_some()),
        ];
        given.into_iter().filter(|(_, g)| *g).map(|(k, _)| k).collect()
    }
}

/// What one issued ID carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityExpect {
    /// The identity rules that proposed it (any order).
    pub policies: Option<Vec<String>>,
    /// The Workload API hint.
    pub hint: Option<String>,
    /// DNS SANs, in order.
    pub dns_names: Option<Vec<String>>,
    /// X.509-SVID TTL, a Go duration (`30m`).
    pub ttl: Option<String>,
    /// JWT-SVID TTL, a Go duration.
    pub jwt_ttl: Option<String>,
    /// Federated trust domains (any order).
    pub federates_with: Option<Vec<String>>,
}

/// Whose facts a fixture gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A workload (`facts:`), decided by the four workload passes.
    Workload(Box<Workload>),
    /// An agent in node attestation (`agent:`), decided on `attest_node`.
    Agent(Box<AgentFacts>),
}

/// One fixture, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixture {
    /// Its name.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The facts policies see.
    pub subject: Subject,
    /// `context.now`, when the fixture pins it.
    pub now: Option<SystemTime>,
    /// The expectations.
    pub expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    name: String,
    #[serde(default)]
    facts: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    agent: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    now: Option<String>,
    expect: Expect,
}

/// Read every fixture in a YAML file (several documents separated by `---` are several
/// fixtures). A `facts:` string is a JSON or YAML file relative to the fixture file.
pub fn read(path: &Path) -> Result<Vec<Fixture>, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read { path: path.to_owned(), source })?;
    parse(&text, path)
}

/// The fixtures in `text`, the contents of the file at `path` (which names them in errors and
/// against which `facts:` files are found).
pub fn parse(text: &str, path: &Path) -> Result<Vec<Fixture>, FixtureError> {
    let invalid = |message: String| FixtureError::Invalid { path: path.to_owned(), message };
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let raw = RawFixture::deserialize(doc).map_err(|e| invalid(e.to_string()))?;
        let subject = match (raw.facts, raw.agent) {
            (Some(facts), None) => {
                let unfit = raw.expect.node_keys();
                if !unfit.is_empty() {
                    return Err(invalid(format!(
                        "fixture {:?}: {} expect node attestation; give `agent:` facts, not `facts:`",
                        raw.name,
                        unfit.join(", ")
                    )));
                }
                Subject::Workload(Box::new(facts_of(facts, "a workload", &raw.name, path)?))
            }
            (None, Some(agent)) => {
                let unfit = raw.expect.workload_keys();
                if !unfit.is_empty() {
                    return Err(invalid(format!(
                        "fixture {:?}: {} expect a workload decision; an `agent:` fixture expects node, node_by, agent_id, agent_rule and errors",
                        raw.name,
                        unfit.join(", ")
                    )));
                }
                Subject::Agent(Box::new(facts_of(agent, "an agent", &raw.name, path)?))
            }
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "fixture {:?}: give `facts:` (a workload) or `agent:`, not both",
                    raw.name
                )));
            }
            (None, None) => {
                return Err(invalid(format!("fixture {:?}: missing `facts:` (a workload) or `agent:`", raw.name)));
            }
        };
        let now = raw
            .now
            .map(|n| {
                crate::time::clock::parse_rfc3339_seconds(&n).ok_or_else(|| {
                    invalid(format!("fixture {:?}: now {n:?} is not RFC 3339 (2026-03-01T12:00:00Z)", raw.name))
                })
            })
            .transpose()?;
        out.push(Fixture { name: raw.name, file: path.to_owned(), subject, now, expect: raw.expect });
    }
    if out.is_empty() {
        return Err(invalid("holds no fixture".into()));
    }
    Ok(out)
}

/// A fixture's facts: a JSON or YAML file named relative to the fixture file, or inline.
fn facts_of<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
    what: &str,
    name: &str,
    path: &Path,
) -> Result<T, FixtureError> {
    crate::workload::read_recorded(value, path, what).map_err(|message| FixtureError::Invalid {
        path: path.to_owned(),
        message: format!("fixture {name:?}: {message}"),
    })
}

/// Every `*.yaml` / `*.yml` file under `dir` (hidden directories skipped), in path order.
pub fn find(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    let yaml = |p: &Path| !super::source::is_hidden(p) && p.extension().is_some_and(|e| e == "yaml" || e == "yml");
    super::source::files_under(dir, &yaml).map_err(|e| FixtureError::Read { path: e.path, source: e.source })
}

/// What was decided for a fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decided {
    /// A workload's decision.
    Workload(Box<Decision>),
    /// An agent's node decision.
    Node(NodeDecision),
}

/// How a fixture fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The decision, for explaining failures.
    pub decision: Decided,
    /// One line per unmet expectation; empty when the fixture passed.
    pub failures: Vec<String>,
}

fn set<T: Ord + Clone>(v: &[T]) -> BTreeSet<T> {
    v.iter().cloned().collect()
}

fn list(v: &BTreeSet<String>) -> String {
    format!("[{}]", v.iter().cloned().collect::<Vec<_>>().join(", "))
}

/// One row of a fixture's table of checks: an expectation it gives, and what was found.
enum Check {
    /// A value compared whole; when it does not hold, the failure shows both sides.
    Whole { name: &'static str, holds: bool, expected: String, got: String },
    /// An expectation checked item by item: one failure per item that is not as expected.
    Items(Vec<String>),
}

impl Check {
    /// Exactly these strings, compared as sets.
    fn sets(name: &'static str, expected: &[String], got: &BTreeSet<String>) -> Self {
        let expected = set(expected);
        Self::Whole { name, holds: expected == *got, expected: list(&expected), got: list(got) }
    }

    /// Exactly this many.
    fn count(name: &'static str, expected: usize, got: usize, detail: String) -> Self {
        Self::Whole { name, holds: expected == got, expected: expected.to_string(), got: format!("{got}{detail}") }
    }

    /// One line per unmet expectation.
    fn failures(self) -> Vec<String> {
        match self {
            Self::Whole { holds: true, .. } => Vec::new(),
            Self::Whole { name, expected, got, .. } => vec![format!("{name}: expected {expected}, got {got}")],
            Self::Items(failures) => failures,
        }
    }
}

/// Decide the fixture's workload or agent with `policies` and compare.
pub fn run(policies: &Policies, fixture: &Fixture) -> Result<Outcome, super::DecideError> {
    let now = fixture.now.unwrap_or_else(SystemTime::now);
    match &fixture.subject {
        Subject::Workload(w) => {
            let d = policies.decide_at(w, now)?;
            let failures = workload_failures(&fixture.expect, &d);
            Ok(Outcome { decision: Decided::Workload(Box::new(d)), failures })
        }
        Subject::Agent(a) => {
            let d = policies.decide_node_at(a, now)?;
            let failures = node_failures(&fixture.expect, &d);
            Ok(Outcome { decision: Decided::Node(d), failures })
        }
    }
}

/// Where a node decision differs from the fixture.
fn node_failures(e: &Expect, d: &NodeDecision) -> Vec<String> {
    let (chosen_id, chosen_rule) = match &d.verdict {
        NodeVerdict::AllowAs { agent_id, rule } => (Some(agent_id.to_string()), Some(rule.as_str())),
        _ => (None, None),
    };
    let verdict = match &d.verdict {
        NodeVerdict::Allow => "allow".to_owned(),
        NodeVerdict::AllowAs { rule, .. } => format!("allow (as rule {rule} chose)"),
        NodeVerdict::Deny => format!("deny (determining: {:?})", d.determining),
        NodeVerdict::NotRendered { rule, why } => format!("deny (rule {rule} cannot render: {why})"),
    };
    let table = [
        e.node.map(|want| Check::Whole {
            name: "node",
            holds: want == if d.allowed() { GateExpect::Allow } else { GateExpect::Deny },
            expected: if want == GateExpect::Allow { "allow" } else { "deny" }.to_owned(),
            got: verdict,
        }),
        e.node_by.as_ref().map(|want| Check::sets("node_by", want, &set(&d.determining))),
        e.agent_id.as_ref().map(|want| Check::Whole {
            name: "agent_id",
            holds: chosen_id.as_ref() == Some(want),
            expected: want.clone(),
            got: chosen_id.clone().unwrap_or_else(|| "none chosen (no node identity rule applied)".into()),
        }),
        e.agent_rule.as_ref().map(|want| Check::Whole {
            name: "agent_rule",
            holds: chosen_rule.unwrap_or("none") == want,
            expected: want.clone(),
            got: chosen_rule.unwrap_or("none").to_owned(),
        }),
        e.errors.map(|want| Check::count("errors", want, d.errors.len(), format!(" ({})", d.errors.join("; ")))),
    ];
    table.into_iter().flatten().flat_map(Check::failures).collect()
}

/// Where a workload decision differs from the fixture.
fn workload_failures(e: &Expect, d: &Decision) -> Vec<String> {
    let issued: Vec<String> = d.issued.iter().map(|i| i.id.to_string()).collect();
    let suppressed: BTreeSet<String> = d.selectors.suppressed.iter().map(|s| s.selector.to_string()).collect();
    // Every expectation given, in the order its failures are reported.
    let table = [
        e.gate.map(|gate| Check::Whole {
            name: "gate",
            holds: gate == if d.gate.allowed() { GateExpect::Allow } else { GateExpect::Deny },
            expected: if gate == GateExpect::Allow { "allow" } else { "deny" }.to_owned(),
            got: format!("{} (determining: {:?})", d.gate.decision, d.gate.determining),
        }),
        e.issued.as_ref().map(|want| Check::sets("issued", want, &set(&issued))),
        e.default.as_ref().map(|want| Check::Whole {
            name: "default",
            holds: issued.first() == Some(want),
            expected: want.clone(),
            got: issued.first().map_or("none", String::as_str).to_owned(),
        }),
        e.gate_by.as_ref().map(|want| Check::sets("gate_by", want, &set(&d.gate.determining))),
        e.denied.as_ref().map(|want| Check::Items(denied(want, d))),
        e.dropped.as_ref().map(|want| Check::sets("dropped", want, &rules_with(d, Fate::Dropped))),
        e.identities.as_ref().map(|want| Check::Items(identities(want, d))),
        e.not_rendered.as_ref().map(|want| Check::sets("not_rendered", want, &rules_with(d, Fate::NotRendered))),
        e.suppressed_selectors.as_ref().map(|want| Check::sets("suppressed_selectors", want, &suppressed)),
        e.emitted_selectors.as_ref().map(|want| Check::Items(emitted_selectors(want, d))),
        e.emitted_count.map(|want| Check::count("emitted_count", want, d.emitted.len(), String::new())),
        e.errors.map(|want| Check::count("errors", want, d.errors.len(), format!(" ({})", d.errors.join("; ")))),
    ];
    table.into_iter().flatten().flat_map(Check::failures).collect()
}

/// The identity rules whose candidates met `fate`.
fn rules_with(d: &Decision, fate: Fate) -> BTreeSet<String> {
    d.candidates.iter().filter(|c| c.decision == fate).map(|c| c.rule.clone()).collect()
}

/// Where the denied IDs, and the policies that denied each, differ from the fixture's.
fn denied(denied: &BTreeMap<String, Vec<String>>, d: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    // Every rule that proposed an ID counts: one ID can come from several rules.
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in d.candidates.iter().filter(|c| c.decision == Fate::Deny) {
        if let Some(id) = &c.spiffe_id {
            got.entry(id.to_string()).or_default().extend(c.determining.iter().cloned());
        }
    }
    for (id, by) in denied {
        match got.get(id) {
            Some(g) if *g == set(by) => {}
            Some(g) => failures.push(format!("denied {id}: expected by {}, got by {}", list(&set(by)), list(g))),
            None => {
                let fates: Vec<String> = d
                    .candidates
                    .iter()
                    .filter(|c| c.spiffe_id.as_ref().is_some_and(|s| s.to_string() == *id))
                    .map(|c| format!("{} by rule {}", c.decision.as_str(), c.rule))
                    .collect();
                if fates.is_empty() {
                    failures.push(format!("denied {id}: no identity rule proposed it"));
                } else {
                    failures.push(format!("denied {id}: expected deny, got {}", fates.join(", ")));
                }
            }
        }
    }
    for id in got.keys().filter(|id| !denied.contains_key(*id)) {
        failures.push(format!("denied: {id} was also denied (by {})", list(&got[id])));
    }
    failures
}

/// Where the issued IDs differ from what the fixture says they carry.
fn identities(want: &BTreeMap<String, IdentityExpect>, d: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    for (id, want) in want {
        match d.issued.iter().find(|i| i.id.to_string() == *id) {
            None => failures.push(format!("identities {id}: not issued")),
            Some(got) => failures.extend(identity_failures(id, want, got)),
        }
    }
    failures
}

/// The selectors the fixture says must be emitted and were not.
fn emitted_selectors(want: &[String], d: &Decision) -> Vec<String> {
    let got: BTreeSet<String> = d.emitted.iter().map(ToString::to_string).collect();
    let missing: BTreeSet<String> = set(want).difference(&got).cloned().collect();
    if missing.is_empty() { Vec::new() } else { vec![format!("emitted_selectors: not emitted: {}", list(&missing))] }
}

/// Where an issued ID differs from what the fixture says it carries.
fn identity_failures(id: &str, want: &IdentityExpect, got: &super::IssuedId) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |field: &str, want: String, got: String| {
        if want != got {
            out.push(format!("identities {id}: {field}: expected {want}, got {got}"));
        }
    };
    if let Some(p) = &want.policies {
        differ("policies", list(&set(p)), list(&set(&got.policies)));
    }
    if let Some(h) = &want.hint {
        differ("hint", h.clone(), got.hint.clone().unwrap_or_else(|| "none".into()));
    }
    if let Some(d) = &want.dns_names {
        differ("dns_names", format!("[{}]", d.join(", ")), format!("[{}]", got.dns_names.join(", ")));
    }
    let seconds = |v: &str| {
        crate::time::DurationRange::POSITIVE
            .check(v)
            .ok()
            .flatten()
            .map_or_else(|| format!("{v:?} (not a positive duration)"), |d| format!("{}s", d.as_secs()))
    };
    let got_seconds = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |s| format!("{s}s"));
    if let Some(t) = &want.ttl {
        differ("ttl", seconds(t), got_seconds(got.ttl_seconds));
    }
    if let Some(t) = &want.jwt_ttl {
        differ("jwt_ttl", seconds(t), got_seconds(got.jwt_ttl_seconds));
    }
    if let Some(f) = &want.federates_with {
        let got: Vec<String> = got.federates_with.iter().map(ToString::to_string).collect();
        differ("federates_with", list(&set(f)), list(&set(&got)));
    }
    out
}

#[cfg(test)]
mod tests;
