//! Sample facts for tests, benchmarks and examples; not used by the attestation path.
//!
//! Builders for the workloads that unit tests, integration tests and benchmarks describe, so each
//! states only what it varies. Every builder starts from fixed, documented values and cannot fail.
//!
//! ```
//! use attestor::workload::sample;
//!
//! let mut w = sample::process().user("alice").exe("/usr/bin/ledger").workload();
//! let pod = sample::pod("payments", "ledger").label("app", "ledger").container(sample::container("app"));
//! w.kubernetes = Some(pod.facts());
//! assert_eq!(w.unix.pid.0, 4242);
//! assert_eq!(w.kubernetes.map(|k| k.pod.namespace).as_deref(), Some("payments"));
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{
    ContainerFacts, ContainerId, Gid, ImageRef, KubernetesFacts, OwnerReference, Pid, PodFacts, PodUid, Uid, UnixFacts,
    Workload,
};

/// The SHA-256 that [`Process::exe`] gives every sample executable: `ab` 32 times.
pub const EXE_SHA256: &str = "abababababababababababababababababababababababababababababababab";

/// A sample process: pid 4242, start time 1, real and effective uid and gid 1000, no
/// supplementary groups, no user or group names, no executable.
pub fn process() -> Process {
    Process(UnixFacts {
        pid: Pid(4242),
        start_time: Some(1),
        uid: Uid(1000),
        euid: Uid(1000),
        gid: Gid(1000),
        egid: Gid(1000),
        supplementary_gids: Vec::new(),
        user: None,
        group: None,
        supplementary_group_names: BTreeMap::new(),
        exe_path: None,
        exe_sha256: None,
    })
}

/// A sample process's unix facts, built by [`process`] and its setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process(UnixFacts);

impl Process {
    /// The process id.
    pub fn pid(mut self, pid: u32) -> Self {
        self.0.pid = Pid(pid);
        self
    }

    /// The start time in clock ticks since boot; `None` as under a recorded root without `stat`.
    pub fn start_time(mut self, ticks: Option<u64>) -> Self {
        self.0.start_time = ticks;
        self
    }

    /// The real and effective user ids.
    pub fn uids(mut self, real: u32, effective: u32) -> Self {
        (self.0.uid, self.0.euid) = (Uid(real), Uid(effective));
        self
    }

    /// The real and effective group ids.
    pub fn gids(mut self, real: u32, effective: u32) -> Self {
        (self.0.gid, self.0.egid) = (Gid(real), Gid(effective));
        self
    }

    /// The effective user's name.
    pub fn user(mut self, name: impl Into<String>) -> Self {
        self.0.user = Some(name.into());
        self
    }

    /// The effective group's name.
    pub fn group(mut self, name: impl Into<String>) -> Self {
        self.0.group = Some(name.into());
        self
    }

    /// One more supplementary group, after those already added, and its name.
    pub fn supplementary_group(mut self, gid: u32, name: impl Into<String>) -> Self {
        self.0.supplementary_gids.push(Gid(gid));
        self.0.supplementary_group_names.insert(Gid(gid), name.into());
        self
    }

    /// The executable's path, with [`EXE_SHA256`] as its digest.
    pub fn exe(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.exe_path = Some(path.into());
        self.0.exe_sha256 = Some(EXE_SHA256.to_owned());
        self
    }

    /// The unix facts.
    pub fn facts(self) -> UnixFacts {
        self.0
    }

    /// A workload of these facts alone: no Kubernetes facts, module facts or selectors.
    pub fn workload(self) -> Workload {
        Workload::new(self.0)
    }
}

/// A sample pod in `namespace` running as `service_account`: uid
/// `2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab`, name `ledger-7d9c8b6f5-x2k9p`, on node `node-1`, no
/// labels, annotations or owners, not on the host network, no container known, and no namespace
/// labels.
pub fn pod(namespace: impl Into<String>, service_account: impl Into<String>) -> Pod {
    Pod(KubernetesFacts {
        pod: PodFacts {
            uid: PodUid("2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab".into()),
            name: "ledger-7d9c8b6f5-x2k9p".into(),
            namespace: namespace.into(),
            service_account: service_account.into(),
            node_name: "node-1".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            owners: Vec::new(),
            host_network: false,
        },
        container: None,
        namespace_labels: BTreeMap::new(),
    })
}

/// A sample pod's Kubernetes facts, built by [`pod`] and its setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod(KubernetesFacts);

impl Pod {
    /// The pod's `metadata.uid`.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.0.pod.uid = PodUid(uid.into());
        self
    }

    /// The pod's `metadata.name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.0.pod.name = name.into();
        self
    }

    /// The node the pod runs on.
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.0.pod.node_name = node.into();
        self
    }

    /// One label (replacing one of the same key).
    pub fn label(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels([(key.into(), value.into())])
    }

    /// Several labels (replacing those of the same keys).
    pub fn labels(mut self, labels: impl IntoIterator<Item = (String, String)>) -> Self {
        self.0.pod.labels.extend(labels);
        self
    }

    /// One annotation (replacing one of the same key).
    pub fn annotation(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations([(key.into(), value.into())])
    }

    /// Several annotations (replacing those of the same keys).
    pub fn annotations(mut self, annotations: impl IntoIterator<Item = (String, String)>) -> Self {
        self.0.pod.annotations.extend(annotations);
        self
    }

    /// One more owner reference, after those already added.
    pub fn owner(mut self, kind: impl Into<String>, name: impl Into<String>, uid: impl Into<String>) -> Self {
        self.0.pod.owners.push(OwnerReference { kind: kind.into(), name: name.into(), uid: uid.into() });
        self
    }

    /// The container the process runs in.
    pub fn container(mut self, container: ContainerFacts) -> Self {
        self.0.container = Some(container);
        self
    }

    /// The Kubernetes facts.
    pub fn facts(self) -> KubernetesFacts {
        self.0
    }
}

/// A sample container named `name`: id `a` 64 times, image `registry.example.com/ledger:1.2`
/// (image id `registry.example.com/ledger@sha256:9f86`, no Sigstore verification), not an init
/// container. Its fields are public, for a caller that needs another id or image.
pub fn container(name: impl Into<String>) -> ContainerFacts {
    ContainerFacts {
        name: name.into(),
        id: ContainerId::from_bytes([0xaa; 32]),
        image: ImageRef {
            name: "registry.example.com/ledger:1.2".into(),
            id: "registry.example.com/ledger@sha256:9f86".into(),
            sigstore: None,
        },
        init: false,
    }
}

#[cfg(test)]
mod tests;
