//! SPIRE's `k8s` selectors for a matched pod and container, byte for byte.
//!
//! Values are bare (`ns:default`); the `k8s` kind is added by [`k8s_selectors`]. Order follows
//! SPIRE's internal order (sa, ns, node-name, pod-uid, pod-name, counts, images, labels, owners,
//! container, namespace labels); SPIRE's own order is not meaningful, so compare as sets.

use std::collections::BTreeMap;

use super::pod::{ContainerStatus, Pod};
use crate::selector::{Selector, SelectorKind};

/// Push each of `values`, skipping ones already pushed by this call (SPIRE de-duplicates inside
/// an image set only).
fn push_dedup(out: &mut Vec<String>, prefix: &str, values: impl IntoIterator<Item = String>) {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            out.push(format!("{prefix}:{v}"));
            seen.push(v);
        }
    }
}

fn images(statuses: &[ContainerStatus]) -> impl Iterator<Item = String> + '_ {
    statuses.iter().flat_map(|s| [s.image.clone(), s.image_id.clone()])
}

/// Pod selectors (§4.1).
pub(crate) fn pod_values(pod: &Pod) -> Vec<String> {
    let m = &pod.metadata;
    let st = &pod.status;
    let mut out = vec![
        format!("sa:{}", pod.spec.service_account_name),
        format!("ns:{}", m.namespace),
        format!("node-name:{}", pod.spec.node_name),
        format!("pod-uid:{}", m.uid),
        format!("pod-name:{}", m.name),
        format!("pod-image-count:{}", st.container_statuses.len()),
        format!("pod-init-image-count:{}", st.init_container_statuses.len()),
    ];
    push_dedup(&mut out, "pod-image", images(&st.container_statuses));
    push_dedup(&mut out, "pod-init-image", images(&st.init_container_statuses));
    for (k, v) in &m.labels {
        out.push(format!("pod-label:{k}:{v}"));
    }
    for o in &m.owner_references {
        out.push(format!("pod-owner:{}:{}", o.kind, o.name));
        out.push(format!("pod-owner-uid:{}:{}", o.kind, o.uid));
    }
    out
}

/// Container selectors (§4.2).
pub(crate) fn container_values(status: &ContainerStatus) -> Vec<String> {
    let mut out = vec![format!("container-name:{}", status.name)];
    push_dedup(&mut out, "container-image", [status.image.clone(), status.image_id.clone()]);
    out
}

/// Namespace label selectors (§4.3).
pub(crate) fn namespace_label_values(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels.iter().map(|(k, v)| format!("ns-label:{k}:{v}")).collect()
}

/// Bare values as `k8s:` selectors.
pub fn k8s_selectors(values: impl IntoIterator<Item = String>) -> Vec<Selector> {
    let Ok(kind) = SelectorKind::new("k8s") else { return Vec::new() };
    values.into_iter().map(|v| Selector::new(kind.clone(), v)).collect()
}

#[cfg(test)]
mod tests;
