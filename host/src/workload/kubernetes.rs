//! Kubernetes facts: the pod and container a process runs in.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A pod's `metadata.uid`, as the kubelet lists it.
///
/// Kept verbatim (case included): SPIRE compares it byte for byte, and static pods carry a 32-hex
/// config hash instead of a dashed UUID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PodUid(pub String);

impl fmt::Display for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container runtime's container id: exactly 64 hex characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// Validate a container id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(id))
        } else {
            Err(InvalidId::ContainerId(id))
        }
    }

    /// The id of 32 bytes (what runtimes draw at random), in lower-case hex: always valid.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ContainerId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ContainerId> for String {
    fn from(c: ContainerId) -> Self {
        c.0
    }
}

/// A malformed Kubernetes identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// Not 64 hex characters.
    #[error("container id {0:?} is not 64 hex characters")]
    ContainerId(String),
}

/// One `metadata.ownerReferences` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerReference {
    /// `kind`, e.g. `ReplicaSet`.
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `uid`.
    #[serde(default)]
    pub uid: String,
}

/// A container image exactly as the kubelet reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// `image`, e.g. `nginx:1.25.4`.
    pub name: String,
    /// `imageID`, e.g. `docker.io/library/nginx@sha256:…`; empty while pulling.
    #[serde(default)]
    pub id: String,
    /// What Sigstore verification established about the image, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<SigstoreFacts>,
}

/// The outcome of Sigstore verification of an image, flattened for policies (Cedar cannot
/// iterate over signatures, so the host also names what the signatures established together).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigstoreFacts {
    /// At least one signature verified, and every check SPIRE's configuration asks for passed.
    pub verified: bool,
    /// Why verification failed, when `on_failure = "fact"` turned the failure into this fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Each verified signature, in the order they were found.
    #[serde(default)]
    pub signatures: Vec<SignatureFacts>,
    /// `issuer|subject` of each verified keyless signature.
    #[serde(default)]
    pub signer_identities: Vec<String>,
    /// The names (`public_keys`) of the keys that verified a signature.
    #[serde(default)]
    pub keys: Vec<String>,
    /// In-toto predicate types of verified attestations.
    #[serde(default)]
    pub predicate_types: Vec<String>,
}

/// One verified signature of an image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFacts {
    /// Where it was found: `legacy` (cosign's `.sig` tag) or `referrer` (a cosign v3 bundle).
    pub source: String,
    /// The certificate's subject (its first non-empty SAN, as SPIRE reads it); keyless only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The certificate's OIDC issuer; keyless only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The configured key that verified it; key-based only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its transparency log index, when it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// When the log integrated it (Unix seconds), when it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<i64>,
}

/// The pod a process runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodFacts {
    /// `metadata.uid`.
    pub uid: PodUid,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.serviceAccountName`; empty for static pods.
    #[serde(default)]
    pub service_account: String,
    /// `spec.nodeName`.
    #[serde(default)]
    pub node_name: String,
    /// `metadata.labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`. May hold secrets: audit records carry only their digest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    #[serde(default)]
    pub owners: Vec<OwnerReference>,
    /// `spec.hostNetwork`.
    #[serde(default)]
    pub host_network: bool,
}

/// The container a process runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFacts {
    /// The container's name in the pod spec.
    pub name: String,
    /// The runtime's container id.
    pub id: ContainerId,
    /// Its image.
    pub image: ImageRef,
    /// True for init containers.
    #[serde(default)]
    pub init: bool,
}

/// Kubernetes facts of a process that runs in a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesFacts {
    /// The pod.
    pub pod: PodFacts,
    /// The container; absent when the pod matched but the container is not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerFacts>,
    /// Labels of the pod's namespace, when the host reads them.
    #[serde(default)]
    pub namespace_labels: BTreeMap<String, String>,
}
