//! Unit-test a module natively with plain `cargo test`, no Wasm involved.
//!
//! - [`workload()`] starts a [`WorkloadBuilder`]: a [`Workload`] as the host would pass it, with
//!   plausible defaults, so a test names only the facts it is about.
//! - [`attest`] runs a [`Module`] the way the host does: `validate_config` (at load), then
//!   `attest` (per call).
//! - [`take_logs`] returns what the module wrote with [`log`](crate::log) or the
//!   [`info!`](crate::info) / [`debug!`](crate::debug) / [`warn!`](crate::warn) macros.
//!
//! ```
//! use attestor_guest::testing::{self, LogLevel, LogLine};
//! use attestor_guest::{Attestation, Error, Module, Workload};
//!
//! /// Names the team from the pod's `team` label.
//! struct Team;
//!
//! impl Module for Team {
//!     const NAME: &'static str = "team";
//!     const VERSION: &'static str = "0.1.0";
//!     const DESCRIPTION: &'static str = "the owning team, from a pod label";
//!
//!     fn validate_config(config: &str) -> Result<(), Error> {
//!         if config.is_empty() { Ok(()) } else { Err(Error::config("takes no configuration")) }
//!     }
//!
//!     fn attest(_config: &str, workload: &Workload) -> Result<Attestation, Error> {
//!         let mut out = Attestation::new();
//!         match workload.label("team") {
//!             Some(team) => {
//!                 out.selector(team).fact("team", team);
//!             }
//!             None => attestor_guest::warn!("pid {} has no team label", workload.unix.pid),
//!         }
//!         Ok(out)
//!     }
//! }
//!
//! let labelled = testing::workload().pod("payments", "api-0").label("team", "payments").build();
//! let answer = testing::attest::<Team>("", &labelled).unwrap();
//! assert_eq!(answer.selectors(), ["payments"]);
//! assert_eq!(answer.get_fact("team"), Some("payments"));
//!
//! let host_process = testing::workload().pid(99).build();
//! assert!(testing::attest::<Team>("", &host_process).unwrap().selectors().is_empty());
//! assert_eq!(
//!     testing::take_logs(),
//!     [LogLine { level: LogLevel::Warn, message: "pid 99 has no team label".into() }]
//! );
//!
//! assert_eq!(
//!     testing::attest::<Team>("x", &labelled),
//!     Err(Error::config("takes no configuration"))
//! );
//! ```
//!
//! Everything here compiles for every target, so a module's tests need no `cfg` of their own;
//! only [`take_logs`] behaves differently in Wasm (see there).

use crate::{
    Attestation, Container, Error, Fact, ImageRef, Kubernetes, Label, Module, OwnerReference, Pod, Unix, Workload,
};

#[cfg(test)]
mod tests;

/// The pid of [`WorkloadBuilder::new`]'s process.
pub const DEFAULT_PID: u32 = 4242;

/// The uid, euid, gid and egid of [`WorkloadBuilder::new`]'s process.
pub const DEFAULT_ID: u32 = 1000;

/// The uid of a pod the builder creates, until [`WorkloadBuilder::pod_uid`] sets another.
pub const DEFAULT_POD_UID: &str = "00000000-0000-0000-0000-000000000001";

/// The runtime id of a container the builder creates, until [`WorkloadBuilder::container_id`]
/// sets another (64 hex characters, as the host reports container ids).
pub const DEFAULT_CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The uid [`WorkloadBuilder::owner`] gives the pod's `n`-th owner reference (1-based, in call
/// order): `00000000-0000-0000-0001-` followed by `n` in 12 decimal digits, so the first owner is
/// `00000000-0000-0000-0001-000000000001`.
pub fn owner_uid(n: usize) -> String {
    format!("00000000-0000-0000-0001-{n:012}")
}

