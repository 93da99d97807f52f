//! The `k8s_psat` server role's `plugin_data`: SPIRE's `clusters` block, read into
//! [`PsatSettings`] with SPIRE's defaults and messages.
//!
//! `clusters = { "<name>" = { … } }` (or the block form `clusters { <name> { … } }`). SPIRE's own
//! checks: text that does not decode is `plugin configuration is malformed`, a cluster without
//! an allowed service account is `cluster "<name>" configuration must have at least one service
//! account allowed`, and no cluster at all is not an error (every attestation is then refused
//! with `not configured for cluster "<name>"`). Where attestor is stricter, it says why: SPIRE's
//! `k8s_psat` ignores keys it does not know (a misspelt `audiences` would silently leave the
//! default audience in force), attestor refuses them with SPIRE's usual `unknown configurations
//! detected` message; and a cluster name that cannot be one segment of the agent's SPIFFE ID is
//! refused here rather than making every attestation of that cluster fail (SPIRE builds an ID
//! with a percent-escaped or path-cleaned segment, which its own ID parser then rejects, or,
//! for `..`, an ID outside `/spire/agent/k8s_psat/`).

use std::path::Path;

use super::reader::Table;
use super::{ConfigError, Problems, ranges, resolve};
use crate::audit::AuditSettings;
use crate::psat::policy::NodePolicySettings;
use crate::psat::settings::{ClusterSettings, DEFAULT_AUDIENCE, PsatSettings};
use crate::spiffe_id::is_valid_path_segment;

/// Everything the server role reads from its `plugin_data`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// SPIRE's `clusters` block.
    pub psat: PsatSettings,
    /// attestor's `policy { dir, reload_interval }`: Cedar node policies, when given.
    pub policy: Option<NodePolicySettings>,
    /// attestor's `audit { path, debug }`: where node attestation records go.
    pub audit: AuditSettings,
}

/// Keys of the workload attestor's `policy` block that mean nothing for node attestation.
const WORKLOAD_ONLY_POLICY_KEYS: [&str; 6] =
    ["cluster", "spiffe_id_selectors", "federated_trust_domains", "max_ttl", "max_jwt_ttl", "shadow_dir"];

/// Read the server role's HCL text (SPIRE's `plugin_data`, as attestor's HCL v1 bridge hands it
/// over). Relative paths are relative to SPIRE server's working directory. Every problem is
/// reported at once, in file order.
pub fn parse_server(text: &str) -> Result<ServerConfig, ConfigError> {
    let mut top = Table::parse(text).map_err(malformed)?;
    let mut p = Problems::default();
    let mut unknown = Vec::new();
    let mut config = ServerConfig::default();
    if let Some(mut clusters) = p.opt(top.block("clusters")) {
        for (name, table) in p.take(clusters.labelled_or_keys()).unwrap_or_default() {
            if let Some(cluster) = cluster(&name, table, &mut p, &mut unknown) {
                config.psat.clusters.insert(name, cluster);
            }
        }
    }
    if let Some(t) = p.opt(top.block("policy")) {
        config.policy = policy(t, &mut p, &mut unknown);
    }
    if let Some(t) = p.opt(top.block("audit")) {
        config.audit = super::audit(t, Path::new("."), &mut p, &mut unknown);
    }
    unknown.extend(top.unknown_bare());
    let mut all = p.into_vec();
    if !unknown.is_empty() {
        unknown.sort();
        all.push(ConfigError::UnknownKeys(unknown));
    }
    match all.len() {
        0 => Ok(config),
        1 => Err(all.remove(0)),
        _ => Err(ConfigError::Problems(all)),
    }
}

/// The server role's `policy { … }`: `dir` (required) and `reload_interval`; the workload
/// attestor's other keys are refused by name.
fn policy(mut t: Table, p: &mut Problems, unknown: &mut Vec<String>) -> Option<NodePolicySettings> {
    let dir = p.opt(t.string("dir")).map(|d| resolve(Path::new("."), &d));
    let reload_interval = p.opt(t.duration_in("reload_interval", ranges::POLICY_RELOAD));
    for key in WORKLOAD_ONLY_POLICY_KEYS {
        if t.has(key) {
            p.push(ConfigError::invalid(
                t.key(key),
                "applies to workload attestation only; the node-attestor-server role reads `dir` and `reload_interval`",
            ));
            t.skip(key);
        }
    }
    let dir_key = t.key("dir");
    t.finish(unknown);
    match dir {
        Some(dir) => Some(NodePolicySettings {
            dir,
            reload_interval: reload_interval.unwrap_or(crate::policy::PolicySettings::default().reload_interval),
        }),
        None => {
            p.push(ConfigError::invalid(
                dir_key,
                "is required in the node-attestor-server role (the embedded default policy set has no node policies)",
            ));
            None
        }
    }
}

/// SPIRE's message for text its HCL decoder refuses, with the parser's reason after it.
fn malformed(e: ConfigError) -> ConfigError {
    match e {
        ConfigError::Syntax(detail) => ConfigError::Rule(format!("plugin configuration is malformed: {detail}")),
        other => ConfigError::Rule(format!("plugin configuration is malformed: {other}")),
    }
}

/// One `clusters."<name>"` entry; `None` when it has problems (recorded in `p`).
fn cluster(name: &str, mut t: Table, p: &mut Problems, unknown: &mut Vec<String>) -> Option<ClusterSettings> {
    let before = p.len();
    if !is_valid_path_segment(name) {
        p.push(ConfigError::Rule(format!(
            "cluster {name:?}: the name is a segment of the agent's SPIFFE ID \
             (spiffe://<trust domain>/spire/agent/k8s_psat/<name>/…), so it may use only A-Z, a-z, 0-9, \
             '.', '-' and '_', and may not be '.' or '..'"
        )));
    }
    let allow_list = p.opt(t.strings("service_account_allow_list")).unwrap_or_default();
    if allow_list.is_empty() {
        p.push(ConfigError::Rule(format!(
            "cluster {name:?} configuration must have at least one service account allowed"
        )));
    }
    // SPIRE tells "absent" (its default) from "explicitly empty" (no audience sent).
    let audience = p.opt(t.strings("audience")).unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_owned()]);
    let kube_config_file = p.opt(t.string("kube_config_file")).filter(|f| !f.is_empty()).map(Into::into);
    let node_keys = p.opt(t.strings("allowed_node_label_keys")).unwrap_or_default();
    let pod_keys = p.opt(t.strings("allowed_pod_label_keys")).unwrap_or_default();
    let use_pod_uid_for_agent_id = p.opt(t.bool("use_pod_uid_for_agent_id")).unwrap_or(false);
    t.finish(unknown);
    (p.len() == before).then(|| ClusterSettings {
        service_account_allow_list: allow_list.into_iter().collect(),
        audience,
        kube_config_file,
        allowed_node_label_keys: node_keys.into_iter().collect(),
        allowed_pod_label_keys: pod_keys.into_iter().collect(),
        use_pod_uid_for_agent_id,
    })
}

#[cfg(test)]
mod tests;
