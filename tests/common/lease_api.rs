//! A fake `coordination.k8s.io/v1` Lease API on loopback for the registrar's leader election:
//! real TLS (an rcgen CA the client trusts through its kubeconfig), HTTP/1.1 written by hand on
//! tokio-rustls, and what a real kube-apiserver answers for leases:
//!
//! * `GET /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`: the lease, or 404
//!   `NotFound` `Status`;
//! * `POST …/namespaces/{ns}/leases`: creates it (`resourceVersion`, `uid`,
//!   `creationTimestamp` set), or 409 `AlreadyExists`;
//! * `PUT …/namespaces/{ns}/leases/{name}`: replaces it when the body's
//!   `metadata.resourceVersion` is the stored one, else 409 `Conflict` (the API server's
//!   message); 404 when there is no such lease (leases are not created by PUT); 422 `Invalid`
//!   without a `resourceVersion`;
//! * every write is validated as the API server validates a lease: `acquireTime` and
//!   `renewTime` MicroTime (`2006-01-02T15:04:05.000000Z`), `leaseDurationSeconds` greater than
//!   0 and `leaseTransitions` not negative when present (422 `Invalid`), a name matching the
//!   path (400 `BadRequest`);
//! * one `resourceVersion` counter for every write;
//! * faults per caller (by bearer token): a 500 `InternalError` for each request, connections
//!   dropped unanswered, or requests left unanswered;
//! * [`Behaviour::interfere_next_put`]: just before the next PUT is checked, another writer's
//!   record is stored (a new version), so that PUT is answered 409.
//!
//! Every request is logged with the status answered.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;

// Each fake carries its own copy, so a test can include either alone.
#[allow(clippy::duplicate_mod)]
#[path = "tls.rs"]
mod tls;

#[path = "http1.rs"]
mod http1;

/// The path prefix of the Lease API.
pub const PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

/// What the fake does to a caller's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer 500 with an `InternalError` `Status`.
    Status500,
    /// Drop the connection without answering.
    Drop,
    /// Never answer (the connection stays open).
    Stall,
}

/// What the server does; change it while it runs.
#[derive(Default)]
pub struct Behaviour {
    /// Faults by caller bearer token.
    pub failing: HashMap<String, Failure>,
    /// The spec another writer stores just before the next PUT is checked.
    pub interfere_next_put: Option<Value>,
}

