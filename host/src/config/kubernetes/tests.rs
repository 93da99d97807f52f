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
fn spire_durations_are_bounded_above_and_non_positive_means_default() {
    let k = parse("poll_retry_interval = \"-1s\"\nreload_interval = \"0\"").unwrap().kubernetes;
    assert_eq!(k.poll_retry_interval, Duration::from_millis(500), "SPIRE: ≤ 0 is the default");
    assert_eq!(k.reload_interval, Duration::from_secs(60));
    assert_eq!(err("poll_retry_interval = \"2m\"").0, "poll retry interval must be at most 1m0s, got \"2m\"");
    assert_eq!(err("reload_interval = \"48h\"").0, "reload interval must be at most 24h0m0s, got \"48h\"");
    assert_eq!(parse("max_poll_attempts = -5").unwrap().kubernetes.max_poll_attempts, 60, "SPIRE: ≤ 0 is the default");
    assert_eq!(
        err("max_poll_attempts = 4294967296").0,
        "config key `max_poll_attempts`: must be between -9223372036854775808 and 10000, got 4294967296"
    );
    assert_eq!(
        err("kubelet_secure_port = 70000").0,
        "config key `kubelet_secure_port`: must be between 1 and 65535, got 70000"
    );
    assert_eq!(
        err("pod_list_cache_ttl = \"-1s\"").0,
        "config key `pod_list_cache_ttl`: must be between 0s and 1h0m0s, got \"-1s\"",
        "a negative TTL is refused, not taken as 0"
    );
}

#[test]
fn disable_kubelet_client_conflicts() {
    let (first, notes) = err(
        "disable_kubelet_client = true\nkubelet_secure_port = 10250\ntoken_path = \"/t\"\nnode_name = \"n\"\nmax_poll_attempts = 3",
    );
    assert_eq!(
        first,
        "disable_kubelet_client cannot be used with kubelet_secure_port (and 3 more: disable_kubelet_client cannot be used with token_path; disable_kubelet_client cannot be used with node_name; disable_kubelet_client cannot be used with max_poll_attempts: without the kubelet client attestor never uses it)"
    );
    assert_eq!(
        notes,
        [
            "disable_kubelet_client cannot be used with kubelet_secure_port",
            "disable_kubelet_client cannot be used with token_path",
            "disable_kubelet_client cannot be used with node_name",
            "disable_kubelet_client cannot be used with max_poll_attempts: without the kubelet client attestor never uses it",
        ]
    );
    let ok = parse("disable_kubelet_client = true").unwrap();
    assert_eq!(ok.kubernetes.endpoint, Endpoint::Disabled);
}

#[test]
fn a_disabled_source_refuses_its_keys() {
    assert!(parse("k8s_source = \"disabled\"").is_ok());
    let (_, notes) = err("k8s_source = \"disabled\"\nkubelet_read_only_port = 10255\npod_list_cache_ttl = \"1s\"");
    assert_eq!(
        notes,
        [
            "k8s_source = \"disabled\" turns the Kubernetes source off, so kubelet_read_only_port would do nothing: remove it, or enable the source",
            "k8s_source = \"disabled\" turns the Kubernetes source off, so pod_list_cache_ttl would do nothing: remove it, or enable the source",
        ]
    );
}

#[test]
fn unknown_keys_at_every_level() {
    let (first, notes) = err(
        "bogus = 1\nexperimental {\n  nope = 1\n  api_server {\n    cache {\n      enabled = true\n      x = 1\n    }\n  }\n  sigstore {}\n}\n",
    );
    assert!(first.starts_with("unknown configurations detected: bogus (and 3 more: "), "{first}");
    assert_eq!(notes[1], "unknown configurations detected: nope", "experimental.sigstore is read (config/sigstore.rs)");
    assert_eq!(notes[2], "unknown configurations detected: x");
    let (first, _) = err("api_server { }\n");
    assert_eq!(first, "unknown configurations detected: api_server");
    let (first, notes) = err("sigstore {\n  rekor_url = \"https://r\"\n  typo = true\n}\n");
    assert_eq!((first.as_str(), notes.len()), ("unknown configurations detected: typo", 1));
}

/// Keys SPIRE accepts that attestor cannot honour are refused, saying why, never ignored.
#[test]
fn what_attestor_does_not_implement_is_refused() {
    let (first, _) = err("experimental {\n  api_server {\n    cache {\n      enabled = true\n    }\n  }\n}\n");
    assert!(
        first.starts_with("experimental.api_server: attestor does not implement object-reference attestation"),
        "{first}"
    );
    let (first, _) = err("experimental {\n  broker {\n    access_policy = \"enforced\"\n  }\n}\n");
    assert!(first.starts_with("experimental.broker: attestor does not implement SPIRE's broker API"), "{first}");
    // The experimental block's sigstore is SPIRE's (1.6–1.14) and read; its neighbours are still refused.
    let (first, notes) = err("experimental {\n  sigstore {}\n  broker {}\n}\n");
    assert!(first.starts_with("experimental.broker: "), "{first}");
    assert_eq!(notes.len(), 1, "{notes:?}");
    let sigstore = parse("experimental {\n  sigstore {}\n}\n").unwrap().sigstore;
    assert!(sigstore.is_some());
    let c = parse(
        "sigstore {\n  rekor_url = \"https://r\"\n  allowed_identities = { \"https://issuer\" = [\"a@b\"] }\n}\n",
    )
    .unwrap();
    assert!(c.sigstore.is_some(), "the top-level sigstore block is read");
    let (first, _) = err("kubernetes_api {\n  url = \"https://127.0.0.1:6443\"\n}\n");
    assert_eq!(
        first,
        "kubernetes_api is only used to read namespace labels: set enable_namespace_labels = true, or remove the block"
    );
}

#[test]
fn attestor_keys() {
    let k = parse("k8s_source = \"auto\"\npod_list_cache_ttl = \"30s\"\npod_list_file = \"pods.json\"\nenable_namespace_labels = true\nkubernetes_api {\n  url = \"https://127.0.0.1:6443\"\n}\n").unwrap().kubernetes;
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
