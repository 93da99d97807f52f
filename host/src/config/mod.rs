//! Configuration: one HCL body, the same text a SPIRE `plugin_data` block carries.
//!
//! Invariant: a `Config` is fully validated. Every key is read by exactly one parser, every key
//! nobody read is an error, every value is typed and range-checked before any stage starts, and
//! every problem found is reported at once (a file's problems name the file).

mod error;
mod kubernetes;
pub mod psat;
mod reader;
mod registrar;
mod sigstore;
pub mod syntax;

use std::path::{Path, PathBuf};

pub use error::ConfigError;
pub(crate) use error::Problems;

use crate::audit::AuditSettings;
use crate::facts::UnixConfig;
use crate::facts::kubernetes::KubernetesSettings;
use crate::facts::sigstore::SigstoreSettings;
use crate::policy::PolicySettings;
use crate::registrar::settings::RegistrarSettings;
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
    /// The `sigstore` block (top level, or `experimental.sigstore`): verify the images of the
    /// containers the Kubernetes source finds. `None`: images are not verified.
    pub sigstore: Option<SigstoreSettings>,
    /// Where `<pid>/…` files are read (`/proc`; a host's `/proc` mounted elsewhere in a container).
    pub proc_root: PathBuf,
    /// Where audit records go.
    pub audit: AuditSettings,
    /// The `registrar { }` block, read by `attestor registrar` only.
    pub registrar: Option<RegistrarSettings>,
}

/// The range of every numeric key attestor adds (SPIRE's own keys keep SPIRE's rules, plus an
/// upper bound; see `kubernetes.rs`). An out-of-range value is an error that names the range.
pub mod ranges {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    use crate::time::DurationRange;

    /// `sandbox.max_concurrent_calls`: sizes the instance pool (one component of at most 64 core instances, 2 memories and 64 tables per call).
    pub const MAX_CONCURRENT_CALLS: RangeInclusive<u32> = 1..=256;
    /// `sandbox.max_memory_mib` and `module.*.memory_mib`: a 32-bit linear memory holds 4 GiB.
    pub const MEMORY_MIB: RangeInclusive<u32> = 1..=4096;
    /// `module.*.fuel`: about a minute of guest instructions at most.
    pub const FUEL: RangeInclusive<i64> = 1..=100_000_000_000;
    /// `module.*.max_selectors`, `module.*.max_facts`.
    pub const OUTPUT_COUNT: RangeInclusive<u32> = 1..=4096;
    /// `module.*.max_log_lines`.
    pub const LOG_LINES: RangeInclusive<u32> = 1..=10_000;
    /// `unix.workload_size_limit`: -1 never hashes, 0 hashes any size.
    pub const WORKLOAD_SIZE_LIMIT: RangeInclusive<i64> = -1..=i64::MAX;
    /// `module.*.timeout`.
    pub const MODULE_TIMEOUT: DurationRange = DurationRange::new(Duration::from_millis(1), Duration::from_secs(60));
    /// `policy.reload_interval`.
    pub const POLICY_RELOAD: DurationRange =
        DurationRange::new(Duration::from_millis(100), Duration::from_secs(24 * 3600));
    /// `policy.max_ttl`, `policy.max_jwt_ttl`.
    pub const MAX_TTL: DurationRange = DurationRange::new(Duration::from_secs(1), Duration::from_secs(366 * 24 * 3600));
    /// `sigstore.cache_ttl`: a verified image answer is reused at most a day, so a revoked
    /// identity stops counting within that.
    pub const SIGSTORE_CACHE_TTL: DurationRange =
        DurationRange::new(Duration::from_secs(1), Duration::from_secs(24 * 3600));
    /// `sigstore.cache_max_entries`: a node runs far fewer distinct images than a million; the
    /// cap keeps a typo (an extra zero or three) from letting the cache grow without bound.
    pub const SIGSTORE_CACHE_MAX_ENTRIES: RangeInclusive<u32> = 1..=1_000_000;
    /// `sigstore.registry_timeout`: one registry request (connect, headers, body); beyond 5
    /// minutes an attestation waiting on it is lost anyway (SPIRE's agent gives up sooner).
    pub const SIGSTORE_REGISTRY_TIMEOUT: DurationRange =
        DurationRange::new(Duration::from_millis(100), Duration::from_secs(300));
}

impl Config {
    /// The embedded default.
    pub fn embedded_default() -> Result<Self, ConfigError> {
        Self::parse(EMBEDDED_DEFAULT, Path::new("."))
    }

