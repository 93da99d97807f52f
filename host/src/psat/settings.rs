//! The server role's `clusters` configuration, typed: SPIRE's `k8s_psat` keys per cluster.
//!
//! Read and validated from HCL in `config/psat.rs` (the configuration module reads every HCL
//! key); this file only says what the values mean, so the attestation and the kube client can
//! use them without knowing HCL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The audience sent with every TokenReview when a cluster names none (SPIRE's default): the
/// audience the agent's projected token is minted for in SPIRE's examples.
pub const DEFAULT_AUDIENCE: &str = "spire-server";

/// Everything the server role's `clusters` block says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PsatSettings {
    /// By cluster name, the name an agent sends in its payload. A name is a logical profile:
    /// one real cluster may appear under two names (say, node-UID and pod-UID agent IDs). Empty:
    /// every attestation is refused as `not configured for cluster "<name>"` (SPIRE only notes
    /// it at configuration time).
    pub clusters: BTreeMap<String, ClusterSettings>,
}

/// One `clusters."<name>"` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `service_account_allow_list`: `"<namespace>:<service account>"` strings; an agent whose
    /// token names another service account is refused. Never empty once read from HCL.
    pub service_account_allow_list: BTreeSet<String>,
    /// `audience`: the audiences sent with the TokenReview, one of which the API server must
    /// grant. Absent in HCL: `["spire-server"]`; explicitly `[]`: none are sent, and the API
    /// server checks the token against its own audiences (`--api-audiences`).
    pub audience: Vec<String>,
    /// `kube_config_file`: the kubeconfig used to reach this cluster's API server; `None` (the
    /// key absent or empty) is the in-cluster configuration (the server's own service account).
    pub kube_config_file: Option<PathBuf>,
    /// `allowed_node_label_keys`: node labels turned into `agent_node_label` selectors.
    pub allowed_node_label_keys: BTreeSet<String>,
    /// `allowed_pod_label_keys`: pod labels turned into `agent_pod_label` selectors.
    pub allowed_pod_label_keys: BTreeSet<String>,
    /// `use_pod_uid_for_agent_id`: the agent ID ends in `pod/<pod UID>` instead of the node UID,
    /// for agents that are not one per node.
    pub use_pod_uid_for_agent_id: bool,
}

impl ClusterSettings {
    /// A cluster allowing these service accounts, every other key at SPIRE's default.
    pub fn allowing<I, S>(service_accounts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            service_account_allow_list: service_accounts.into_iter().map(Into::into).collect(),
            audience: vec![DEFAULT_AUDIENCE.to_owned()],
            kube_config_file: None,
            allowed_node_label_keys: BTreeSet::new(),
            allowed_pod_label_keys: BTreeSet::new(),
            use_pod_uid_for_agent_id: false,
        }
    }

    /// Whether `"<namespace>:<service_account>"` is allowed.
    pub fn allows(&self, namespace: &str, service_account: &str) -> bool {
        self.service_account_allow_list.contains(&format!("{namespace}:{service_account}"))
    }
}

#[cfg(test)]
mod tests;
