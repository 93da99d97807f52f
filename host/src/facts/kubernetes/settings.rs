//! Settings of the Kubernetes source: SPIRE's `k8s` attestor keys, plus attestor's own.

use std::path::PathBuf;
use std::time::Duration;

/// Where the service account's CA bundle lives in a pod.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// Where the service account's token lives in a pod.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Whether the Kubernetes source runs (attestor's `k8s_source` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceMode {
    /// Always (SPIRE's behaviour): credentials that cannot be loaded fail the configuration.
    Enabled,
    /// When the kubelet credentials load; otherwise the source is off with a warning, so one
    /// configuration works on a laptop and in a pod. The embedded default.
    Auto,
    /// Never: container processes get no Kubernetes facts and the kubelet is never called.
    Disabled,
}

/// How the pod list is obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `http://127.0.0.1:<port>/pods`, no TLS, no credentials.
    ReadOnly(u16),
    /// `https://<node name or 127.0.0.1>:<port>/pods`.
    Secure(u16),
    /// A recorded pod list file (attestor's `pod_list_file`), for offline demos and tests.
    File(PathBuf),
    /// `disable_kubelet_client = true`: every PID attestation fails.
    Disabled,
}

/// Overrides for the API server used for namespace labels (attestor's `kubernetes_api` block);
/// each absent value comes from the in-cluster environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiServerSettings {
    /// `https://host:port`.
    pub url: Option<String>,
    /// PEM CA bundle.
    pub ca_path: Option<PathBuf>,
    /// Bearer token file.
    pub token_path: Option<PathBuf>,
}

/// Validated settings of the Kubernetes source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSettings {
    /// Whether the source runs; `None` when the config does not say, and the surface decides:
    /// `Enabled` in the SPIRE plugin (a drop-in fails like SPIRE), `Auto` on the command line.
    pub mode: Option<SourceMode>,
    /// Where the pod list comes from.
    pub endpoint: Endpoint,
    /// Resolved node name (`node_name`, else `$<node_name_env>`); empty means 127.0.0.1.
    pub node_name: String,
    /// `kubelet_ca_path`.
    pub kubelet_ca_path: PathBuf,
    /// `skip_kubelet_verification`.
    pub skip_kubelet_verification: bool,
    /// `token_path`.
    pub token_path: PathBuf,
    /// `certificate_path`.
    pub certificate_path: Option<PathBuf>,
    /// `private_key_path`.
    pub private_key_path: Option<PathBuf>,
    /// `use_anonymous_authentication`.
    pub use_anonymous_authentication: bool,
    /// `max_poll_attempts`.
    pub max_poll_attempts: u32,
    /// `poll_retry_interval`.
    pub poll_retry_interval: Duration,
    /// `reload_interval`.
    pub reload_interval: Duration,
    /// `pod_list_cache_ttl` (attestor): how long a pod list answers for pods it contains.
    pub pod_list_cache_ttl: Duration,
    /// `disable_container_selectors`.
    pub disable_container_selectors: bool,
    /// `enable_namespace_labels`.
    pub enable_namespace_labels: bool,
    /// `use_new_container_locator = false`.
    pub legacy_locator: bool,
    /// `verbose_container_locator_logs`.
    pub verbose_locator_logs: bool,
    /// `kubernetes_api` (attestor).
    pub api: ApiServerSettings,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        Self {
            mode: None,
            endpoint: Endpoint::Secure(10250),
            node_name: String::new(),
            kubelet_ca_path: SERVICE_ACCOUNT_CA.into(),
            skip_kubelet_verification: false,
            token_path: SERVICE_ACCOUNT_TOKEN.into(),
            certificate_path: None,
            private_key_path: None,
            use_anonymous_authentication: false,
            max_poll_attempts: 60,
            poll_retry_interval: Duration::from_millis(500),
            reload_interval: Duration::from_secs(60),
            pod_list_cache_ttl: Duration::from_secs(10),
            disable_container_selectors: false,
            enable_namespace_labels: false,
            legacy_locator: false,
            verbose_locator_logs: false,
            api: ApiServerSettings::default(),
        }
    }
}
