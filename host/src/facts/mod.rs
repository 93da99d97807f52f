//! Gather: read what the system knows about a process into a [`Workload`].
//!
//! Invariant: gathering only reads. Every source reads the same PID under the same `--proc-root`,
//! and the process's start time is read first and last, so facts read from two different
//! processes that shared a PID are refused rather than mixed.

mod error;
mod exe_hash;
mod procfs;
mod unix;
mod userdb;

use std::path::{Path, PathBuf};

pub use error::GatherError;
pub use unix::{UnixConfig, unix_selectors};

use crate::workload::{FactKey, Pid, Workload};
use exe_hash::ExeHasher;
use procfs::ProcDir;

/// Reads facts about processes. One per configuration; cheap to share.
#[derive(Debug)]
pub struct Gatherer {
    proc_root: PathBuf,
    unix: UnixConfig,
    hasher: ExeHasher,
}

impl Gatherer {
    /// A gatherer reading `<proc_root>/<pid>/…`.
    pub fn new(proc_root: impl Into<PathBuf>, unix: UnixConfig) -> Self {
        Self { proc_root: proc_root.into(), unix, hasher: ExeHasher::default() }
    }

    /// Where process directories are read from.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// Gather every fact about `pid` and the selectors the facts imply.
    ///
    /// Blocking: reads procfs and may hash an executable. Call it off the async executor.
    pub fn gather(&self, pid: Pid) -> Result<Workload, GatherError> {
        let dir = ProcDir::open(&self.proc_root, pid)?;
        let start_time = dir.start_time()?;
        let unix = unix::gather(&dir, start_time, &self.unix, &self.hasher)?;
        let mut workload = Workload::new(unix);
        if let Some(name) = host_name(&self.proc_root)
            && let Ok(key) = FactKey::new("host.name")
        {
            workload.facts.insert(key, name);
        }
        workload.selectors.extend(unix_selectors(&workload.unix, &self.unix));
        // Read last: a different start time means the PID now names another process, and the
        // facts above may describe either one.
        dir.confirm_start_time(start_time)?;
        Ok(workload)
    }
}

/// The host's name, from the kernel (the UTS namespace of whoever reads it).
fn host_name(proc_root: &Path) -> Option<String> {
    let name = std::fs::read_to_string(proc_root.join("sys/kernel/hostname")).ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
