//! The registrar's view of the cluster (`registrar::cluster`) against the loopback HTTPS fake
//! API server (`common/apiserver.rs`), which lists and watches pods, namespaces and nodes with
//! a real API server's semantics: one resource version for everything, paged lists read at one
//! version, chunked watch streams of `WatchEvent` lines, bookmarks, and 410 `Expired` for
//! versions older than its compaction point.
//!
//! `list_once` across pages, and refused; the watch's readiness, then pods appearing, changing
//! labels, moving nodes and going, namespace labels, nodes added; a compaction and a closed watch
//! forcing a relist that converges; a bookmark sparing one; the server down then up; RBAC
//! refusing a resource; a kubeconfig that does not exist. Convergence is polled with a generous
//! deadline; nothing is timed.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/apiserver.rs"]
mod apiserver;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use apiserver::{FakeApiServer, namespace_object, node_object, pod_object};
use attestor::fault::Fault;
use attestor::registrar::cluster::{self, ApiServer, ClusterWatch, Snapshot, WatchSettings};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

/// Bytes allocated and not yet freed by this process (for the memory figures).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// The only unsafe code: forwarding to the system allocator, as `GlobalAlloc` requires.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CALLER: &str = "registrar-token-1";
/// How long convergence may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(10);

struct Setup {
    server: FakeApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Setup {
    async fn start() -> Self {
        let server = FakeApiServer::start(CALLER).await;
        server.set(|b| {
            b.callers.insert(CALLER.to_owned(), "system:serviceaccount:spire:attestor-registrar".to_owned());
        });
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, server.ca_pem()).unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig(&ca, CALLER)).unwrap();
        Self { server, _dir: dir, kubeconfig }
    }

    async fn api(&self) -> ApiServer {
        ApiServer::connect(Some(&self.kubeconfig)).await.unwrap()
    }

    /// Namespaces `web` and `db`, nodes `node-1` and `node-2`, pods `web/a`, `web/b`, `db/c`.
    fn populate(&self) {
        self.server.apply(namespace_object("web", "ns-web", &[("team", "web")]));
        self.server.apply(namespace_object("db", "ns-db", &[("team", "data")]));
        self.server.apply(node_object("node-1", "node-uid-1", &[("pool", "general")]));
        self.server.apply(node_object("node-2", "node-uid-2", &[("pool", "general")]));
        self.server.apply(pod_object("web", "a", "uid-a", "node-1", &[("app", "a")]));
        self.server.apply(pod_object("web", "b", "uid-b", "node-2", &[("app", "b")]));
        self.server.apply(pod_object("db", "c", "uid-c", "node-1", &[("app", "c")]));
    }

    /// The queries of the logged `GET`s of `path` (kube 5 sends its lists' as `?&limit=…`: the
    /// empty first pair is left out here).
    fn queries(&self, path: &str) -> Vec<String> {
        let gets = self.server.log().into_iter().filter(|r| r.method == "GET" && r.path == path);
        gets.map(|r| r.query.trim_start_matches('&').to_owned()).collect()
    }
}

/// Small pages (so the watcher's lists page too) and short delays.
fn settings() -> WatchSettings {
    WatchSettings {
        page_size: 2,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..WatchSettings::default()
    }
}

/// `namespace/name uid node labels` of every pod.
fn pods(snapshot: &Snapshot) -> Vec<String> {
    snapshot.pods.iter().map(describe_pod).collect()
}

fn describe_pod(p: &Pod) -> String {
    let m = &p.metadata;
    format!(
        "{}/{} {} {} {:?}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default(),
        p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default(),
        m.labels.clone().unwrap_or_default()
    )
}

fn namespaces(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .namespaces
        .iter()
        .map(|n| format!("{} {:?}", n.metadata.name.as_deref().unwrap(), n.metadata.labels.clone().unwrap_or_default()))
        .collect()
}

fn nodes(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .nodes
        .iter()
        .map(|n| format!("{} {}", n.metadata.name.as_deref().unwrap(), n.metadata.uid.as_deref().unwrap()))
        .collect()
}

