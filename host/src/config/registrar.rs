//! The `registrar { }` block of `attestor registrar`'s configuration: the key names outside
//! tests rely on (`cluster`, `spire_server_socket`, `kube_config_file`, `mode`,
//! `parent_id_template`, `entry_id_prefix`, `delete_grace_period`, `resync_interval`,
//! `metrics_addr`), their defaults and their checks.

use std::path::Path;
use std::time::Duration;

use super::reader::Table;
use super::{ConfigError, Problems, resolve};
use crate::registrar::settings::{
    DEFAULT_DELETE_GRACE_PERIOD, DEFAULT_ENTRY_ID_PREFIX, DEFAULT_PARENT_ID_TEMPLATE, DEFAULT_RESYNC_INTERVAL,
    DEFAULT_SOCKET, Mode, PARENT_VARIABLES, RegistrarSettings,
};
use crate::spiffe_id::is_valid_path_segment;
use crate::time::DurationRange;

/// `delete_grace_period`: zero deletes at once; beyond a day an orphan entry outlives any
/// reason to keep it.
const GRACE: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(86_400));
/// `resync_interval`: under 10 s the lists cost more than the watches save.
const RESYNC: DurationRange = DurationRange::new(Duration::from_secs(10), Duration::from_secs(86_400));
/// Longest entry ID prefix: SPIRE caps an entry ID at 255 bytes, and 32 hex characters follow.
const MAX_PREFIX: usize = 64;

/// Read the block; relative paths are relative to `base` (the configuration file's directory).
pub(crate) fn parse(
    mut t: Table,
    base: &Path,
    p: &mut Problems,
    unknown: &mut Vec<String>,
) -> Option<RegistrarSettings> {
    let before = p.len();
    let cluster = p.opt(t.string("cluster"));
    match cluster.as_deref() {
        None | Some("") => p.push(ConfigError::invalid(t.key("cluster"), "is required (the cluster's name)")),
        Some(c) if !is_valid_path_segment(c) => p.push(ConfigError::invalid(
            t.key("cluster"),
            "must be one SPIFFE ID path segment (A-Z, a-z, 0-9, '.', '-', '_'): it is part of agent IDs",
        )),
        Some(_) => {}
    }
    let socket = p.opt(t.string("spire_server_socket")).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_SOCKET.into());
    let kube_config_file = p.opt(t.string("kube_config_file")).filter(|s| !s.is_empty()).map(|f| resolve(base, &f));
    let mode = match p.opt(t.string("mode")).as_deref() {
        None | Some("per_node") => Mode::PerNode,
        Some("per_pod") => Mode::PerPod,
        Some(other) => {
            p.push(ConfigError::invalid(t.key("mode"), format!("{other:?} is not \"per_node\" or \"per_pod\"")));
            Mode::PerNode
        }
    };
    let parent_id_template = p.opt(t.string("parent_id_template")).unwrap_or_else(|| DEFAULT_PARENT_ID_TEMPLATE.into());
    if let Err(problem) = check_parent_template(&parent_id_template) {
        p.push(ConfigError::invalid(t.key("parent_id_template"), problem));
    }
    let entry_id_prefix = p.opt(t.string("entry_id_prefix")).unwrap_or_else(|| DEFAULT_ENTRY_ID_PREFIX.into());
    if entry_id_prefix.is_empty()
        || entry_id_prefix.len() > MAX_PREFIX
        || !entry_id_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        p.push(ConfigError::invalid(
            t.key("entry_id_prefix"),
            format!(
                "must be 1 to {MAX_PREFIX} characters of A-Z, a-z, 0-9, '.', '-', '_': the registrar owns exactly the entries whose ID starts with it"
            ),
        ));
    }
    let delete_grace_period = p.opt(t.duration_in("delete_grace_period", GRACE)).unwrap_or(DEFAULT_DELETE_GRACE_PERIOD);
    let resync_interval = p.opt(t.duration_in("resync_interval", RESYNC)).unwrap_or(DEFAULT_RESYNC_INTERVAL);
    let metrics_addr = match p.opt(t.string("metrics_addr")).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                p.push(ConfigError::invalid(
                    t.key("metrics_addr"),
                    format!("{a:?} is not an address and port (\"0.0.0.0:8082\")"),
                ));
                None
            }
        },
    };
    t.finish(unknown);
    (p.len() == before).then(|| RegistrarSettings {
        cluster: cluster.unwrap_or_default(),
        spire_server_socket: resolve(base, &socket),
        kube_config_file,
        mode,
        parent_id_template,
        entry_id_prefix,
        delete_grace_period,
        resync_interval,
        metrics_addr,
    })
}

/// A parent ID template: `spiffe://` then text and the known `{variables}`.
fn check_parent_template(t: &str) -> Result<(), String> {
    if !t.starts_with("spiffe://") {
        return Err(format!("{t:?} must start with spiffe://"));
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{t:?} has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        if !PARENT_VARIABLES.contains(&name) {
            let known: Vec<String> = PARENT_VARIABLES.iter().map(|v| format!("{{{v}}}")).collect();
            return Err(format!("unknown variable `{{{name}}}`; known: {}", known.join(", ")));
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("{t:?} has a `}}` without `{{`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
