use super::*;
use crate::policy::{IssuedId, SelectorReport, Verdict};

fn decision(gate: &'static str, ids: &[&str], emitted: &[&str]) -> Decision {
    Decision {
        policy_generation: "g".into(),
        gate: Verdict { decision: gate, determining: vec![], reasons: vec![], errors: vec![] },
        candidates: vec![],
        issued: ids
            .iter()
            .map(|i| IssuedId {
                id: i.parse().unwrap(),
                policies: vec![],
                hint: None,
                dns_names: vec![],
                ttl_seconds: None,
                jwt_ttl_seconds: None,
                federates_with: vec![],
            })
            .collect(),
        selectors: SelectorReport::default(),
        emitted: emitted.iter().map(|s| s.parse().unwrap()).collect(),
        errors: vec![],
        eval_us: 0,
    }
}

#[test]
fn differences_name_gate_ids_default_and_selectors() {
    let a = decision("allow", &["spiffe://td/a", "spiffe://td/b"], &["k8s:ns:x", "k8s:sa:y"]);
    let names = ["live", "shadow"];
    assert!(differences(&a, &a.clone(), names).is_empty());
    let b = decision("allow", &["spiffe://td/b", "spiffe://td/c"], &["k8s:ns:x"]);
    assert_eq!(
        differences(&a, &b, names),
        [
            "spiffe://td/a: issued by live, not by shadow",
            "spiffe://td/c: issued by shadow, not by live",
            "default ID: live spiffe://td/a, shadow spiffe://td/b",
            "selector k8s:sa:y: emitted by live, suppressed by shadow",
        ]
    );
    let denied = decision("deny", &[], &[]);
    assert_eq!(differences(&denied, &decision("allow", &[], &[]), names)[0], "gate: live deny, shadow allow");
}
