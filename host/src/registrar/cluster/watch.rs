//! [`ClusterWatch`]: pods, namespaces and nodes kept in kube's reflector stores by kube's
//! watcher, one task per resource on the current tokio runtime.
//!
//! Each watcher lists its collection page by page, then watches from the list's version; a
//! watch that ends is started again from the last version seen, and one the API server answers
//! with 410 Gone (the version was compacted away) makes the watcher list again, the store being
//! replaced whole when that list is complete (so objects deleted meanwhile go and none is kept
//! twice). Every error is counted and logged, and the next attempt waits an exponentially
//! growing delay (reset by the next success). The registrar's periodic resync re-reads
//! [`ClusterWatch::snapshot`]; the stores themselves are kept current by the watches.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::Api;
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ApiServer, MAX_TEXT, Snapshot, describe, sorted, strip_namespace, strip_node, strip_pod};

/// The three resources, in the order of the counters.
const RESOURCES: [&str; 3] = ["pods", "namespaces", "nodes"];
/// The readiness bits when all three stores have had their first list.
const ALL_READY: u8 = 0b111;

/// How the watches run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// Objects per list page (kube's and client-go's default: 500).
    pub page_size: u32,
    /// The first delay after an error.
    pub initial_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
    /// `timeoutSeconds` of each watch call (`None`: kube's 290 s).
    pub watch_timeout: Option<u32>,
    /// Strip objects of what the registrar never reads before they are stored (`strip.rs`).
    pub strip: bool,
}

impl Default for WatchSettings {
    /// kube's defaults: 500 per page, delays from 800 ms doubling up to 30 s; stripped.
    fn default() -> Self {
        Self {
            page_size: 500,
            initial_backoff: Duration::from_millis(800),
            max_backoff: Duration::from_secs(30),
            watch_timeout: None,
            strip: true,
        }
    }
}

/// Delays from `initial` doubling up to `max`, each shortened by up to a quarter at random so
/// that replicas restarted together do not retry in step.
pub(super) struct Exponential {
    initial: Duration,
    max: Duration,
    next: Duration,
    random: std::collections::hash_map::RandomState,
    count: u64,
}

impl Exponential {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, next: initial, random: Default::default(), count: 0 }
    }
}

impl Iterator for Exponential {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next.min(self.max);
        self.next = delay.saturating_mul(2).min(self.max);
        self.count += 1;
        let mut hasher = self.random.build_hasher();
        hasher.write_u64(self.count);
        let quarter = delay / 4;
        let cut = quarter.mul_f64((hasher.finish() % 1024) as f64 / 1024.0);
        Some(delay - cut)
    }
}

impl Backoff for Exponential {
    fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// What the three tasks share with the handle.
struct Shared {
    /// One bit per resource whose store has had its first list.
    ready: watch::Sender<u8>,
    /// Bumped on every event applied to a store.
    changes: watch::Sender<u64>,
    /// Errors per resource, in [`RESOURCES`] order.
    errors: [AtomicU64; 3],
    /// Complete lists per resource (the first and every relist).
    lists: [AtomicU64; 3],
}

/// Watches of pods, namespaces and nodes kept in reflector stores; restarted with backoff on
/// errors (410 Gone relists, as kube's watcher does). Dropping it stops the watches.
pub struct ClusterWatch {
    pods: Store<Pod>,
    namespaces: Store<Namespace>,
    nodes: Store<Node>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ClusterWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterWatch")
            .field("ready", &self.is_ready())
            .field("errors", &self.errors())
            .finish_non_exhaustive()
    }
}

impl ClusterWatch {
    /// Starts the three watches on the current tokio runtime, with [`WatchSettings::default`].
    pub fn start(server: impl Into<ApiServer>) -> Self {
        Self::start_with(server, WatchSettings::default())
    }

