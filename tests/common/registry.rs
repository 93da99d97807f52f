//! A fake OCI registry on loopback for integration tests, benchmarks and demos: real TLS (an
//! rcgen CA the client is told to trust), HTTP/1.1 written by hand on tokio-rustls, the parts of
//! the distribution API cosign's signatures live in, bearer-token and Basic auth, fault modes,
//! and a log of every request.
//!
//! ```ignore
//! let registry = FakeRegistry::start(Auth::Anonymous).await;
//! registry.put_legacy_signatures("app", &image_digest, vec![Layer::simple_signing(payload, annotations)]);
//! let image = format!("{}/app@{image_digest}", registry.host());
//! // RegistrySettings { ca_path: Some(<a file holding registry.ca_pem()>), .. }
//! ```
//!
//! Served: `GET /v2/`; `GET|HEAD /v2/<repo>/manifests/<tag or digest>` (with `Content-Type` and
//! `Docker-Content-Digest`); `GET /v2/<repo>/blobs/<digest>`; `GET /v2/<repo>/referrers/<digest>`
//! (404 when switched off); `GET /token` (bearer mode); `GET /storage/<digest>` (where blobs
//! are redirected to under [`Fault::RedirectOtherHost`]). Anything else is 404.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

// Each fake carries its own copy, so a test can include either alone.
#[allow(clippy::duplicate_mod)]
#[path = "tls.rs"]
mod tls;

/// OCI media types used by the fake.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// cosign's legacy signature layers.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// cosign's legacy attestation layers.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle v0.3.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// How clients must authenticate.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No authentication.
    Anonymous,
    /// 401 with a Bearer challenge pointing at `/token`; the token endpoint wants these Basic
    /// credentials (or none when `None`). Tokens live `expires_in` seconds (reported only).
    Bearer { credentials: Option<(String, String)>, expires_in: u64 },
    /// 401 with a Basic challenge; these credentials are required.
    Basic { username: String, password: String },
}

/// How a referrer is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Listed by `GET /v2/<repo>/referrers/<digest>`.
    Referrers,
    /// Listed by the `sha256-<hex>` fallback index tag (switch the API off to make clients
    /// read it: [`FakeRegistry::set_referrers_api`]).
    FallbackTag,
}

/// Misbehaviour, applied to every request it concerns until changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// Every manifest answer is non-JSON bytes.
    GarbageManifest,
    /// Every manifest answer is `bytes` long; without `content_length` the length is not
    /// announced (the connection is closed after the body).
    OversizedManifest { bytes: usize, content_length: bool },
    /// Blobs are served with their first byte flipped.
    BlobMismatch,
    /// Blob requests redirect to themselves.
    RedirectLoop,
    /// Blob requests redirect to `http://…/storage/<digest>`.
    RedirectToHttp,
    /// Blob requests redirect to `https://localhost:<port>/storage/<digest>` (another host,
    /// same server), which serves them without authentication.
    RedirectOtherHost,
    /// `/v2/` requests are never answered.
    Hang,
    /// `/v2/` requests are answered 401 whatever they carry (tokens are still issued).
    UnauthorizedForever,
    /// `/v2/` requests are answered with this status.
    Status(u16),
}

/// One layer of a legacy `.sig` or `.att` manifest.
#[derive(Clone, Debug)]
pub struct Layer {
    pub media_type: String,
    pub annotations: BTreeMap<String, String>,
    pub blob: Vec<u8>,
}

impl Layer {
    /// A `.sig` layer: a simple-signing payload and its annotations.
    pub fn simple_signing(blob: Vec<u8>, annotations: BTreeMap<String, String>) -> Self {
        Self { media_type: SIMPLE_SIGNING.to_owned(), annotations, blob }
    }

