use std::collections::BTreeSet;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::fault::Fault;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// SPIRE's own test configuration: two clusters, one with label keys, one with an audience.
const SPIRE_TEST_CONFIG: &str = r#"
clusters = {
    "FOO" = {
        service_account_allow_list = ["NS1:SA1"]
        kube_config_file = ""
        allowed_pod_label_keys = ["PODLABEL-A"]
        allowed_node_label_keys = ["NODELABEL-B"]
    }
    "BAR" = {
        service_account_allow_list = ["NS2:SA2"]
        kube_config_file= ""
        audience = ["AUDIENCE"]
    }
}
"#;

#[test]
fn reads_spire_test_configuration() {
    let s = parse_server(SPIRE_TEST_CONFIG).unwrap();
    assert_eq!(s.psat.clusters.keys().collect::<Vec<_>>(), ["BAR", "FOO"]);
    let foo = &s.psat.clusters["FOO"];
    assert_eq!(foo.service_account_allow_list, set(&["NS1:SA1"]));
    assert_eq!(foo.audience, vec!["spire-server".to_owned()], "absent audience: SPIRE's default");
    assert_eq!(foo.kube_config_file, None, "empty kube_config_file: in-cluster");
    assert_eq!(foo.allowed_pod_label_keys, set(&["PODLABEL-A"]));
    assert_eq!(foo.allowed_node_label_keys, set(&["NODELABEL-B"]));
    assert!(!foo.use_pod_uid_for_agent_id);
    let bar = &s.psat.clusters["BAR"];
    assert_eq!(bar.audience, vec!["AUDIENCE".to_owned()]);
    assert!(bar.allowed_node_label_keys.is_empty() && bar.allowed_pod_label_keys.is_empty());
}

#[test]
fn every_key() {
    let s = parse_server(
        r#"clusters = {
            prod = {
                service_account_allow_list = ["spire:spire-agent", "spire:other"]
                audience = ["a", "b"]
                kube_config_file = "/etc/kube/prod.conf"
                allowed_node_label_keys = ["pool", "zone"]
                allowed_pod_label_keys = ["app"]
                use_pod_uid_for_agent_id = true
            }
        }"#,
    )
    .unwrap();
    let prod = &s.psat.clusters["prod"];
    assert_eq!(prod.service_account_allow_list, set(&["spire:other", "spire:spire-agent"]));
    assert_eq!(prod.audience, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(prod.kube_config_file, Some(PathBuf::from("/etc/kube/prod.conf")));
    assert_eq!(prod.allowed_node_label_keys, set(&["pool", "zone"]));
    assert_eq!(prod.allowed_pod_label_keys, set(&["app"]));
    assert!(prod.use_pod_uid_for_agent_id);
}

#[test]
fn explicitly_empty_audience_sends_none() {
    let s = parse_server(r#"clusters = { c = { service_account_allow_list = ["a:b"], audience = [] } }"#).unwrap();
    assert!(s.psat.clusters["c"].audience.is_empty());
}

#[test]
fn block_form_is_read_too() {
    let s = parse_server(
        r#"clusters {
            c1 { service_account_allow_list = ["a:b"] }
            c2 = { service_account_allow_list = ["c:d"] }
        }"#,
    )
    .unwrap();
    assert_eq!(s.psat.clusters.keys().collect::<Vec<_>>(), ["c1", "c2"]);
}

#[test]
fn no_clusters_is_not_an_error() {
    assert!(parse_server("").unwrap().psat.clusters.is_empty());
    assert!(parse_server("clusters = {}").unwrap().psat.clusters.is_empty());
}

