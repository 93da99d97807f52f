//! Identity rules (`permit … propose` policies with an `@spiffe_id` template), node identity
//! rules (`permit … attest_node` with an `@spiffe_id` template: the agent's ID) and the lint
//! every policy passes at load.

use std::time::Duration;

use cedar_policy::{Effect, Policy};

use super::Pass;
use super::load::{LoadOptions, PolicyMeta};
use super::template::Template;
use crate::spiffe_id::TrustDomain;
use crate::time::{DurationError, DurationRange};

/// Annotations attestor understands. Anything else is a typo until proven otherwise.
const KNOWN_ANNOTATIONS: &[&str] =
    &["id", "spiffe_id", "hint", "dns", "ttl", "jwt_ttl", "federates_with", "fallback", "priority", "reason"];
/// Annotations that only mean something on identity rules.
const RULE_ANNOTATIONS: &[&str] =
    &["spiffe_id", "hint", "dns", "ttl", "jwt_ttl", "federates_with", "fallback", "priority"];
/// Annotations a node identity rule may carry besides `@id` and `@reason`.
const NODE_RULE_ANNOTATIONS: &[&str] = &["spiffe_id", "priority"];

/// The path every agent ID lives under: SPIRE warns about agent IDs outside
/// `/spire/agent/<attestor name>/` and says future releases will refuse them.
pub const AGENT_PATH: &str = "/spire/agent/";

/// A node identity rule: which agent ID an agent that passed node attestation gets.
#[derive(Clone, Debug)]
pub struct NodeRule {
    /// Policy id.
    pub id: String,
    /// The same, as Cedar's type.
    pub policy_id: cedar_policy::PolicyId,
    /// The agent ID template, under `spiffe://{trust_domain}/spire/agent/`.
    pub spiffe_id: Template,
    /// Higher first; ties by rule id.
    pub priority: i64,
}

/// What a static policy is, once linted: a workload's identity rule, an agent's, or neither.
pub(crate) enum Rule {
    /// A `permit` on `propose` with `@spiffe_id`.
    Workload(IdentityRule),
    /// A `permit` on `attest_node` with `@spiffe_id`.
    Node(NodeRule),
}

/// An identity rule: what it proposes, and how the candidate ranks.
#[derive(Clone, Debug)]
pub struct IdentityRule {
    /// Policy id.
    pub id: String,
    /// The same, as Cedar's type (looked up once per attestation).
    pub policy_id: cedar_policy::PolicyId,
    /// The SPIFFE ID template.
    pub spiffe_id: Template,
    /// Workload API hint template.
    pub hint: Option<Template>,
    /// DNS SAN templates (`@dns("a, b")`).
    pub dns: Vec<Template>,
    /// X.509-SVID TTL (`@ttl`), already capped by the host's `max_ttl`.
    pub ttl: Option<Duration>,
    /// JWT-SVID TTL (`@jwt_ttl`), already capped by `max_jwt_ttl`.
    pub jwt_ttl: Option<Duration>,
    /// Trust domains the SVID federates with (`@federates_with`).
    pub federates_with: Vec<TrustDomain>,
    /// Used only when no non-fallback rule yields an issued ID.
    pub fallback: bool,
    /// Higher first; ties by rule id.
    pub priority: i64,
}

fn check_annotations<'a>(mut keys: impl Iterator<Item = &'a str>) -> Result<(), String> {
    match keys.find(|k| !KNOWN_ANNOTATIONS.contains(k)) {
        Some(key) => Err(format!(
            "unknown annotation `@{key}`; known: {}",
            KNOWN_ANNOTATIONS.iter().map(|k| format!("@{k}")).collect::<Vec<_>>().join(", ")
        )),
        None => Ok(()),
    }
}

fn duration(annotation: &str, value: &str, cap: Option<Duration>) -> Result<Duration, String> {
    let d = match DurationRange::POSITIVE.check(value.trim()) {
        // `POSITIVE` refuses zero and negatives, so there is no default to fall back on.
        Ok(d) => d.unwrap_or_default(),
        Err(DurationError::Syntax(e)) => return Err(format!("@{annotation}: {e}")),
        Err(e @ DurationError::OutOfRange { .. }) => return Err(format!("@{annotation} {e}")),
    };
    Ok(cap.map_or(d, |c| d.min(c)))
}

