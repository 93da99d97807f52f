use std::time::Duration;

use super::*;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn embedded_default_parses() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.trust_domain.as_str(), "example.org");
    assert!(c.modules.is_empty());
    assert_eq!(c.policy, PolicySettings::default());
}

#[test]
fn documented_example_parses() {
    let c = Config::parse(include_str!("../../../examples/attestor.hcl"), Path::new("/etc/attestor")).unwrap();
    assert_eq!(c.unix, UnixConfig::default());
    assert_eq!(c.sandbox, RuntimeSettings::default());
    assert_eq!(c.policy, PolicySettings::default());
    assert_eq!(c.audit, AuditSettings::default());
}

#[test]
fn policy_and_audit_keys() {
    let text = r#"
            policy {
              dir = "p"
              shadow_dir = "next"
              federated_trust_domains = ["partner.example", "other.example"]
              max_ttl = "1h"
              max_jwt_ttl = "5m"
              reload_interval = "250ms"
            }
            audit {
              path = "audit.jsonl"
              debug = true
            }
        "#;
    let c = Config::parse(text, Path::new("/cfg")).unwrap();
    assert_eq!(c.policy.dir.as_deref(), Some(Path::new("/cfg/p")));
    assert_eq!(c.policy.shadow_dir.as_deref(), Some(Path::new("/cfg/next")));
    let tds: Vec<&str> = c.policy.federated_trust_domains.iter().map(TrustDomain::as_str).collect();
    assert_eq!(tds, ["partner.example", "other.example"]);
    assert_eq!(c.policy.max_ttl, Some(Duration::from_secs(3600)));
    assert_eq!(c.policy.max_jwt_ttl, Some(Duration::from_secs(300)));
    assert_eq!(c.policy.reload_interval, Duration::from_millis(250));
    assert_eq!(c.audit.path.as_deref(), Some(Path::new("/cfg/audit.jsonl")));
    assert!(c.audit.debug);

    let cases = [
        (
            "policy { reload_interval = \"0s\" }",
            "config key `policy.reload_interval`: must be between 100ms and 24h0m0s, got \"0s\"",
        ),
        ("policy { max_ttl = \"soon\" }", "config key `policy.max_ttl`: "),
        ("policy { federated_trust_domains = [\"Bad TD\"] }", "config key `policy.federated_trust_domains`: "),
        ("audit { pth = \"x\" }", "unknown configurations detected: audit.pth"),
        ("audit { debug = \"yes\" }", "config key `audit.debug`: "),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, Path::new(".")).unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: got {err:?}, want prefix {want:?}");
    }
}

#[test]
fn full_config() {
    let text = format!(
        r#"
            trust_domain = "prod.example.com"
            unix {{ discover_workload_path = false }}
            sandbox {{ max_concurrent_calls = 4 }}
            module "team" {{
              path = "mods/team.wasm"
              sha256 = "{SHA}"
              config = <<EOT
            payments=1000
            EOT
              fuel = 1000
              memory_mib = 8
              timeout = "20ms"
              max_selectors = 7
              max_facts = 8
              max_log_lines = 9
              optional = true
            }}
            policy {{
              dir = "/etc/attestor/policies"
              cluster = "c1"
            }}
            "#
    );
    let c = Config::parse(&text, Path::new("/cfg")).unwrap();
    assert_eq!(c.trust_domain.as_str(), "prod.example.com");
    assert!(!c.unix.discover_workload_path);
    assert_eq!(c.sandbox.max_concurrent_calls, 4);
    let m = &c.modules[0];
    assert_eq!(m.name.as_str(), "team");
    assert_eq!(m.path, Path::new("/cfg/mods/team.wasm"));
    assert_eq!(m.config.trim(), "payments=1000");
    assert_eq!(m.limits.fuel, 1000);
    assert_eq!(m.limits.memory_bytes, 8 << 20);
    assert_eq!(m.limits.timeout, Duration::from_millis(20));
    assert_eq!((m.limits.max_selectors, m.limits.max_facts, m.limits.max_log_lines), (7, 8, 9));
    assert!(m.optional);
    assert_eq!(c.policy.dir.as_deref(), Some(Path::new("/etc/attestor/policies")));
    assert_eq!(c.policy.cluster.as_deref(), Some("c1"));
}

