//! Configuration: one HCL body, the same text a SPIRE `plugin_data` block carries.
//!
//! Invariant: a `Config` is fully validated. Every key is read by exactly one parser, every key
//! nobody read is an error (reported all at once), and every value is typed and range-checked
//! before any stage starts.

mod duration;
mod error;
mod kubernetes;
mod reader;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::parse_go_duration;
pub use error::ConfigError;

use crate::audit::AuditSettings;
use crate::facts::UnixConfig;
use crate::facts::kubernetes::KubernetesSettings;
use crate::policy::PolicySettings;
use crate::sandbox::{Limits, ModuleSpec, RuntimeSettings};
use crate::selector::SelectorKind;
use crate::spiffe_id::TrustDomain;
use reader::Table;

/// The configuration used when none is given: attest local processes, no cluster, no modules,
/// the embedded default policies.
pub const EMBEDDED_DEFAULT: &str = r#"# attestor's embedded default configuration.
trust_domain = "example.org"
# Use the kubelet when this host is a Kubernetes node (its service account credentials are
# present); attest host processes alone when it is not.
k8s_source = "auto"
"#;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The trust domain IDs are issued in (in plugin mode SPIRE's own setting wins).
    pub trust_domain: TrustDomain,
    /// The unix source.
    pub unix: UnixConfig,
    /// The Wasm engine.
    pub sandbox: RuntimeSettings,
    /// Wasm modules, in config order.
    pub modules: Vec<ModuleSpec>,
    /// Where policies come from.
    pub policy: PolicySettings,
    /// The Kubernetes source (SPIRE's `k8s` attestor keys).
    pub kubernetes: KubernetesSettings,
    /// Where `<pid>/…` files are read (`/proc`; a host's `/proc` mounted elsewhere in a container).
    pub proc_root: PathBuf,
    /// Where audit records go.
    pub audit: AuditSettings,
}

impl Config {
    /// The embedded default.
    pub fn embedded_default() -> Result<Self, ConfigError> {
        Self::parse(EMBEDDED_DEFAULT, Path::new("."))
    }