    /// An `.att` layer: a DSSE envelope.
    pub fn dsse(blob: Vec<u8>, annotations: BTreeMap<String, String>) -> Self {
        Self { media_type: DSSE.to_owned(), annotations, blob }
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The `Host` header.
    pub host: Option<String>,
    pub authorization: Option<String>,
}

struct State {
    auth: Auth,
    fault: Fault,
    referrers_api: bool,
    /// What the referrers path answers while the API is off (404, or 400/405/501 as some
    /// registries do).
    no_api_status: u16,
    /// (repo, tag or digest) → (media type, bytes).
    manifests: HashMap<(String, String), (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    /// (repo, subject digest) → descriptors.
    referrers: HashMap<(String, String), Vec<Value>>,
    tokens: HashSet<String>,
    log: Vec<Request>,
}

/// A running fake registry; dropping it leaves the server task running until the runtime ends.
pub struct FakeRegistry {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    requests: Arc<AtomicUsize>,
}

/// A name the registry's certificate also carries, which no resolver knows.
pub const PROXIED_NAME: &str = "registry.proxied.test";

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl FakeRegistry {
    /// Start serving HTTPS on `127.0.0.1` (certificate also valid for `localhost`).
    pub async fn start(auth: Auth) -> Self {
        let (ca_pem, acceptor) = tls();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            auth,
            fault: Fault::None,
            referrers_api: true,
            no_api_status: 404,
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            referrers: HashMap::new(),
            tokens: HashSet::new(),
            log: Vec::new(),
        }));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (state.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                // Headers and body are written separately: without this, Nagle's algorithm and
                // the client's delayed ACK stall each answer ~40 ms (measured: 88 ms per first
                // attestation of four requests, most of it waiting).
                let _ = tcp.set_nodelay(true);
                let (acceptor, s, r) = (acceptor.clone(), s.clone(), r.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve(tls, addr, s, r).await;
                    }
                });
            }
        });
        Self { addr, ca_pem, state, requests }
    }

    /// `127.0.0.1:<port>`: the registry host of images stored here.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA certificate (PEM) the server's certificate chains to.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Requests received so far (token and storage requests included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order.
    pub fn log(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// Misbehave from now on.
    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = fault;
    }

    /// Switch the referrers API on (default) or off (404, as registries without it answer).
    /// Switch the referrers API off, its path answering `status` (405: an older registry).
    pub fn set_no_referrers_api_status(&self, status: u16) {
        let mut state = self.state.lock().unwrap();
        state.referrers_api = false;
        state.no_api_status = status;
    }

    pub fn set_referrers_api(&self, on: bool) {
        self.state.lock().unwrap().referrers_api = on;
    }

    /// Store a blob; its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        self.state.lock().unwrap().blobs.insert(digest.clone(), bytes.to_vec());
        digest
    }

    /// Store a manifest under `reference` (a tag or its digest) and under its digest; its digest.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let mut state = self.state.lock().unwrap();
        for key in [reference, digest.as_str()] {
            state.manifests.insert((repo.to_owned(), key.to_owned()), (media_type.to_owned(), bytes.to_vec()));
        }
        digest
    }

    /// Store cosign's `sha256-<hex>.sig` manifest for `image_digest` (`sha256:<hex>`) with these
    /// layers, blobs included; the manifest's digest.
    pub fn put_legacy_signatures(&self, repo: &str, image_digest: &str, layers: Vec<Layer>) -> String {
        self.put_legacy(repo, image_digest, "sig", layers)
    }

    /// Store cosign's `sha256-<hex>.att` manifest with these layers; the manifest's digest.
    pub fn put_legacy_attestations(&self, repo: &str, image_digest: &str, layers: Vec<Layer>) -> String {
        self.put_legacy(repo, image_digest, "att", layers)
    }

    fn put_legacy(&self, repo: &str, image_digest: &str, suffix: &str, layers: Vec<Layer>) -> String {
        let config = b"{}";
        let config_digest = self.put_blob(config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| {
                let digest = self.put_blob(&l.blob);
                json!({"mediaType": l.media_type, "digest": digest, "size": l.blob.len(), "annotations": l.annotations})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        let tag = format!("{}.{suffix}", tag_of(image_digest));
        self.put_manifest(repo, &tag, OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap())
    }

    /// Attach a Sigstore bundle (v0.3) to `image_digest` as cosign v3 does: an OCI manifest with
    /// `artifactType` and one bundle layer, `subject` = the image, listed `via` the referrers API
    /// or the fallback tag; the referrer manifest's digest.
    pub fn put_referrer(&self, repo: &str, image_digest: &str, bundle_json: &[u8], via: Via) -> String {
        let empty = b"{}";
        let empty_digest = self.put_blob(empty);
        let bundle_digest = self.put_blob(bundle_json);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": empty.len()},
            "layers": [{"mediaType": BUNDLE_V03, "digest": bundle_digest, "size": bundle_json.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": 0},
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = self.put_manifest(repo, &digest_of(&bytes), OCI_MANIFEST, &bytes);
        self.list_referrer(
            repo,
            image_digest,
            json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": bytes.len(), "artifactType": BUNDLE_V03,
            }),
            via,
        );
        digest
    }

    /// List a descriptor (any JSON) as a referrer of `image_digest`.
    pub fn list_referrer(&self, repo: &str, image_digest: &str, descriptor: Value, via: Via) {
        let key = (repo.to_owned(), image_digest.to_owned());
        let listed = {
            let mut state = self.state.lock().unwrap();
            let list = state.referrers.entry(key.clone()).or_default();
            list.push(json!({"via": format!("{via:?}"), "descriptor": descriptor}));
            // The fallback index lists what was attached through it only.
            list.iter().filter(|d| d["via"] == "FallbackTag").map(|d| d["descriptor"].clone()).collect::<Vec<_>>()
        };
        if via == Via::FallbackTag {
            let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed});
            self.put_manifest(repo, &tag_of(image_digest), OCI_INDEX, &serde_json::to_vec(&index).unwrap());
        }
    }
}

