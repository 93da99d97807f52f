//! Reading one process's directory under a proc root, telling "never existed" from "went away".

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

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
    /// On procfs: the process's directory, held open, and every file read relative to it. The
    /// descriptor pins the process it was opened for: if that process exits and its PID is
    /// reused, reads through it fail instead of reading the newcomer, so every fact comes from
    /// one process. `None` under a recorded proc root (the offline demo, a test's fixture),
    /// which may hold only the files the design names (`cgroup`, `mountinfo`, `status`), and
    /// where a changed start time in `stat` stands for PID reuse.
    fd: Option<OwnedFd>,
}

/// The identity of one version of a file (for executable digests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileVersion {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) ctime_ns: i128,
}

impl FileVersion {
    fn of_stat(st: &rustix::fs::Stat) -> Self {
        // The field types differ between targets (signed or not): every one fits an i128.
        let ns = |secs: i128, nanos: i128| secs * 1_000_000_000 + nanos;
        Self {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: ns(i128::from(st.st_mtime), i128::from(st.st_mtime_nsec)),
            ctime_ns: ns(i128::from(st.st_ctime), i128::from(st.st_ctime_nsec)),
        }
    }

    /// The version of an open file.
    pub(crate) fn of_file(file: &std::fs::File) -> io::Result<Self> {
        Ok(Self::of_stat(&rustix::fs::fstat(file)?))
    }
}

impl ProcDir {
    /// The process directory; `live` says whether `proc_root` is a procfs (see [`is_procfs`]).
    pub(crate) fn open(proc_root: &Path, pid: Pid, live: bool) -> Result<Self, GatherError> {
        let dir = proc_root.join(pid.0.to_string());
        if live {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            return match rustix::fs::open(&dir, flags, Mode::empty()) {
                Ok(fd) => Ok(Self { pid, dir, fd: Some(fd) }),
                Err(Errno::NOENT) => Err(GatherError::NoSuchProcess { pid, dir }),
                Err(e) => Err(GatherError::Read { path: dir, source: e.into() }),
            };
        }
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Self { pid, dir, fd: None }),
            Ok(_) => Err(GatherError::NoSuchProcess { pid, dir }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(GatherError::NoSuchProcess { pid, dir }),
            Err(source) => Err(GatherError::Read { path: dir, source }),
        }
    }

    /// The PID.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Path of a file in the process directory (for messages, and reads under a recorded root).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Open a file of the process.
    pub(crate) fn open_file(&self, name: &str) -> io::Result<std::fs::File> {
        match &self.fd {
            Some(fd) => Ok(rustix::fs::openat(fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?.into()),
            None => std::fs::File::open(self.path(name)),
        }
    }

    /// Read a whole file that procfs renders in one pass (`stat`, `status`, `cgroup`).
    pub(crate) fn read(&self, name: &str) -> Result<String, GatherError> {
        self.read_io(name, true).map_err(|e| self.classify(self.path(name), e))
    }

    /// Read a whole file; `one_record`: procfs renders it in one pass (not `mountinfo`, whose
    /// reads stop at record boundaries). The I/O error as it came.
    pub(crate) fn read_io(&self, name: &str, one_record: bool) -> io::Result<String> {
        read_from(self.open_file(name)?, one_record && self.fd.is_some())
    }

    /// The version of a file the process points to (`exe`), following the link.
    pub(crate) fn version(&self, name: &str) -> io::Result<FileVersion> {
        match &self.fd {
            Some(fd) => Ok(FileVersion::of_stat(&rustix::fs::statat(fd, name, AtFlags::empty())?)),
            None => FileVersion::of_file(&std::fs::File::open(self.path(name))?),
        }
    }

    /// Read a symbolic link; `None` when the link is absent while the process still exists
    /// (kernel threads and zombies have no `exe`).
    pub(crate) fn read_link(&self, name: &str) -> Result<Option<PathBuf>, GatherError> {
        let target = match &self.fd {
            Some(fd) => rustix::fs::readlinkat(fd, name, Vec::new())
                .map(|t| PathBuf::from(std::ffi::OsString::from_vec(t.into_bytes())))
                .map_err(io::Error::from),
            None => std::fs::read_link(self.path(name)),
        };
        match target {
            Ok(target) => Ok(Some(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.alive() => Ok(None),
            Err(e) => Err(self.classify(self.path(name), e)),
        }
    }

    /// Whether the process (procfs) or its directory (a recorded root) is still there.
    fn alive(&self) -> bool {
        match &self.fd {
            Some(fd) => rustix::fs::statat(fd, "stat", AtFlags::empty()).is_ok(),
            None => self.dir.is_dir(),
        }
    }

    /// Map an I/O error on a file of this process to "it went away" or "cannot read".
    pub(crate) fn classify(&self, path: PathBuf, e: io::Error) -> GatherError {
        if e.kind() == io::ErrorKind::NotFound && self.fd.is_none() && self.dir.is_dir() {
            GatherError::NotRecorded { path }
        } else if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ESRCH) {
            GatherError::Vanished { pid: self.pid }
        } else {
            GatherError::Read { path, source: e }
        }
    }

    /// Field 22 of `stat`: start time in clock ticks since boot. `None` only for a recorded proc
    /// root without `stat`; a live procfs must have it.
    pub(crate) fn start_time(&self) -> Result<Option<u64>, GatherError> {
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

    /// Fail unless the process is still there, after the last source (the kubelet lookup). On
    /// procfs every fact came through the pinned directory, so the process is the one that held
    /// the PID at the first read, and a `statx` says whether it is still alive. Under a recorded
    /// root, a start time that changed stands for PID reuse; without one there is only a
    /// directory that must still be there.
    pub(crate) fn confirm_start_time(&self, before: Option<u64>) -> Result<(), GatherError> {
        if self.fd.is_some() {
            return if self.alive() { Ok(()) } else { Err(GatherError::Vanished { pid: self.pid }) };
        }
        match (before, self.start_time()?) {
            (Some(before), Some(after)) if before != after => {
                Err(GatherError::PidReused { pid: self.pid, before, after })
            }
            (Some(_), None) => Err(GatherError::Vanished { pid: self.pid }),
            _ => Ok(()),
        }
    }
}

/// Read an open file to its end as text: plain `read` calls into a 4 KiB stack buffer.
/// `std::fs::read_to_string` first asks for the size (`statx`, which procfs answers with 0) and
/// then grows its buffer from 32-byte probe reads: `strace -c` on the plugin counted 26 `read`
/// and 8 `statx` calls per attestation before this, 8 and 4 after. With `one_record` (a procfs
/// file the kernel renders in one pass: `stat`, `status`, `cgroup`), a read that does not fill
/// the buffer returned the whole file, and the read that would return 0 is skipped.
fn read_from(mut file: std::fs::File, one_record: bool) -> io::Result<String> {
    use std::io::Read;
    let mut chunk = [0_u8; 4096];
    let mut text = Vec::new();
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                text.extend_from_slice(&chunk[..n]);
                if one_record && n < chunk.len() && text.len() == n {
                    break;
                }
            }
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