#[test]
fn unknown_keys_are_all_named() {
    let text = format!(
        "trust_domian = \"x\"\nmodule \"m\" {{\n path = \"a\"\n sha256 = \"{SHA}\"\n fule = 3\n}}\nunix {{ nope = 1 }}\n"
    );
    let err = Config::parse(&text, Path::new(".")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown configurations detected: trust_domian (and 1 more: unknown configurations detected: module.m.fule,unix.nope)"
    );
    assert_eq!(
        err.notes(),
        ["unknown configurations detected: trust_domian", "unknown configurations detected: module.m.fule,unix.nope"]
    );
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("trust_domain = \"Bad Domain\"", "config key `trust_domain`: trust domain \"Bad Domain\" contains 'B'"),
        ("module \"k8s\" { path = \"a\" }", "config key `module.k8s`: the name `k8s` is reserved"),
        ("module \"m\" { sha256 = \"x\" }", "config key `module.m.path`: required"),
        ("module \"m\" { path = \"a\" }", "config key `module.m.sha256`: required"),
        (
            "module \"m\" {\n path = \"a\"\n sha256 = \"abc\"\n}",
            "config key `module.m.sha256`: expected 64 hex characters",
        ),
        ("module \"Bad\" { path = \"a\" }", "config key `module.Bad`: selector kind"),
        (
            "sandbox { max_concurrent_calls = 0 }",
            "config key `sandbox.max_concurrent_calls`: must be between 1 and 256, got 0",
        ),
        ("trust_domain = 5", "config key `trust_domain`: expected a string, got a number"),
        ("unix {}\nunix {}", "config key `unix`: block given 2 times"),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, Path::new(".")).unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: got {err:?}, want prefix {want:?}");
    }
    let t = format!("module \"m\" {{\n path = \"a\"\n sha256 = \"{SHA}\"\n timeout = \"5\"\n}}");
    assert_eq!(
        Config::parse(&t, Path::new(".")).unwrap_err().to_string(),
        "config key `module.m.timeout`: time: missing unit in duration \"5\""
    );
}

#[test]
fn malformed_hcl_uses_spire_wording() {
    let err = Config::parse("trust_domain = ", Path::new(".")).unwrap_err().to_string();
    assert!(err.starts_with("unable to decode configuration: "), "{err}");
}

/// Every numeric key has a range, and the error names it (a huge `max_concurrent_calls` once
/// overflowed the instance-pool arithmetic).
#[test]
fn numeric_keys_are_bounded_and_say_their_range() {
    let m = |body: &str| format!("module \"m\" {{\n path = \"a\"\n sha256 = \"{SHA}\"\n {body}\n}}");
    let cases = [
        (
            "sandbox { max_concurrent_calls = 4294967295 }".to_owned(),
            "config key `sandbox.max_concurrent_calls`: must be between 1 and 256, got 4294967295",
        ),
        (
            "sandbox { max_memory_mib = 8192 }".to_owned(),
            "config key `sandbox.max_memory_mib`: must be between 1 and 4096, got 8192",
        ),
        (m("fuel = 0"), "config key `module.m.fuel`: must be between 1 and 100000000000, got 0"),
        (m("memory_mib = -1"), "config key `module.m.memory_mib`: must be between 1 and 4096, got -1"),
        (m("timeout = \"2m\""), "config key `module.m.timeout`: must be between 1ms and 1m0s, got \"2m\""),
        (m("max_selectors = 100000"), "config key `module.m.max_selectors`: must be between 1 and 4096, got 100000"),
        (m("max_facts = 0"), "config key `module.m.max_facts`: must be between 1 and 4096, got 0"),
        (m("max_log_lines = 20000"), "config key `module.m.max_log_lines`: must be between 1 and 10000, got 20000"),
        (
            "unix { workload_size_limit = -2 }".to_owned(),
            "config key `unix.workload_size_limit`: must be between -1 and 9223372036854775807, got -2",
        ),
        (
            "policy { max_ttl = \"0s\" }".to_owned(),
            "config key `policy.max_ttl`: must be between 1s and 8784h0m0s, got \"0s\"",
        ),
        (
            format!("sandbox {{ max_memory_mib = 32 }}\n{}", m("memory_mib = 48")),
            "config key `module.m.memory_mib`: 48 MiB is above sandbox.max_memory_mib (32 MiB): raise the ceiling or lower the cap",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, Path::new(".")).unwrap_err().to_string();
        assert_eq!(err, want, "{text}");
    }
    let c = Config::parse("sandbox {\n max_concurrent_calls = 256\n max_memory_mib = 4096\n}", Path::new(".")).unwrap();
    assert_eq!((c.sandbox.max_concurrent_calls, c.sandbox.max_memory_bytes), (256, 4 << 30));
}

