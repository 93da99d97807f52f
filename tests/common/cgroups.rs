//! Real Kubernetes-shaped cgroups (v1 and v2) with a real process in them, for tests and
//! benchmarks that attest through the real `/proc`.

use std::path::PathBuf;

/// The pod these cgroups belong to.
pub const POD_UID: &str = "7e57c0de-0000-4000-8000-000000000001";

/// The container's id (64 hex digits, as containerd's).
pub fn container_id() -> String {
    format!("{:064x}", 0xc0ffee)
}

/// A cgroup hierarchy of one kind, from `/proc/self/mountinfo`.
pub struct Hierarchy {
    pub root: PathBuf,
    pub v2: bool,
}

/// The mount point of the first cgroup hierarchy of the wanted version (v1: one with the
/// `pids` controller if there is one).
pub fn find(v2: bool) -> Result<Hierarchy, String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("no mountinfo: {e}"))?;
    let mut candidates = Vec::new();
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mut right = right.split_whitespace();
        let fstype = right.next().unwrap_or_default();
        let options = right.nth(1).unwrap_or_default();
        let point = left.split_whitespace().nth(4).unwrap_or_default();
        match (v2, fstype) {
            (true, "cgroup2") => candidates.push((0, point.to_owned())),
            (false, "cgroup") => {
                candidates.push((if options.split(',').any(|o| o == "pids") { 0 } else { 1 }, point.to_owned()));
            }
            _ => {}
        }
    }
    candidates.sort();
    let (_, point) = candidates
        .into_iter()
        .next()
        .ok_or_else(|| format!("no cgroup {} hierarchy is mounted", if v2 { "v2" } else { "v1" }))?;
    let root = PathBuf::from(point);
    // Writable for us (root) and able to take a process: try it.
    let probe = root.join(format!("attestor-probe-{}", std::process::id()));
    std::fs::create_dir(&probe)
        .map_err(|e| format!("cannot create a cgroup under {} ({e}): needs root", root.display()))?;
    let _ = std::fs::remove_dir(&probe);
    Ok(Hierarchy { root, v2 })
}

/// The pod's container cgroup, with a process in it; removed (process moved back out) on drop.
pub struct PodCgroup {
    hierarchy: PathBuf,
    created: Vec<PathBuf>,
    child: super::Sleeper,
}

impl PodCgroup {
    pub fn create(h: &Hierarchy) -> Result<Self, String> {
        Self::create_for(h, 60)
    }

    /// The same, with a process that lives `secs` seconds.
    pub fn create_for(h: &Hierarchy, secs: u64) -> Result<Self, String> {
        let cid = container_id();
        let segments: Vec<String> = if h.v2 {
            let uid = POD_UID.replace('-', "_");
            vec![
                "kubepods.slice".into(),
                "kubepods-besteffort.slice".into(),
                format!("kubepods-besteffort-pod{uid}.slice"),
                format!("cri-containerd-{cid}.scope"),
            ]
        } else {
            vec!["kubepods".into(), "besteffort".into(), format!("pod{POD_UID}"), cid]
        };
        let mut created = Vec::new();
        let mut dir = h.root.clone();
        for s in segments {
            dir.push(s);
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                created.push(dir.clone());
            }
        }
        let child = super::Sleeper::start_for(secs);
        let me = Self { hierarchy: h.root.clone(), created, child };
        std::fs::write(dir.join("cgroup.procs"), me.child.pid().to_string())
            .map_err(|e| format!("cannot move a process into {}: {e}", dir.display()))?;
        Ok(me)
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.hierarchy.join("cgroup.procs"), self.pid().to_string());
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
