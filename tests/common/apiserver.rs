//! A fake Kubernetes API server on loopback for the `k8s_psat` tests: real TLS (an rcgen CA the
//! client trusts through its kubeconfig), HTTP/1.1 written by hand on tokio-rustls, and what a
//! real kube-apiserver answers (spec `k8s-psat-and-kubelet.md` §1.6, §3.4):
//!
//! * callers authenticate with a bearer token: none → 403 (the anonymous user may not create
//!   TokenReviews or read pods), an unknown one → 401, a caller denied a resource → 403;
//! * `POST /apis/authentication.k8s.io/v1/tokenreviews` reviews real JWTs (ES256, signed by a
//!   key made per server): signature, audience (the spec's, else the server's own), expiry, then
//!   the bound pod's UID; successes are cached for [`Behaviour::success_cache`] (10 s in a real
//!   server), so a token keeps passing for that long after its pod was replaced;
//! * `GET /api/v1/namespaces/<ns>/pods/<name>` and `GET /api/v1/nodes/<name>`, 404 `Status`
//!   when missing;
//! * lists and watches of every pod, namespace and node (`GET /api/v1/{pods,namespaces,nodes}`),
//!   as the registrar's watcher asks for them:
//!   - one `resourceVersion` counter shared by all objects, bumped by every change; each object
//!     carries the version of its last change, a list the version it was read at;
//!   - `limit`/`continue` paging: pages are read at the first page's version (a continue token
//!     names it), in key order (`namespace/name`); a token older than the compaction point is
//!     a 410 `Expired` `Status`;
//!   - `watch=true&resourceVersion=N`: a chunked stream of `WatchEvent` JSON lines (`ADDED`,
//!     `MODIFIED`, `DELETED`; `BOOKMARK` when `allowWatchBookmarks=true` and the test asks for
//!     one), every change after `N` first, then changes as they happen, until `timeoutSeconds`
//!     or [`FakeApiServer::close_watches`]; from a version older than the compaction point
//!     ([`FakeApiServer::compact`]) the stream is one `ERROR` event with a 410 `Expired`
//!     `Status`, as etcd's compaction makes a real server answer; `resourceVersion=0` (or none)
//!     starts with an `ADDED` event per current object;
//!   - [`FakeApiServer::set_down`] drops every connection (open watches included) as a server
//!     that went away, and every new one until it is brought back; [`Behaviour::stall_watches`] stops delivering changes to open watches (a
//!     partitioned connection: the events are lost to it).
//!
//! Every request is logged (watches when they start).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{KeyPair, SigningKey};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

// Each fake carries its own copy, so a test can include either alone.
#[allow(clippy::duplicate_mod)]
#[path = "tls.rs"]
mod tls;

#[path = "http1.rs"]
mod http1;

/// The audience the server accepts when a review names none (its `--api-audiences`).
pub const SERVER_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// The issuer of its service-account tokens.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// What the server does; change it while it runs.
pub struct Behaviour {
    /// The bearer tokens of known callers, and their user names.
    pub callers: HashMap<String, String>,
    /// Resources (`tokenreviews`, `pods`, `nodes`) every known caller is denied.
    pub forbidden: HashSet<String>,
    /// The server's own audiences.
    pub api_audiences: Vec<String>,
    /// How long a successful review is answered from the cache.
    pub success_cache: Duration,
    /// Wait this long before answering.
    pub delay: Duration,
    /// The server is gone: connections are dropped as soon as they are accepted, and open
    /// watches end without their final chunk.
    pub down: bool,
    /// Changes are not delivered to open watches (they are still recorded and listed).
    pub stall_watches: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            callers: HashMap::new(),
            forbidden: HashSet::new(),
            api_audiences: vec![SERVER_AUDIENCE.to_owned()],
            success_cache: Duration::from_secs(10),
            delay: Duration::ZERO,
            down: false,
            stall_watches: false,
        }
    }
}

/// One request, as received.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// The query string (after `?`), as sent.
    pub query: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// The collections listed and watched, by their path segment.
pub const RESOURCES: [&str; 3] = ["pods", "namespaces", "nodes"];