/// Lint one static policy; return its identity rule if it is one.
pub(crate) fn check(policy: &Policy, meta: &PolicyMeta, opts: &LoadOptions<'_>) -> Result<Option<Rule>, String> {
    check_annotations(policy.annotations().map(|(k, _)| k))?;
    let proposes = meta.passes.contains(&Pass::Propose);
    let template = policy.annotation("spiffe_id");
    if meta.effect == Effect::Permit && !proposes && meta.passes.contains(&Pass::AttestNode) && template.is_some() {
        return node_rule(policy, meta, opts.trust_domain).map(|r| Some(Rule::Node(r)));
    }
    match (meta.effect, proposes, template) {
        (Effect::Forbid, true, _) => {
            return Err("a `forbid` may not apply to `propose`: it would hide identity rules instead of denying an identity; write a `forbid` on `issue` (a guard) instead".into());
        }
        (_, false, Some(_)) => {
            return Err("@spiffe_id belongs on identity rules only: a `permit` with `action == Attest::Action::\"propose\"` (a workload's IDs) or `action == Attest::Action::\"attest_node\"` (an agent's ID)".into());
        }
        (Effect::Permit, true, None) => {
            return Err("identity rule (a `permit` on `propose`) has no @spiffe_id template".into());
        }
        (_, false, None) => {
            if let Some((k, _)) = policy.annotations().find(|(k, _)| RULE_ANNOTATIONS.contains(k)) {
                return Err(format!("@{k} belongs on identity rules only"));
            }
            return Ok(None);
        }
        (Effect::Permit, true, Some(_)) => {}
    }
    if meta.passes.len() != 1 {
        return Err("identity rule must apply to `propose` alone (`action == Attest::Action::\"propose\"`)".into());
    }
    if reads_var(policy.to_json().ok(), "resource") {
        return Err("identity rule reads `resource`; in the propose pass the resource is the trust domain, not the candidate ID: check candidates with a `forbid` on `issue`".into());
    }
    let source = template.unwrap_or_default();
    let spiffe_id = Template::parse(source).map_err(|e| format!("@spiffe_id: {e}"))?;
    check_id_template(&spiffe_id, opts.trust_domain, "").map_err(|e| format!("@spiffe_id {source:?}: {e}"))?;
    workload_vars("@spiffe_id", &spiffe_id)?;
    let hint = policy.annotation("hint").map(Template::parse).transpose().map_err(|e| format!("@hint: {e}"))?;
    if let Some(h) = &hint {
        workload_vars("@hint", h)?;
    }
    let dns = match policy.annotation("dns") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| Template::parse(d).map_err(|e| format!("@dns {d:?}: {e}")))
            .collect::<Result<_, _>>()?,
    };
    for d in &dns {
        workload_vars("@dns", d)?;
    }
    let ttl = policy.annotation("ttl").map(|v| duration("ttl", v, opts.max_ttl)).transpose()?;
    let jwt_ttl = policy.annotation("jwt_ttl").map(|v| duration("jwt_ttl", v, opts.max_jwt_ttl)).transpose()?;
    let mut federates_with = Vec::new();
    for td in
        policy.annotation("federates_with").unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty())
    {
        let td = TrustDomain::new(td).map_err(|e| format!("@federates_with: {e}"))?;
        if !opts.federated.contains(&td) {
            return Err(format!(
                "@federates_with names {td}, which is not a federated trust domain of this host (policy.federated_trust_domains)"
            ));
        }
        federates_with.push(td);
    }
    let priority = match policy.annotation("priority") {
        None => 0,
        Some(p) => p.trim().parse().map_err(|_| format!("@priority must be a whole number, got {p:?}"))?,
    };
    Ok(Some(Rule::Workload(IdentityRule {
        id: meta.id.clone(),
        policy_id: cedar_policy::PolicyId::new(&meta.id),
        spiffe_id,
        hint,
        dns,
        ttl,
        jwt_ttl,
        federates_with,
        fallback: policy.annotation("fallback").is_some(),
        priority,
    })))
}

