//! Gather: read what the system knows about a process into a [`Workload`].
//!
//! Invariant: gathering only reads, and never mixes two processes that shared a PID. On procfs
//! every source reads through the process's directory, opened once and held: the descriptor pins
//! the process, so a PID reused meanwhile cannot be read through it, and after the last source
//! (the kubelet lookup included) one `statx` checks the process is still there. Under a recorded
//! proc root the start time is read first and again after the last source instead; a recorded
//! root may lack `stat`, and then the guard has nothing to compare.

pub mod cgroup;
mod error;
mod exe_hash;
pub mod kubernetes;
mod procfs;
pub mod sigstore;
mod unix;
pub(crate) mod userdb;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use error::GatherError;
pub use unix::{UnixConfig, unix_selectors};

use crate::selector::Selector;
use crate::workload::{FactKey, KubernetesFacts, Pid, Workload};
use cgroup::Location;
use exe_hash::ExeHasher;
use kubernetes::KubernetesSource;
use procfs::ProcDir;
use sigstore::{ImageVerifier, SigstoreAnswer};
use userdb::UserDb;

/// What the blocking half of gathering found: local facts, and where the process runs.
#[derive(Debug)]
pub struct LocalFacts {
    workload: Workload,
    dir: ProcDir,
    start_time: Option<u64>,
    location: Location,
}

impl LocalFacts {
    /// The facts gathered so far.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Where the cgroups say the process runs.
    pub fn location(&self) -> &Location {
        &self.location
    }
}

/// Reads facts about processes. One per configuration; shared by concurrent attestations.
#[derive(Debug)]
pub struct Gatherer {
    proc_root: PathBuf,
    unix: UnixConfig,
    hasher: ExeHasher,
    users: UserDb,
    kubernetes: Option<KubernetesSource>,
    /// The `sigstore` block's verifier: the found container's image, verified.
    sigstore: Option<Arc<ImageVerifier>>,
    /// Whether `proc_root` is a mounted procfs, looked up once (a `statfs` per attestation
    /// bought nothing: the mount does not change under a configuration).
    live: OnceLock<bool>,
}

impl Gatherer {
    /// A gatherer reading `<proc_root>/<pid>/…`, with the Kubernetes source when given.
    pub fn new(proc_root: impl Into<PathBuf>, unix: UnixConfig, kubernetes: Option<KubernetesSource>) -> Self {
        let users = UserDb::new(&unix.passwd_file, &unix.group_file);
        Self {
            proc_root: proc_root.into(),
            unix,
            hasher: ExeHasher::default(),
            users,
            kubernetes,
            sigstore: None,
            live: OnceLock::new(),
        }
    }

    /// The same gatherer, also verifying the image of every found container with `verifier`.
    pub fn with_sigstore(mut self, verifier: Option<Arc<ImageVerifier>>) -> Self {
        self.sigstore = verifier;
        self
    }

    /// The Sigstore verifier, when configured.
    pub fn sigstore(&self) -> Option<&Arc<ImageVerifier>> {
        self.sigstore.as_ref()
    }

    /// Where process directories are read from.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// The Kubernetes source, when configured.
    pub fn kubernetes(&self) -> Option<&KubernetesSource> {
        self.kubernetes.as_ref()
    }

    /// The blocking half: procfs facts and the process's cgroup location. Call it off the async
    /// executor; then [`Gatherer::finish`].
    pub fn gather_local(&self, pid: Pid) -> Result<LocalFacts, GatherError> {
        // With `may_block`, every digest is computed, so there is always an answer.
        self.local(pid, true)?.ok_or(GatherError::Vanished { pid })
    }

    /// The same, but only when nothing in it can block for long: `None` when the executable's
    /// digest is not cached (hashing reads the whole file), so the caller moves to the blocking
    /// pool and calls [`Gatherer::gather_local`]. Everything else it does is reading small
    /// procfs files, which the kernel answers from memory.
    pub fn gather_local_now(&self, pid: Pid) -> Result<Option<LocalFacts>, GatherError> {
        self.local(pid, false)
    }