#[derive(Default)]
struct State {
    /// Objects by resource (`pods`, `namespaces`, `nodes`), then by key (`ns/name` or `name`).
    objects: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// The last resource version given out (shared by all objects).
    version: u64,
    /// Changes at or before this version are forgotten.
    compacted: u64,
    /// Changes since the compaction point, oldest first.
    history: Vec<Change>,
    watches: Vec<OpenWatch>,
    /// (token, audiences) → when it succeeded and the status answered.
    cache: HashMap<(String, Vec<String>), (Instant, Value)>,
    /// coordination.k8s.io Leases by (namespace, name), for the registrar's leader election.
    leases: BTreeMap<(String, String), Value>,
}

/// One change of one object.
struct Change {
    version: u64,
    resource: &'static str,
    key: String,
    before: Option<Value>,
    after: Option<Value>,
}

/// A watch being streamed.
struct OpenWatch {
    resource: &'static str,
    bookmarks: bool,
    events: tokio::sync::mpsc::UnboundedSender<Value>,
}

impl State {
    fn pod(&self, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get("pods")?.get(&format!("{ns}/{name}"))
    }

    fn node(&self, name: &str) -> Option<&Value> {
        self.objects.get("nodes")?.get(name)
    }

    /// Records `after` as the object `resource`/`key` (`None`: its deletion) under a new
    /// version, and sends the event to the open watches of that resource unless `stall`.
    fn change(&mut self, resource: &'static str, key: String, after: Option<Value>, stall: bool) -> u64 {
        let before = self.objects.get(resource).and_then(|m| m.get(&key)).cloned();
        self.insert(resource, key, before, after, stall)
    }

    fn insert(
        &mut self,
        resource: &'static str,
        key: String,
        before: Option<Value>,
        after: Option<Value>,
        stall: bool,
    ) -> u64 {
        if before.is_none() && after.is_none() {
            return self.version;
        }
        self.version += 1;
        let version = self.version;
        let (kind, object) = match (&before, &after) {
            (None, Some(after)) => ("ADDED", after.clone()),
            (Some(_), Some(after)) => ("MODIFIED", after.clone()),
            (Some(before), None) => ("DELETED", before.clone()),
            (None, None) => unreachable!(),
        };
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let after = after.map(|_| object.clone());
        let map = self.objects.entry(resource).or_default();
        match &after {
            Some(a) => map.insert(key.clone(), a.clone()),
            None => map.remove(&key),
        };
        self.history.push(Change { version, resource, key, before, after });
        if !stall {
            let event = json!({"type": kind, "object": object});
            self.watches.retain(|w| w.resource != resource || w.events.send(event.clone()).is_ok());
        }
        version
    }

    /// The objects of `resource` from key `after` on, as they were at `version` (not older than
    /// the compaction point): the first `limit` (all when `None`), and how many follow them.
    fn page_at(
        &self,
        resource: &str,
        version: u64,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> (Vec<(String, Value)>, usize) {
        let empty = BTreeMap::new();
        let current = self.objects.get(resource).unwrap_or(&empty);
        // What changed since `version`, as it was then (oldest change wins: applied last).
        let mut then: BTreeMap<&str, Option<&Value>> = BTreeMap::new();
        for change in self.history.iter().rev().take_while(|c| c.version > version) {
            if change.resource == resource {
                then.insert(change.key.as_str(), change.before.as_ref());
            }
        }
        let from = after.unwrap_or("");
        let unchanged = current
            .range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded))
            .filter(|(k, _)| !then.contains_key(k.as_str()));
        let changed = then.range(from..).filter_map(|(k, v)| v.map(|v| (*k, v)));
        let mut all: BTreeMap<&str, &Value> = changed.collect();
        let want = limit.map_or(usize::MAX, |l| l + 1);
        let total = unchanged.clone().count() + all.len();
        all.extend(unchanged.take(want).map(|(k, v)| (k.as_str(), v)));
        let mut page: Vec<(String, Value)> =
            all.into_iter().take(want).map(|(k, v)| (k.to_owned(), v.clone())).collect();
        page.truncate(limit.unwrap_or(usize::MAX));
        let rest = total - page.len();
        (page, rest)
    }
}

