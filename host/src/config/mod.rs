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
mod tests;
