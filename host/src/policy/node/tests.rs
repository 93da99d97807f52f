//! Node policies: forbids refuse an agent naming the policy, errors deny, node identity rules
//! choose the agent ID by priority, a rule that cannot render refuses, and the load-time lint
//! keeps workload and node variables apart.

use std::collections::BTreeMap;

use super::*;
use crate::policy::{PolicyError, PolicyFile, PolicySettings};
use crate::spiffe_id::TrustDomain;
use crate::workload::OwnerReference;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn load(text: &str) -> Result<Policies, PolicyError> {
    let files = vec![PolicyFile { name: "nodes.cedar".into(), text: text.into() }];
    Policies::from_files(&files, &PolicySettings::default(), &td()).map(Policies::with_runtime_checks)
}

fn agent() -> AgentFacts {
    AgentFacts {
        cluster: "prod".into(),
        namespace: "spire".into(),
        service_account: "spire-agent".into(),
        pod_name: "spire-agent-x7k2p".into(),
        pod_uid: "pod-uid-1".into(),
        node_name: "node-1".into(),
        node_uid: "node-uid-1".into(),
        node_ip: "10.0.0.7".into(),
        node_labels: BTreeMap::from([("pool".into(), "general".into()), ("zone".into(), "a".into())]),
        pod_labels: BTreeMap::from([("app".into(), "spire-agent".into())]),
        pod_annotations: BTreeMap::new(),
        owner: Some(OwnerReference { kind: "DaemonSet".into(), name: "spire-agent".into(), uid: "ds-1".into() }),
        host_network: false,
        audiences: vec!["spire-server".into()],
    }
}

const POOL_GATE: &str = r#"
@id("general-pool-only")
@reason("agents run only on the general pool")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal.node.hasTag("pool") && principal.node.getTag("pool") == "general" };
"#;

#[test]
fn without_node_policies_every_agent_is_allowed_with_spire_id() {
    let p = load("").unwrap();
    assert!(!p.decides_nodes());
    let d = p.decide_node(&agent()).unwrap();
    assert_eq!(d.verdict, NodeVerdict::Allow);
    assert!(d.determining.is_empty());
}

#[test]
fn a_forbid_refuses_and_is_named_with_its_reason() {
    let p = load(POOL_GATE).unwrap();
    assert!(p.decides_nodes());
    assert!(p.decide_node(&agent()).unwrap().allowed());
    let mut other = agent();
    other.node_labels.insert("pool".into(), "gpu".into());
    let d = p.decide_node(&other).unwrap();
    assert_eq!(d.verdict, NodeVerdict::Deny);
    assert_eq!(d.determining, ["general-pool-only"]);
    assert_eq!(d.reasons, ["agents run only on the general pool"]);
}

#[test]
fn scopes_reach_the_agent_through_its_parents() {
    let p = load(
        r#"
@id("quarantine-node-9")
forbid (principal in Attest::Node::"node-9", action == Attest::Action::"attest_node", resource);
@id("only-spire-agent")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal in Attest::ServiceAccount::"spire/spire-agent" && principal.cluster == "prod" };
"#,
    )
    .unwrap();
    assert!(p.decide_node(&agent()).unwrap().allowed());
    let on_9 = AgentFacts { node_name: "node-9".into(), ..agent() };
    assert_eq!(p.decide_node(&on_9).unwrap().determining, ["quarantine-node-9"]);
    let other_sa = AgentFacts { service_account: "default".into(), ..agent() };
    assert_eq!(p.decide_node(&other_sa).unwrap().determining, ["only-spire-agent"]);
    let other_cluster = AgentFacts { cluster: "dev".into(), ..agent() };
    assert!(!p.decide_node(&other_cluster).unwrap().allowed());
}

#[test]
fn an_evaluation_error_denies() {
    // Strict validation cannot see integer overflow: this gate errors at run time for `dev`.
    let p = load(
        r#"
@id("overflowing")
forbid (principal, action == Attest::Action::"attest_node", resource)
when { principal.cluster == "dev" && 9223372036854775807 + 1 == 0 };
"#,
    )
    .unwrap();
    assert!(p.decide_node(&agent()).unwrap().allowed());
    let dev = AgentFacts { cluster: "dev".into(), ..agent() };
    let d = p.decide_node(&dev).unwrap();
    assert_eq!(d.verdict, NodeVerdict::Deny);
    assert_eq!(d.errors.len(), 1, "{d:?}");
}

