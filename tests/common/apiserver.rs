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
//!   when missing.
//!
//! Every request is logged.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{KeyPair, SigningKey};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

// Each fake carries its own copy, so a test can include either alone.
#[allow(clippy::duplicate_mod)]
#[path = "tls.rs"]
mod tls;

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
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            callers: HashMap::new(),
            forbidden: HashSet::new(),
            api_audiences: vec![SERVER_AUDIENCE.to_owned()],
            success_cache: Duration::from_secs(10),
            delay: Duration::ZERO,
        }
    }
}

/// One request, as received.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    pods: HashMap<(String, String), Value>,
    nodes: HashMap<String, Value>,
    /// (token, audiences) → when it succeeded and the status answered.
    cache: HashMap<(String, Vec<String>), (Instant, Value)>,
}

/// A running fake API server.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    ca_pem: String,
    key: Arc<KeyPair>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<Mutex<State>>,
    log: Arc<Mutex<Vec<Logged>>>,
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
        };
        let shared = server.shared();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // Headers and body are written separately: without this, Nagle's algorithm and
                // the client's delayed ACK stall each answer ~44 ms (a Go API server turns Nagle
                // off on every connection). Measured: 132 ms per three-call attestation.
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

    fn shared(&self) -> Shared {
        Shared {
            key: self.key.clone(),
            behaviour: self.behaviour.clone(),
            state: self.state.clone(),
            log: self.log.clone(),
        }
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
        self.state.lock().unwrap().pods.insert((ns.to_owned(), name.to_owned()), pod);
    }

    pub fn put_node(&self, name: &str, uid: &str) {
        let node = json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": uid, "labels": {"pool": "general"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}
        });
        self.state.lock().unwrap().nodes.insert(name.to_owned(), node);
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
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: Shared) {
    loop {
        let Some(request) = read_request(&mut s).await else { return };
        shared.log.lock().unwrap().push(request.clone());
        let delay = shared.behaviour.lock().unwrap().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let (status, body) = answer(&shared, &request);
        let reason = match status {
            200 | 201 => "OK",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            _ => "Error",
        };
        let body = serde_json::to_vec(&body).unwrap();
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&body).await.is_err() {
            return;
        }
        let _ = s.flush().await;
    }
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Option<Logged> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? != 1 || head.len() > 64 << 10 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.lines().next()?.split(' ');
    let (method, target) = (words.next()?.to_owned(), words.next()?);
    let header = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    s.read_exact(&mut body).await.ok()?;
    let path = target.split('?').next().unwrap_or_default().to_owned();
    Some(Logged { method, path, authorization: header("authorization"), body })
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// The answer to one request: the caller's authentication and authorization, then the route.
fn answer(shared: &Shared, request: &Logged) -> (u16, Value) {
    let path: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let (resource, name, ns, verb) = match (request.method.as_str(), path.as_slice()) {
        ("POST", ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => ("tokenreviews", "", "", "create"),
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => ("pods", *name, *ns, "get"),
        ("GET", ["api", "v1", "nodes", name]) => ("nodes", *name, "", "get"),
        _ => return status(404, "NotFound", "the server could not find the requested resource"),
    };
    let behaviour = shared.behaviour.lock().unwrap();
    let user = match request.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        None => "system:anonymous".to_owned(),
        Some(token) => match behaviour.callers.get(token) {
            Some(user) => user.clone(),
            None => return status(401, "Unauthorized", "Unauthorized"),
        },
    };
    if user == "system:anonymous" || behaviour.forbidden.contains(resource) {
        let group = if resource == "tokenreviews" { "authentication.k8s.io" } else { "" };
        let named = if name.is_empty() { String::new() } else { format!(" \"{name}\"") };
        let full = if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") };
        let scope =
            if ns.is_empty() { "at the cluster scope".to_owned() } else { format!("in the namespace \"{ns}\"") };
        let message = format!(
            "{full}{named} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"
        );
        return status(403, "Forbidden", &message);
    }
    let api_audiences = behaviour.api_audiences.clone();
    let cache_for = behaviour.success_cache;
    drop(behaviour);
    let mut state = shared.state.lock().unwrap();
    match resource {
        "pods" => match state.pods.get(&(ns.to_owned(), name.to_owned())) {
            Some(pod) => (200, pod.clone()),
            None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
        },
        "nodes" => match state.nodes.get(name) {
            Some(node) => (200, node.clone()),
            None => status(404, "NotFound", &format!("nodes \"{name}\" not found")),
        },
        _ => {
            let Ok(review) = serde_json::from_slice::<Value>(&request.body) else {
                return status(400, "BadRequest", "the request body is not a TokenReview");
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
            (
                201,
                json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"creationTimestamp": null}, "spec": spec, "status": result}),
            )
        }
    }
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
    match state.pods.get(&(ns.to_owned(), pod_name.to_owned())) {
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