/// Builder of a [`Workload`] as the host would pass it to a module.
///
/// [`WorkloadBuilder::new`] (or [`workload()`], or `Default`) starts from a host process: pid
/// [`DEFAULT_PID`], uid, euid, gid and egid [`DEFAULT_ID`], no supplementary groups, no user or
/// group name, no executable path or digest, no Kubernetes facts, no further facts.
///
/// Setters of one value (`uid`, `pod`, `container`, …) replace what an earlier call set. Setters
/// of list entries (`label`, `annotation`, `owner`, `namespace_label`, `fact`) append, and the
/// lists keep call order, as the host keeps the order it read them in; a key may repeat.
///
/// Any Kubernetes setter creates the pod first when there is none, with namespace `default`,
/// name `pod`, uid [`DEFAULT_POD_UID`], service account `default`, node `node-1`, no labels,
/// annotations or owners, no host network, no namespace labels and no container. The container
/// setters create the container likewise (see [`WorkloadBuilder::container`]).
///
/// ```
/// use attestor_guest::testing;
///
/// let w = testing::workload()
///     .uid(0)
///     .exe("/usr/bin/ledger")
///     .pod("payments", "ledger-7d9f")
///     .service_account("ledger")
///     .label("app", "ledger")
///     .container("ledger", "ghcr.io/acme/ledger:2.1", "ghcr.io/acme/ledger@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
///     .fact("host.name", "node-1.example")
///     .build();
///
/// assert_eq!((w.unix.uid, w.unix.euid, w.unix.gid), (0, 0, 1000));
/// assert_eq!(w.unix.exe_path.as_deref(), Some("/usr/bin/ledger"));
/// let pod = w.pod().unwrap();
/// assert_eq!((pod.namespace.as_str(), pod.name.as_str()), ("payments", "ledger-7d9f"));
/// assert_eq!(pod.uid, testing::DEFAULT_POD_UID);
/// assert_eq!(w.label("app"), Some("ledger"));
/// assert_eq!(w.container().unwrap().image.name, "ghcr.io/acme/ledger:2.1");
/// assert_eq!(w.fact("host.name"), Some("node-1.example"));
/// ```
///
/// The built [`Workload`]'s fields are public: a test that needs something the builder does not
/// offer (an owner with a chosen uid, no user name after setting one) edits the result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WorkloadBuilder {
    workload: Workload,
}

/// Start a [`WorkloadBuilder`]; the same as [`WorkloadBuilder::new`].
pub fn workload() -> WorkloadBuilder {
    WorkloadBuilder::new()
}

impl Default for WorkloadBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkloadBuilder {
    /// A host process: pid [`DEFAULT_PID`], uid, euid, gid and egid [`DEFAULT_ID`], nothing else.
    pub fn new() -> Self {
        Self {
            workload: Workload {
                unix: Unix {
                    pid: DEFAULT_PID,
                    uid: DEFAULT_ID,
                    euid: DEFAULT_ID,
                    gid: DEFAULT_ID,
                    egid: DEFAULT_ID,
                    supplementary_gids: Vec::new(),
                    user: None,
                    group: None,
                    exe_path: None,
                    exe_sha256: None,
                },
                kubernetes: None,
                facts: Vec::new(),
            },
        }
    }

    /// The process id, as seen from the host's PID namespace.
    pub fn pid(mut self, pid: u32) -> Self {
        self.workload.unix.pid = pid;
        self
    }

    /// The real **and** effective user id. Call [`euid`](Self::euid) after it for a process whose
    /// effective uid differs (a setuid binary).
    pub fn uid(mut self, uid: u32) -> Self {
        self.workload.unix.uid = uid;
        self.workload.unix.euid = uid;
        self
    }

    /// The effective user id only (what SPIRE's `unix:uid` selector carries).
    pub fn euid(mut self, euid: u32) -> Self {
        self.workload.unix.euid = euid;
        self
    }

    /// The real **and** effective group id. Call [`egid`](Self::egid) after it for a process
    /// whose effective gid differs.
    pub fn gid(mut self, gid: u32) -> Self {
        self.workload.unix.gid = gid;
        self.workload.unix.egid = gid;
        self
    }

    /// The effective group id only (what SPIRE's `unix:gid` selector carries).
    pub fn egid(mut self, egid: u32) -> Self {
        self.workload.unix.egid = egid;
        self
    }

    /// The supplementary group ids, in the kernel's order (replaces earlier ones).
    pub fn supplementary_gids(mut self, gids: &[u32]) -> Self {
        self.workload.unix.supplementary_gids = gids.to_vec();
        self
    }

