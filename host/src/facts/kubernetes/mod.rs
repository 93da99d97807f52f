//! The Kubernetes source: SPIRE's `k8s` WorkloadAttestor, byte for byte, plus a pod-list cache.
//!
//! Invariant: the kubelet is contacted only for a process whose cgroups name a container, and
//! only through the shared [`fetcher`]; a pod list answers a lookup only if it is fresh enough
//! for what is asked: any list younger than `pod_list_cache_ttl` when it contains the pod, and
//! only a list fetched after the lookup began when the pod is missing.

mod client;
mod error;
mod fetcher;
mod namespace;
mod pod;
mod pod_list;
mod selectors;
mod settings;
mod tls;

use std::sync::Arc;

pub use error::{ClientConfigError, Code, Credential, CredentialError, K8sError, KubeletError, TlsError};
pub use pod_list::PodList;
pub use selectors::k8s_selectors;
pub use settings::{
    ApiServerSettings, Endpoint, KubernetesSettings, SERVICE_ACCOUNT_CA, SERVICE_ACCOUNT_TOKEN, SourceMode,
};

use super::cgroup::{self, Location};
use super::procfs::ProcDir;
use crate::selector::Selector;
use crate::workload::KubernetesFacts;
use client::KubeletClient;
use fetcher::{Fetcher, Source};
use namespace::NamespaceLabels;
use pod::Pod;

/// The Kubernetes facts of a process and its `k8s` selectors.
pub type K8sAnswer = (KubernetesFacts, Vec<Selector>);

/// What a pod lookup found.
struct Match {
    pod: Arc<Pod>,
    /// Index into container statuses (`init` says which list); `None` on the pod-only path.
    container: Option<(bool, usize)>,
}

/// The configured Kubernetes source.
pub struct KubernetesSource {
    settings: KubernetesSettings,
    fetcher: Option<Arc<Fetcher>>,
    namespaces: Option<NamespaceLabels>,
}

impl std::fmt::Debug for KubernetesSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSource").field("endpoint", &self.settings.endpoint).finish_non_exhaustive()
    }
}

