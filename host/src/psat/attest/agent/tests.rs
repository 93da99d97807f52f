use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn facts() -> AgentFacts {
    AgentFacts {
        cluster: "FOO".into(),
        namespace: "NS1".into(),
        service_account: "SA1".into(),
        pod_name: "PODNAME-1".into(),
        pod_uid: "PODUID-1".into(),
        node_name: "NODENAME-1".into(),
        node_uid: "NODEUID-1".into(),
        node_ip: "172.16.10.1".into(),
        node_labels: BTreeMap::from([("b".into(), "x:y".into()), ("a".into(), "1".into()), ("c".into(), "".into())]),
        pod_labels: BTreeMap::from([("app".into(), "spire".into())]),
        audiences: Vec::new(),
        ..AgentFacts::default()
    }
}

#[test]
fn spire_agent_id_vectors() {
    let td = TrustDomain::new("example.org").unwrap();
    assert_eq!(
        agent_id(&td, "FOO", false, &facts()).unwrap().to_string(),
        "spiffe://example.org/spire/agent/k8s_psat/FOO/NODEUID-1"
    );
    assert_eq!(
        agent_id(&td, "FOO", true, &facts()).unwrap().to_string(),
        "spiffe://example.org/spire/agent/k8s_psat/FOO/pod/PODUID-1"
    );
}

#[test]
fn parts_must_be_one_segment() {
    let td = TrustDomain::new("example.org").unwrap();
    for cluster in ["a/b", "..", ".", "", "a b"] {
        assert!(matches!(agent_id(&td, cluster, false, &facts()), Err(PsatError::AgentId { .. })), "{cluster:?}");
    }
    for uid in ["../x", "", "a%2f", "u\n"] {
        let f = AgentFacts { pod_uid: uid.into(), node_uid: uid.into(), ..facts() };
        assert!(agent_id(&td, "FOO", false, &f).is_err(), "{uid:?}");
        assert!(agent_id(&td, "FOO", true, &f).is_err(), "{uid:?}");
    }
}

#[test]
fn only_allowed_labels_in_key_order_after_the_fixed_eight() {
    let mut cluster = ClusterSettings::allowing(["NS1:SA1"]);
    cluster.allowed_node_label_keys = BTreeSet::from(["c".into(), "b".into(), "missing".into()]);
    cluster.allowed_pod_label_keys = BTreeSet::from(["app".into()]);
    let values = selector_values(&cluster, &facts());
    assert_eq!(values.len(), 11);
    assert_eq!(values[..2], ["cluster:FOO", "agent_ns:NS1"]);
    assert_eq!(values[8..], ["agent_node_label:b:x:y", "agent_node_label:c:", "agent_pod_label:app:spire"]);
    let none = selector_values(&ClusterSettings::allowing(["NS1:SA1"]), &facts());
    assert_eq!(none.len(), 8);
}