/// Polls `what` of the watch's snapshot until it equals `want`; fails after [`DEADLINE`]
/// with the last value seen.
async fn converges<T: PartialEq + std::fmt::Debug>(watch: &ClusterWatch, what: impl Fn(&Snapshot) -> T, want: T) {
    let start = Instant::now();
    loop {
        let got = what(&watch.snapshot());
        if got == want {
            return;
        }
        if start.elapsed() > DEADLINE {
            panic!("no convergence within {DEADLINE:?}:\n got {got:?}\nwant {want:?}\n{watch:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds; fails after [`DEADLINE`] saying `what`.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ready(watch: &ClusterWatch) {
    tokio::time::timeout(DEADLINE, watch.ready()).await.unwrap_or_else(|_| panic!("not ready: {watch:?}"));
    assert!(watch.is_ready());
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_once_sees_every_object_across_pages() {
    let s = Setup::start().await;
    s.populate();
    for n in 0..1203 {
        s.server.apply(pod_object("bulk", &format!("p{n:04}"), &format!("uid-{n}"), "node-1", &[]));
    }
    let snapshot = cluster::list_once(&s.api().await).await.unwrap();
    assert_eq!(snapshot.pods.len(), 1206);
    let names: BTreeSet<String> = snapshot.pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert_eq!(names.len(), 1206, "no pod twice");
    // Sorted by namespace then name.
    assert_eq!(pods(&snapshot)[..2], ["bulk/p0000 uid-0 node-1 {}", "bulk/p0001 uid-1 node-1 {}"]);
    assert_eq!(
        pods(&snapshot)[1203..],
        [
            r#"db/c uid-c node-1 {"app": "c"}"#.to_owned(),
            r#"web/a uid-a node-1 {"app": "a"}"#.to_owned(),
            r#"web/b uid-b node-2 {"app": "b"}"#.to_owned()
        ]
    );
    assert_eq!(namespaces(&snapshot), [r#"db {"team": "data"}"#, r#"web {"team": "web"}"#]);
    assert_eq!(nodes(&snapshot), ["node-1 node-uid-1", "node-2 node-uid-2"]);
    // Three pages of 500: the second and third carry the continue token, no resourceVersion.
    let queries = s.queries("/api/v1/pods");
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert_eq!(queries[0], "limit=500");
    assert!(queries[1].starts_with("limit=500&continue=") && queries[2].starts_with("limit=500&continue="));
    assert_eq!(s.queries("/api/v1/namespaces"), ["limit=500"]);
    // Stripped as the watch strips: no status but the phase.
    assert_eq!(serde_json::to_value(snapshot.pods[0].status.clone().unwrap()).unwrap(), json!({"phase": "Running"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_once_refused_names_the_server_and_resource() {
    let s = Setup::start().await;
    s.populate();
    s.server.set(|b| {
        b.forbidden.insert("nodes".into());
    });
    let e = cluster::list_once(s.api().await).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "listing nodes from the API server at {}: nodes is forbidden: User \"system:serviceaccount:spire:attestor-registrar\" cannot list resource \"nodes\" in API group \"\" at the cluster scope (403 Forbidden)",
            s.server.url()
        )
    );
    assert_eq!(e.fault(), Fault::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_reads_pages_at_one_version_and_expires_old_tokens() {
    use kube::api::{Api, ListParams};
    let s = Setup::start().await;
    s.populate();
    let api: Api<Pod> = Api::all(s.api().await.client);
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let names =
        |l: &kube::core::ObjectList<Pod>| l.items.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(names(&first), ["c", "a"]);
    assert_eq!(first.metadata.remaining_item_count, Some(1));
    // A change after the first page is not seen by the next: the list is read at its version.
    s.server.delete("pods", "web/b");
    let mut next = ListParams::default().limit(2);
    next.continue_token = first.metadata.continue_.clone();
    let second = api.list(&next).await.unwrap();
    assert_eq!(names(&second), ["b"]);
    assert_eq!(second.metadata.resource_version, first.metadata.resource_version);
    // Once compacted, the token is too old.
    s.server.compact();
    let e = api.list(&next).await.unwrap_err();
    let kube::Error::Api(status) = e else { panic!("{e}") };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    assert!(status.message.starts_with("The provided continue parameter is too old"), "{}", status.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_becomes_ready_then_follows_pods() {
    let s = Setup::start().await;
    s.populate();
    let watch = ClusterWatch::start_with(s.api().await, settings());
    ready(&watch).await;
    assert_eq!(
        pods(&watch.snapshot()),
        [
            r#"db/c uid-c node-1 {"app": "c"}"#,
            r#"web/a uid-a node-1 {"app": "a"}"#,
            r#"web/b uid-b node-2 {"app": "b"}"#
        ]
    );
    assert_eq!(watch.lists(), BTreeMap::from([("namespaces", 1), ("nodes", 1), ("pods", 1)]));
    // The watcher paged its list and watches from the list's version, with bookmarks.
    let queries = s.queries("/api/v1/pods");
    assert_eq!(queries[0], "limit=2");
    assert!(queries[1].starts_with("limit=2&continue="), "{queries:?}");
    eventually("a pod watch is open", || s.server.open_watches().get("pods") == Some(&1)).await;
    let queries = s.queries("/api/v1/pods");
    let watched = queries.iter().find(|q| q.starts_with("watch=")).unwrap();
    assert_eq!(watched, &format!("watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion={}", 7));

    let mut changes = watch.changes();
    let before = *changes.borrow_and_update();
    // A pod appears.
    s.server.apply(pod_object("web", "d", "uid-d", "node-2", &[("app", "d")]));
    converges(&watch, |w| pods(w).len(), 4).await;
    assert!(*changes.borrow_and_update() > before);
    // Its labels change.
    s.server.modify("pods", "web/d", |p| p["metadata"]["labels"] = json!({"app": "d", "tier": "front"}));
    converges(
        &watch,
        |w| w.pods.iter().find(|p| p.metadata.name.as_deref() == Some("d")).and_then(|p| p.metadata.labels.clone()),
        Some(labels(&[("app", "d"), ("tier", "front")])),
    )
    .await;
    // It moves nodes: deleted, then added again with a new UID on another node.
    s.server.delete("pods", "web/d");
    s.server.apply(pod_object("web", "d", "uid-d2", "node-1", &[("app", "d")]));
    converges(
        &watch,
        |w| pods(w).into_iter().filter(|p| p.starts_with("web/d ")).collect::<Vec<_>>(),
        vec![r#"web/d uid-d2 node-1 {"app": "d"}"#.to_owned()],
    )
    .await;
    // It goes.
    s.server.delete("pods", "web/d");
    converges(
        &watch,
        pods,
        vec![
            r#"db/c uid-c node-1 {"app": "c"}"#.to_owned(),
            r#"web/a uid-a node-1 {"app": "a"}"#.to_owned(),
            r#"web/b uid-b node-2 {"app": "b"}"#.to_owned(),
        ],
    )
    .await;
    assert_eq!(watch.errors(), BTreeMap::from([("namespaces", 0), ("nodes", 0), ("pods", 0)]));
    assert_eq!(watch.lists(), BTreeMap::from([("namespaces", 1), ("nodes", 1), ("pods", 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_and_new_nodes_follow() {
    let s = Setup::start().await;
    s.populate();
    let watch = ClusterWatch::start_with(s.api().await, settings());
    ready(&watch).await;
    s.server.modify("namespaces", "web", |n| n["metadata"]["labels"] = json!({"team": "storefront"}));
    converges(
        &watch,
        namespaces,
        vec![r#"db {"team": "data"}"#.to_owned(), r#"web {"team": "storefront"}"#.to_owned()],
    )
    .await;
    s.server.apply(node_object("node-3", "node-uid-3", &[("pool", "gpu")]));
    converges(
        &watch,
        nodes,
        vec!["node-1 node-uid-1".to_owned(), "node-2 node-uid-2".to_owned(), "node-3 node-uid-3".to_owned()],
    )
    .await;
    let node = watch.snapshot().nodes.into_iter().find(|n| n.metadata.name.as_deref() == Some("node-3")).unwrap();
    assert_eq!(node.metadata.labels, Some(labels(&[("pool", "gpu")])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_and_a_closed_watch_force_a_relist_that_converges() {
    let s = Setup::start().await;
    s.populate();
    let watch = ClusterWatch::start_with(s.api().await, settings());
    ready(&watch).await;
    eventually("three watches open", || s.server.open_watches().values().sum::<usize>() == 3).await;
    // The watches miss these changes (a partitioned connection), then history is compacted
    // and the watches end: resuming from their versions is answered 410.
    s.server.set(|b| b.stall_watches = true);
    s.server.delete("pods", "web/a");
    s.server.modify("pods", "web/b", |p| p["metadata"]["labels"] = json!({"app": "b", "v": "2"}));
    s.server.apply(pod_object("web", "e", "uid-e", "node-2", &[("app", "e")]));
    s.server.delete("namespaces", "db");
    s.server.compact();
    s.server.set(|b| b.stall_watches = false);
    assert_eq!(s.server.close_watches(), 3);
    converges(
        &watch,
        pods,
        vec![
            r#"db/c uid-c node-1 {"app": "c"}"#.to_owned(),
            r#"web/b uid-b node-2 {"app": "b", "v": "2"}"#.to_owned(),
            r#"web/e uid-e node-2 {"app": "e"}"#.to_owned(),
        ],
    )
    .await;
    converges(&watch, namespaces, vec![r#"web {"team": "web"}"#.to_owned()]).await;
    eventually("every resource listed again", || watch.lists().values().all(|n| *n == 2)).await;
    // Each 410 was counted as an error of its resource.
    assert_eq!(watch.errors(), BTreeMap::from([("namespaces", 1), ("nodes", 1), ("pods", 1)]));
    let queries = s.queries("/api/v1/pods");
    let relist = queries.iter().rposition(|q| q == "limit=2").unwrap();
    assert!(queries[..relist].iter().filter(|q| q.starts_with("watch=")).count() >= 2, "{queries:?}");
    // And it keeps following.
    s.server.delete("pods", "db/c");
    converges(&watch, |w| pods(w).len(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookmark_lets_a_watch_resume_past_a_compaction() {
    let s = Setup::start().await;
    s.populate();
    let watch = ClusterWatch::start_with(s.api().await, settings());
    ready(&watch).await;
    eventually("three watches open", || s.server.open_watches().values().sum::<usize>() == 3).await;
    // Nodes change, so the pod watch's own version falls behind the shared one...
    s.server.apply(node_object("node-3", "node-uid-3", &[]));
    converges(&watch, |w| w.nodes.len(), 3).await;
    // ...until a bookmark brings every watch to the current version.
    s.server.bookmark();
    s.server.compact();
    assert_eq!(s.server.close_watches(), 3);
    eventually("three watches open again", || s.server.open_watches().values().sum::<usize>() == 3).await;
    s.server.apply(pod_object("web", "f", "uid-f", "node-3", &[]));
    converges(&watch, |w| pods(w).len(), 4).await;
    assert_eq!(watch.lists(), BTreeMap::from([("namespaces", 1), ("nodes", 1), ("pods", 1)]));
    assert_eq!(watch.errors(), BTreeMap::from([("namespaces", 0), ("nodes", 0), ("pods", 0)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_down_then_up_counts_errors_backs_off_and_recovers() {
    let s = Setup::start().await;
    s.populate();
    let watch = ClusterWatch::start_with(s.api().await, settings());
    ready(&watch).await;
    s.server.set_down(true);
    eventually("errors counted for every resource", || watch.errors().values().all(|n| *n >= 3)).await;
    s.server.apply(pod_object("web", "g", "uid-g", "node-1", &[]));
    s.server.delete("pods", "web/a");
    // Still what it last saw, and still ready.
    assert_eq!(pods(&watch.snapshot()).len(), 3);
    assert!(watch.is_ready());
    let errors = watch.errors().values().sum::<u64>();
    s.server.set_down(false);
    converges(
        &watch,
        |w| pods(w).iter().map(|p| p.split(' ').next().unwrap().to_owned()).collect::<Vec<_>>(),
        vec!["db/c".to_owned(), "web/b".to_owned(), "web/g".to_owned()],
    )
    .await;
    // Backoff: the attempts while down were spaced out (a retry loop without delays would
    // have made thousands of connections); the delays double from 100 ms to 1 s.
    let dropped = s.server.dropped_connections();
    assert!((3..200).contains(&dropped), "{dropped} connections dropped, {errors} errors");
    // Once back, no more errors.
    let after = watch.errors();
    s.server.apply(pod_object("web", "h", "uid-h", "node-1", &[]));
    converges(&watch, |w| pods(w).len(), 4).await;
    assert_eq!(watch.errors(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_the_caller_may_not_read_keeps_the_watch_unready_until_allowed() {
    let s = Setup::start().await;
    s.populate();
    s.server.set(|b| {
        b.forbidden.insert("nodes".into());
    });
    let watch = ClusterWatch::start_with(s.api().await, settings());
    eventually("node errors counted", || watch.errors()["nodes"] >= 2).await;
    assert!(!watch.is_ready());
    assert_eq!(watch.snapshot().nodes.len(), 0);
    s.server.set(|b| {
        b.forbidden.clear();
    });
    ready(&watch).await;
    assert_eq!(nodes(&watch.snapshot()), ["node-1 node-uid-1", "node-2 node-uid-2"]);
    assert_eq!((watch.errors()["pods"], watch.errors()["namespaces"]), (0, 0));
}

#[tokio::test]
async fn a_kubeconfig_that_does_not_exist_is_named() {
    let path = Path::new("/nonexistent/attestor/kubeconfig");
    let Err(e) = cluster::client(Some(path)).await else { panic!("a client from a missing kubeconfig") };
    assert_eq!(e.fault(), Fault::Config);
    assert_eq!(e.to_string(), "kubeconfig /nonexistent/attestor/kubeconfig: No such file or directory (os error 2)");
}

/// A pod as big as a real one: managed fields, volumes, environment, probes, conditions.
fn realistic_pod(n: usize) -> serde_json::Value {
    let mut pod = pod_object(
        "bulk",
        &format!("app-{n:05}"),
        &format!("uid-{n:05}"),
        &format!("node-{}", n % 500),
        &[("app", "shop"), ("pod-template-hash", "7d9f8c")],
    );
    pod["metadata"]["annotations"] = json!({"prometheus.io/scrape": "true"});
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-7d9f8c", "uid": "rs-1", "controller": true}]);
    pod["metadata"]["managedFields"] = json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
         "f:ownerReferences": {".": {}, "k:{\"uid\":\"rs-1\"}": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
         ".": {}, "f:env": {}, "f:image": {}, "f:name": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}}}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:05Z", "subresource": "status",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {},
         "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}
    ]);
    pod["spec"] = json!({
        "nodeName": format!("node-{}", n % 500), "serviceAccountName": "shop",
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
        "containers": [{"name": "app", "image": "registry.example.com/shop/app:1.4.2",
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_HOST", "value": "db.shop.svc.cluster.local"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
    });
    pod["status"] = json!({
        "phase": "Running", "hostIP": "10.0.0.7", "podIP": "10.1.0.9", "podIPs": [{"ip": "10.1.0.9"}],
        "startTime": "2024-01-01T00:00:01Z", "qosClass": "Burstable",
        "conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": "2024-01-01T00:00:01Z"},
                       {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:05Z"},
                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2024-01-01T00:00:05Z"},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
        "containerStatuses": [{"name": "app", "image": "registry.example.com/shop/app:1.4.2",
            "imageID": "registry.example.com/shop/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "containerID": "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:03Z"}}}]
    });
    pod
}

/// Bytes the watch holds for 10,000 realistic pods (live allocations after it is ready, less
/// those before it started).
async fn held_by_watch(s: &Setup, strip: bool) -> isize {
    let api = s.api().await;
    let before = LIVE.load(Ordering::Relaxed);
    let watch = ClusterWatch::start_with(api, WatchSettings { strip, ..WatchSettings::default() });
    tokio::time::timeout(Duration::from_secs(120), watch.ready()).await.unwrap();
    // Let the list's buffers go.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(watch.snapshot().pods.len(), 10_000);
    // The tasks stop (and free the stores) on the runtime, after the handle is dropped.
    drop(watch);
    tokio::time::sleep(Duration::from_millis(500)).await;
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of the whole process's allocations: run alone (`-- --ignored --nocapture memory`)"]
async fn memory_of_10000_pods() {
    let s = Setup::start().await;
    s.populate();
    s.server.delete("pods", "web/a");
    s.server.delete("pods", "web/b");
    s.server.delete("pods", "db/c");
    for n in 0..10_000 {
        s.server.apply(realistic_pod(n));
    }
    let bytes = serde_json::to_vec(&realistic_pod(0)).unwrap().len();
    // The objects alone, decoded as kube decodes them.
    let texts: Vec<Vec<u8>> = (0..10_000).map(|n| serde_json::to_vec(&realistic_pod(n)).unwrap()).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let mut decoded: Vec<Pod> = texts.iter().map(|t| serde_json::from_slice(t).unwrap()).collect();
    let objects = LIVE.load(Ordering::Relaxed) - before;
    decoded.iter_mut().for_each(cluster::strip_pod);
    let objects_stripped = LIVE.load(Ordering::Relaxed) - before;
    drop((decoded, texts));
    println!("10,000 decoded pods: whole {} B/pod, stripped {} B/pod", objects / 10_000, objects_stripped / 10_000);
    use k8s_openapi::api::core::v1::{Container, ContainerStatus};
    println!(
        "the floor of a stripped pod, its structs' own sizes: Pod {} B, Container {} B, ContainerStatus {} B",
        std::mem::size_of::<Pod>(),
        std::mem::size_of::<Container>(),
        std::mem::size_of::<ContainerStatus>()
    );
    let whole = held_by_watch(&s, false).await;
    let stripped = held_by_watch(&s, true).await;
    println!(
        "10,000 pods ({bytes} bytes of JSON each): whole {:.1} MiB ({} B/pod), stripped {:.1} MiB ({} B/pod)",
        whole as f64 / 1048576.0,
        whole / 10_000,
        stripped as f64 / 1048576.0,
        stripped / 10_000
    );
    assert!(stripped * 2 < whole, "stripped {stripped} B, whole {whole} B");
}