/// A template of a workload's identity rule may not use what only node attestation knows.
fn workload_vars(annotation: &str, t: &Template) -> Result<(), String> {
    match t.vars().find(|v| !v.for_workloads()) {
        Some(v) => Err(format!(
            "{annotation} uses {v}, which only node attestation knows (node identity rules, on `attest_node`)"
        )),
        None => Ok(()),
    }
}

/// Lint a `permit` on `attest_node` with `@spiffe_id`: the agent's ID, under the agent path.
fn node_rule(policy: &Policy, meta: &PolicyMeta, td: &TrustDomain) -> Result<NodeRule, String> {
    if meta.passes.len() != 1 {
        return Err(
            "node identity rule must apply to `attest_node` alone (`action == Attest::Action::\"attest_node\"`)".into(),
        );
    }
    if let Some((k, _)) =
        policy.annotations().find(|(k, _)| RULE_ANNOTATIONS.contains(k) && !NODE_RULE_ANNOTATIONS.contains(k))
    {
        return Err(format!(
            "@{k} belongs on workload identity rules only: an agent ID carries no DNS name, TTL, hint, federation or fallback"
        ));
    }
    let source = policy.annotation("spiffe_id").unwrap_or_default();
    let spiffe_id = Template::parse(source).map_err(|e| format!("@spiffe_id: {e}"))?;
    check_id_template(&spiffe_id, td, AGENT_PATH.trim_start_matches('/'))
        .map_err(|e| format!("@spiffe_id {source:?}: {e} (agent IDs live under {AGENT_PATH})"))?;
    if let Some(v) = spiffe_id.vars().find(|v| !v.for_agents()) {
        return Err(format!(
            "@spiffe_id uses {v}, which node attestation does not know (an agent is known by its token, pod and node)"
        ));
    }
    let priority = match policy.annotation("priority") {
        None => 0,
        Some(p) => p.trim().parse().map_err(|_| format!("@priority must be a whole number, got {p:?}"))?,
    };
    Ok(NodeRule { id: meta.id.clone(), policy_id: cedar_policy::PolicyId::new(&meta.id), spiffe_id, priority })
}

/// Lint one template: operators link templates to quarantine entities, so only guards and gates
/// (`forbid` on `issue`, `attest` or `attest_node`) may be templates.
pub(crate) fn check_template(t: &cedar_policy::Template, meta: &PolicyMeta) -> Result<(), String> {
    check_annotations(t.annotations().map(|(k, _)| k))?;
    if let Some((k, _)) = t.annotations().find(|(k, _)| RULE_ANNOTATIONS.contains(k)) {
        return Err(format!("@{k} belongs on identity rules, which cannot be templates"));
    }
    if meta.effect != Effect::Forbid
        || meta.passes.iter().any(|p| !matches!(p, Pass::Issue | Pass::Attest | Pass::AttestNode))
    {
        return Err("a template must be a `forbid` on `issue`, `attest` or `attest_node` (a guard or gate to link, e.g. a quarantine)".into());
    }
    Ok(())
}