/// The resource a `kind` is listed under.
fn resource_of(kind: &str) -> &'static str {
    match kind {
        "Pod" => "pods",
        "Namespace" => "namespaces",
        "Node" => "nodes",
        other => panic!("the fake API server keeps no {other}"),
    }
}

/// The key of an object: `namespace/name` for namespaced ones, else `name`.
fn key_of(object: &Value) -> String {
    let name = object["metadata"]["name"].as_str().expect("metadata.name");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// A pod object as the API server stores it: on `node`, with `labels`, one container.
pub fn pod_object(ns: &str, name: &str, uid: &str, node: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": labels},
        "spec": {"nodeName": node, "serviceAccountName": "default", "containers": [{"name": "app", "image": "example/app:1"}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.7"}
    })
}

/// A namespace object with `labels`.
pub fn namespace_object(name: &str, uid: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "uid": uid, "labels": labels},
           "status": {"phase": "Active"}})
}

/// A node object with `labels`.
pub fn node_object(name: &str, uid: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "uid": uid, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}
    })
}

/// A running fake API server.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    ca_pem: String,
    key: Arc<KeyPair>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<Mutex<State>>,
    log: Arc<Mutex<Vec<Logged>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

/// The claims of an agent's projected token.
#[derive(Clone, Debug)]
pub struct AgentToken {
    pub namespace: String,
    pub service_account: String,
    pub pod_name: String,
    pub pod_uid: String,
    pub audiences: Vec<String>,
    /// Seconds from now until it expires (negative: already expired).
    pub expires_in: i64,
}

impl AgentToken {
    /// `spire/spire-agent` bound to `pod_name`/`pod_uid`, audience `spire-server`, 600 s.
    pub fn new(pod_name: &str, pod_uid: &str) -> Self {
        Self {
            namespace: "spire".into(),
            service_account: "spire-agent".into(),
            pod_name: pod_name.into(),
            pod_uid: pod_uid.into(),
            audiences: vec!["spire-server".into()],
            expires_in: 600,
        }
    }
}