    /// Starts the three watches on the current tokio runtime.
    pub fn start_with(server: impl Into<ApiServer>, settings: WatchSettings) -> Self {
        let server = server.into();
        let shared = Arc::new(Shared {
            ready: watch::channel(0).0,
            changes: watch::channel(0).0,
            errors: Default::default(),
            lists: Default::default(),
        });
        let (pods, pods_writer) = kube::runtime::reflector::store::<Pod>();
        let (namespaces, namespaces_writer) = kube::runtime::reflector::store::<Namespace>();
        let (nodes, nodes_writer) = kube::runtime::reflector::store::<Node>();
        let strip = settings.strip;
        let tasks = vec![
            tokio::spawn(run(
                server.clone(),
                0,
                pods_writer,
                strip.then_some(strip_pod),
                settings.clone(),
                shared.clone(),
            )),
            tokio::spawn(run(
                server.clone(),
                1,
                namespaces_writer,
                strip.then_some(strip_namespace),
                settings.clone(),
                shared.clone(),
            )),
            tokio::spawn(run(server, 2, nodes_writer, strip.then_some(strip_node), settings, shared.clone())),
        ];
        Self { pods, namespaces, nodes, shared, tasks }
    }

    /// Resolves once all three stores have had their first complete list.
    pub async fn ready(&self) {
        let mut ready = self.shared.ready.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail while it is borrowed.
        let _ = ready.wait_for(|bits| *bits == ALL_READY).await;
    }

    /// Whether all three stores have had their first complete list.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow() == ALL_READY
    }

    /// What the stores hold now, each sorted by namespace and name.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            pods: sorted(owned(self.pods.state())),
            namespaces: sorted(owned(self.namespaces.state())),
            nodes: sorted(owned(self.nodes.state())),
        }
    }

    /// A counter bumped on every event applied to a store (an object added, changed or
    /// deleted, a list completed): the reconciler wakes on its changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Watch errors seen so far, by resource (`pods`, `namespaces`, `nodes`; every key present).
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        counts(&self.shared.errors)
    }

    /// Complete lists so far, by resource: 1 after the first, one more per relist.
    pub fn lists(&self) -> BTreeMap<&'static str, u64> {
        counts(&self.shared.lists)
    }
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn owned<K: Clone>(objects: Vec<Arc<K>>) -> Vec<K> {
    objects.into_iter().map(|o| (*o).clone()).collect()
}

fn counts(counters: &[AtomicU64; 3]) -> BTreeMap<&'static str, u64> {
    RESOURCES.iter().zip(counters).map(|(r, c)| (*r, c.load(Ordering::Relaxed))).collect()
}

/// A watcher error on one line, bounded.
fn describe_watch(e: &watcher::Error) -> String {
    match e {
        watcher::Error::InitialListFailed(e) => format!("list: {}", describe(e)),
        watcher::Error::WatchStartFailed(e) => format!("starting a watch: {}", describe(e)),
        watcher::Error::WatchError(status) => {
            format!("watch: {}", describe(&kube::Error::Api(status.clone())))
        }
        watcher::Error::WatchFailed(e) => format!("watch stream: {}", describe(e)),
        other => crate::text::bounded(&other.to_string(), MAX_TEXT),
    }
}

/// Drives one resource's watcher into its store until the handle is dropped.
async fn run<K>(
    server: ApiServer,
    index: usize,
    mut writer: Writer<K>,
    strip: Option<fn(&mut K)>,
    settings: WatchSettings,
    shared: Arc<Shared>,
) where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let resource = RESOURCES[index];
    let mut config = watcher::Config::default().page_size(settings.page_size);
    config.timeout = settings.watch_timeout;
    let api: Api<K> = Api::all(server.client.clone());
    let backoff = Exponential::new(settings.initial_backoff, settings.max_backoff);
    let stream = watch_stream(api, config)
        .modify(move |object| {
            if let Some(strip) = strip {
                strip(object);
            }
        })
        .backoff(backoff);
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                writer.apply_watcher_event(&event);
                match event {
                    Event::Init | Event::InitApply(_) => continue,
                    Event::InitDone => {
                        shared.lists[index].fetch_add(1, Ordering::Relaxed);
                        shared.ready.send_modify(|bits| *bits |= 1 << index);
                    }
                    Event::Apply(_) | Event::Delete(_) => {}
                }
                shared.changes.send_modify(|n| *n += 1);
            }
            Err(e) => {
                shared.errors[index].fetch_add(1, Ordering::Relaxed);
                tracing::warn!(resource, server = %server.name(), error = %describe_watch(&e), "watching the cluster");
            }
        }
    }
}