/// All problems are reported at once, and a file's problems name the file.
#[test]
fn every_problem_is_reported_and_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attestor.hcl");
    std::fs::write(
        &file,
        format!("trust_domain = 5\nsandbox {{ max_concurrent_calls = 0 }}\nmodule \"m\" {{\n path = \"a\"\n sha256 = \"{SHA}\"\n fuel = -1\n}}\naudit {{ debug = \"yes\" }}\n"),
    )
    .unwrap();
    let err = Config::from_file(&file).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("config file {}: config key `trust_domain`: expected a string", file.display())),
        "{text}"
    );
    assert_eq!(err.notes().len(), 4, "{:?}", err.notes());
    for key in ["trust_domain", "sandbox.max_concurrent_calls", "module.m.fuel", "audit.debug"] {
        assert!(text.contains(&format!("`{key}`")), "{key} missing from {text}");
    }
    let syntax = dir.path().join("broken.hcl");
    std::fs::write(&syntax, "trust_domain = ").unwrap();
    let text = Config::from_file(&syntax).unwrap_err().to_string();
    assert!(text.starts_with(&format!("config file {}: unable to decode configuration: ", syntax.display())), "{text}");
}

/// The sigstore block's paths are relative to the config file, and its problems name the file.
#[test]
fn sigstore_paths_and_problems_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attestor.hcl");
    std::fs::write(&file, "sigstore {\n  trusted_root = \"root.json\"\n  public_keys = { k = \"k.pem\" }\n}\n")
        .unwrap();
    let s = Config::from_file(&file).unwrap().sigstore.unwrap();
    assert_eq!(s.trusted_root, Some(dir.path().join("root.json")));
    assert_eq!(s.public_keys["k"], dir.path().join("k.pem"));
    std::fs::write(&file, "sigstore {\n  on_failure = \"maybe\"\n  cache_max_entries = 0\n}\n").unwrap();
    let err = Config::from_file(&file).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("config file {}: config key `sigstore.on_failure`: ", file.display())),
        "{err}"
    );
    assert_eq!(err.notes().len(), 2, "{:?}", err.notes());
}

/// The config reader never panics, whatever the text: an operator's typo and a hostile
/// `Configure` both get a typed error naming the problem.
mod properties {
    use proptest::prelude::*;

    use super::*;

    const KEYS: &[&str] = &[
        "trust_domain",
        "unix",
        "sandbox",
        "module \"m\"",
        "policy",
        "audit",
        "experimental",
        "sigstore",
        "kubernetes_api",
        "discover_workload_path",
        "workload_size_limit",
        "max_concurrent_calls",
        "max_memory_mib",
        "path",
        "sha256",
        "fuel",
        "memory_mib",
        "timeout",
        "max_selectors",
        "reload_interval",
        "max_ttl",
        "kubelet_read_only_port",
        "kubelet_secure_port",
        "max_poll_attempts",
        "poll_retry_interval",
        "pod_list_cache_ttl",
        "k8s_source",
        "disable_kubelet_client",
        "node_name",
        "dir",
        "federated_trust_domains",
        "cache",
        "api_server",
        "broker",
        "enabled",
        "rekor_url",
        "enforce_sct",
        "allowed_identities",
        "allowed_subjects_list",
        "registry_credentials",
        "bundle_formats",
        "on_failure",
        "cache_ttl",
        "public_keys",
        "registry_mirrors",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("4294967295".to_owned()),
            Just("-1".to_owned()),
            Just("true".to_owned()),
            "\"[a-z0-9.:/ -]{0,12}\"",
            "\"-?[0-9]{1,20}(ns|ms|s|m|h|x)?\"",
            Just("[\"a\", \"b\"]".to_owned()),
            Just("{}".to_owned()),
            any::<String>().prop_map(|s| format!("{s:?}")),
        ]
    }

    /// Nested HCL made of the configuration's own keys and values of every type.
    fn config_text() -> impl Strategy<Value = String> {
        let line = (prop::sample::select(KEYS), value(), 0..4_u8).prop_map(|(k, v, shape)| match shape {
            0 => format!("{k} = {v}\n"),
            1 => format!("{k} {{\n  {k} = {v}\n}}\n"),
            2 => format!("{k} {{\n}}\n"),
            _ => format!("{k} = {{ {k} = {v} }}\n"),
        });
        prop::collection::vec(line, 0..12).prop_map(|lines| lines.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_text_is_a_config_or_an_error(text in any::<String>()) {
            if let Err(e) = Config::parse(&text, Path::new(".")) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn config_shaped_text_is_a_config_or_named_errors(text in config_text()) {
            if let Err(e) = Config::parse(&text, Path::new(".")) {
                prop_assert!(!e.to_string().is_empty());
                prop_assert!(e.notes().iter().all(|n| !n.is_empty()));
            }
        }
    }
}