impl FakeApiServer {
    /// A server trusting the caller `token` as `system:serviceaccount:spire:spire-server`.
    pub async fn start(token: &str) -> Self {
        let mut behaviour = Behaviour::default();
        behaviour.callers.insert(token.to_owned(), "system:serviceaccount:spire:spire-server".to_owned());
        let (ca_pem, acceptor) = tls::serving("fake kubernetes CA", &["127.0.0.1", "localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            addr: listener.local_addr().unwrap(),
            ca_pem,
            key: Arc::new(KeyPair::generate().unwrap()),
            behaviour: Arc::new(Mutex::new(behaviour)),
            state: Arc::default(),
            log: Arc::default(),
            dropped: Arc::default(),
        };
        let shared = server.shared();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // Headers and body are written separately: without this, Nagle's algorithm and
                // the client's delayed ACK stall each answer ~44 ms (a Go API server turns Nagle
                // off on every connection). Measured: 132 ms per three-call attestation.
                let _ = tcp.set_nodelay(true);
                if shared.behaviour.lock().unwrap().down {
                    shared.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(tcp);
                    continue;
                }
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve(tls, shared).await;
                    }
                });
            }
        });
        server
    }

    fn shared(&self) -> Shared {
        Shared {
            key: self.key.clone(),
            behaviour: self.behaviour.clone(),
            state: self.state.clone(),
            log: self.log.clone(),
            dropped: self.dropped.clone(),
        }
    }

    /// How many connections were dropped because the server was down.
    pub fn dropped_connections(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig naming this server, `ca_file` (holding [`Self::ca_pem`]) and `token`.
    pub fn kubeconfig(&self, ca_file: &std::path::Path, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: spire-server\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: spire-server\ncurrent-context: fake\n",
            self.url(),
            ca_file.display()
        )
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }

    /// Adds (or replaces) the pod `ns/name` with `uid`, on `node`.
    pub fn put_pod(&self, ns: &str, name: &str, uid: &str, node: &str) {
        let pod = json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"app": "spire-agent"}},
            "spec": {"nodeName": node, "serviceAccountName": "spire-agent", "containers": [{"name": "agent", "image": "spire-agent"}]},
            "status": {"phase": "Running", "hostIP": "10.0.0.7"}
        });
        self.apply(pod);
    }

    pub fn put_node(&self, name: &str, uid: &str) {
        let node = json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": uid, "labels": {"pool": "general"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}
        });
        self.apply(node);
    }

    /// Adds or replaces `object` (a `Pod`, `Namespace` or `Node`, by its `kind`): a new resource
    /// version, and an `ADDED` or `MODIFIED` event to the open watches. Returns the version.
    pub fn apply(&self, object: Value) -> u64 {
        let resource = resource_of(object["kind"].as_str().expect("kind"));
        let key = key_of(&object);
        let stall = self.behaviour.lock().unwrap().stall_watches;
        self.state.lock().unwrap().change(resource, key, Some(object), stall)
    }

    /// Changes the stored object `resource`/`key` (`ns/name` for pods) with `f`, as [`Self::apply`].
    pub fn modify(&self, resource: &str, key: &str, f: impl FnOnce(&mut Value)) -> u64 {
        let mut object = self.get(resource, key).unwrap_or_else(|| panic!("no {resource} {key}"));
        f(&mut object);
        self.apply(object)
    }

    /// Deletes `resource`/`key`: a `DELETED` event carrying the object at a new version.
    /// Returns the version (unchanged when there was nothing to delete).
    pub fn delete(&self, resource: &str, key: &str) -> u64 {
        let resource = RESOURCES.into_iter().find(|r| *r == resource).expect("a listed resource");
        let stall = self.behaviour.lock().unwrap().stall_watches;
        self.state.lock().unwrap().change(resource, key.to_owned(), None, stall)
    }

    /// The stored object `resource`/`key`, if any.
    pub fn get(&self, resource: &str, key: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(resource)?.get(key).cloned()
    }

    /// How many objects of `resource` are stored.
    pub fn count(&self, resource: &str) -> usize {
        self.state.lock().unwrap().objects.get(resource).map_or(0, BTreeMap::len)
    }

    /// The last resource version given out.
    pub fn resource_version(&self) -> u64 {
        self.state.lock().unwrap().version
    }

    /// Forgets every change up to now (etcd's compaction): lists, continue tokens and watches
    /// from an older version answer 410 `Expired`.
    pub fn compact(&self) {
        let mut state = self.state.lock().unwrap();
        state.compacted = state.version;
        state.history.clear();
    }

    /// Ends every open watch normally (the final chunk), as a server does at `timeoutSeconds`.
    /// Returns how many there were.
    pub fn close_watches(&self) -> usize {
        std::mem::take(&mut self.state.lock().unwrap().watches).len()
    }

    /// How many watches are open, by resource.
    pub fn open_watches(&self) -> BTreeMap<&'static str, usize> {
        let mut state = self.state.lock().unwrap();
        state.watches.retain(|w| !w.events.is_closed());
        let mut open = BTreeMap::new();
        for w in &state.watches {
            *open.entry(w.resource).or_insert(0) += 1;
        }
        open
    }

    /// Sends a `BOOKMARK` at the current version to every open watch that allows them.
    pub fn bookmark(&self) {
        let state = self.state.lock().unwrap();
        for w in state.watches.iter().filter(|w| w.bookmarks) {
            let _ = w.events.send(bookmark(w.resource, state.version));
        }
    }

    /// Takes the server down (`true`: open watches dropped, new connections dropped) or brings
    /// it back.
    pub fn set_down(&self, down: bool) {
        self.behaviour.lock().unwrap().down = down;
        if down {
            // Dropping the senders ends each stream; the serving task sees `down` and drops
            // the connection without the final chunk.
            self.state.lock().unwrap().watches.clear();
        }
    }

    /// A projected token signed by this server's key.
    pub fn issue(&self, token: &AgentToken) -> String {
        let now = unix_now();
        let claims = json!({
            "aud": token.audiences, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + token.expires_in,
            "sub": format!("system:serviceaccount:{}:{}", token.namespace, token.service_account),
            "kubernetes.io": {
                "namespace": token.namespace,
                "pod": {"name": token.pod_name, "uid": token.pod_uid},
                "serviceaccount": {"name": token.service_account, "uid": "sa-uid-1"}
            }
        });
        sign_jwt(&self.key, &claims)
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[derive(Clone)]
struct Shared {
    key: Arc<KeyPair>,
    behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<Mutex<State>>,
    log: Arc<Mutex<Vec<Logged>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: Shared) {
    loop {
        let Some(request) = read_request(&mut s).await else { return };
        if shared.behaviour.lock().unwrap().down {
            return;
        }
        shared.log.lock().unwrap().push(request.clone());
        let delay = shared.behaviour.lock().unwrap().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (status, body) = match answer(&shared, &request) {
            Reply::Json(status, body) => (status, body),
            Reply::Watch(watch) => {
                if stream_watch(&mut s, &shared, watch).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if http1::write_json(&mut s, status, &body).await.is_err() {
            return;
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Logged> {
    let r = http1::read_request(s).await?;
    Some(Logged { method: r.method, path: r.path, query: r.query, authorization: r.authorization, body: r.body })
}

/// A Lease read, created or replaced as the API server does: a replacement must carry the
/// `resourceVersion` stored (else 409 Conflict), and every write gets a new one.
fn lease(state: &mut State, ns: &str, name: &str, verb: &str, body: &[u8]) -> (u16, Value) {
    let conflict = |name: &str| {
        status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    };
    if verb == "get" {
        return match state.leases.get(&(ns.to_owned(), name.to_owned())) {
            Some(l) => (200, l.clone()),
            None => status(404, "NotFound", &format!("leases.coordination.k8s.io \"{name}\" not found")),
        };
    }
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "the request body is not a Lease");
    };
    let name = object["metadata"]["name"].as_str().unwrap_or(name).to_owned();
    let key = (ns.to_owned(), name.clone());
    match (verb, state.leases.get(&key)) {
        ("create", Some(_)) => {
            return status(409, "AlreadyExists", &format!("leases.coordination.k8s.io \"{name}\" already exists"));
        }
        ("update", None) => {
            return status(404, "NotFound", &format!("leases.coordination.k8s.io \"{name}\" not found"));
        }
        ("update", Some(stored)) if stored["metadata"]["resourceVersion"] != object["metadata"]["resourceVersion"] => {
            return conflict(&name);
        }
        _ => {}
    }
    state.version += 1;
    object["metadata"]["resourceVersion"] = json!(state.version.to_string());
    object["metadata"]["namespace"] = json!(ns);
    state.leases.insert(key, object.clone());
    (if verb == "create" { 201 } else { 200 }, object)
}

impl FakeApiServer {
    /// The lease stored as `ns/name`, if any.
    pub fn lease(&self, ns: &str, name: &str) -> Option<Value> {
        self.state.lock().unwrap().leases.get(&(ns.to_owned(), name.to_owned())).cloned()
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// What a request is answered with.
enum Reply {
    /// A whole JSON answer.
    Json(u16, Value),
    /// A watch stream.
    Watch(Watch),
}

impl From<(u16, Value)> for Reply {
    fn from((code, body): (u16, Value)) -> Self {
        Self::Json(code, body)
    }
}

/// A watch to stream: the events before it started, then those its receiver gets.
struct Watch {
    first: Vec<Value>,
    /// `None`: the stream is only `first` (an `ERROR`).
    events: Option<tokio::sync::mpsc::UnboundedReceiver<Value>>,
    timeout: Duration,
}

/// The query parameters of a request.
fn query(request: &Logged) -> HashMap<String, String> {
    request
        .query
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))).filter(|(k, _)| !k.is_empty()))
        .map(|(k, v)| (k.to_owned(), unescape(v)))
        .collect()
}

/// `%XX` and `+` decoded.
fn unescape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to one request: the caller's authentication and authorization, then the route.
fn answer(shared: &Shared, request: &Logged) -> Reply {
    let path: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let params = query(request);
    let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let (resource, name, ns, verb) = match (request.method.as_str(), path.as_slice()) {
        ("POST", ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => ("tokenreviews", "", "", "create"),
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => ("pods", *name, *ns, "get"),
        ("GET", ["api", "v1", "nodes", name]) => ("nodes", *name, "", "get"),
        ("GET", ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases", name]) => {
            ("leases", *name, *ns, "get")
        }
        ("PUT", ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases", name]) => {
            ("leases", *name, *ns, "update")
        }
        ("POST", ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases"]) => ("leases", "", *ns, "create"),
        ("GET", ["api", "v1", collection]) if RESOURCES.contains(collection) => {
            let resource = RESOURCES.into_iter().find(|r| r == collection).unwrap_or_default();
            (resource, "", "", if watching { "watch" } else { "list" })
        }
        _ => return status(404, "NotFound", "the server could not find the requested resource").into(),
    };
    let behaviour = shared.behaviour.lock().unwrap();
    let user = match request.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        None => "system:anonymous".to_owned(),
        Some(token) => match behaviour.callers.get(token) {
            Some(user) => user.clone(),
            None => return status(401, "Unauthorized", "Unauthorized").into(),
        },
    };
    if user == "system:anonymous" || behaviour.forbidden.contains(resource) {
        let group = match resource {
            "tokenreviews" => "authentication.k8s.io",
            "leases" => "coordination.k8s.io",
            _ => "",
        };
        let named = if name.is_empty() { String::new() } else { format!(" \"{name}\"") };
        let full = if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") };
        let scope =
            if ns.is_empty() { "at the cluster scope".to_owned() } else { format!("in the namespace \"{ns}\"") };
        let message = format!(
            "{full}{named} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
        );
        return status(403, "Forbidden", &message).into();
    }
    let api_audiences = behaviour.api_audiences.clone();
    let cache_for = behaviour.success_cache;
    drop(behaviour);
    let mut state = shared.state.lock().unwrap();
    match (resource, verb) {
        ("leases", _) => lease(&mut state, ns, name, verb, &request.body).into(),
        (_, "list") => list(&state, resource, &params).into(),
        (_, "watch") => watch(&mut state, resource, &params),
        ("pods", _) => match state.pod(ns, name) {
            Some(pod) => (200, pod.clone()),
            None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
        }
        .into(),
        ("nodes", _) => match state.node(name) {
            Some(node) => (200, node.clone()),
            None => status(404, "NotFound", &format!("nodes \"{name}\" not found")),
        }
        .into(),
        _ => {
            let Ok(review) = serde_json::from_slice::<Value>(&request.body) else {
                return status(400, "BadRequest", "the request body is not a TokenReview").into();
            };
            let spec = review["spec"].clone();
            let token = spec["token"].as_str().unwrap_or_default().to_owned();
            let asked: Vec<String> = serde_json::from_value(spec["audiences"].clone()).unwrap_or_default();
            let key = (token.clone(), asked.clone());
            let result = match state.cache.get(&key) {
                Some((at, cached)) if at.elapsed() < cache_for => cached.clone(),
                _ => {
                    let result = review_token(&shared.key, &state, &token, &asked, &api_audiences);
                    if result["authenticated"] == json!(true) {
                        state.cache.insert(key, (Instant::now(), result.clone()));
                    }
                    result
                }
            };
            Reply::Json(
                201,
                json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"creationTimestamp": null}, "spec": spec, "status": result}),
            )
        }
    }
}

