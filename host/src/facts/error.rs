//! Why facts about a process could not be gathered.

use std::path::PathBuf;

use crate::fault::Fault;
use crate::workload::Pid;

/// A gathering failure. Each variant says whose fault it is: the caller's (a PID that does not
/// exist), the process's (it went away or was replaced), or the host's (unreadable or
/// unexpected kernel data).
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// Caller: there is no such process under the proc root.
    #[error("no process {pid}: {dir} does not exist")]
    NoSuchProcess {
        /// The PID asked for.
        pid: Pid,
        /// The directory that was looked for.
        dir: PathBuf,
    },
    /// Process: it exited while its facts were being read.
    #[error("process {pid} exited while its facts were being read")]
    Vanished {
        /// The PID.
        pid: Pid,
    },
    /// Process: the PID was reused by another process while its facts were being read.
    #[error(
        "process {pid} was replaced by another process with the same PID while its facts were being read (start time {before} became {after})"
    )]
    PidReused {
        /// The PID.
        pid: Pid,
        /// Start time read first.
        before: u64,
        /// Start time read last.
        after: u64,
    },
    /// Caller: a recorded proc root (a directory, not procfs) lacks a file attestation needs.
    #[error(
        "{path} does not exist: a recorded proc root needs `<pid>/status` (and `<pid>/cgroup` for Kubernetes facts)"
    )]
    NotRecorded {
        /// The missing file.
        path: PathBuf,
    },
    /// Host: a file could not be read (permissions, I/O).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Host: the kernel's data did not have the expected shape.
    #[error("{path}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        problem: String,
    },
    /// The Kubernetes source failed (kubelet, cgroups, API server).
    #[error(transparent)]
    Kubernetes(#[from] super::kubernetes::K8sError),
    /// The container's image did not verify under the `sigstore` block (SPIRE's message).
    #[error(transparent)]
    Sigstore(#[from] super::sigstore::SigstoreError),
    /// Config: the executable is larger than the configured limit.
    #[error(
        "executable {path} is {size} bytes, over unix.workload_size_limit ({limit} bytes); raise the limit, or set it to -1 to skip hashing"
    )]
    ExeTooLarge {
        /// The executable's path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
}

impl GatherError {
    /// Who must act for this to go away.
    pub fn fault(&self) -> Fault {
        match self {
            Self::NoSuchProcess { .. } | Self::Vanished { .. } | Self::PidReused { .. } => Fault::Workload,
            Self::NotRecorded { .. } | Self::ExeTooLarge { .. } => Fault::Config,
            Self::Read { .. } | Self::Malformed { .. } => Fault::Host,
            Self::Kubernetes(k) => k.fault(),
            Self::Sigstore(s) => s.fault(),
        }
    }
}
