//! The workload as WIT records. Built once per attestation and shared by every module call.

use super::bindings::wit;
use crate::workload::{KubernetesFacts, Workload};

/// Convert the gathered workload into the record modules receive.
pub(crate) fn to_wit(w: &Workload) -> wit::Workload {
    let u = &w.unix;
    wit::Workload {
        unix: wit::Unix {
            pid: u.pid.0,
            uid: u.uid.0,
            euid: u.euid.0,
            gid: u.gid.0,
            egid: u.egid.0,
            supplementary_gids: u.supplementary_gids.iter().map(|g| g.0).collect(),
            user: u.user.clone(),
            group: u.group.clone(),
            exe_path: u.exe_path.as_ref().map(|p| p.to_string_lossy().into_owned()),
            exe_sha256: u.exe_sha256.clone(),
        },
        kubernetes: w.kubernetes.as_ref().map(kubernetes),
        facts: w.facts.iter().map(|(k, v)| wit::Fact { key: k.to_string(), value: v.clone() }).collect(),
    }
}

fn labels(map: &std::collections::BTreeMap<String, String>) -> Vec<wit::Label> {
    map.iter().map(|(k, v)| wit::Label { key: k.clone(), value: v.clone() }).collect()
}

fn kubernetes(k: &KubernetesFacts) -> wit::Kubernetes {
    let p = &k.pod;
    wit::Kubernetes {
        pod: wit::Pod {
            uid: p.uid.0.clone(),
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            service_account: p.service_account.clone(),
            node_name: p.node_name.clone(),
            labels: labels(&p.labels),
            annotations: labels(&p.annotations),
            owners: p
                .owners
                .iter()
                .map(|o| wit::OwnerReference { kind: o.kind.clone(), name: o.name.clone(), uid: o.uid.clone() })
                .collect(),
            host_network: p.host_network,
        },
        container: k.container.as_ref().map(|c| wit::Container {
            name: c.name.clone(),
            id: c.id.to_string(),
            image: wit::ImageRef { name: c.image.name.clone(), id: c.image.id.clone() },
            init: c.init,
        }),
        namespace_labels: labels(&k.namespace_labels),
    }
}
