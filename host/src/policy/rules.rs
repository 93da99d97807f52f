//! Identity rules (`permit … propose` policies with an `@spiffe_id` template) and the lint every
//! policy passes at load.

use cedar_policy::{Effect, Policy};

use super::Pass;
use super::load::PolicyMeta;
use super::template::Template;
use crate::spiffe_id::TrustDomain;

/// Annotations attestor understands. Anything else is a typo until proven otherwise.
const KNOWN_ANNOTATIONS: &[&str] =
    &["id", "spiffe_id", "hint", "dns", "ttl", "jwt_ttl", "federates_with", "fallback", "priority", "reason"];

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
    /// Used only when no non-fallback rule yields an issued ID.
    pub fallback: bool,
    /// Higher first; ties by rule id.
    pub priority: i64,
}

/// Lint one policy; return its identity rule if it is one.
pub(crate) fn check(policy: &Policy, meta: &PolicyMeta, td: &TrustDomain) -> Result<Option<IdentityRule>, String> {
    for (key, _) in policy.annotations() {
        if !KNOWN_ANNOTATIONS.contains(&key) {
            return Err(format!(
                "unknown annotation `@{key}`; known: {}",
                KNOWN_ANNOTATIONS.iter().map(|k| format!("@{k}")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let proposes = meta.passes.contains(&Pass::Propose);
    let template = policy.annotation("spiffe_id");
    match (meta.effect, proposes, template) {
        (Effect::Forbid, true, _) => {
            return Err("a `forbid` may not apply to `propose`: it would hide identity rules instead of denying an identity; write a `forbid` on `issue` (a guard) instead".into());
        }
        (_, false, Some(_)) => {
            return Err(
                "@spiffe_id belongs on identity rules only: a `permit` with `action == Attest::Action::\"propose\"`"
                    .into(),
            );
        }
        (Effect::Permit, true, None) => {
            return Err("identity rule (a `permit` on `propose`) has no @spiffe_id template".into());
        }
        (Effect::Permit, false, None) => {
            tracing::warn!(policy = %meta.id, at = %meta.at, "a `permit` on attest, issue or emit has no effect: attestor already permits them; restrict with `forbid`");
            return Ok(None);
        }
        (Effect::Forbid, false, None) => return Ok(None),
        (Effect::Permit, true, Some(_)) => {}
    }
    if meta.passes.len() != 1 {
        return Err("identity rule must apply to `propose` alone (`action == Attest::Action::\"propose\"`)".into());
    }
    if reads_var(policy, "resource") {
        return Err("identity rule reads `resource`; in the propose pass the resource is the trust domain, not the candidate ID: check candidates with a `forbid` on `issue`".into());
    }
    let source = template.unwrap_or_default();
    let spiffe_id = Template::parse(source).map_err(|e| format!("@spiffe_id: {e}"))?;
    check_id_template(&spiffe_id, td).map_err(|e| format!("@spiffe_id {source:?}: {e}"))?;
    let hint = policy.annotation("hint").map(Template::parse).transpose().map_err(|e| format!("@hint: {e}"))?;
    let priority = match policy.annotation("priority") {
        None => 0,
        Some(p) => p.trim().parse().map_err(|_| format!("@priority must be a whole number, got {p:?}"))?,
    };
    Ok(Some(IdentityRule {
        id: meta.id.clone(),
        policy_id: cedar_policy::PolicyId::new(&meta.id),
        spiffe_id,
        hint,
        fallback: policy.annotation("fallback").is_some(),
        priority,
    }))
}

/// An ID template must name its trust domain up front, so a template can never issue into a
/// trust domain the host does not serve.
fn check_id_template(t: &Template, td: &TrustDomain) -> Result<(), String> {
    let src = t.source();
    let literal = format!("spiffe://{td}/");
    if src.starts_with("spiffe://{trust_domain}/") || src.starts_with(&literal) {
        Ok(())
    } else {
        Err(format!("must start with `spiffe://{{trust_domain}}/` or `{literal}`"))
    }
}

/// Whether the policy's conditions mention the variable `name` (`principal`, `resource`,
/// `context`): a walk of Cedar's JSON form looking for `{"Var": name}`.
pub(crate) fn reads_var(policy: &Policy, name: &str) -> bool {
    fn walk(v: &serde_json::Value, name: &str) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                map.get("Var").and_then(|x| x.as_str()) == Some(name) || map.values().any(|x| walk(x, name))
            }
            serde_json::Value::Array(items) => items.iter().any(|x| walk(x, name)),
            _ => false,
        }
    }
    // If the JSON form cannot be produced, assume the worst: the policy reads everything.
    policy.to_json().map_or(true, |json| json.get("conditions").is_some_and(|c| walk(c, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_templates_must_pin_the_trust_domain() {
        let td = TrustDomain::new("example.org").unwrap();
        let ok = |s: &str| check_id_template(&Template::parse(s).unwrap(), &td).is_ok();
        assert!(ok("spiffe://{trust_domain}/ns/{k8s.namespace}"));
        assert!(ok("spiffe://example.org/ns/{k8s.namespace}"));
        assert!(!ok("spiffe://other.org/ns/{k8s.namespace}"));
        assert!(!ok("spiffe://{k8s.namespace}/x"));
        assert!(!ok("{trust_domain}/x"));
        assert!(!ok("spiffe://{trust_domain}"));
    }

    #[test]
    fn finds_variable_reads_in_conditions_only() {
        let p = Policy::parse(
            None,
            r#"permit(principal, action, resource == Attest::Selector::"x") when { resource.type == "k8s" };"#,
        )
        .unwrap();
        assert!(reads_var(&p, "resource"));
        assert!(!reads_var(&p, "principal"));
        let scope_only =
            Policy::parse(None, r#"permit(principal, action, resource == Attest::Selector::"x");"#).unwrap();
        assert!(!reads_var(&scope_only, "resource"));
    }
}
