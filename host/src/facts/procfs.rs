//! Reading one process's directory under a proc root, telling "never existed" from "went away".

use std::io;
use std::path::{Path, PathBuf};

use super::GatherError;
use crate::workload::Pid;

/// `ESRCH`: what procfs returns for files of a process that exited after the file was opened.
const ESRCH: i32 = 3;

/// `statfs(2)` type of procfs.
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// `<proc_root>/<pid>`.
#[derive(Debug)]
pub(crate) struct ProcDir {
    pid: Pid,
    dir: PathBuf,
    /// The proc root is the kernel's procfs, not a directory of recorded files. On a live
    /// procfs every process has every file, so a missing one means the process went away; a
    /// recorded proc root (the offline demo, a test's fixture) may hold only the files the
    /// design names (`cgroup`, `mountinfo`, `status`).
    live: bool,
}

impl ProcDir {
    /// The process directory; `live` says whether `proc_root` is a procfs (see [`is_procfs`]).
    /// Under a recorded proc root the directory must exist; on procfs the first read (of `stat`,
    /// by [`ProcDir::start_time`]) finds out, which spares a `stat` call per attestation.
    pub(crate) fn open(proc_root: &Path, pid: Pid, live: bool) -> Result<Self, GatherError> {
        let dir = proc_root.join(pid.0.to_string());
        if live {
            return Ok(Self { pid, dir, live });
        }
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Self { pid, dir, live }),
            Ok(_) => Err(GatherError::NoSuchProcess { pid, dir }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(GatherError::NoSuchProcess { pid, dir }),
            Err(source) => Err(GatherError::Read { path: dir, source }),
        }
    }

    /// The PID.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Path of a file in the process directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Read a whole file.
    pub(crate) fn read(&self, name: &str) -> Result<String, GatherError> {
        let path = self.path(name);
        read_file(&path).map_err(|e| self.classify(path, e))
    }

    /// Read a symbolic link; `None` when the link is absent while the process still exists
    /// (kernel threads and zombies have no `exe`).
    pub(crate) fn read_link(&self, name: &str) -> Result<Option<PathBuf>, GatherError> {
        let path = self.path(name);
        match std::fs::read_link(&path) {
            Ok(target) => Ok(Some(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.dir.is_dir() => Ok(None),
            Err(e) => Err(self.classify(path, e)),
        }
    }

    /// Map an I/O error on a file of this process to "it went away" or "cannot read".
    pub(crate) fn classify(&self, path: PathBuf, e: io::Error) -> GatherError {
        if e.kind() == io::ErrorKind::NotFound && !self.live && self.dir.is_dir() {
            GatherError::NotRecorded { path }
        } else if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ESRCH) {
            GatherError::Vanished { pid: self.pid }
        } else {
            GatherError::Read { path, source: e }
        }
    }

    /// Field 22 of `stat`: start time in clock ticks since boot. `None` only for a recorded proc
    /// root without `stat`; a live procfs must have it. The first read of an attestation: on
    /// procfs, a process that is not there was never seen, so it is "no such process".
    pub(crate) fn start_time(&self) -> Result<Option<u64>, GatherError> {
        match self.read_start_time() {
            Err(GatherError::Vanished { pid }) if self.live => {
                Err(GatherError::NoSuchProcess { pid, dir: self.dir.clone() })
            }
            other => other,
        }
    }

    fn read_start_time(&self) -> Result<Option<u64>, GatherError> {
        let stat = match self.read("stat") {
            Ok(stat) => stat,
            Err(GatherError::NotRecorded { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        parse_start_time(&stat).map(Some).ok_or_else(|| GatherError::Malformed {
            path: self.path("stat"),
            problem: "no start time in field 22".into(),
        })
    }

    /// Fail unless the process still exists with the same start time. Without a start time (a
    /// recorded proc root) there is no reuse to detect, only a directory that must still be there.
    pub(crate) fn confirm_start_time(&self, before: Option<u64>) -> Result<(), GatherError> {
        match (before, self.read_start_time()?) {
            (Some(before), Some(after)) if before != after => {
                Err(GatherError::PidReused { pid: self.pid, before, after })
            }
            (Some(_), None) => Err(GatherError::Vanished { pid: self.pid }),
            _ => Ok(()),
        }
    }
}

/// Read a whole file (a small procfs file: `status`, `stat`, `cgroup`, `mountinfo`) as text.
///
/// Plain `read` calls into a 4 KiB stack buffer until end of file: two system calls for the
/// usual file. `std::fs::read_to_string` first asks for the size (`statx`, which procfs answers
/// with 0) and then grows its buffer from 32-byte probe reads: `strace -c` on the plugin counted
/// 26 `read` and 8 `statx` calls per attestation before this, 8 and 4 after.
pub(crate) fn read_file(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut chunk = [0_u8; 4096];
    let mut text = Vec::new();
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Whether `proc_root` is a mounted procfs. When `statfs` fails the answer is yes, so the
/// stricter rules apply.
pub(crate) fn is_procfs(proc_root: &Path) -> bool {
    rustix::fs::statfs(proc_root).map_or(true, |fs| u64::try_from(fs.f_type).ok() == Some(PROC_SUPER_MAGIC))
}

/// The command name (field 2) is in parentheses and may itself contain spaces and `)`, so fields
/// are counted from the last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the command; field 22 is 19 further on.
    after_comm.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests;
