//! SPIRE's `k8s` WorkloadAttestor keys (top level of the config, as in a `plugin_data` block),
//! with SPIRE's defaults and validation messages, plus attestor's own Kubernetes keys.
//!
//! Every key does what SPIRE's does, or is refused with a message that says why: the
//! `experimental` block's `api_server` and `broker` serve SPIRE's object-reference
//! (`AttestReference`) and broker features, which attestor does not implement. The `sigstore`
//! block (top level, or SPIRE 1.6–1.14's `experimental.sigstore`) is read by `sigstore.rs`.

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use super::reader::Table;
use super::{ConfigError, Problems};
use crate::facts::kubernetes::{ApiServerSettings, Endpoint, KubernetesSettings, SourceMode};
use crate::facts::sigstore::SigstoreSettings;
use crate::time::{DurationError, DurationRange};

/// `max_poll_attempts`: SPIRE takes ≤ 0 as the default; attestor also refuses absurd values
/// (each attempt may wait `poll_retry_interval`).
pub const MAX_POLL_ATTEMPTS: RangeInclusive<i64> = i64::MIN..=10_000;
/// `poll_retry_interval`: at most this (≤ 0 is SPIRE's default).
pub const MAX_POLL_RETRY_INTERVAL: Duration = Duration::from_secs(60);
/// `reload_interval` (kubelet credentials): at most this (≤ 0 is SPIRE's default).
pub const MAX_RELOAD_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// `pod_list_cache_ttl`.
const POD_LIST_CACHE_TTL: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(3600));

/// Every top-level key of the Kubernetes source (`k8s_source` aside).
const KUBERNETES_KEYS: [&str; 22] = [
    "kubelet_read_only_port",
    "kubelet_secure_port",
    "kubelet_ca_path",
    "skip_kubelet_verification",
    "token_path",
    "certificate_path",
    "private_key_path",
    "use_anonymous_authentication",
    "node_name_env",
    "node_name",
    "max_poll_attempts",
    "poll_retry_interval",
    "reload_interval",
    "disable_container_selectors",
    "disable_kubelet_client",
    "enable_namespace_labels",
    "use_new_container_locator",
    "verbose_container_locator_logs",
    "experimental",
    "pod_list_cache_ttl",
    "pod_list_file",
    "kubernetes_api",
];

/// Keys SPIRE accepts beside `disable_kubelet_client` (its broker uses them) that PID
/// attestation without a kubelet client never reads.
const WITHOUT_CLIENT_UNUSED: [&str; 8] = [
    "max_poll_attempts",
    "poll_retry_interval",
    "disable_container_selectors",
    "enable_namespace_labels",
    "use_new_container_locator",
    "verbose_container_locator_logs",
    "pod_list_cache_ttl",
    "kubernetes_api",
];

/// The kubelet's own keys, as read (SPIRE reads them all before checking any rule).
struct KubeletKeys {
    ro_port: i64,
    secure_port: i64,
    ca: Option<String>,
    skip: bool,
    token: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    anonymous: bool,
    node_name_env: Option<String>,
    node_name: Option<String>,
    reload: Option<String>,
    poll: Option<String>,
    pod_list_file: Option<String>,
}

impl KubeletKeys {
    fn read(top: &mut Table, p: &mut Problems) -> Self {
        let mut string = |k: &str| p.opt(top.string(k)).filter(|v| !v.is_empty());
        let (ca, token, cert, key) =
            (string("kubelet_ca_path"), string("token_path"), string("certificate_path"), string("private_key_path"));
        let (node_name_env, node_name) = (string("node_name_env"), string("node_name"));
        let (reload, poll, pod_list_file) =
            (string("reload_interval"), string("poll_retry_interval"), string("pod_list_file"));
        Self {
            ro_port: p.opt(top.int("kubelet_read_only_port")).unwrap_or(0),
            secure_port: p.opt(top.int("kubelet_secure_port")).unwrap_or(0),
            skip: p.opt(top.bool("skip_kubelet_verification")).unwrap_or(false),
            anonymous: p.opt(top.bool("use_anonymous_authentication")).unwrap_or(false),
            ca,
            token,
            cert,
            key,
            node_name_env,
            node_name,
            reload,
            poll,
            pod_list_file,
        }
    }

