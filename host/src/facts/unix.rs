//! Unix facts: ids, names, executable path and digest, and SPIRE's `unix` selectors.

use std::path::PathBuf;

use super::GatherError;
use super::exe_hash::ExeHasher;
use super::procfs::ProcDir;
use super::userdb::UserDb;
use crate::selector::{Selector, SelectorKind};
use crate::workload::{Gid, Uid, UnixFacts};

/// Settings of the unix source (the config's `unix { … }` block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixConfig {
    /// Read the executable's path and digest (`unix:path`, `unix:sha256`). SPIRE's `unix`
    /// plugin has the same switch, off by default there; on here, because policies on the
    /// executable are one of the things attestor is for.
    pub discover_workload_path: bool,
    /// Largest executable hashed, in bytes: `0` = no limit, negative = never hash.
    pub workload_size_limit: i64,
    /// The user database consulted for user names.
    pub passwd_file: PathBuf,
    /// The group database consulted for group names.
    pub group_file: PathBuf,
}

impl Default for UnixConfig {
    fn default() -> Self {
        Self {
            discover_workload_path: true,
            workload_size_limit: 1 << 30,
            passwd_file: PathBuf::from("/etc/passwd"),
            group_file: PathBuf::from("/etc/group"),
        }
    }
}

/// Read the unix facts of the process in `dir`. With `may_block` false, `None` when that would
/// mean hashing an executable whose digest is not cached.
pub(crate) fn gather(
    dir: &ProcDir,
    start_time: Option<u64>,
    config: &UnixConfig,
    hasher: &ExeHasher,
    users: &UserDb,
    may_block: bool,
) -> Result<Option<UnixFacts>, GatherError> {
    let status = dir.read("status")?;
    let ids = parse_status(&status).map_err(|problem| GatherError::Malformed { path: dir.path("status"), problem })?;
    let db = users.tables();
    let (exe_path, exe_sha256) = if config.discover_workload_path {
        let path = dir.read_link("exe")?;
        let digest = match &path {
            Some(p) if config.workload_size_limit >= 0 => {
                let limit = u64::try_from(config.workload_size_limit).unwrap_or(0);
                match hasher.digest(dir, p, limit, may_block)? {
                    Some(d) => Some(d),
                    None => return Ok(None),
                }
            }
            _ => None,
        };
        (path, digest)
    } else {
        (None, None)
    };
    Ok(Some(UnixFacts {
        pid: dir.pid(),
        start_time,
        uid: ids.uid,
        euid: ids.euid,
        gid: ids.gid,
        egid: ids.egid,
        user: db.user_name(ids.euid),
        group: db.group_name(ids.egid),
        supplementary_group_names: ids.groups.iter().filter_map(|g| Some((*g, db.group_name(*g)?))).collect(),
        supplementary_gids: ids.groups,
        exe_path,
        exe_sha256,
    }))
}

/// The selectors SPIRE's `unix` plugin emits for these facts, in its order: `uid`, `user`, `gid`,
/// `group`, then `supplementary_gid` / `supplementary_group` per group, then `path` and `sha256`.
pub fn unix_selectors(unix: &UnixFacts, config: &UnixConfig) -> Vec<Selector> {
    let Ok(kind) = SelectorKind::new("unix") else {
        return Vec::new();
    };
    let sel = |v: String| Selector::new(kind.clone(), v);
    let mut out = vec![sel(format!("uid:{}", unix.euid))];
    if let Some(user) = &unix.user {
        out.push(sel(format!("user:{user}")));
    }
    out.push(sel(format!("gid:{}", unix.egid)));
    if let Some(group) = &unix.group {
        out.push(sel(format!("group:{group}")));
    }
    for gid in &unix.supplementary_gids {
        out.push(sel(format!("supplementary_gid:{gid}")));
        if let Some(name) = unix.supplementary_group_names.get(gid) {
            out.push(sel(format!("supplementary_group:{name}")));
        }
    }
    if config.discover_workload_path {
        if let Some(path) = &unix.exe_path {
            out.push(sel(format!("path:{}", path.display())));
        }
        if let Some(digest) = &unix.exe_sha256 {
            out.push(sel(format!("sha256:{digest}")));
        }
    }
    out
}

/// Ids from `/proc/<pid>/status`.
#[derive(Debug, PartialEq, Eq)]
struct StatusIds {
    uid: Uid,
    euid: Uid,
    gid: Gid,
    egid: Gid,
    groups: Vec<Gid>,
}

fn parse_status(status: &str) -> Result<StatusIds, String> {
    let mut uids = None;
    let mut gids = None;
    let mut groups = Vec::new();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Uid" => uids = Some(parse_ids(value).ok_or("malformed Uid line")?),
            "Gid" => gids = Some(parse_ids(value).ok_or("malformed Gid line")?),
            "Groups" => {
                groups = value
                    .split_ascii_whitespace()
                    .map(|g| g.parse().map(Gid))
                    .collect::<Result<_, _>>()
                    .map_err(|_| "malformed Groups line")?;
            }
            _ => {}
        }
    }
    let (uid, euid) = uids.ok_or("no Uid line")?;
    let (gid, egid) = gids.ok_or("no Gid line")?;
    Ok(StatusIds { uid: Uid(uid), euid: Uid(euid), gid: Gid(gid), egid: Gid(egid), groups })
}

/// Real and effective id from `real effective saved filesystem`.
fn parse_ids(value: &str) -> Option<(u32, u32)> {
    let mut it = value.split_ascii_whitespace().map(str::parse::<u32>);
    let real = it.next()?.ok()?;
    let effective = it.next()?.ok()?;
    Some((real, effective))
}

#[cfg(test)]
mod tests;