#[test]
fn cluster_without_allowed_service_account_is_spires_error() {
    let e = parse_server(r#"clusters = { "FOO" = {} }"#).unwrap_err();
    assert_eq!(e.to_string(), r#"cluster "FOO" configuration must have at least one service account allowed"#);
    assert_eq!(e.fault(), Fault::Config);
    let e = parse_server(r#"clusters = { "FOO" = { service_account_allow_list = [] } }"#).unwrap_err();
    assert_eq!(e.to_string(), r#"cluster "FOO" configuration must have at least one service account allowed"#);
}

#[test]
fn malformed_text_is_spires_error() {
    for text in ["blah", "clusters = {", "clusters = { a = { x = 1 + 2 } }"] {
        let e = parse_server(text).unwrap_err().to_string();
        assert!(e.starts_with("plugin configuration is malformed"), "{text}: {e}");
    }
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let e = parse_server(
        r#"cluster = {}
clusters = { c = { service_account_allow_list = ["a:b"], audiences = ["x"] } }"#,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "unknown configurations detected: cluster,clusters.c.audiences");
}

#[test]
fn wrong_types_name_the_key() {
    let e = parse_server(r#"clusters = { c = { service_account_allow_list = "a:b" } }"#).unwrap_err();
    assert!(e.to_string().contains("clusters.c.service_account_allow_list"), "{e}");
    let e = parse_server(r#"clusters = { c = { service_account_allow_list = ["a:b"], audience = "x" } }"#).unwrap_err();
    assert!(e.to_string().contains("clusters.c.audience"), "{e}");
    let e =
        parse_server(r#"clusters = { c = { service_account_allow_list = ["a:b"], use_pod_uid_for_agent_id = 1 } }"#)
            .unwrap_err();
    assert!(e.to_string().contains("clusters.c.use_pod_uid_for_agent_id"), "{e}");
    let e = parse_server(r#"clusters = ["c"]"#).unwrap_err();
    assert!(e.to_string().contains("clusters"), "{e}");
    let e = parse_server(r#"clusters = { c = "x" }"#).unwrap_err();
    assert!(e.to_string().contains("clusters.c"), "{e}");
}

#[test]
fn cluster_name_must_be_one_id_segment() {
    for name in ["a/b", "..", ".", "my cluster", "é"] {
        let text = format!(r#"clusters = {{ "{name}" = {{ service_account_allow_list = ["a:b"] }} }}"#);
        let e = parse_server(&text).unwrap_err().to_string();
        assert!(e.contains("segment of the agent's SPIFFE ID"), "{name}: {e}");
    }
}

#[test]
fn every_problem_is_reported() {
    let e = parse_server(r#"clusters = { a = {}, b = {}, c = { service_account_allow_list = ["x:y"], z = 1 } }"#)
        .unwrap_err();
    assert_eq!(e.notes().len(), 3, "{e}");
}

#[test]
fn policy_block_reads_dir_and_reload_interval() {
    let s = parse_server(
        r#"clusters = { c = { service_account_allow_list = ["spire:spire-agent"] } }
policy {
  dir = "/etc/attestor/nodes"
  reload_interval = "30s"
}
audit {
  path = "/var/log/attestor/nodes.jsonl"
  debug = true
}"#,
    )
    .unwrap();
    let policy = s.policy.unwrap();
    assert_eq!(policy.dir, std::path::PathBuf::from("/etc/attestor/nodes"));
    assert_eq!(policy.reload_interval, std::time::Duration::from_secs(30));
    assert_eq!(s.audit.path, Some("/var/log/attestor/nodes.jsonl".into()));
    assert!(s.audit.debug);
    let s = parse_server(r#"policy { dir = "p" }"#).unwrap();
    assert_eq!(s.policy.unwrap().reload_interval, std::time::Duration::from_secs(5));
    assert_eq!(parse_server("").unwrap().policy, None);
}

#[test]
fn policy_block_refuses_what_it_cannot_honour() {
    let e = parse_server("policy { }").unwrap_err().to_string();
    assert!(e.contains("policy.dir") && e.contains("is required in the node-attestor-server role"), "{e}");
    for key in ["cluster = \"c\"", "spiffe_id_selectors = true", "shadow_dir = \"x\"", "max_ttl = \"1h\""] {
        let e = parse_server(&format!("policy {{\n dir = \"p\"\n {key}\n}}")).unwrap_err().to_string();
        assert!(e.contains("applies to workload attestation only"), "{key}: {e}");
        assert!(!e.contains("unknown"), "{key}: reported twice: {e}");
    }
    let e = parse_server("policy {\n dir = \"p\"\n reload_interval = \"1ms\"\n}").unwrap_err().to_string();
    assert!(e.contains("policy.reload_interval"), "{e}");
    let e = parse_server("policy {\n dir = \"p\"\n dri = \"q\"\n}").unwrap_err().to_string();
    assert!(e.contains("policy.dri"), "{e}");
    let e = parse_server(r#"audit { paht = "x" }"#).unwrap_err().to_string();
    assert!(e.contains("audit.paht"), "{e}");
}

proptest! {
    #[test]
    fn any_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_server(&text);
    }

    #[test]
    fn any_cluster_body_never_panics(body in "[a-z_ =\\[\\]{}\",:0-9]{0,120}") {
        let _ = parse_server(&format!("clusters = {{ c = {{ {body} }} }}"));
    }
}
