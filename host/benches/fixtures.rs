//! Inputs shared by the benchmarks: a realistic pod workload and synthetic policy sets.

use std::collections::BTreeMap;

use attestor::workload::{FactKey, Workload, sample};

/// A pod with 12 labels, 8 annotations, an owner and a container; 40 selectors.
pub fn pod_workload() -> Workload {
    let labels: BTreeMap<String, String> =
        (0..12).map(|i| (format!("label-{i}.example.com/key"), format!("value-{i}"))).collect();
    let annotations: BTreeMap<String, String> = (0..8).map(|i| (format!("annotation-{i}"), format!("a{i}"))).collect();
    let mut w = sample::process().user("app").group("app").exe("/app/server").workload();
    let mut sels: Vec<String> = vec![
        "k8s:sa:ledger".into(),
        "k8s:ns:ns-7".into(),
        "k8s:node-name:node-1".into(),
        "k8s:pod-uid:2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab".into(),
        "k8s:pod-name:ledger-7d9c8b6f5-x2k9p".into(),
        "k8s:pod-image-count:2".into(),
        "k8s:pod-init-image-count:0".into(),
        "k8s:pod-image:registry.example.com/ledger:1.2".into(),
        "k8s:pod-image:registry.example.com/ledger@sha256:9f86".into(),
        "k8s:pod-owner:ReplicaSet:ledger-7d9c8b6f5".into(),
        "k8s:pod-owner-uid:ReplicaSet:0e1f".into(),
        "k8s:container-name:app".into(),
        "k8s:container-image:registry.example.com/ledger:1.2".into(),
    ];
    sels.extend(labels.iter().map(|(k, v)| format!("k8s:pod-label:{k}:{v}")));
    sels.extend((0..6).map(|i| format!("unix:sel-{i}:{i}")));
    sels.extend((0..9).map(|i| format!("team:extra-{i}")));
    w.selectors = sels.iter().map(|s| s.parse().expect("selector")).collect();
    w.facts.insert(FactKey::new("team.team").expect("key"), "payments".into());
    w.facts.insert(FactKey::new("host.name").expect("key"), "node-1".into());
    let pod = sample::pod("ns-7", "ledger")
        .labels(labels)
        .annotations(annotations)
        .owner("ReplicaSet", "ledger-7d9c8b6f5", "0e1f")
        .container(sample::container("app"));
    w.kubernetes = Some(pod.facts());
    w
}

/// A synthetic but realistic policy set of `n` policies: 30% identity rules scoped to
/// namespaces with label conditions, 40% issue guards on path prefixes, 20% selector filters,
/// 10% attest gates on labels.
pub fn policy_set(n: usize) -> String {
    let mut s = String::from(
        "@id(\"k8s-ns-sa\") @fallback @spiffe_id(\"spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}\")\npermit (principal, action == Attest::Action::\"propose\", resource) when { principal has k8s };\n",
    );
    for i in 1..n {
        let kind = i % 10;
        let ns = format!("ns-{}", i % 50);
        let text = match kind {
            0..=2 => format!(
                "@id(\"rule-{i}\") @spiffe_id(\"spiffe://{{trust_domain}}/team-{i}/{{label:label-1.example.com/key}}\")\npermit (principal in Attest::Namespace::\"{ns}\", action == Attest::Action::\"propose\", resource) when {{ principal has k8s && principal.k8s.pod.hasTag(\"label-{}.example.com/key\") }};\n",
                i % 12
            ),
            3..=6 => format!(
                "@id(\"guard-{i}\") forbid (principal, action == Attest::Action::\"issue\", resource) when {{ resource.path like \"/team-{i}/*\" && !(principal in Attest::Namespace::\"{ns}\") }};\n"
            ),
            7 | 8 => format!(
                "@id(\"filter-{i}\") forbid (principal, action == Attest::Action::\"emit\", resource) when {{ resource.type == \"k8s\" && resource.key == \"pod-label\" && resource.value like \"internal-{i}.example.com/*\" }};\n"
            ),
            _ => format!(
                "@id(\"gate-{i}\") forbid (principal, action == Attest::Action::\"attest\", resource) when {{ principal has k8s && principal.k8s.pod.hasTag(\"quarantine-{i}\") }};\n"
            ),
        };
        s.push_str(&text);
    }
    s
}
