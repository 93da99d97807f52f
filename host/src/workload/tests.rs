use super::*;
use crate::selector::Selector;

#[test]
fn as_gathered_drops_module_output_and_keeps_attestors_own() {
    let mut w = Workload::new(sample::process().facts());
    for (k, v) in
        [("host.name", "node-a"), ("sigstore.verified", "true"), ("team.team", "payments"), ("my-mod.program", "x")]
    {
        w.facts.insert(FactKey::new(k).expect("key"), v.to_owned());
    }
    w.selectors = ["unix:uid:0", "team:payments", "k8s:ns:shop", "my-mod:exe:x"]
        .iter()
        .map(|s| s.parse::<Selector>().expect("selector"))
        .collect();
    let g = w.as_gathered();
    let facts: Vec<&str> = g.facts.keys().map(FactKey::as_str).collect();
    assert_eq!(facts, ["host.name", "sigstore.verified"]);
    let selectors: Vec<String> = g.selectors.iter().map(ToString::to_string).collect();
    assert_eq!(selectors, ["unix:uid:0", "k8s:ns:shop"]);
    assert_eq!(g.unix, w.unix);
}

#[test]
fn a_fact_keys_source_is_before_the_first_dot() {
    assert_eq!(FactKey::new("host.name").expect("key").source(), "host");
    assert_eq!(FactKey::new("sigstore.signature.0.subject").expect("key").source(), "sigstore");
}