    /// The keys that are set, by name (for the rules that forbid them in some modes).
    fn set(&self) -> [(&'static str, bool); 12] {
        [
            ("kubelet_read_only_port", self.ro_port > 0),
            ("kubelet_secure_port", self.secure_port > 0),
            ("kubelet_ca_path", self.ca.is_some()),
            ("skip_kubelet_verification", self.skip),
            ("token_path", self.token.is_some()),
            ("certificate_path", self.cert.is_some()),
            ("private_key_path", self.key.is_some()),
            ("use_anonymous_authentication", self.anonymous),
            ("node_name_env", self.node_name_env.is_some()),
            ("node_name", self.node_name.is_some()),
            ("reload_interval", self.reload.is_some()),
            ("pod_list_file", self.pod_list_file.is_some()),
        ]
    }
}

/// Read the Kubernetes keys from the top-level table, and the `sigstore` block that verifies
/// the images of the containers this source finds. Problems are recorded in `p` in SPIRE's
/// order.
pub(crate) fn parse(
    top: &mut Table,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> (KubernetesSettings, Option<SigstoreSettings>) {
    let mut s = KubernetesSettings::default();
    let experimental_sigstore = experimental(top, p);
    let keys = KubeletKeys::read(top, p);
    let disable_client = p.opt(top.bool("disable_kubelet_client")).unwrap_or(false);
    let mode = source_mode(top, p);
    s.mode = mode;

    if disable_client {
        for (name, set) in keys.set() {
            if set {
                p.push(ConfigError::Rule(format!("disable_kubelet_client cannot be used with {name}")));
            }
        }
        // SPIRE allows these for its broker API, which attestor does not implement: without
        // the kubelet client they would do nothing.
        for name in WITHOUT_CLIENT_UNUSED.into_iter().filter(|k| top.has(k)) {
            p.push(ConfigError::Rule(format!(
                "disable_kubelet_client cannot be used with {name}: without the kubelet client attestor never uses it"
            )));
        }
    }
    if mode == Some(SourceMode::Disabled) {
        for name in KUBERNETES_KEYS.into_iter().filter(|k| top.has(k)) {
            p.push(ConfigError::Rule(format!(
                "k8s_source = \"disabled\" turns the Kubernetes source off, so {name} would do nothing: remove it, or enable the source"
            )));
        }
    }

    if let Some(n) = p.opt(top.int_in("max_poll_attempts", MAX_POLL_ATTEMPTS))
        && n > 0
    {
        s.max_poll_attempts = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(d) = spire_duration(keys.poll.as_deref(), "poll retry interval", MAX_POLL_RETRY_INTERVAL, p) {
        s.poll_retry_interval = d;
    }
    if let Some(d) = spire_duration(keys.reload.as_deref(), "reload interval", MAX_RELOAD_INTERVAL, p) {
        s.reload_interval = d;
    }
    if keys.ro_port > 0 && keys.secure_port > 0 {
        p.push(ConfigError::Rule("cannot use both the read-only and secure port".into()));
    }
    s.endpoint = endpoint(&keys, disable_client, base, p);
    s.node_name = match (&keys.node_name, &keys.node_name_env) {
        (Some(n), _) => n.clone(),
        (None, Some(var)) => env(var).unwrap_or_default(),
        (None, None) => env("MY_NODE_NAME").unwrap_or_default(),
    };
    if let Some(path) = &keys.ca {
        s.kubelet_ca_path = resolve(base, path);
    }
    if let Some(path) = &keys.token {
        s.token_path = resolve(base, path);
    }
    s.certificate_path = keys.cert.as_deref().map(|path| resolve(base, path));
    s.private_key_path = keys.key.as_deref().map(|path| resolve(base, path));
    s.skip_kubelet_verification = keys.skip;
    s.use_anonymous_authentication = keys.anonymous;
    s.disable_container_selectors = p.opt(top.bool("disable_container_selectors")).unwrap_or(false);
    s.enable_namespace_labels = p.opt(top.bool("enable_namespace_labels")).unwrap_or(false);
    s.legacy_locator = !p.opt(top.bool("use_new_container_locator")).unwrap_or(true);
    s.verbose_locator_logs = p.opt(top.bool("verbose_container_locator_logs")).unwrap_or(false);
    let top_sigstore = p.opt(top.block("sigstore"));
    let sigstore = super::sigstore::parse(top_sigstore, experimental_sigstore, &s, base, p);
    attestor_keys(top, base, &mut s, p);
    (s, sigstore)
}

/// `experimental { sigstore { … } api_server { cache { … } } broker { … } }`: the `sigstore`
/// block (SPIRE 1.6–1.14) is handed back for `sigstore.rs` to read. SPIRE uses the others only
/// for `AttestReference` (object references, the broker API). attestor answers
/// `AttestReference` with UNIMPLEMENTED, so SPIRE falls back to `Attest` for PIDs and these
/// blocks could do nothing: they are refused, not ignored. Unknown keys inside are still
/// reported first, as SPIRE does.
fn experimental(top: &mut Table, p: &mut Problems) -> Option<Table> {
    let mut exp = p.opt(top.block("experimental"))?;
    let sigstore = p.opt(exp.block("sigstore"));
    let api_server = p.opt(exp.block("api_server"));
    let broker = p.opt(exp.block("broker"));
    push_unknown(p, &exp);
    if let Some(mut api) = api_server {
        let cache = p.opt(api.block("cache"));
        push_unknown(p, &api);
        if let Some(mut cache) = cache {
            let _ = p.opt(cache.bool("enabled"));
            push_unknown(p, &cache);
        }
        p.push(ConfigError::Rule(
            "experimental.api_server: attestor does not implement object-reference attestation (AttestReference), \
             the only user of SPIRE's API server cache; remove the block (PID attestation does not use it)"
                .into(),
        ));
    }
    if broker.is_some() {
        p.push(ConfigError::Rule(
            "experimental.broker: attestor does not implement SPIRE's broker API (AttestReference answers UNIMPLEMENTED); \
             remove the block"
                .into(),
        ));
    }
    sigstore
}

/// `k8s_source`.
fn source_mode(top: &mut Table, p: &mut Problems) -> Option<SourceMode> {
    let mode = p.opt(top.string("k8s_source"))?;
    match mode.as_str() {
        "enabled" => Some(SourceMode::Enabled),
        "auto" => Some(SourceMode::Auto),
        "disabled" => Some(SourceMode::Disabled),
        other => {
            p.push(ConfigError::invalid(
                "k8s_source",
                format!("must be \"enabled\", \"auto\" or \"disabled\", got {other:?}"),
            ));
            None
        }
    }
}

/// Where the pod list comes from.
fn endpoint(keys: &KubeletKeys, disable_client: bool, base: &Path, p: &mut Problems) -> Endpoint {
    let mut port = |n: i64, key: &str| {
        u16::try_from(n).unwrap_or_else(|_| {
            p.push(ConfigError::invalid(key, format!("must be between 1 and 65535, got {n}")));
            0
        })
    };
    if disable_client {
        Endpoint::Disabled
    } else if let Some(file) = &keys.pod_list_file {
        if keys.ro_port > 0 || keys.secure_port > 0 {
            p.push(ConfigError::Rule("pod_list_file cannot be used with a kubelet port".into()));
        }
        Endpoint::File(resolve(base, file))
    } else if keys.ro_port > 0 {
        Endpoint::ReadOnly(port(keys.ro_port, "kubelet_read_only_port"))
    } else if keys.secure_port > 0 {
        Endpoint::Secure(port(keys.secure_port, "kubelet_secure_port"))
    } else {
        Endpoint::Secure(10250)
    }
}

/// attestor's own keys: `pod_list_cache_ttl`, `kubernetes_api { … }`.
fn attestor_keys(top: &mut Table, base: &Path, s: &mut KubernetesSettings, p: &mut Problems) {
    if let Some(ttl) = p.opt(top.duration_in("pod_list_cache_ttl", POD_LIST_CACHE_TTL)) {
        s.pod_list_cache_ttl = ttl;
    }
    if let Some(mut api) = p.opt(top.block("kubernetes_api")) {
        s.api = ApiServerSettings {
            url: p.opt(api.string("url")),
            ca_path: p.opt(api.string("ca_path")).map(|path| resolve(base, &path)),
            token_path: p.opt(api.string("token_path")).map(|path| resolve(base, &path)),
        };
        let mut unknown = Vec::new();
        api.finish(&mut unknown);
        if !unknown.is_empty() {
            p.push(ConfigError::UnknownKeys(unknown));
        }
        if !s.enable_namespace_labels {
            p.push(ConfigError::Rule(
                "kubernetes_api is only used to read namespace labels: set enable_namespace_labels = true, or remove the block"
                    .into(),
            ));
        }
    }
}

/// SPIRE reports each block's unknown keys as their own problem.
pub(super) fn push_unknown(p: &mut Problems, t: &Table) {
    let keys = t.unknown_bare();
    if !keys.is_empty() {
        p.push(ConfigError::UnknownKeys(keys));
    }
}

/// One of SPIRE's durations: empty or ≤ 0 means the default (`None`), unparsable is SPIRE's
/// problem text, and attestor refuses values above `max`.
fn spire_duration(value: Option<&str>, what: &str, max: Duration, p: &mut Problems) -> Option<Duration> {
    match DurationRange::default_unless_positive(max).check(value?) {
        Ok(d) => d,
        Err(DurationError::Syntax(e)) => {
            p.push(ConfigError::Rule(format!("unable to parse {what}: {e}")));
            None
        }
        Err(e) => {
            p.push(ConfigError::Rule(format!("{what} {e}")));
            None
        }
    }
}

fn resolve(base: &Path, p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

#[cfg(test)]
mod tests;