/// Findings that do not refuse a policy, for `attestor policy check` and the load log.
pub(crate) fn warnings(json: Option<serde_json::Value>, meta: &PolicyMeta, templates: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let node_rule = meta.passes.contains(&Pass::AttestNode) && !templates.is_empty();
    if meta.effect == Effect::Permit && meta.passes.iter().all(|p| *p != Pass::Propose) && !node_rule {
        out.push("warning: a `permit` on attest, issue, emit or attest_node (without @spiffe_id) has no effect (attestor already permits them); restrict with a `forbid`".into());
    }
    if let Some(json) = &json
        && contains_key(json, &["+", "-", "*"])
    {
        out.push("warning: arithmetic can overflow at run time, which strict validation does not catch; an overflowing gate or guard denies, a filter suppresses".into());
    }
    // `{label:k}` in a template without `principal.k8s.pod.hasTag("k")` in the conditions
    // matches pods that lack the label and then renders nothing: usually a forgotten guard. The
    // same for annotations. Checked on the parsed conditions, not the text, so formatting and
    // a `hasTag` on some other entity do not fool it.
    let checked = json.as_ref().map(checked_tags).unwrap_or_default();
    for source in templates {
        let Ok(t) = Template::parse(source) else { continue };
        for var in t.vars() {
            let (entity, key, how) = match (var, node_rule) {
                (super::Var::Label(k), false) => ("pod", k, "principal.k8s.pod"),
                (super::Var::Annotation(k), false) => ("annotations", k, "principal.k8s.pod.annotations"),
                (super::Var::Label(k), true) => ("pod", k, "principal.pod"),
                (super::Var::Annotation(k), true) => ("annotations", k, "principal.pod.annotations"),
                (super::Var::NodeLabel(k), true) => ("node", k, "principal.node"),
                _ => continue,
            };
            let warning = format!(
                "warning: uses {var} but never checks `{how}.hasTag(\"{key}\")`: {}",
                if node_rule {
                    "agents without it match, and are refused because their ID cannot be rendered"
                } else {
                    "workloads without it match and get no identity (audited as missing)"
                }
            );
            if !checked.contains(&(entity.to_owned(), key.clone())) && !out.contains(&warning) {
                out.push(warning);
            }
        }
    }
    out
}

/// Every `<expr>.<attr>.hasTag("<key>")` in a policy's conditions, as `(attr, key)`.
fn checked_tags(json: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(has) = map.get("hasTag")
                    && let Some(attr) = has.pointer("/left/./attr").and_then(|a| a.as_str())
                    && let Some(key) = has.pointer("/right/Value").and_then(|k| k.as_str())
                {
                    out.push((attr.to_owned(), key.to_owned()));
                }
                map.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(c) = json.get("conditions") {
        walk(c, &mut out);
    }
    out
}

fn contains_key(v: &serde_json::Value, keys: &[&str]) -> bool {
    match v {
        serde_json::Value::Object(map) => map.iter().any(|(k, x)| keys.contains(&k.as_str()) || contains_key(x, keys)),
        serde_json::Value::Array(items) => items.iter().any(|x| contains_key(x, keys)),
        _ => false,
    }
}

/// An ID template must name its trust domain (and `path`, the fixed start of its path) up front,
/// so a template can never issue into a trust domain the host does not serve, nor an agent ID
/// outside the agent path.
fn check_id_template(t: &Template, td: &TrustDomain, path: &str) -> Result<(), String> {
    let src = t.source();
    let placeholder = format!("spiffe://{{trust_domain}}/{path}");
    let literal = format!("spiffe://{td}/{path}");
    if src.starts_with(&placeholder) || src.starts_with(&literal) {
        Ok(())
    } else {
        Err(format!("must start with `{placeholder}` or `{literal}`"))
    }
}

/// Whether a policy's conditions (given as Cedar's JSON form) read the principal's own tags
/// (`principal.hasTag(…)`, `principal.getTag(…)`: a workload's host and module facts).
pub(crate) fn reads_principal_tags(json: Option<serde_json::Value>) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                ["hasTag", "getTag"].iter().any(|op| {
                    map.get(*op).and_then(|x| x.pointer("/left/Var")).and_then(|x| x.as_str()) == Some("principal")
                }) || map.values().any(walk)
            }
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    // Without the JSON form, assume the worst.
    json.is_none_or(|json| json.get("conditions").is_some_and(walk))
}

/// Whether a policy's conditions (given as Cedar's JSON form) mention the variable `name`
/// (`principal`, `resource`, `context`): a walk looking for `{"Var": name}`.
pub(crate) fn reads_var(json: Option<serde_json::Value>, name: &str) -> bool {
    fn walk(v: &serde_json::Value, name: &str) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                map.get("Var").and_then(|x| x.as_str()) == Some(name) || map.values().any(|x| walk(x, name))
            }
            serde_json::Value::Array(items) => items.iter().any(|x| walk(x, name)),
            _ => false,
        }
    }
    // Without the JSON form, assume the worst: the policy reads everything.
    json.is_none_or(|json| json.get("conditions").is_some_and(|c| walk(c, name)))
}

#[cfg(test)]
mod tests;
