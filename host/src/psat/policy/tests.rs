//! Node policies in the server role: a refusal names its policies and reasons, an identity rule
//! replaces SPIRE's agent ID, a rule that cannot render refuses, and reloading swaps a changed
//! set in, keeps the old one when the new one does not load, and says nothing when nothing
//! changed.

use std::time::Duration;

use super::*;
use crate::fault::Fault;
use crate::psat::attest::Code;
use crate::workload::AgentFacts;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn attested() -> Attested {
    let facts = AgentFacts {
        cluster: "prod".into(),
        namespace: "spire".into(),
        service_account: "spire-agent".into(),
        pod_name: "spire-agent-1".into(),
        pod_uid: "pod-1".into(),
        node_name: "node-1".into(),
        node_uid: "node-uid-1".into(),
        node_labels: [("pool".to_owned(), "gpu".to_owned())].into(),
        ..AgentFacts::default()
    };
    Attested {
        agent_id: "spiffe://example.org/spire/agent/k8s_psat/prod/node-uid-1".parse().unwrap(),
        selectors: vec!["cluster:prod".into()],
        can_reattest: true,
        facts,
    }
}

const GATE: &str = r#"
@id("general-pool-only")
@reason("agents run only on the general pool")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal.node.hasTag("pool") && principal.node.getTag("pool") == "general" };
"#;

const RULE: &str = r#"
@id("by-pool")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_label:pool}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource);
"#;

fn policy_in(dir: &std::path::Path) -> NodePolicy {
    NodePolicy::load(NodePolicySettings { dir: dir.to_owned(), reload_interval: Duration::from_secs(5) }, td()).unwrap()
}

#[test]
fn a_refusal_names_the_policy_its_reason_and_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gate.cedar"), GATE).unwrap();
    let p = policy_in(dir.path());
    let a = attested();
    let d = p.decide(&a).unwrap();
    let e = admit(a, &d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "agent \"spire:spire-agent\" on node \"node-1\" in cluster \"prod\" refused by node policy \
         \"general-pool-only\" (agents run only on the general pool)"
    );
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(e.fault(), Fault::Policy);
}

#[test]
fn an_identity_rule_replaces_spires_agent_id_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rule.cedar"), RULE).unwrap();
    let p = policy_in(dir.path());
    let a = attested();
    let d = p.decide(&a).unwrap();
    let admitted = admit(a.clone(), &d).unwrap();
    assert_eq!(admitted.agent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/prod/gpu/node-uid-1");
    assert_eq!(admitted.selectors, a.selectors);
    assert!(admitted.can_reattest);

    let mut bare = attested();
    bare.facts.node_labels.clear();
    let d = p.decide(&bare).unwrap();
    let e = admit(bare, &d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node identity rule \"by-pool\" matched agent \"spire:spire-agent\" on node \"node-1\" in cluster \"prod\", \
         but its agent ID cannot be rendered: missing {node_label:pool}"
    );
    assert_eq!(e.code(), Code::PermissionDenied);
}

#[test]
fn reload_swaps_changed_sets_and_keeps_the_old_one_on_refusal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gate.cedar"), GATE).unwrap();
    let p = policy_in(dir.path());
    let first = p.policies().generation().to_owned();
    assert_eq!(p.reload().unwrap(), None, "nothing changed");

    std::fs::write(dir.path().join("gate.cedar"), RULE).unwrap();
    let (from, to) = p.reload().unwrap().expect("a new set");
    assert_eq!(from, first);
    assert_eq!(p.policies().generation(), to);
    assert!(p.decide(&attested()).unwrap().allowed());

    std::fs::write(dir.path().join("gate.cedar"), "forbid (principal, action, resource) when {").unwrap();
    assert!(p.reload().is_err());
    assert_eq!(p.policies().generation(), to, "the old set keeps serving");
    assert_eq!(p.reload().unwrap(), None, "a refused set is refused once, until it changes again");
}