/// One request, as received, and the status answered (0: none).
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Logged {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct State {
    /// Leases by (namespace, name).
    leases: BTreeMap<(String, String), Value>,
    version: u64,
}

#[derive(Clone)]
struct Shared {
    behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<Mutex<State>>,
    log: Arc<Mutex<Vec<Logged>>>,
}

/// A running fake Lease API.
pub struct FakeLeaseApi {
    pub addr: SocketAddr,
    ca_pem: String,
    shared: Shared,
}

impl FakeLeaseApi {
    pub async fn start() -> Self {
        let (ca_pem, acceptor) = tls::serving("fake lease API CA", &["127.0.0.1", "localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Shared { behaviour: Arc::default(), state: Arc::default(), log: Arc::default() };
        let server = Self { addr: listener.local_addr().unwrap(), ca_pem, shared: shared.clone() };
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
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

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig naming this server, `ca_file` (holding [`Self::ca_pem`]) and `token`.
    pub fn kubeconfig(&self, ca_file: &std::path::Path, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: registrar\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: registrar\ncurrent-context: fake\n",
            self.url(),
            ca_file.display()
        )
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.shared.behaviour.lock().unwrap());
    }

    /// Makes `token`'s requests fail as `failure` (`None`: answer them again).
    pub fn fail(&self, token: &str, failure: Option<Failure>) {
        let mut behaviour = self.shared.behaviour.lock().unwrap();
        match failure {
            Some(f) => behaviour.failing.insert(token.to_owned(), f),
            None => behaviour.failing.remove(token),
        };
    }

    /// The stored lease `ns/name`.
    pub fn lease(&self, ns: &str, name: &str) -> Option<Value> {
        self.shared.state.lock().unwrap().leases.get(&(ns.to_owned(), name.to_owned())).cloned()
    }

    /// The stored lease's `spec.holderIdentity` (`""` when empty or absent, `None` without a
    /// lease).
    pub fn holder(&self, ns: &str, name: &str) -> Option<String> {
        self.lease(ns, name).map(|l| l["spec"]["holderIdentity"].as_str().unwrap_or_default().to_owned())
    }

    /// Stores `spec` as lease `ns/name` at a new version, as another writer would (created when
    /// absent). Returns the version.
    pub fn put_lease(&self, ns: &str, name: &str, spec: Value) -> u64 {
        store(&mut self.shared.state.lock().unwrap(), ns, name, spec)
    }

    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }
}

/// Stores `spec` under `ns/name` at a new version.
fn store(state: &mut State, ns: &str, name: &str, spec: Value) -> u64 {
    state.version += 1;
    let version = state.version;
    let key = (ns.to_owned(), name.to_owned());
    let metadata = match state.leases.get(&key) {
        Some(old) => old["metadata"].clone(),
        None => json!({"name": name, "namespace": ns, "uid": format!("lease-uid-{version}"),
                       "creationTimestamp": "2026-12-01T00:00:00Z"}),
    };
    let mut lease =
        json!({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": metadata, "spec": spec});
    lease["metadata"]["resourceVersion"] = json!(version.to_string());
    state.leases.insert(key, lease);
    version
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: Shared) {
    loop {
        let Some(mut request) = read_request(&mut s).await else { return };
        let failure = request.token.as_ref().and_then(|t| shared.behaviour.lock().unwrap().failing.get(t).copied());
        let (status, body) = match failure {
            Some(Failure::Drop) => {
                shared.log.lock().unwrap().push(request);
                return;
            }
            Some(Failure::Stall) => {
                shared.log.lock().unwrap().push(request);
                // Hold the connection until the client gives up on it.
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
                return;
            }
            Some(Failure::Status500) => status(500, "InternalError", "Internal error occurred: injected failure", None),
            None => answer(&shared, &request),
        };
        request.status = status;
        shared.log.lock().unwrap().push(request);
        if http1::write_json(&mut s, status, &body).await.is_err() {
            return;
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Logged> {
    let r = http1::read_request(s).await?;
    let token = r.authorization.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
    Some(Logged { method: r.method, path: r.path, token, body: r.body, status: 0 })
}

/// A `Status` answer; `name` fills `details` as the API server does for one object.
fn status(code: u16, reason: &str, message: &str, name: Option<&str>) -> (u16, Value) {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "code": code});
    if let Some(name) = name {
        body["details"] = json!({"name": name, "group": "coordination.k8s.io", "kind": "leases"});
    }
    (code, body)
}

fn not_found(name: &str) -> (u16, Value) {
    status(404, "NotFound", &format!("leases.coordination.k8s.io \"{name}\" not found"), Some(name))
}

/// Whether `text` is a MicroTime as the API server parses it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn is_micro_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

/// The API server's checks of a lease's spec: `None` when it passes.
fn invalid(name: &str, spec: &Value) -> Option<(u16, Value)> {
    let mut causes = Vec::new();
    for field in ["acquireTime", "renewTime"] {
        match &spec[field] {
            Value::Null => {}
            Value::String(t) if is_micro_time(t) => {}
            other => {
                return Some(status(
                    400,
                    "BadRequest",
                    &format!(
                        "Lease in version \"v1\" cannot be handled as a Lease: spec.{field}: {other} is not a MicroTime"
                    ),
                    None,
                ));
            }
        }
    }
    match &spec["leaseDurationSeconds"] {
        Value::Null => {}
        Value::Number(n) if n.as_i64().is_some_and(|n| n > 0) => {}
        other => causes.push(format!("spec.leaseDurationSeconds: Invalid value: {other}: must be greater than 0")),
    }
    match &spec["leaseTransitions"] {
        Value::Null => {}
        Value::Number(n) if n.as_i64().is_some_and(|n| n >= 0) => {}
        other => {
            causes.push(format!("spec.leaseTransitions: Invalid value: {other}: must be greater than or equal to 0"))
        }
    }
    match &spec["holderIdentity"] {
        Value::Null | Value::String(_) => {}
        other => causes.push(format!("spec.holderIdentity: Invalid value: {other}: must be a string")),
    }
    (!causes.is_empty()).then(|| {
        status(
            422,
            "Invalid",
            &format!("Lease.coordination.k8s.io \"{name}\" is invalid: {}", causes.join(", ")),
            Some(name),
        )
    })
}

fn answer(shared: &Shared, request: &Logged) -> (u16, Value) {
    let Some(rest) = request.path.strip_prefix(PREFIX) else {
        return status(404, "NotFound", "the server could not find the requested resource", None);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (ns, name) = match parts.as_slice() {
        [ns, "leases"] => (*ns, None),
        [ns, "leases", name] => (*ns, Some(*name)),
        _ => return status(404, "NotFound", "the server could not find the requested resource", None),
    };
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    let mut state = shared.state.lock().unwrap();
    match (request.method.as_str(), name) {
        ("GET", Some(name)) => match state.leases.get(&(ns.to_owned(), name.to_owned())) {
            Some(lease) => (200, lease.clone()),
            None => not_found(name),
        },
        ("POST", None) => {
            let Some(body) = body else { return status(400, "BadRequest", "the body is not a Lease", None) };
            let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned) else {
                return status(
                    422,
                    "Invalid",
                    "Lease.coordination.k8s.io \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    None,
                );
            };
            if let Some(bad) = invalid(&name, &body["spec"]) {
                return bad;
            }
            if state.leases.contains_key(&(ns.to_owned(), name.clone())) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("leases.coordination.k8s.io \"{name}\" already exists"),
                    Some(&name),
                );
            }
            store(&mut state, ns, &name, body["spec"].clone());
            (201, state.leases[&(ns.to_owned(), name)].clone())
        }
        ("PUT", Some(name)) => {
            let Some(body) = body else { return status(400, "BadRequest", "the body is not a Lease", None) };
            if body["metadata"]["name"].as_str() != Some(name) {
                return status(400, "BadRequest", "the name of the object does not match the name on the URL", None);
            }
            if let Some(bad) = invalid(name, &body["spec"]) {
                return bad;
            }
            if let Some(spec) = shared.behaviour.lock().unwrap().interfere_next_put.take() {
                store(&mut state, ns, name, spec);
            }
            let key = (ns.to_owned(), name.to_owned());
            let Some(stored) = state.leases.get(&key) else { return not_found(name) };
            let Some(sent) = body["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty()) else {
                return status(
                    422,
                    "Invalid",
                    &format!(
                        "Lease.coordination.k8s.io \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                    ),
                    Some(name),
                );
            };
            if stored["metadata"]["resourceVersion"].as_str() != Some(sent) {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                    Some(name),
                );
            }
            store(&mut state, ns, name, body["spec"].clone());
            (200, state.leases[&key].clone())
        }
        (method, _) => status(
            405,
            "MethodNotAllowed",
            &format!("the server does not allow this method on the requested resource: {method}"),
            None,
        ),
    }
}
