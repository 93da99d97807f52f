//! The parts of a kubelet pod object attestation reads, decoded with Go's tolerance: missing
//! fields and `null` read as empty, wrong types fail.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::workload::{ContainerFacts, ContainerId, ImageRef, OwnerReference, PodFacts, PodUid};

/// `null` and absence both mean the empty value, as with Go's `encoding/json`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A pod as the kubelet lists it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Pod {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) spec: Spec,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) status: Status,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) uid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable", rename = "ownerReferences")]
    pub(crate) owner_references: Vec<Owner>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Owner {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) uid: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Spec {
    #[serde(default, deserialize_with = "nullable", rename = "serviceAccountName")]
    pub(crate) service_account_name: String,
    #[serde(default, deserialize_with = "nullable", rename = "nodeName")]
    pub(crate) node_name: String,
    #[serde(default, deserialize_with = "nullable", rename = "hostNetwork")]
    pub(crate) host_network: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Status {
    #[serde(default, deserialize_with = "nullable", rename = "containerStatuses")]
    pub(crate) container_statuses: Vec<ContainerStatus>,
    #[serde(default, deserialize_with = "nullable", rename = "initContainerStatuses")]
    pub(crate) init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContainerStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(default, deserialize_with = "nullable", rename = "containerID")]
    pub(crate) container_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) image: String,
    #[serde(default, deserialize_with = "nullable", rename = "imageID")]
    pub(crate) image_id: String,
}

/// The host part of a `containerID` URL (`containerd://<id>` → `<id>`); `None` when the value
/// has no `scheme://` (it then never matches), `Err` when it is not a URL at all.
fn url_host(value: &str) -> Result<Option<&str>, ()> {
    let Some((scheme, rest)) = value.split_once("://") else {
        // A colon before any slash means a scheme that is not followed by `//`, or a bad one.
        return match value.find(':') {
            Some(c) if !value[..c].contains('/') && !valid_scheme(&value[..c]) => Err(()),
            _ => Ok(None),
        };
    };
    if !valid_scheme(scheme) {
        return Err(());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(());
    }
    Ok(Some(host))
}

fn valid_scheme(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '+' | '-' | '.'))
}

/// Where the container was found.
pub(crate) struct Found<'a> {
    pub(crate) status: &'a ContainerStatus,
    pub(crate) init: bool,
}

impl Pod {
    /// The status whose `containerID` host is exactly `id`: regular containers first, then init
    /// containers; ephemeral containers never.
    pub(crate) fn find_container(&self, id: &ContainerId) -> Option<Found<'_>> {
        let regular = self.status.container_statuses.iter().map(|s| (s, false));
        let init = self.status.init_container_statuses.iter().map(|s| (s, true));
        regular.chain(init).find_map(|(s, init)| {
            if s.container_id.is_empty() {
                return None;
            }
            match url_host(&s.container_id) {
                Ok(Some(host)) if host == id.as_str() => Some(Found { status: s, init }),
                Ok(_) => None,
                Err(()) => {
                    tracing::debug!(container_id = %s.container_id, "skipping unparsable containerID");
                    None
                }
            }
        })
    }

    /// The pod as workload facts.
    pub(crate) fn facts(&self) -> PodFacts {
        let m = &self.metadata;
        PodFacts {
            uid: PodUid(m.uid.clone()),
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            service_account: self.spec.service_account_name.clone(),
            node_name: self.spec.node_name.clone(),
            labels: m.labels.clone(),
            annotations: m.annotations.clone(),
            owners: m
                .owner_references
                .iter()
                .map(|o| OwnerReference { kind: o.kind.clone(), name: o.name.clone(), uid: o.uid.clone() })
                .collect(),
            host_network: self.spec.host_network,
        }
    }
}

impl Found<'_> {
    /// The container as workload facts.
    pub(crate) fn facts(&self, id: &ContainerId) -> ContainerFacts {
        ContainerFacts {
            name: self.status.name.clone(),
            id: id.clone(),
            image: ImageRef { name: self.status.image.clone(), id: self.status.image_id.clone(), sigstore: None },
            init: self.init,
        }
    }
}

#[cfg(test)]
mod tests;
