use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::facts::kubernetes::{Endpoint, SourceMode};

fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::parse_with_env(text, Path::new("/cfg"), &|k| match k {
        "MY_NODE_NAME" => Some("default-node".into()),
        "OTHER" => Some("other-node".into()),
        _ => None,
    })
}

fn err(text: &str) -> (String, Vec<String>) {
    let e = parse(text).unwrap_err();
    (e.to_string(), e.notes())
}

#[test]
fn spire_defaults() {
    let k = parse("").unwrap().kubernetes;
    assert_eq!(k.endpoint, Endpoint::Secure(10250));
    assert_eq!(k.max_poll_attempts, 60);
    assert_eq!(k.poll_retry_interval, Duration::from_millis(500));
    assert_eq!(k.reload_interval, Duration::from_secs(60));
    assert_eq!(k.kubelet_ca_path, Path::new("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"));
    assert_eq!(k.token_path, Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token"));
    assert_eq!(k.node_name, "default-node", "MY_NODE_NAME by default");
    assert_eq!(k.mode, None, "the surface decides");
    assert!(!k.legacy_locator);
    let k =
        parse("max_poll_attempts = -3\npoll_retry_interval = \"-1s\"\nreload_interval = \"0\"\n").unwrap().kubernetes;
    assert_eq!(
        (k.max_poll_attempts, k.poll_retry_interval, k.reload_interval),
        (60, Duration::from_millis(500), Duration::from_secs(60))
    );
}

#[test]
fn ports_and_node_names() {
    assert_eq!(parse("kubelet_read_only_port = 10255").unwrap().kubernetes.endpoint, Endpoint::ReadOnly(10255));
    assert_eq!(parse("kubelet_secure_port = 4443").unwrap().kubernetes.endpoint, Endpoint::Secure(4443));
    assert_eq!(parse("kubelet_secure_port = 0").unwrap().kubernetes.endpoint, Endpoint::Secure(10250));
    assert_eq!(
        err("kubelet_read_only_port = 1\nkubelet_secure_port = 2").0,
        "cannot use both the read-only and secure port"
    );
    assert_eq!(parse("node_name = \"n1\"\nnode_name_env = \"OTHER\"").unwrap().kubernetes.node_name, "n1");
    assert_eq!(parse("node_name_env = \"OTHER\"").unwrap().kubernetes.node_name, "other-node");
    assert_eq!(parse("node_name_env = \"UNSET\"").unwrap().kubernetes.node_name, "", "no fallback to MY_NODE_NAME");
    assert!(parse("use_new_container_locator = false").unwrap().kubernetes.legacy_locator);
}

#[test]
fn bad_durations_use_spire_wording() {
    assert_eq!(
        err("poll_retry_interval = \"soon\"").0,
        "unable to parse poll retry interval: time: invalid duration \"soon\""
    );
    assert_eq!(
        err("reload_interval = \"5\"").0,
        "unable to parse reload interval: time: missing unit in duration \"5\""
    );
}

#[test]
fn disable_kubelet_client_conflicts() {
    let (first, notes) = err(
        "disable_kubelet_client = true\nkubelet_secure_port = 10250\ntoken_path = \"/t\"\nnode_name = \"n\"\nmax_poll_attempts = 3",
    );
    assert_eq!(first, "disable_kubelet_client cannot be used with kubelet_secure_port");
    assert_eq!(
        notes,
        [
            "disable_kubelet_client cannot be used with kubelet_secure_port",
            "disable_kubelet_client cannot be used with token_path",
            "disable_kubelet_client cannot be used with node_name",
        ]
    );
    let ok = parse("disable_kubelet_client = true\nmax_poll_attempts = 3\npoll_retry_interval = \"1s\"\ndisable_container_selectors = true").unwrap();
    assert_eq!(ok.kubernetes.endpoint, Endpoint::Disabled);
}

#[test]
fn unknown_keys_at_every_level() {
    let (first, notes) = err(
        "bogus = 1\nexperimental {\n  nope = 1\n  api_server {\n    cache {\n      enabled = true\n      x = 1\n    }\n  }\n  sigstore {}\n}\n",
    );
    assert_eq!(first, "unknown configurations detected: bogus");
    assert_eq!(notes[1], "unknown configurations detected: nope,sigstore", "a stale experimental.sigstore is refused");
    assert_eq!(notes[2], "unknown configurations detected: x");
    let (first, _) = err("api_server { }\n");
    assert_eq!(first, "unknown configurations detected: api_server");
    let (first, _) = err("sigstore {\n  rekor_url = \"https://r\"\n  typo = true\n}\n");
    assert_eq!(first, "unknown configurations detected: typo");
    assert!(parse("sigstore {\n  rekor_url = \"https://r\"\n  allowed_identities = { \"https://issuer\" = [\"a@b\"] }\n  skipped_images = [\"x\"]\n}\n").unwrap().kubernetes.sigstore);
}

#[test]
fn broker_validation() {
    let ok = parse("experimental {\n  broker {\n    access_policy = \"enforced\"\n    brokers = [ { id = \"spiffe://example.org/broker\", pod_reference_scope = \"cluster\" } ]\n  }\n}\n").unwrap();
    let b = ok.kubernetes.broker.unwrap();
    assert_eq!(b.brokers, [("spiffe://example.org/broker".to_owned(), "cluster".to_owned())]);
    let (first, notes) = err("experimental {\n  broker {\n    access_policy = \"open\"\n  }\n}\n");
    assert_eq!(
        first,
        "experimental.broker.access_policy: unsupported value \"open\"; must be one of [permissive, enforced]"
    );
    assert_eq!(notes[1], "experimental.broker.brokers: at least one broker is required");
    let (first, _) = err("experimental {\n  broker {\n    brokers = [ { id = \"spiffe://e.org/b\" } ]\n  }\n}\n");
    assert_eq!(first, "experimental.broker.access_policy: must be specified as one of [permissive, enforced]");
    let (_, notes) = err(
        "experimental {\n  broker {\n    access_policy = \"permissive\"\n    brokers = [ { id = \"\" }, { id = \"spiffe://e.org/b\" }, { id = \"spiffe://e.org/b\" }, { id = \"nope\" }, { id = \"spiffe://e.org/c\", pod_reference_scope = \"planet\" } ]\n  }\n}\n",
    );
    assert_eq!(
        notes,
        [
            "experimental.broker.brokers[0].id: must be specified",
            "experimental.broker.brokers[spiffe://e.org/b].id: duplicate broker id",
            "experimental.broker.brokers[nope].id: a SPIFFE ID starts with `spiffe://`",
            "experimental.broker.brokers[spiffe://e.org/c].pod_reference_scope: unsupported value \"planet\"; must be one of [agent_node, cluster]",
        ]
    );
    let (first, _) = err(
        "disable_kubelet_client = true\nexperimental {\n  broker {\n    access_policy = \"permissive\"\n    brokers = [ { id = \"spiffe://e.org/b\" } ]\n  }\n}\n",
    );
    assert_eq!(
        first,
        "experimental.broker.brokers[spiffe://e.org/b].pod_reference_scope must be \"cluster\" when disable_kubelet_client is true"
    );
}

#[test]
fn attestor_keys() {
    let k = parse("k8s_source = \"auto\"\npod_list_cache_ttl = \"30s\"\npod_list_file = \"pods.json\"\nkubernetes_api {\n  url = \"https://127.0.0.1:6443\"\n}\n").unwrap().kubernetes;
    assert_eq!(k.mode, Some(SourceMode::Auto));
    assert_eq!(k.pod_list_cache_ttl, Duration::from_secs(30));
    assert_eq!(k.endpoint, Endpoint::File("/cfg/pods.json".into()));
    assert_eq!(k.api.url.as_deref(), Some("https://127.0.0.1:6443"));
    assert!(err("k8s_source = \"maybe\"").0.starts_with("config key `k8s_source`: must be"));
    assert_eq!(
        err("pod_list_file = \"p\"\nkubelet_read_only_port = 1").0,
        "pod_list_file cannot be used with a kubelet port"
    );
}