    fn local(&self, pid: Pid, may_block: bool) -> Result<Option<LocalFacts>, GatherError> {
        let live = *self.live.get_or_init(|| procfs::is_procfs(&self.proc_root));
        let dir = ProcDir::open(&self.proc_root, pid, live)?;
        let start_time = dir.start_time()?;
        let Some(unix) = unix::gather(&dir, start_time, &self.unix, &self.hasher, &self.users, may_block)? else {
            return Ok(None);
        };
        let mut workload = Workload::new(unix);
        if let Some(name) = host_name(&self.proc_root, live)
            && let Ok(key) = FactKey::new("host.name")
        {
            workload.facts.insert(key, name);
        }
        workload.selectors.extend(unix_selectors(&workload.unix, &self.unix));
        let location = match &self.kubernetes {
            Some(k) => k.locate(&dir)?,
            None => Location::default(),
        };
        Ok(Some(LocalFacts { workload, dir, start_time, location }))
    }

    /// Finish without waiting when possible: no Kubernetes lookup is needed, or the cached pod
    /// list answers it. `Err(local)` hands the facts back for [`Gatherer::finish`].
    pub fn finish_now(&self, local: LocalFacts) -> Result<Result<Workload, LocalFacts>, GatherError> {
        let answer = match (&self.kubernetes, &local.location.container_id) {
            (Some(k), Some(_)) => match k.facts_cached(&local.location) {
                Some(answer) => answer?,
                None => return Ok(Err(local)),
            },
            _ => None,
        };
        let signed = match (&self.sigstore, &answer) {
            (Some(verifier), Some((facts, _))) => match image_of(facts) {
                Some((image, container)) => match verifier.answer_now(image, container) {
                    Some(signed) => Some(signed?),
                    None => return Ok(Err(local)),
                },
                None => None,
            },
            _ => None,
        };
        let LocalFacts { mut workload, dir, start_time, .. } = local;
        if let Some((facts, selectors)) = answer {
            add_kubernetes(&mut workload, facts, selectors, signed);
        }
        dir.confirm_start_time(start_time)?;
        Ok(Ok(workload))
    }

    /// The async half: Kubernetes facts for a container process, then the PID-reuse check.
    pub async fn finish(&self, local: LocalFacts) -> Result<Workload, GatherError> {
        let LocalFacts { mut workload, dir, start_time, location } = local;
        if let Some(k) = &self.kubernetes
            && let Some((facts, selectors)) = k.facts(&location).await?
        {
            let signed = match (&self.sigstore, image_of(&facts)) {
                (Some(verifier), Some((image, container))) => Some(verifier.answer(image, container).await?),
                _ => None,
            };
            add_kubernetes(&mut workload, facts, selectors, signed);
        }
        // Read last: a different start time means the PID now names another process, and the
        // facts above may describe either one.
        dir.confirm_start_time(start_time)?;
        Ok(workload)
    }

    /// Both halves in one call. Blocks the calling thread for the procfs part.
    pub async fn gather(&self, pid: Pid) -> Result<Workload, GatherError> {
        let local = self.gather_local(pid)?;
        self.finish(local).await
    }
}

/// The found container's `imageID` and id: what Sigstore verifies (SPIRE verifies only a found
/// container's image, never on the pod-only path).
fn image_of(facts: &KubernetesFacts) -> Option<(&str, &crate::workload::ContainerId)> {
    facts.container.as_ref().map(|c| (c.image.id.as_str(), &c.id))
}

/// Kubernetes facts and selectors, with the image's Sigstore facts and selectors when verified.
fn add_kubernetes(
    workload: &mut Workload,
    mut facts: KubernetesFacts,
    selectors: Vec<Selector>,
    signed: Option<SigstoreAnswer>,
) {
    workload.selectors.extend(selectors);
    if let Some(signed) = signed {
        workload.selectors.extend(kubernetes::k8s_selectors(signed.selectors));
        if let Some(container) = facts.container.as_mut() {
            container.image.sigstore = signed.facts;
        }
    }
    workload.kubernetes = Some(facts);
}

/// The host's name, from the kernel (the UTS namespace of whoever reads it): `uname(2)` on a
/// live procfs (one system call where opening and reading `sys/kernel/hostname` took four),
/// the recorded file under a recorded proc root.
fn host_name(proc_root: &Path, live: bool) -> Option<String> {
    let name = if live {
        rustix::system::uname().nodename().to_string_lossy().into_owned()
    } else {
        std::fs::read_to_string(proc_root.join("sys/kernel/hostname")).ok()?
    };
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
