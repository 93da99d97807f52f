//! What the kernel says about a process.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A process id in the host's PID namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A numeric user id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(pub u32);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A numeric group id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Gid(pub u32);

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The unix facts of a process.
///
/// Both the real and the effective ids are kept: SPIRE's `unix` selectors use the effective ones
/// (what the kernel checks access against), but a policy may care that a set-uid binary was
/// started by someone else.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnixFacts {
    /// The process id.
    pub pid: Pid,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): with the PID, it names
    /// one process, not whichever process holds the PID later. Absent when a recorded proc root
    /// has no `stat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// Real user id.
    pub uid: Uid,
    /// Effective user id.
    pub euid: Uid,
    /// Real group id.
    pub gid: Gid,
    /// Effective group id.
    pub egid: Gid,
    /// Supplementary group ids, in the kernel's order.
    #[serde(default)]
    pub supplementary_gids: Vec<Gid>,
    /// Name of the effective user, when the user database knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Name of the effective group, when the group database knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Names of the supplementary groups the group database knows.
    #[serde(default)]
    pub supplementary_group_names: BTreeMap<Gid, String>,
    /// Path of the executable as the kernel reports it (may end in ` (deleted)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_path: Option<PathBuf>,
    /// Lower-case hex SHA-256 of the executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe_sha256: Option<String>,
}
