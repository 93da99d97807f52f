//! Reading one process's directory under a proc root, telling "never existed" from "went away".

use std::io;
use std::path::{Path, PathBuf};

use super::GatherError;
use crate::workload::Pid;

/// `ESRCH`: what procfs returns for files of a process that exited after the file was opened.
const ESRCH: i32 = 3;

/// `<proc_root>/<pid>`.
#[derive(Debug)]
pub(crate) struct ProcDir {
    pid: Pid,
    dir: PathBuf,
}

impl ProcDir {
    /// Check that the process directory exists.
    pub(crate) fn open(proc_root: &Path, pid: Pid) -> Result<Self, GatherError> {
        let dir = proc_root.join(pid.0.to_string());
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Self { pid, dir }),
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
        std::fs::read_to_string(&path).map_err(|e| self.classify(path, e))
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
        if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ESRCH) {
            GatherError::Vanished { pid: self.pid }
        } else {
            GatherError::Read { path, source: e }
        }
    }

    /// Field 22 of `stat`: start time in clock ticks since boot.
    pub(crate) fn start_time(&self) -> Result<u64, GatherError> {
        let stat = self.read("stat")?;
        parse_start_time(&stat).ok_or_else(|| GatherError::Malformed {
            path: self.path("stat"),
            problem: "no start time in field 22".into(),
        })
    }

    /// Fail unless the process still exists with the same start time.
    pub(crate) fn confirm_start_time(&self, before: u64) -> Result<(), GatherError> {
        let after = self.start_time()?;
        if after == before { Ok(()) } else { Err(GatherError::PidReused { pid: self.pid, before, after }) }
    }
}

/// The command name (field 2) is in parentheses and may itself contain spaces and `)`, so fields
/// are counted from the last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the command; field 22 is 19 further on.
    after_comm.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("1 (x) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn missing_process_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let err = ProcDir::open(tmp.path(), Pid(42)).unwrap_err();
        assert!(matches!(err, GatherError::NoSuchProcess { .. }), "{err}");
        assert!(err.to_string().starts_with("no process 42: "), "{err}");
    }

    #[test]
    fn a_changed_start_time_is_pid_reuse() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("9");
        std::fs::create_dir(&dir).unwrap();
        let stat = |start: u64| format!("9 (x) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 1 1\n");
        std::fs::write(dir.join("stat"), stat(100)).unwrap();
        let p = ProcDir::open(tmp.path(), Pid(9)).unwrap();
        let before = p.start_time().unwrap();
        assert_eq!(before, 100);
        assert!(p.confirm_start_time(before).is_ok());
        std::fs::write(dir.join("stat"), stat(200)).unwrap();
        let err = p.confirm_start_time(before).unwrap_err();
        assert_eq!(
            err.to_string(),
            "process 9 was replaced by another process with the same PID while its facts were being read (start time 100 became 200)"
        );
        std::fs::remove_file(dir.join("stat")).unwrap();
        assert_eq!(
            p.confirm_start_time(before).unwrap_err().to_string(),
            "process 9 exited while its facts were being read"
        );
    }
}
