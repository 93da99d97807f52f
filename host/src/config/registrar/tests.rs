//! The `registrar { }` block: every key, its default, its checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::registrar::settings::{Mode, RegistrarSettings};

fn parse(body: &str) -> Result<RegistrarSettings, String> {
    Config::parse(&format!("trust_domain = \"example.org\"\nregistrar {{\n{body}\n}}\n"), Path::new("/etc/attestor"))
        .map(|c| c.registrar.expect("a registrar block"))
        .map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let s = parse("cluster = \"prod\"").unwrap();
    assert_eq!(s.cluster, "prod");
    assert_eq!(s.spire_server_socket, PathBuf::from("/tmp/spire-server/private/api.sock"));
    assert_eq!(s.kube_config_file, None);
    assert_eq!(s.mode, Mode::PerNode);
    assert_eq!(s.parent_id_template, "spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_uid}");
    assert_eq!(s.entry_id_prefix, "attestor.");
    assert_eq!(s.delete_grace_period, Duration::from_secs(60));
    assert_eq!(s.resync_interval, Duration::from_secs(300));
    assert_eq!(s.metrics_addr, None);
    assert_eq!(Config::parse("", Path::new(".")).unwrap().registrar, None);
}

#[test]
fn every_key_is_read() {
    let s = parse(
        r#"cluster = "prod-eu1"
spire_server_socket = "run/api.sock"
kube_config_file = "kubeconfig"
mode = "per_pod"
parent_id_template = "spiffe://{trust_domain}/k8s/{cluster}/node/{node_name}"
entry_id_prefix = "reg-prod_1."
delete_grace_period = "0s"
resync_interval = "30s"
metrics_addr = "0.0.0.0:8082""#,
    )
    .unwrap();
    assert_eq!(s.spire_server_socket, PathBuf::from("/etc/attestor/run/api.sock"));
    assert_eq!(s.kube_config_file, Some(PathBuf::from("/etc/attestor/kubeconfig")));
    assert_eq!(s.mode, Mode::PerPod);
    assert_eq!(s.parent_id_template, "spiffe://{trust_domain}/k8s/{cluster}/node/{node_name}");
    assert_eq!(s.entry_id_prefix, "reg-prod_1.");
    assert_eq!(s.delete_grace_period, Duration::ZERO);
    assert_eq!(s.resync_interval, Duration::from_secs(30));
    assert_eq!(s.metrics_addr, Some("0.0.0.0:8082".parse().unwrap()));
}

#[test]
fn bad_values_are_refused_each_by_its_key() {
    let cases = [
        ("", "registrar.cluster`: is required"),
        ("cluster = \"a/b\"", "must be one SPIFFE ID path segment"),
        ("cluster = \"c\"\nmode = \"per_namespace\"", "\"per_namespace\" is not \"per_node\" or \"per_pod\""),
        ("cluster = \"c\"\nparent_id_template = \"/spire/agent/{node_uid}\"", "must start with spiffe://"),
        ("cluster = \"c\"\nparent_id_template = \"spiffe://{trust_domain}/{pod_uid}\"", "unknown variable `{pod_uid}`"),
        ("cluster = \"c\"\nparent_id_template = \"spiffe://{trust_domain}/{node_uid\"", "unclosed"),
        ("cluster = \"c\"\nentry_id_prefix = \"\"", "registrar.entry_id_prefix"),
        ("cluster = \"c\"\nentry_id_prefix = \"a b\"", "registrar.entry_id_prefix"),
        ("cluster = \"c\"\ndelete_grace_period = \"-1s\"", "registrar.delete_grace_period"),
        ("cluster = \"c\"\nresync_interval = \"1s\"", "registrar.resync_interval"),
        ("cluster = \"c\"\nmetrics_addr = \"8082\"", "is not an address and port"),
        ("cluster = \"c\"\nmetrics = \"x\"", "registrar.metrics"),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err();
        assert!(e.contains(want), "{body:?}: expected {want:?} in {e}");
    }
}