    /// The effective user's name, as the host's user database gives it.
    pub fn user(mut self, name: &str) -> Self {
        self.workload.unix.user = Some(name.to_owned());
        self
    }

    /// The effective group's name, as the host's group database gives it.
    pub fn group(mut self, name: &str) -> Self {
        self.workload.unix.group = Some(name.to_owned());
        self
    }

    /// The executable's absolute path, as the kernel reports it.
    pub fn exe(mut self, path: &str) -> Self {
        self.workload.unix.exe_path = Some(path.to_owned());
        self
    }

    /// The executable's SHA-256 in lower-case hex, as the host gives it. Taken as is: the builder
    /// does not check it, so a test can also pass what a module must refuse.
    pub fn exe_sha256(mut self, hex: &str) -> Self {
        self.workload.unix.exe_sha256 = Some(hex.to_owned());
        self
    }

    /// The pod's namespace and name (creates the pod when there is none).
    pub fn pod(mut self, namespace: &str, name: &str) -> Self {
        let pod = self.pod_mut();
        pod.namespace = namespace.to_owned();
        pod.name = name.to_owned();
        self
    }

    /// The pod's uid (creates the pod when there is none).
    pub fn pod_uid(mut self, uid: &str) -> Self {
        self.pod_mut().uid = uid.to_owned();
        self
    }

    /// The pod's `spec.serviceAccountName`; empty for a static pod (creates the pod when there is
    /// none).
    pub fn service_account(mut self, name: &str) -> Self {
        self.pod_mut().service_account = name.to_owned();
        self
    }

    /// The pod's `spec.nodeName` (creates the pod when there is none).
    pub fn node_name(mut self, name: &str) -> Self {
        self.pod_mut().node_name = name.to_owned();
        self
    }

    /// Append a pod label (creates the pod when there is none).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.pod_mut().labels.push(label(key, value));
        self
    }

    /// Append a pod annotation (creates the pod when there is none).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.pod_mut().annotations.push(label(key, value));
        self
    }

    /// Append an owner reference (`ReplicaSet`, `web-7d9f`) to the pod, creating the pod when
    /// there is none. Its uid is fixed by its position: the `n`-th owner gets [`owner_uid`]`(n)`.
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        let owners = &mut self.pod_mut().owners;
        let uid = owner_uid(owners.len() + 1);
        owners.push(OwnerReference { kind: kind.to_owned(), name: name.to_owned(), uid });
        self
    }

    /// Whether the pod uses the node's network namespace (creates the pod when there is none).
    pub fn host_network(mut self, host_network: bool) -> Self {
        self.pod_mut().host_network = host_network;
        self
    }

    /// Append a label of the pod's namespace (creates the pod when there is none).
    pub fn namespace_label(mut self, key: &str, value: &str) -> Self {
        self.kubernetes_mut().namespace_labels.push(label(key, value));
        self
    }

    /// The container the process runs in, its image exactly as the kubelet reports it: `image`
    /// is `status.containerStatuses[].image` (`nginx:1.25.4`), `image_id` its `imageID`
    /// (`docker.io/library/nginx@sha256:…`, or empty while the image is being pulled).
    ///
    /// Creates the pod when there is none, and the container when there is none, with id
    /// [`DEFAULT_CONTAINER_ID`] and not an init container. On an existing container it replaces
    /// the name and image and keeps the id and init flag, so the order of `container`,
    /// [`container_id`](Self::container_id) and [`init_container`](Self::init_container) does
    /// not matter.
    pub fn container(mut self, name: &str, image: &str, image_id: &str) -> Self {
        let container = self.container_mut();
        container.name = name.to_owned();
        container.image = ImageRef { name: image.to_owned(), id: image_id.to_owned() };
        self
    }

    /// The container's runtime id. Creates the pod and the container when absent; a container
    /// created here is named `app` with image `app:1.0` and image id
    /// `docker.io/library/app@sha256:` followed by 64 zeros, until
    /// [`container`](Self::container) sets them.
    pub fn container_id(mut self, id: &str) -> Self {
        self.container_mut().id = id.to_owned();
        self
    }

    /// Whether the container is an init container. Creates the pod and the container when
    /// absent, as [`container_id`](Self::container_id) does.
    pub fn init_container(mut self, init: bool) -> Self {
        self.container_mut().init = init;
        self
    }

    /// Append a further host fact, keyed `<source>.<key>` (`host.name`, `sigstore.verified`).
    pub fn fact(mut self, key: &str, value: &str) -> Self {
        self.workload.facts.push(Fact { key: key.to_owned(), value: value.to_owned() });
        self
    }

    /// The workload.
    pub fn build(self) -> Workload {
        self.workload
    }

    fn kubernetes_mut(&mut self) -> &mut Kubernetes {
        self.workload.kubernetes.get_or_insert_with(|| Kubernetes {
            pod: Pod {
                uid: DEFAULT_POD_UID.to_owned(),
                name: "pod".to_owned(),
                namespace: "default".to_owned(),
                service_account: "default".to_owned(),
                node_name: "node-1".to_owned(),
                labels: Vec::new(),
                annotations: Vec::new(),
                owners: Vec::new(),
                host_network: false,
            },
            container: None,
            namespace_labels: Vec::new(),
        })
    }

    fn pod_mut(&mut self) -> &mut Pod {
        &mut self.kubernetes_mut().pod
    }

    fn container_mut(&mut self) -> &mut Container {
        self.kubernetes_mut().container.get_or_insert_with(|| Container {
            name: "app".to_owned(),
            id: DEFAULT_CONTAINER_ID.to_owned(),
            image: ImageRef {
                name: "app:1.0".to_owned(),
                id: format!("docker.io/library/app@sha256:{}", "0".repeat(64)),
            },
            init: false,
        })
    }
}