impl KubernetesSource {
    /// Build the source as SPIRE's Configure does: credentials are loaded now, and unreadable
    /// ones fail. Returns `None` when the source is disabled, or in `auto` mode when the kubelet
    /// credentials are absent (this host is not a Kubernetes node).
    pub fn new(settings: &KubernetesSettings, default_mode: SourceMode) -> Result<Option<Self>, ClientConfigError> {
        let mode = settings.mode.unwrap_or(default_mode);
        if mode == SourceMode::Disabled {
            return Ok(None);
        }
        let source = match &settings.endpoint {
            Endpoint::Disabled => None,
            Endpoint::File(path) => Some(Source::File(path.clone())),
            Endpoint::ReadOnly(_) | Endpoint::Secure(_) => match KubeletClient::new(settings) {
                Ok(c) => Some(Source::Kubelet(c)),
                Err(e) if mode == SourceMode::Auto => {
                    tracing::info!(reason = %e, "no kubelet credentials: the Kubernetes source is off (k8s_source = \"auto\")");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            },
        };
        let namespaces = if settings.enable_namespace_labels {
            Some(NamespaceLabels::new(&settings.api, settings.pod_list_cache_ttl.max(settings.poll_retry_interval))?)
        } else {
            None
        };
        let fetcher = source.map(|s| Arc::new(Fetcher::new(s, settings.poll_retry_interval)));
        Ok(Some(Self { settings: settings.clone(), fetcher, namespaces }))
    }

    /// Kubelet requests made so far.
    pub fn kubelet_requests(&self) -> u64 {
        self.fetcher.as_ref().map_or(0, |f| f.requests())
    }

    /// Where the process in `dir` runs. Blocking (reads procfs).
    pub(crate) fn locate(&self, dir: &ProcDir) -> Result<Location, K8sError> {
        if self.fetcher.is_none() {
            // SPIRE refuses before looking at the cgroups, so even host processes fail.
            return Err(K8sError::KubeletDisabled);
        }
        let location = cgroup::locate(dir, self.settings.legacy_locator)?;
        if self.settings.verbose_locator_logs {
            tracing::info!(dir = %dir.path("").display(), pod_uid = ?location.pod_uid, container_id = ?location.container_id, "container locator");
        }
        Ok(location)
    }

    /// The pod and container at `location`, and their `k8s` selectors; `None` for a process that
    /// is not in a container.
    pub async fn facts(&self, location: &Location) -> Result<Option<K8sAnswer>, K8sError> {
        let Some(container_id) = &location.container_id else { return Ok(None) };
        let Some(fetcher) = &self.fetcher else { return Err(K8sError::KubeletDisabled) };
        let pod_uid = location.pod_uid.as_ref().map(|p| p.0.as_str());
        let ttl = self.settings.pod_list_cache_ttl.max(self.settings.poll_retry_interval);
        let mut seen = 0;
        let mut last_error = None;
        let mut found = None;
        for attempt in 1..=self.settings.max_poll_attempts.max(1) {
            let outcome = match (attempt, fetcher.latest()) {
                // The cached list answers a first attempt while it is fresh; it can only say
                // "found": not finding the container sends us to a newer list below.
                (1, (Some(list), finished)) if list.started.elapsed() < ttl => {
                    seen = finished.max(list.version);
                    Ok(list)
                }
                (1, (_, finished)) => {
                    let (n, outcome) = fetcher.newer_than(finished).await;
                    seen = n;
                    outcome
                }
                _ => {
                    let (n, outcome) = fetcher.newer_than(seen).await;
                    seen = n;
                    outcome
                }
            };
            match outcome {
                Ok(list) => {
                    last_error = None;
                    if let Some(m) = self.examine(&list, pod_uid, container_id)? {
                        found = Some(m);
                        break;
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(m) = found else {
            return Err(match last_error {
                Some(e) => K8sError::Kubelet(e),
                None => K8sError::NotFound,
            });
        };
        let (mut facts, mut values) = self.build(&m, container_id);
        if let Some(ns) = &self.namespaces {
            facts.namespace_labels = ns.get(&m.pod.metadata.namespace).await?;
            values.extend(selectors::namespace_label_values(&facts.namespace_labels));
        }
        Ok(Some((facts, k8s_selectors(values))))
    }

    /// The same answer as [`KubernetesSource::facts`] when the cached pod list (and namespace
    /// labels) already hold it, without waiting for anything; `None` when only the kubelet can say.
    /// Lets the common case (a known pod) be answered on the thread that gathered the facts.
    pub fn facts_cached(&self, location: &Location) -> Option<Result<Option<K8sAnswer>, K8sError>> {
        let Some(container_id) = &location.container_id else { return Some(Ok(None)) };
        let fetcher = self.fetcher.as_ref()?;
        let (list, _) = fetcher.latest();
        let list = list?;
        if list.started.elapsed() >= self.settings.pod_list_cache_ttl.max(self.settings.poll_retry_interval) {
            return None;
        }
        let pod_uid = location.pod_uid.as_ref().map(|p| p.0.as_str());
        let m = match self.examine(&list, pod_uid, container_id) {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let (mut facts, mut values) = self.build(&m, container_id);
        if let Some(ns) = &self.namespaces {
            facts.namespace_labels = ns.cached(&m.pod.metadata.namespace)?;
            values.extend(selectors::namespace_label_values(&facts.namespace_labels));
        }
        Some(Ok(Some((facts, k8s_selectors(values)))))
    }

    /// Facts and selector values (namespace labels excluded) of a match.
    fn build(&self, m: &Match, container_id: &crate::workload::ContainerId) -> (KubernetesFacts, Vec<String>) {
        let mut values = selectors::pod_values(&m.pod);
        let mut facts = KubernetesFacts { pod: m.pod.facts(), container: None, namespace_labels: Default::default() };
        if let Some((init, idx)) = m.container {
            let statuses = if init { &m.pod.status.init_container_statuses } else { &m.pod.status.container_statuses };
            if let Some(status) = statuses.get(idx) {
                if !self.settings.disable_container_selectors {
                    values.extend(selectors::container_values(status));
                }
                facts.container = Some(pod::Found { status, init }.facts(container_id));
            }
        }
        (facts, values)
    }

    /// SPIRE's matching (§3) over one list.
    fn examine(
        &self,
        list: &PodList,
        pod_uid: Option<&str>,
        id: &crate::workload::ContainerId,
    ) -> Result<Option<Match>, K8sError> {
        let pods: Vec<Result<Arc<Pod>, K8sError>> = match pod_uid {
            Some(uid) => list.pod(uid).into_iter().collect(),
            None => list.all().collect(),
        };
        let mut matched: Option<Match> = None;
        for pod in pods {
            let pod = pod?;
            let container = pod.find_container(id).map(|f| {
                let statuses =
                    if f.init { &pod.status.init_container_statuses } else { &pod.status.container_statuses };
                let idx = statuses.iter().position(|s| std::ptr::eq(s, f.status)).unwrap_or(0);
                (f.init, idx)
            });
            let hit = match container {
                Some(c) => Some(Match { pod: Arc::clone(&pod), container: Some(c) }),
                // The pod is known but its container is not listed yet: with container
                // selectors disabled, the pod's selectors are enough.
                None if pod_uid.is_some() && self.settings.disable_container_selectors => {
                    Some(Match { pod: Arc::clone(&pod), container: None })
                }
                None => None,
            };
            if let Some(h) = hit {
                if matched.is_some() {
                    return Err(K8sError::TwoPods);
                }
                matched = Some(h);
            }
        }
        Ok(matched)
    }
}
