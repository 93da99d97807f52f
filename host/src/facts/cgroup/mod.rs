//! Locating a process's pod and container from its cgroups, as SPIRE's `k8s` attestor does.
//!
//! Two locators exist, chosen by `use_new_container_locator` (default on): the default one
//! (`extract`) walks each cgroup path for a 64-hex container id and a `pod<uid>` segment and
//! combines entries with SPIRE's exact rules, falling back to `mountinfo` only when the cgroup
//! file names no container (mountinfo is under the workload's control, so it never overrides);
//! the legacy one (`legacy`) keeps SPIRE's older pair of patterns.

mod entries;
mod extract;
mod legacy;

use std::io;

use super::procfs::ProcDir;

use crate::workload::{ContainerId, PodUid};

pub use entries::{cgroup_paths, mountinfo_cgroup_roots};

/// What the cgroups say about a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The pod, when the path names one.
    pub pod_uid: Option<PodUid>,
    /// The container; `None` means "not a container workload".
    pub container_id: Option<ContainerId>,
}

/// Why a process could not be located. The message texts are SPIRE's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// Host: the cgroup file is unreadable or malformed (SPIRE: `Internal`).
    #[error("unable to obtain cgroups: {0}")]
    Cgroups(String),
    /// Host: mountinfo is malformed (SPIRE: `Internal`).
    #[error("failed to parse mount info at {path}: {problem}")]
    MountInfo {
        /// The mountinfo file.
        path: String,
        /// What was wrong.
        problem: String,
    },
    /// Workload: two different pod UIDs (SPIRE: `FailedPrecondition`).
    #[error("multiple pod UIDs found ({0:?}, {1:?})")]
    MultiplePods(String, String),
    /// Workload: two different container ids (SPIRE: `FailedPrecondition`).
    #[error("multiple container IDs found ({0:?}, {1:?})")]
    MultipleContainers(String, String),
    /// Workload, legacy locator: two different container ids.
    #[error("multiple container IDs found in cgroups ({0}, {1})")]
    LegacyMultipleContainers(String, String),
    /// Workload, legacy locator: one container id, two pod UIDs.
    #[error("multiple pod UIDs found in cgroups ({0}, {1})")]
    LegacyMultiplePods(String, String),
}

impl LocateError {
    /// SPIRE's status code for this error.
    pub fn is_precondition(&self) -> bool {
        !matches!(self, Self::Cgroups(_) | Self::MountInfo { .. })
    }
}

/// Locate the process in `dir`.
pub(crate) fn locate(dir: &ProcDir, legacy: bool) -> Result<Location, LocateError> {
    let text = match dir.read_io("cgroup", true) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !legacy => None,
        Err(e) => return Err(LocateError::Cgroups(format!("open {}: {e}", dir.path("cgroup").display()))),
    };
    let from_cgroups = locate_in_cgroups(text.as_deref(), legacy)?;
    if legacy || from_cgroups.container_id.is_some() {
        return Ok(from_cgroups);
    }
    let mountinfo_path = dir.path("mountinfo").display().to_string();
    match dir.read_io("mountinfo", false) {
        Ok(t) => locate_in_mountinfo(&t, &mountinfo_path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(from_cgroups),
        Err(e) => Err(LocateError::MountInfo { path: mountinfo_path, problem: e.to_string() }),
    }
}

/// The location a cgroup file's text names (`None`: no cgroup file), with SPIRE's default
/// locator or, with `legacy`, its legacy one.
pub fn locate_in_cgroups(text: Option<&str>, legacy: bool) -> Result<Location, LocateError> {
    if legacy {
        return legacy::locate(&cgroup_paths(text.unwrap_or_default())?);
    }
    match text {
        Some(t) => extract::combine(&cgroup_paths(t)?),
        None => Ok(Location::default()),
    }
}

/// The location a mountinfo file's cgroup mounts name; `path` names the file in errors.
pub fn locate_in_mountinfo(text: &str, path: &str) -> Result<Location, LocateError> {
    let roots =
        mountinfo_cgroup_roots(text).map_err(|problem| LocateError::MountInfo { path: path.to_owned(), problem })?;
    extract::combine(&roots)
}