    /// Read and parse a config file; relative paths in it are relative to its directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self::parse(&text, base)
    }

    /// Parse HCL text; relative paths are resolved against `base`, environment variables
    /// (`node_name_env`) come from the process environment.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, base, &|k| std::env::var(k).ok())
    }

    /// Parse HCL text with `env` standing in for the process environment.
    ///
    /// Every problem is collected; the error is the first (SPIRE's order: unknown top-level keys,
    /// then each block), and [`ConfigError::notes`] lists them all.
    pub fn parse_with_env(text: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut top = Table::parse(text)?;
        let mut unknown = Vec::new();
        let mut problems = Vec::new();

        let trust_domain = match top.string("trust_domain")? {
            Some(td) => TrustDomain::new(td).map_err(|e| ConfigError::invalid("trust_domain", e.to_string()))?,
            None => TrustDomain::new("example.org").map_err(|e| ConfigError::invalid("trust_domain", e.to_string()))?,
        };

        let mut unix = UnixConfig::default();
        if let Some(mut t) = top.block("unix")? {
            if let Some(v) = t.bool("discover_workload_path")? {
                unix.discover_workload_path = v;
            }
            if let Some(v) = t.int("workload_size_limit")? {
                unix.workload_size_limit = v;
            }
            if let Some(v) = t.string("passwd_file")? {
                unix.passwd_file = resolve(base, &v);
            }
            if let Some(v) = t.string("group_file")? {
                unix.group_file = resolve(base, &v);
            }
            t.finish(&mut unknown);
        }

        let mut sandbox = RuntimeSettings::default();
        if let Some(mut t) = top.block("sandbox")? {
            if let Some(v) = t.positive("max_concurrent_calls")? {
                sandbox.max_concurrent_calls =
                    u32::try_from(v).map_err(|_| ConfigError::invalid(t.key("max_concurrent_calls"), "too large"))?;
            }
            if let Some(v) = t.positive("max_memory_mib")? {
                sandbox.max_memory_bytes = v.saturating_mul(1 << 20);
            }
            t.finish(&mut unknown);
        }

        let mut modules = Vec::new();
        for (name, t) in top.labelled_blocks("module")? {
            modules.push(module(name, t, base, &mut unknown)?);
        }

        let mut policy = PolicySettings::default();
        if let Some(mut t) = top.block("policy")? {
            policy.dir = t.string("dir")?.map(|d| resolve(base, &d));
            policy.cluster = t.string("cluster")?;
            policy.spiffe_id_selectors = t.bool("spiffe_id_selectors")?.unwrap_or(false);
            policy.shadow_dir = t.string("shadow_dir")?.map(|d| resolve(base, &d));
            for td in t.strings("federated_trust_domains")?.unwrap_or_default() {
                let td = TrustDomain::new(td)
                    .map_err(|e| ConfigError::invalid(t.key("federated_trust_domains"), e.to_string()))?;
                policy.federated_trust_domains.push(td);
            }
            let positive = |t: &mut Table, key: &str| -> Result<Option<Duration>, ConfigError> {
                let Some(v) = t.string(key)? else { return Ok(None) };
                let nanos = parse_go_duration(&v).map_err(|e| ConfigError::invalid(t.key(key), e))?;
                if nanos <= 0 {
                    return Err(ConfigError::invalid(t.key(key), format!("must be positive, got {v:?}")));
                }
                Ok(Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))))
            };
            policy.max_ttl = positive(&mut t, "max_ttl")?;
            policy.max_jwt_ttl = positive(&mut t, "max_jwt_ttl")?;
            if let Some(d) = positive(&mut t, "reload_interval")? {
                policy.reload_interval = d;
            }
            t.finish(&mut unknown);
        }

        let mut audit = AuditSettings::default();
        if let Some(mut t) = top.block("audit")? {
            audit.path = t.string("path")?.map(|p| resolve(base, &p));
            audit.debug = t.bool("debug")?.unwrap_or(false);
            t.finish(&mut unknown);
        }

        let kubernetes = kubernetes::parse(&mut top, base, env, &mut problems)?;
        let proc_root = top.string("proc_root")?.map_or_else(|| PathBuf::from("/proc"), |p| resolve(base, &p));

        let mut all = Vec::new();
        let top_unknown = top.unknown_bare();
        if !top_unknown.is_empty() {
            all.push(ConfigError::UnknownKeys(top_unknown));
        }
        all.append(&mut problems);
        if !unknown.is_empty() {
            unknown.sort();
            all.push(ConfigError::UnknownKeys(unknown));
        }
        match all.len() {
            0 => Ok(Self { trust_domain, unix, sandbox, modules, policy, kubernetes, proc_root, audit }),
            1 => Err(all.remove(0)),
            _ => Err(ConfigError::Problems(all)),
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

/// One `module "<name>" { … }` block.
fn module(name: String, mut t: Table, base: &Path, unknown: &mut Vec<String>) -> Result<ModuleSpec, ConfigError> {
    let prefix = format!("module.{name}");
    let kind = SelectorKind::new(name.clone()).map_err(|e| ConfigError::invalid(&prefix, e.to_string()))?;
    if kind.is_reserved() {
        return Err(ConfigError::invalid(
            &prefix,
            format!("the name `{name}` is reserved for attestor's own selectors; choose another"),
        ));
    }
    let path = t
        .string("path")?
        .ok_or_else(|| ConfigError::invalid(t.key("path"), "required: the module's .wasm component file"))?;
    let sha256 = t.string("sha256")?.ok_or_else(|| {
        ConfigError::invalid(
            t.key("sha256"),
            "required: the module's SHA-256, as `sha256sum` or `attestor module inspect` prints it",
        )
    })?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError::invalid(t.key("sha256"), format!("expected 64 hex characters, got {sha256:?}")));
    }
    let mut limits = Limits::default();
    if let Some(v) = t.positive("fuel")? {
        limits.fuel = v;
    }
    if let Some(v) = t.positive("memory_mib")? {
        limits.memory_bytes = v.saturating_mul(1 << 20);
    }
    if let Some(v) = t.string("timeout")? {
        let nanos = parse_go_duration(&v).map_err(|e| ConfigError::invalid(t.key("timeout"), e))?;
        if nanos <= 0 {
            return Err(ConfigError::invalid(t.key("timeout"), format!("must be positive, got {v:?}")));
        }
        limits.timeout = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    }
    let count = |t: &mut Table, key: &str| -> Result<Option<usize>, ConfigError> {
        t.positive(key)?
            .map(|v| usize::try_from(v).map_err(|_| ConfigError::invalid(t.key(key), "too large")))
            .transpose()
    };
    if let Some(v) = count(&mut t, "max_selectors")? {
        limits.max_selectors = v;
    }
    if let Some(v) = count(&mut t, "max_facts")? {
        limits.max_facts = v;
    }
    if let Some(v) = count(&mut t, "max_log_lines")? {
        limits.max_log_lines = v;
    }
    let spec = ModuleSpec {
        name: kind,
        path: resolve(base, &path),
        sha256: Some(sha256.to_ascii_lowercase()),
        config: t.string("config")?.unwrap_or_default(),
        limits,
        optional: t.bool("optional")?.unwrap_or(false),
    };
    t.finish(unknown);
    Ok(spec)
}

#[cfg(test)]
mod tests {
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
                "config key `policy.reload_interval`: must be positive, got \"0s\"",
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
            [
                "unknown configurations detected: trust_domian",
                "unknown configurations detected: module.m.fule,unix.nope"
            ]
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
                "config key `sandbox.max_concurrent_calls`: must be positive, got 0",
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
}
