//! A kubelet `/pods` response, indexed by pod UID; pods are decoded only when examined, and
//! each at most once per list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{K8sError, KubeletError};
use super::pod::Pod;

struct Entry {
    raw: Box<RawValue>,
    decoded: OnceLock<Result<Arc<Pod>, String>>,
}

/// One successful pod list.
pub struct PodList {
    /// Increases with every successful fetch.
    pub version: u64,
    /// When the request that produced it started.
    pub started: Instant,
    pods: HashMap<String, Entry>,
}

impl std::fmt::Debug for PodList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodList").field("version", &self.version).field("pods", &self.pods.len()).finish()
    }
}

#[derive(Deserialize)]
struct UidOnly {
    #[serde(default)]
    metadata: Option<MetaUid>,
}

#[derive(Deserialize)]
struct MetaUid {
    #[serde(default)]
    uid: Option<String>,
}

impl PodList {
    /// Parse a response body with SPIRE's checks.
    pub fn parse(body: &[u8], version: u64, started: Instant) -> Result<Self, KubeletError> {
        let text = std::str::from_utf8(body).map_err(|e| KubeletError::Parse(e.to_string()))?;
        // Validate the whole document first, so syntax errors are told apart from shape errors.
        let top: &RawValue = serde_json::from_str(text).map_err(|e| KubeletError::Parse(e.to_string()))?;
        if !top.get().trim_start().starts_with('{') {
            return Err(KubeletError::NotAnObject);
        }
        let fields: BTreeMap<String, &RawValue> =
            serde_json::from_str(top.get()).map_err(|e| KubeletError::Parse(e.to_string()))?;
        let items = fields.get("items").ok_or(KubeletError::NoItems)?;
        let items: Vec<&RawValue> = if items.get() == "null" {
            Vec::new()
        } else {
            serde_json::from_str(items.get()).map_err(|_| KubeletError::NoItems)?
        };
        let mut pods = HashMap::with_capacity(items.len());
        for item in items {
            let uid = serde_json::from_str::<UidOnly>(item.get()).ok().and_then(|u| u.metadata).and_then(|m| m.uid);
            match uid.filter(|u| !u.is_empty()) {
                // A repeated UID keeps the last item.
                Some(uid) => {
                    pods.insert(uid, Entry { raw: item.to_owned(), decoded: OnceLock::new() });
                }
                None => tracing::debug!("skipping a kubelet pod list item without metadata.uid"),
            }
        }
        Ok(Self { version, started, pods })
    }

    /// Number of pods with a UID.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Whether a pod with this UID is listed.
    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    fn decode(e: &Entry) -> Result<Arc<Pod>, K8sError> {
        e.decoded
            .get_or_init(|| serde_json::from_str::<Pod>(e.raw.get()).map(Arc::new).map_err(|err| err.to_string()))
            .clone()
            .map_err(K8sError::DecodePod)
    }

    /// The pod with this UID, decoded.
    pub(crate) fn pod(&self, uid: &str) -> Option<Result<Arc<Pod>, K8sError>> {
        self.pods.get(uid).map(Self::decode)
    }

    /// Every pod, decoded (for containers whose pod UID the cgroups do not name).
    pub(crate) fn all(&self) -> impl Iterator<Item = Result<Arc<Pod>, K8sError>> + '_ {
        self.pods.values().map(Self::decode)
    }
}

#[cfg(test)]
mod tests;
