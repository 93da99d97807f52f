//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cgroups;
pub mod kubelet;
pub mod plugin;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

/// Where `cargo xtask guests` put the guest components. Tests that need them fail (never skip)
/// when they are missing: a suite that silently skips its Wasm tests proves nothing.
pub fn guests_dir() -> PathBuf {
    let dir = match std::env::var_os("ATTESTOR_GUESTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("../guests"),
    };
    assert!(
        dir.join("team-owner.wasm").exists(),
        "guest components not found in {}: run `cargo xtask guests` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

/// A guest component by name (`team-owner`, `hostile-spin`…).
pub fn guest(name: &str) -> PathBuf {
    guests_dir().join(format!("{name}.wasm"))
}

/// The core module a guest was built from (before componentization).
pub fn core_module(name: &str) -> PathBuf {
    guests_dir().join("../guests-build/wasm32-unknown-unknown/release").join(format!("{}.wasm", name.replace('-', "_")))
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))))
}

/// A child process that is killed when dropped.
pub struct Sleeper(pub Child);

impl Sleeper {
    pub fn start() -> Self {
        Self::start_for(60)
    }

    /// A sleeper that lives `secs` seconds (benchmarks that run for minutes).
    pub fn start_for(secs: u64) -> Self {
        Self(Command::new("sleep").arg(secs.to_string()).stdin(Stdio::null()).spawn().expect("start sleep"))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The child's executable, as the kernel reports it.
    pub fn exe(&self) -> PathBuf {
        // The exec may still be in progress right after spawn; wait until the image is sleep's.
        for _ in 0..200 {
            if let Ok(p) = std::fs::read_link(format!("/proc/{}/exe", self.pid()))
                && p.file_name().is_some_and(|n| n.to_string_lossy().contains("sleep"))
            {
                return p;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("child never became sleep")
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Effective uid of this process (children inherit it).
pub fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("Uid line")
}

/// The user name /etc/passwd gives `uid`, if any.
pub fn user_name(uid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/passwd").ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_owned())
    })
}

/// A fake procfs tree for one process: `stat` (start time `start`), optional `status`, `exe`
/// symlink and `cgroup` file, and the host name.
pub fn fake_proc(root: &Path, pid: u32, start: u64, status: Option<&str>, exe: Option<&Path>, cgroup: Option<&str>) {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("stat"),
        format!("{pid} (my (odd) name) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 10\n"),
    )
    .unwrap();
    if let Some(s) = status {
        std::fs::write(dir.join("status"), s).unwrap();
    }
    if let Some(target) = exe {
        let link = dir.join("exe");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, link).unwrap();
    }
    if let Some(c) = cgroup {
        std::fs::write(dir.join("cgroup"), c).unwrap();
    }
    std::fs::create_dir_all(root.join("sys/kernel")).unwrap();
    std::fs::write(root.join("sys/kernel/hostname"), "fake-node\n").unwrap();
}

/// A `status` file for uid/gid 1000.
pub const STATUS_1000: &str = "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t\n";