    /// Read and parse a config file; relative paths in it are relative to its directory. Every
    /// error names the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| e.in_file(path))
    }

    /// Parse HCL text; relative paths are resolved against `base`, environment variables
    /// (`node_name_env`) come from the process environment.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, base, &|k| std::env::var(k).ok())
    }

    /// Parse HCL text with `env` standing in for the process environment.
    ///
    /// Every problem is collected and reported (SPIRE's order: unknown top-level keys, then each
    /// block in turn, then unknown keys inside blocks); [`ConfigError::notes`] lists them one by one.
    pub fn parse_with_env(text: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut top = Table::parse(text)?;
        let mut p = Problems::default();
        let mut unknown = Vec::new();

        let trust_domain = match p.opt(top.string("trust_domain")) {
            Some(td) => p.take(TrustDomain::new(td).map_err(|e| ConfigError::invalid("trust_domain", e.to_string()))),
            None => None,
        };
        let unix = match p.opt(top.block("unix")) {
            Some(t) => unix(t, base, &mut p, &mut unknown),
            None => UnixConfig::default(),
        };
        let sandbox = match p.opt(top.block("sandbox")) {
            Some(t) => sandbox(t, &mut p, &mut unknown),
            None => RuntimeSettings::default(),
        };
        let modules = p
            .take(top.labelled_blocks("module"))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, t)| module(name, t, base, &sandbox, &mut p, &mut unknown))
            .collect();
        let policy = match p.opt(top.block("policy")) {
            Some(t) => policy(t, base, &mut p, &mut unknown),
            None => PolicySettings::default(),
        };
        let audit = match p.opt(top.block("audit")) {
            Some(t) => audit(t, base, &mut p, &mut unknown),
            None => AuditSettings::default(),
        };
        let registrar = match p.opt(top.block("registrar")) {
            Some(t) => registrar::parse(t, base, &mut p, &mut unknown),
            None => None,
        };
        let (kubernetes, sigstore) = kubernetes::parse(&mut top, base, env, &mut p);
        let proc_root = p.opt(top.string("proc_root")).map_or_else(|| PathBuf::from("/proc"), |r| resolve(base, &r));

        let mut all = Vec::new();
        let top_unknown = top.unknown_bare();
        if !top_unknown.is_empty() {
            all.push(ConfigError::UnknownKeys(top_unknown));
        }
        all.extend(p.into_vec());
        if !unknown.is_empty() {
            unknown.sort();
            all.push(ConfigError::UnknownKeys(unknown));
        }
        let trust_domain = match trust_domain {
            Some(td) => td,
            None => TrustDomain::new("example.org").map_err(|e| ConfigError::invalid("trust_domain", e.to_string()))?,
        };
        match all.len() {
            0 => Ok(Self {
                trust_domain,
                unix,
                sandbox,
                modules,
                policy,
                kubernetes,
                sigstore,
                proc_root,
                audit,
                registrar,
            }),
            1 => Err(all.remove(0)),
            _ => Err(ConfigError::Problems(all)),
        }
    }
}

pub(crate) fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

/// The `unix { … }` block.
fn unix(mut t: Table, base: &Path, p: &mut Problems, unknown: &mut Vec<String>) -> UnixConfig {
    let mut unix = UnixConfig::default();
    if let Some(v) = p.opt(t.bool("discover_workload_path")) {
        unix.discover_workload_path = v;
    }
    if let Some(v) = p.opt(t.int_in("workload_size_limit", ranges::WORKLOAD_SIZE_LIMIT)) {
        unix.workload_size_limit = v;
    }
    if let Some(v) = p.opt(t.string("passwd_file")) {
        unix.passwd_file = resolve(base, &v);
    }
    if let Some(v) = p.opt(t.string("group_file")) {
        unix.group_file = resolve(base, &v);
    }
    t.finish(unknown);
    unix
}

/// The `sandbox { … }` block.
fn sandbox(mut t: Table, p: &mut Problems, unknown: &mut Vec<String>) -> RuntimeSettings {
    let mut sandbox = RuntimeSettings::default();
    if let Some(v) = p.opt(t.count_in("max_concurrent_calls", ranges::MAX_CONCURRENT_CALLS)) {
        sandbox.max_concurrent_calls = v;
    }
    if let Some(v) = p.opt(t.count_in("max_memory_mib", ranges::MEMORY_MIB)) {
        sandbox.max_memory_bytes = u64::from(v) << 20;
    }
    t.finish(unknown);
    sandbox
}