/// cosign's tag for a digest: `sha256:<hex>` → `sha256-<hex>`.
pub fn tag_of(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

fn tls() -> (String, tokio_rustls::TlsAcceptor) {
    // `registry.proxied.test` resolves nowhere: clients reach it only through a proxy that
    // connects to this server (the HTTPS_PROXY tests).
    tls::serving("fake registry CA", &["127.0.0.1", "localhost", PROXIED_NAME])
}

/// What to write back.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Omit `Content-Length` and close after the body.
    close: bool,
    hang: bool,
}

impl Reply {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: Vec::new(), body: body.into(), close: false, hang: false }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    requests: Arc<AtomicUsize>,
) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
            if head.len() > 64 << 10 {
                return;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut words = text.lines().next().unwrap_or_default().split(' ');
        let (method, path) = (words.next().unwrap_or_default().to_owned(), words.next().unwrap_or_default().to_owned());
        let header = |name: &str| {
            text.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let request = Request { method, path, host: header("host"), authorization: header("authorization") };
        requests.fetch_add(1, Ordering::SeqCst);
        let reply = {
            let mut state = state.lock().unwrap();
            state.log.push(request.clone());
            route(&mut state, addr, &request)
        };
        if reply.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        let mut out = format!("HTTP/1.1 {} Fake\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if reply.close {
            out.push_str("Connection: close\r\n\r\n");
        } else {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        }
        let head_only = request.method == "HEAD";
        if s.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        if !head_only && s.write_all(&reply.body).await.is_err() {
            return;
        }
        if s.flush().await.is_err() || reply.close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

fn route(state: &mut State, addr: SocketAddr, request: &Request) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    let port = addr.port();
    if path == "/token" {
        return token(state, request);
    }
    if let Some(digest) = path.strip_prefix("/storage/") {
        return match state.blobs.get(digest) {
            Some(bytes) => Reply::new(200, bytes.clone()).header("Content-Type", "application/octet-stream"),
            None => Reply::new(404, "no such blob"),
        };
    }
    if !path.starts_with("/v2/") {
        return Reply::new(404, "not found");
    }
    match state.fault {
        Fault::Hang => return Reply { hang: true, ..Reply::new(200, "") },
        Fault::Status(status) => {
            return Reply::new(
                status,
                format!("{{\"errors\":[{{\"code\":\"FAKE\",\"message\":\"status {status}\"}}]}}"),
            );
        }
        _ => {}
    }
    let repo = repo_of(path);
    if let Some(challenge) = challenge(state, port, request, repo.unwrap_or_default()) {
        return Reply::new(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}").header("WWW-Authenticate", challenge);
    }
    if path == "/v2/" {
        return Reply::new(200, "{}");
    }
    let Some(repo) = repo else { return Reply::new(404, "not found") };
    let rest = &path[4 + repo.len()..];
    if let Some(reference) = rest.strip_prefix("/manifests/") {
        return manifest(state, repo, reference);
    }
    if let Some(digest) = rest.strip_prefix("/blobs/") {
        return blob(state, port, path, digest);
    }
    if let Some(digest) = rest.strip_prefix("/referrers/") {
        if !state.referrers_api {
            return Reply::new(state.no_api_status, "unsupported");
        }
        let listed: Vec<Value> = state
            .referrers
            .get(&(repo.to_owned(), digest.to_owned()))
            .map(|l| l.iter().filter(|d| d["via"] == "Referrers").map(|d| d["descriptor"].clone()).collect())
            .unwrap_or_default();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed});
        return Reply::new(200, serde_json::to_vec(&index).unwrap()).header("Content-Type", OCI_INDEX);
    }
    Reply::new(404, "not found")
}