/// The `kind` of a list of `resource`.
fn kind_of(resource: &str) -> &'static str {
    match resource {
        "pods" => "Pod",
        "namespaces" => "Namespace",
        _ => "Node",
    }
}

/// kube-apiserver's message for a watch from a compacted version.
fn too_old(asked: u64, compacted: u64) -> (u16, Value) {
    status(410, "Expired", &format!("too old resource version: {asked} ({compacted})"))
}

/// The message of a continue token older than the compaction point (kube-apiserver's).
const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// One page of a list: `limit` objects at most, after the continue token's key, read at its
/// version (or now).
fn list(state: &State, resource: &'static str, params: &HashMap<String, String>) -> (u16, Value) {
    let (version, after) = match params.get("continue").filter(|c| !c.is_empty()) {
        None => (state.version, None),
        Some(token) => {
            let Some(decoded) = b64url_decode(token).and_then(|t| serde_json::from_slice::<Value>(&t).ok()) else {
                return status(400, "BadRequest", "continue key is not valid: illegal base64 data");
            };
            let version = decoded["rv"].as_u64().unwrap_or(0);
            if version < state.compacted {
                return status(410, "Expired", CONTINUE_TOO_OLD);
            }
            (version, decoded["start"].as_str().map(str::to_owned))
        }
    };
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
    let (page, rest) = state.page_at(resource, version, after.as_deref(), limit);
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if rest > 0 {
        // The next page starts after the last key of this one.
        let next = format!("{}\u{0}", page.last().map(|(k, _)| k.as_str()).unwrap_or_default());
        let token = json!({"v": "meta.k8s.io/v1", "rv": version, "start": next});
        metadata["continue"] = json!(b64url(&serde_json::to_vec(&token).unwrap()));
        metadata["remainingItemCount"] = json!(rest);
    }
    let items: Vec<Value> = page.into_iter().map(|(_, v)| v).collect();
    (
        200,
        json!({"kind": format!("{}List", kind_of(resource)), "apiVersion": "v1", "metadata": metadata, "items": items}),
    )
}

