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
        ("policy { reload_interval = \"0s\" }", "config key `policy.reload_interval`: must be positive, got \"0s\""),
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
    assert_eq!(err.to_string(), "unknown configurations detected: trust_domian");
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
        ("sandbox { max_concurrent_calls = 0 }", "config key `sandbox.max_concurrent_calls`: must be positive, got 0"),
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
