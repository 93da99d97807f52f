//! What the registrar keeps of each object: the fields the policies' pod facts, namespace labels
//! and parent IDs are made of (`registrar/pods.rs` reads pods), nothing else. 10,000 pods as a
//! real API server sends them carry managed fields, volumes, environment, probes and status
//! conditions the registrar never reads; the reflector would hold all of it.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Namespace, Node, NodeStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The metadata kept of every object: identity, version and deletion mark.
fn identity(m: &mut ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name.take(),
        namespace: m.namespace.take(),
        uid: m.uid.take(),
        resource_version: m.resource_version.take(),
        deletion_timestamp: m.deletion_timestamp.take(),
        ..ObjectMeta::default()
    }
}

/// A container's name and image.
fn container(c: &mut Container) -> Container {
    Container { name: std::mem::take(&mut c.name), image: c.image.take(), ..Container::default() }
}

/// A container status's name, image and image ID.
fn status(s: &mut ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        name: std::mem::take(&mut s.name),
        image: std::mem::take(&mut s.image),
        image_id: std::mem::take(&mut s.image_id),
        ..ContainerStatus::default()
    }
}

/// Keeps of a pod: name, namespace, UID, resource version, deletion timestamp, labels,
/// annotations and owner references; the spec's node, service account, host network and
/// containers and init containers (name and image); the status's phase and the container and
/// init container statuses (name, image, image ID).
pub fn strip_pod(pod: &mut Pod) {
    let mut metadata = identity(&mut pod.metadata);
    metadata.labels = pod.metadata.labels.take();
    metadata.annotations = pod.metadata.annotations.take();
    metadata.owner_references = pod.metadata.owner_references.take();
    pod.metadata = metadata;
    pod.spec = pod.spec.take().map(|mut s| PodSpec {
        node_name: s.node_name.take(),
        service_account_name: s.service_account_name.take(),
        host_network: s.host_network.take(),
        containers: s.containers.iter_mut().map(container).collect(),
        init_containers: s.init_containers.take().map(|mut c| c.iter_mut().map(container).collect()),
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|mut s| PodStatus {
        phase: s.phase.take(),
        container_statuses: s.container_statuses.take().map(|mut c| c.iter_mut().map(status).collect()),
        init_container_statuses: s.init_container_statuses.take().map(|mut c| c.iter_mut().map(status).collect()),
        ..PodStatus::default()
    });
}

/// Keeps of a namespace: name, UID, resource version, deletion timestamp and labels.
pub fn strip_namespace(namespace: &mut Namespace) {
    let mut metadata = identity(&mut namespace.metadata);
    metadata.labels = namespace.metadata.labels.take();
    namespace.metadata = metadata;
    namespace.spec = None;
    namespace.status = None;
}

/// Keeps of a node: name, UID, resource version, deletion timestamp, labels and its addresses.
pub fn strip_node(node: &mut Node) {
    let mut metadata = identity(&mut node.metadata);
    metadata.labels = node.metadata.labels.take();
    node.metadata = metadata;
    node.spec = None;
    node.status = node.status.take().map(|mut s| NodeStatus { addresses: s.addresses.take(), ..NodeStatus::default() });
}