/// A `BOOKMARK` event of `resource` at `version`.
fn bookmark(resource: &str, version: u64) -> Value {
    json!({"type": "BOOKMARK", "object": {"kind": kind_of(resource), "apiVersion": "v1",
                                          "metadata": {"resourceVersion": version.to_string()}}})
}

/// Starts a watch of `resource`: the changes after the asked version (or every object as
/// `ADDED` from version 0), then what happens next; an `ERROR` 410 from a compacted version.
fn watch(state: &mut State, resource: &'static str, params: &HashMap<String, String>) -> Reply {
    let asked = params.get("resourceVersion").map(String::as_str).unwrap_or("0");
    let Ok(asked) = asked.parse::<u64>() else {
        return status(400, "BadRequest", &format!("resourceVersion: Invalid value: \"{asked}\"")).into();
    };
    let timeout = Duration::from_secs(params.get("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(1800));
    if asked != 0 && asked < state.compacted {
        let (_, status) = too_old(asked, state.compacted);
        return Reply::Watch(Watch { first: vec![json!({"type": "ERROR", "object": status})], events: None, timeout });
    }
    let first: Vec<Value> = if asked == 0 {
        let objects = state.objects.get(resource).cloned().unwrap_or_default();
        objects.into_values().map(|o| json!({"type": "ADDED", "object": o})).collect()
    } else {
        state
            .history
            .iter()
            .filter(|c| c.resource == resource && c.version > asked)
            .map(|c| match (&c.before, &c.after) {
                (None, Some(a)) => json!({"type": "ADDED", "object": a}),
                (Some(_), Some(a)) => json!({"type": "MODIFIED", "object": a}),
                (Some(b), None) => {
                    let mut b = b.clone();
                    b["metadata"]["resourceVersion"] = json!(c.version.to_string());
                    json!({"type": "DELETED", "object": b})
                }
                (None, None) => unreachable!(),
            })
            .collect()
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let bookmarks = params.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    state.watches.push(OpenWatch { resource, bookmarks, events: tx });
    Reply::Watch(Watch { first, events: Some(rx), timeout })
}

/// Streams a watch as chunked JSON lines: `Err` when the connection must be dropped (written
/// to in vain, or the server went down).
async fn stream_watch<S: AsyncWrite + Unpin>(s: &mut S, shared: &Shared, watch: Watch) -> Result<(), ()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.map_err(drop)?;
    for event in &watch.first {
        write_chunk(s, event).await?;
    }
    if let Some(mut events) = watch.events {
        let deadline = tokio::time::sleep(watch.timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => write_chunk(s, &event).await?,
                    None => break,
                },
                () = &mut deadline => break,
            }
        }
    }
    if shared.behaviour.lock().unwrap().down {
        return Err(());
    }
    s.write_all(b"0\r\n\r\n").await.map_err(drop)?;
    s.flush().await.map_err(drop)
}

