use super::*;

#[test]
fn id_templates_must_pin_the_trust_domain() {
    let td = TrustDomain::new("example.org").unwrap();
    let ok = |s: &str| check_id_template(&Template::parse(s).unwrap(), &td, "").is_ok();
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
    assert!(reads_var(p.to_json().ok(), "resource"));
    assert!(!reads_var(p.to_json().ok(), "principal"));
    let scope_only = Policy::parse(None, r#"permit(principal, action, resource == Attest::Selector::"x");"#).unwrap();
    assert!(!reads_var(scope_only.to_json().ok(), "resource"));
}