/// `/v2/<repo>/(manifests|blobs|referrers)/…` → `<repo>`.
fn repo_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/referrers/"].iter().filter_map(|k| rest.rfind(k)).max().map(|end| &rest[..end])
}

/// The challenge to answer with, if the request is not authorised.
fn challenge(state: &State, port: u16, request: &Request, repo: &str) -> Option<String> {
    let given = request.authorization.as_deref();
    match &state.auth {
        Auth::Anonymous if state.fault != Fault::UnauthorizedForever => None,
        Auth::Basic { username, password }
            if state.fault != Fault::UnauthorizedForever && given == Some(&basic(username, password)) =>
        {
            None
        }
        Auth::Basic { .. } => Some("Basic realm=\"fake\"".to_owned()),
        Auth::Bearer { .. }
            if state.fault != Fault::UnauthorizedForever
                && given.and_then(|g| g.strip_prefix("Bearer ")).is_some_and(|t| state.tokens.contains(t)) =>
        {
            None
        }
        _ => Some(format!(
            "Bearer realm=\"https://127.0.0.1:{port}/token\",service=\"fake-registry\",scope=\"repository:{repo}:pull\""
        )),
    }
}

fn token(state: &mut State, request: &Request) -> Reply {
    let (credentials, expires_in) = match &state.auth {
        Auth::Bearer { credentials, expires_in } => (credentials.clone(), *expires_in),
        _ => (None, 60),
    };
    if let Some((user, password)) = credentials
        && request.authorization.as_deref() != Some(&basic(&user, &password))
    {
        return Reply::new(401, "{\"details\":\"incorrect username or password\"}");
    }
    let token = format!("token-{}", state.tokens.len() + 1);
    state.tokens.insert(token.clone());
    let body = json!({"token": token, "expires_in": expires_in});
    Reply::new(200, serde_json::to_vec(&body).unwrap()).header("Content-Type", "application/json")
}

fn manifest(state: &State, repo: &str, reference: &str) -> Reply {
    match state.fault {
        Fault::GarbageManifest => {
            return Reply::new(200, "<html>this is not a manifest").header("Content-Type", OCI_MANIFEST);
        }
        Fault::OversizedManifest { bytes, content_length } => {
            return Reply { close: !content_length, ..Reply::new(200, vec![b' '; bytes]) }
                .header("Content-Type", OCI_MANIFEST);
        }
        _ => {}
    }
    match state.manifests.get(&(repo.to_owned(), reference.to_owned())) {
        Some((media_type, bytes)) => Reply::new(200, bytes.clone())
            .header("Content-Type", media_type.clone())
            .header("Docker-Content-Digest", digest_of(bytes)),
        None => Reply::new(404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}")
            .header("Content-Type", "application/json"),
    }
}

fn blob(state: &State, port: u16, path: &str, digest: &str) -> Reply {
    let redirect = |location: String| Reply::new(307, "").header("Location", location);
    match state.fault {
        Fault::RedirectLoop => return redirect(path.to_owned()),
        Fault::RedirectToHttp => return redirect(format!("http://127.0.0.1:{port}/storage/{digest}")),
        Fault::RedirectOtherHost => return redirect(format!("https://localhost:{port}/storage/{digest}")),
        _ => {}
    }
    match state.blobs.get(digest) {
        Some(bytes) => {
            let mut bytes = bytes.clone();
            if state.fault == Fault::BlobMismatch
                && let Some(b) = bytes.first_mut()
            {
                *b ^= 1;
            }
            Reply::new(200, bytes).header("Content-Type", "application/octet-stream")
        }
        None => Reply::new(404, "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}"),
    }
}

/// `Basic <base64(user:password)>`.
pub fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