async fn write_chunk<S: AsyncWrite + Unpin>(s: &mut S, event: &Value) -> Result<(), ()> {
    let mut line = serde_json::to_vec(event).unwrap();
    line.push(b'\n');
    let mut chunk = format!("{:x}\r\n", line.len()).into_bytes();
    chunk.extend(line);
    chunk.extend(b"\r\n");
    s.write_all(&chunk).await.map_err(drop)?;
    s.flush().await.map_err(drop)
}

/// Go's `%q` of a string list, as the API server's messages print audiences.
fn go_list(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| serde_json::to_string(s).unwrap()).collect();
    format!("[{}]", quoted.join(" "))
}

/// A review's status, in the order the service-account authenticator checks: signature,
/// audience, expiry, bound pod.
fn review_token(key: &KeyPair, state: &State, token: &str, asked: &[String], api_audiences: &[String]) -> Value {
    let failed = |why: &str| json!({"user": {}, "error": format!("[invalid bearer token, {why}]")});
    let Some(claims) = verify_jwt(key, token) else {
        return failed("square/go-jose: error in cryptographic primitive");
    };
    let token_audiences: Vec<String> = serde_json::from_value(claims["aud"].clone()).unwrap_or_default();
    let target = if asked.is_empty() { api_audiences.to_vec() } else { asked.to_vec() };
    let granted: Vec<String> = target.iter().filter(|a| token_audiences.contains(a)).cloned().collect();
    if granted.is_empty() {
        return failed(&format!(
            "token audiences {} is invalid for the target audiences {}",
            go_list(&token_audiences),
            go_list(&target)
        ));
    }
    if claims["exp"].as_i64().unwrap_or(0) < unix_now() {
        return failed("service account token has expired");
    }
    let k8s = &claims["kubernetes.io"];
    let (ns, pod_name, pod_uid) = (
        k8s["namespace"].as_str().unwrap_or_default(),
        k8s["pod"]["name"].as_str().unwrap_or_default(),
        k8s["pod"]["uid"].as_str().unwrap_or_default(),
    );
    match state.pod(ns, pod_name) {
        None => return failed(&format!("pods \"{pod_name}\" not found")),
        Some(pod) if pod["metadata"]["uid"].as_str() != Some(pod_uid) => {
            let now = pod["metadata"]["uid"].as_str().unwrap_or_default();
            return failed(&format!("Pod UID ({now}) does not match claim ({pod_uid})"));
        }
        Some(_) => {}
    }
    json!({
        "authenticated": true,
        "audiences": granted,
        "user": {
            "username": claims["sub"],
            "uid": k8s["serviceaccount"]["uid"],
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
            "extra": {
                "authentication.kubernetes.io/pod-name": [pod_name],
                "authentication.kubernetes.io/pod-uid": [pod_uid]
            }
        }
    })
}