/// One `module "<name>" { … }` block; `None` when it has problems (recorded in `p`).
fn module(
    name: String,
    mut t: Table,
    base: &Path,
    sandbox: &RuntimeSettings,
    p: &mut Problems,
    unknown: &mut Vec<String>,
) -> Option<ModuleSpec> {
    let before = p.len();
    let prefix = format!("module.{name}");
    let kind = p.take(SelectorKind::new(name.clone()).map_err(|e| ConfigError::invalid(&prefix, e.to_string())));
    if kind.as_ref().is_some_and(SelectorKind::is_reserved) {
        p.push(ConfigError::invalid(
            &prefix,
            format!("the name `{name}` is reserved for attestor's own selectors; choose another"),
        ));
    }
    let path = p.opt(t.string("path"));
    if path.is_none() {
        p.push(ConfigError::invalid(t.key("path"), "required: the module's .wasm component file"));
    }
    let sha256 = p.opt(t.string("sha256"));
    match &sha256 {
        None => p.push(ConfigError::invalid(
            t.key("sha256"),
            "required: the module's SHA-256, as `sha256sum` or `attestor module inspect` prints it",
        )),
        Some(d) if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) => {
            p.push(ConfigError::invalid(t.key("sha256"), format!("expected 64 hex characters, got {d:?}")));
        }
        Some(_) => {}
    }
    let limits = module_limits(&mut t, sandbox, p);
    let config = p.opt(t.string("config")).unwrap_or_default();
    let optional = p.opt(t.bool("optional")).unwrap_or(false);
    t.finish(unknown);
    if p.len() != before {
        return None;
    }
    Some(ModuleSpec {
        name: kind?,
        path: resolve(base, &path?),
        sha256: sha256.map(|d| d.to_ascii_lowercase()),
        config,
        limits,
        optional,
    })
}

/// A module's per-call limits.
fn module_limits(t: &mut Table, sandbox: &RuntimeSettings, p: &mut Problems) -> Limits {
    let mut limits = Limits::default();
    if let Some(v) = p.opt(t.int_in("fuel", ranges::FUEL)) {
        limits.fuel = v.unsigned_abs();
    }
    if let Some(v) = p.opt(t.count_in("memory_mib", ranges::MEMORY_MIB)) {
        limits.memory_bytes = u64::from(v) << 20;
    }
    if limits.memory_bytes > sandbox.max_memory_bytes {
        p.push(ConfigError::invalid(
            t.key("memory_mib"),
            format!(
                "{} MiB is above sandbox.max_memory_mib ({} MiB): raise the ceiling or lower the cap",
                limits.memory_bytes >> 20,
                sandbox.max_memory_bytes >> 20
            ),
        ));
    }
    if let Some(v) = p.opt(t.duration_in("timeout", ranges::MODULE_TIMEOUT)) {
        limits.timeout = v;
    }
    let mut count = |key: &str, slot: &mut usize, range| {
        if let Some(v) = p.opt(t.count_in(key, range)) {
            *slot = v as usize;
        }
    };
    count("max_selectors", &mut limits.max_selectors, ranges::OUTPUT_COUNT);
    count("max_facts", &mut limits.max_facts, ranges::OUTPUT_COUNT);
    count("max_log_lines", &mut limits.max_log_lines, ranges::LOG_LINES);
    limits
}

/// The `policy { … }` block.
fn policy(mut t: Table, base: &Path, p: &mut Problems, unknown: &mut Vec<String>) -> PolicySettings {
    let mut policy = PolicySettings {
        dir: p.opt(t.string("dir")).map(|d| resolve(base, &d)),
        cluster: p.opt(t.string("cluster")),
        spiffe_id_selectors: p.opt(t.bool("spiffe_id_selectors")).unwrap_or(false),
        shadow_dir: p.opt(t.string("shadow_dir")).map(|d| resolve(base, &d)),
        ..PolicySettings::default()
    };
    for td in p.opt(t.strings("federated_trust_domains")).unwrap_or_default() {
        match TrustDomain::new(td) {
            Ok(td) => policy.federated_trust_domains.push(td),
            Err(e) => p.push(ConfigError::invalid(t.key("federated_trust_domains"), e.to_string())),
        }
    }
    policy.max_ttl = p.opt(t.duration_in("max_ttl", ranges::MAX_TTL));
    policy.max_jwt_ttl = p.opt(t.duration_in("max_jwt_ttl", ranges::MAX_TTL));
    if let Some(d) = p.opt(t.duration_in("reload_interval", ranges::POLICY_RELOAD)) {
        policy.reload_interval = d;
    }
    t.finish(unknown);
    policy
}

/// The `audit { … }` block.
pub(crate) fn audit(mut t: Table, base: &Path, p: &mut Problems, unknown: &mut Vec<String>) -> AuditSettings {
    let audit = AuditSettings {
        path: p.opt(t.string("path")).map(|r| resolve(base, &r)),
        debug: p.opt(t.bool("debug")).unwrap_or(false),
    };
    t.finish(unknown);
    audit
}

#[cfg(test)]
mod tests;