#[test]
fn identity_rules_choose_the_agent_id_by_priority_then_id() {
    let p = load(
        r#"
@id("by-pool")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/pool/{node_label:pool}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("pool") };
@id("by-node-name")
@priority("10")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/name/{k8s.node_name}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("zone") };
"#,
    )
    .unwrap();
    let d = p.decide_node(&agent()).unwrap();
    assert_eq!(d.agent_id().unwrap().to_string(), "spiffe://example.org/spire/agent/k8s_psat/prod/name/node-1");
    assert_eq!(d.determining, ["by-node-name", "by-pool"]);
    let mut no_zone = agent();
    no_zone.node_labels.remove("zone");
    let d = p.decide_node(&no_zone).unwrap();
    assert_eq!(
        d.verdict,
        NodeVerdict::AllowAs {
            agent_id: "spiffe://example.org/spire/agent/k8s_psat/prod/pool/general/node-uid-1".parse().unwrap(),
            rule: "by-pool".into()
        }
    );
    let mut bare = no_zone.clone();
    bare.node_labels.clear();
    assert_eq!(p.decide_node(&bare).unwrap().verdict, NodeVerdict::Allow);
}

#[test]
fn a_matching_rule_that_cannot_render_refuses() {
    let p = load(
        r#"
@id("by-rack")
@spiffe_id("spiffe://{trust_domain}/spire/agent/rack/{node_label:rack}")
permit (principal, action == Attest::Action::"attest_node", resource);
"#,
    )
    .unwrap();
    let d = p.decide_node(&agent()).unwrap();
    assert!(!d.allowed());
    assert_eq!(d.verdict, NodeVerdict::NotRendered { rule: "by-rack".into(), why: "missing {node_label:rack}".into() });
    let mut slashed = agent();
    slashed.node_labels.insert("rack".into(), "a/b".into());
    assert!(matches!(p.decide_node(&slashed).unwrap().verdict, NodeVerdict::NotRendered { .. }));
}

#[test]
fn the_lint_keeps_agent_ids_under_the_agent_path_and_variables_apart() {
    let cases = [
        (
            r#"@id("r") @spiffe_id("spiffe://{trust_domain}/nodes/{k8s.node_name}")
permit (principal, action == Attest::Action::"attest_node", resource);"#,
            "must start with `spiffe://{trust_domain}/spire/agent/`",
        ),
        (
            r#"@id("r") @spiffe_id("spiffe://{trust_domain}/spire/agent/{unix.uid}")
permit (principal, action == Attest::Action::"attest_node", resource);"#,
            "uses {unix.uid}, which node attestation does not know",
        ),
        (
            r#"@id("r") @ttl("1h") @spiffe_id("spiffe://{trust_domain}/spire/agent/{k8s.node_name}")
permit (principal, action == Attest::Action::"attest_node", resource);"#,
            "@ttl belongs on workload identity rules only",
        ),
        (
            r#"@id("r") @spiffe_id("spiffe://{trust_domain}/node/{k8s.node_uid}")
permit (principal, action == Attest::Action::"propose", resource);"#,
            "uses {k8s.node_uid}, which only node attestation knows",
        ),
        (
            r#"@id("r") @spiffe_id("spiffe://{trust_domain}/spire/agent/{k8s.node_name}")
permit (principal, action in [Attest::Action::"attest_node", Attest::Action::"attest"], resource);"#,
            "must apply to `attest_node` alone",
        ),
        (
            r#"@id("r") forbid (principal, action == Attest::Action::"attest_node", resource) when { principal.unix.uid == 0 };"#,
            "unix",
        ),
    ];
    for (text, want) in cases {
        let e = load(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}\n  expected {want:?} in: {e}");
    }
}

#[test]
fn a_node_gate_template_can_be_linked_to_quarantine_a_node() {
    let files = vec![
        PolicyFile {
            name: "q.cedar".into(),
            text: r#"@id("quarantine") forbid (principal in ?principal, action == Attest::Action::"attest_node", resource);"#
                .into(),
        },
        PolicyFile {
            name: "links.json".into(),
            text: r#"[{"template_id": "quarantine", "link_id": "q-node-1", "args": {"?principal": "Attest::Node::\"node-1\""}}]"#
                .into(),
        },
    ];
    let p = Policies::from_files(&files, &PolicySettings::default(), &td()).unwrap().with_runtime_checks();
    assert_eq!(p.decide_node(&agent()).unwrap().determining, ["q-node-1"]);
}