fn label(key: &str, value: &str) -> Label {
    Label { key: key.to_owned(), value: value.to_owned() }
}

/// Run `M` as the host does: `validate_config(config)` when it loads the module, then
/// `attest(config, workload)` for the call. An error from `validate_config` is returned as is,
/// and `attest` is then not called.
///
/// Unlike the host, this runs in the test's own process: no fuel, memory or time limits, and a
/// panic in the module is the test's panic.
pub fn attest<M: Module>(config: &str, workload: &Workload) -> Result<Attestation, Error> {
    M::validate_config(config)?;
    M::attest(config, workload)
}

/// Severity of a [`LogLine`], one per function of [`log`](crate::log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// [`log::trace`](crate::log::trace).
    Trace,
    /// [`log::debug`](crate::log::debug) and [`debug!`](crate::debug).
    Debug,
    /// [`log::info`](crate::log::info) and [`info!`](crate::info).
    Info,
    /// [`log::warn`](crate::log::warn) and [`warn!`](crate::warn).
    Warn,
    /// [`log::error`](crate::log::error).
    Error,
}

/// One line module code logged, as [`take_logs`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Its text, as the module wrote it.
    pub message: String,
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static LOGS: std::cell::RefCell<Vec<LogLine>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keep one line in this thread's buffer (what `log::*` does natively).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn record(level: LogLevel, message: &str) {
    // A line logged while the thread is being torn down has nowhere to go: drop it.
    let _ = LOGS.try_with(|logs| logs.borrow_mut().push(LogLine { level, message: message.to_owned() }));
}

/// The lines this thread's module code logged since the last call, oldest first; the buffer is
/// then empty.
///
/// Natively, [`log`](crate::log) and the logging macros write to a buffer of the calling thread.
/// `cargo test` runs each test on its own thread, so a test sees only its own lines; a line
/// logged on a thread the test spawned is in that thread's buffer. Nothing caps the buffer:
/// take the lines in every test that logs.
///
/// In Wasm the lines go to the host and this always returns an empty `Vec`: it is defined there
/// only so code calling it compiles for every target.
pub fn take_logs() -> Vec<LogLine> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        LOGS.try_with(|logs| std::mem::take(&mut *logs.borrow_mut())).unwrap_or_default()
    }
    #[cfg(target_arch = "wasm32")]
    {
        Vec::new()
    }
}
