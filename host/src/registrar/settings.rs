//! The `registrar { }` block, typed (read by `config/registrar.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// SPIRE server's default admin API socket (`server { socket_path }`).
pub const DEFAULT_SOCKET: &str = "/tmp/spire-server/private/api.sock";
/// The agent ID of a node attested with `k8s_psat`, SPIRE's own form.
pub const DEFAULT_PARENT_ID_TEMPLATE: &str = "spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_uid}";
/// Entry IDs the registrar owns start with this unless configured otherwise.
pub const DEFAULT_ENTRY_ID_PREFIX: &str = "attestor.";
/// How long an entry whose pods or IDs are gone is kept: a rolling update replaces a pod within
/// seconds, and an entry deleted and recreated would make SPIRE's agent drop and re-fetch SVIDs.
pub const DEFAULT_DELETE_GRACE_PERIOD: Duration = Duration::from_secs(60);
/// How often everything is listed again: watches carry the cluster's changes, but changes to
/// SPIRE's entries (an entry deleted by hand) are seen only by listing them.
pub const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(300);
/// The variables a parent ID template may use.
pub const PARENT_VARIABLES: [&str; 4] = ["trust_domain", "cluster", "node_uid", "node_name"];

/// Which entries the registrar writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One entry per (SPIFFE ID, node), parented to the node's agent, with the single selector
    /// `k8s:spiffe-id:<id>`: SPIRE issues the ID only where attestor's runtime decision allows it,
    /// and a pod restart changes nothing.
    PerNode,
    /// One entry per (pod, SPIFFE ID) with `k8s:ns:<ns>` and `k8s:pod-uid:<uid>`:
    /// spire-controller-manager's shape (it selects on `pod-uid` alone; `ns` matches the same
    /// pods), for clusters that attest with SPIRE's own `k8s` plugin.
    PerPod,
}

impl Mode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerNode => "per_node",
            Self::PerPod => "per_pod",
        }
    }
}

/// The registrar's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarSettings {
    /// The cluster's name (`{cluster}` in templates, and in agent IDs).
    pub cluster: String,
    /// SPIRE server's admin API socket.
    pub spire_server_socket: PathBuf,
    /// A kubeconfig; `None`: the in-cluster service account.
    pub kube_config_file: Option<PathBuf>,
    /// Which entries are written.
    pub mode: Mode,
    /// The parent ID of a node's entries (`{trust_domain}`, `{cluster}`, `{node_uid}`,
    /// `{node_name}`).
    pub parent_id_template: String,
    /// Entry IDs the registrar owns start with this; it never touches another entry.
    pub entry_id_prefix: String,
    /// How long an entry no longer wanted is kept before it is deleted.
    pub delete_grace_period: Duration,
    /// How often everything is listed again.
    pub resync_interval: Duration,
    /// Where `/metrics` and `/readyz` are served; `None`: not served.
    pub metrics_addr: Option<SocketAddr>,
}