/// An ES256 JWT of `claims`.
pub fn sign_jwt(key: &KeyPair, claims: &Value) -> String {
    let header = b64url(br#"{"alg":"ES256","kid":"fake"}"#);
    let payload = b64url(&serde_json::to_vec(claims).unwrap());
    let signed = format!("{header}.{payload}");
    let der = key.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64url(&der_to_fixed(&der)))
}

/// The claims of `token` if `key` signed it.
fn verify_jwt(key: &KeyPair, token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let fixed = b64url_decode(signature)?;
    if parts.next().is_some() || fixed.len() != 64 {
        return None;
    }
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let (_, algs) = algorithms.mapping.iter().find(|(s, _)| *s == rustls::SignatureScheme::ECDSA_NISTP256_SHA256)?;
    let message = format!("{header}.{payload}");
    algs.first()?.verify_signature(key.public_key_raw(), message.as_bytes(), &fixed_to_der(&fixed)).ok()?;
    serde_json::from_slice(&b64url_decode(payload)?).ok()
}

/// An ASN.1 `SEQUENCE { r INTEGER, s INTEGER }` ECDSA signature as JOSE's 64-byte `r || s`.
fn der_to_fixed(der: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        let len = der[at + 1] as usize;
        let int = &der[at + 2..at + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

fn fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for half in fixed.chunks(32) {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut int = if trimmed.first().is_some_and(|b| b & 0x80 != 0) { vec![0] } else { Vec::new() };
        int.extend(if trimmed.is_empty() { vec![0] } else { trimmed });
        body.push(0x02);
        body.push(int.len() as u8);
        body.extend(int);
    }
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    der
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        bits = (bits << 6) | B64.iter().position(|b| *b == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}
