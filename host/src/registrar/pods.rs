//! A pod object as the policies see it: the same `KubernetesFacts` an attestation builds from
//! the kubelet's pod list, read here from the API server's `Pod`, with every container a process
//! of the pod may run in.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};

use crate::workload::{ContainerFacts, ContainerId, ImageRef, KubernetesFacts, OwnerReference, PodFacts, PodUid};

/// A pod that may have processes, ready for the policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    /// The pod's facts (its `container` field unset).
    pub facts: KubernetesFacts,
    /// Every container (init containers included) a process of the pod may run in.
    pub containers: Vec<ContainerFacts>,
}

/// Why a pod gets no entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// Not scheduled yet: no node, so no agent to parent entries to.
    Unscheduled,
    /// Finished (`Succeeded` or `Failed`): it has no processes left.
    Finished,
    /// Being deleted.
    Terminating,
    /// The object lacks a name, namespace or UID (never from a real API server).
    Incomplete,
}

/// What the policies see of `pod` in a namespace labelled `namespace_labels`, or why nothing.
pub fn view(pod: &Pod, namespace_labels: &BTreeMap<String, String>) -> Result<PodView, Skipped> {
    let m = &pod.metadata;
    let (Some(uid), Some(name), Some(namespace)) = (&m.uid, &m.name, &m.namespace) else {
        return Err(Skipped::Incomplete);
    };
    if m.deletion_timestamp.is_some() {
        return Err(Skipped::Terminating);
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Err(Skipped::Finished);
    }
    let spec = pod.spec.as_ref();
    let node_name = spec.and_then(|s| s.node_name.clone()).unwrap_or_default();
    if node_name.is_empty() {
        return Err(Skipped::Unscheduled);
    }
    let owners = m
        .owner_references
        .iter()
        .flatten()
        .map(|o| OwnerReference { kind: o.kind.clone(), name: o.name.clone(), uid: o.uid.clone() })
        .collect();
    let facts = KubernetesFacts {
        pod: PodFacts {
            uid: PodUid(uid.clone()),
            name: name.clone(),
            namespace: namespace.clone(),
            service_account: spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
            node_name,
            labels: m.labels.clone().unwrap_or_default(),
            annotations: m.annotations.clone().unwrap_or_default(),
            owners,
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        },
        container: None,
        namespace_labels: namespace_labels.clone(),
    };
    let status = pod.status.as_ref();
    let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let init_statuses = status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();
    let mut containers: Vec<ContainerFacts> =
        spec.map(|s| s.containers.iter().map(|c| container(c, statuses, false)).collect()).unwrap_or_default();
    containers.extend(
        spec.and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default()
            .iter()
            .map(|c| container(c, init_statuses, true)),
    );
    Ok(PodView { facts, containers })
}

/// One container: its name and image from the spec, the image ID from its status when the
/// kubelet has reported one. The runtime's container ID is not known from the pod object and is
/// read by no policy or template; it stands at zero.
fn container(c: &Container, statuses: &[ContainerStatus], init: bool) -> ContainerFacts {
    let image_id = statuses.iter().find(|s| s.name == c.name).map(|s| s.image_id.clone()).unwrap_or_default();
    ContainerFacts {
        name: c.name.clone(),
        id: ContainerId::from_bytes([0; 32]),
        image: ImageRef { name: c.image.clone().unwrap_or_default(), id: image_id, sigstore: None },
        init,
    }
}

#[cfg(test)]
mod tests;
