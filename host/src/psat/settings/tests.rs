use super::*;

#[test]
fn allowing_takes_spire_defaults() {
    let c = ClusterSettings::allowing(["spire:spire-agent"]);
    assert_eq!(c.audience, vec!["spire-server".to_owned()]);
    assert_eq!(c.kube_config_file, None);
    assert!(c.allowed_node_label_keys.is_empty());
    assert!(c.allowed_pod_label_keys.is_empty());
    assert!(!c.use_pod_uid_for_agent_id);
}

#[test]
fn allows_matches_namespace_and_service_account_exactly() {
    let c = ClusterSettings::allowing(["spire:spire-agent", "NS1:SA1"]);
    assert!(c.allows("spire", "spire-agent"));
    assert!(c.allows("NS1", "SA1"));
    assert!(!c.allows("ns1", "SA1"), "case matters, as in SPIRE");
    assert!(!c.allows("spire", "spire"));
    assert!(!c.allows("spire-agent", "spire"));
}

#[test]
fn default_has_no_cluster() {
    assert!(PsatSettings::default().clusters.is_empty());
}
