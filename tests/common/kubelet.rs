//! A fake kubelet on loopback: real TLS (rcgen certificates, rustls), real HTTP/1.1, the
//! kubelet's `/pods` answer and auth behaviour, and a request counter.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A certificate authority that issues server and client certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A PEM certificate and key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (DNS names or IP addresses), with CN `cn` and O `org`.
    pub fn issue(&self, names: &[&str], cn: &str, org: Option<&str>) -> Issued {
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }
}

/// A self-signed leaf, as a kubelet makes by default.
pub fn self_signed(names: &[&str]) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// How the fake kubelet serves.
pub enum Transport {
    /// The read-only port.
    Plain,
    /// HTTPS with this certificate; `client_ca` set means a client certificate is required.
    Tls { server: Issued, client_ca: Option<String> },
}

/// What it answers; change it while the server runs.
pub struct Behaviour {
    pub status: u16,
    pub body: Vec<u8>,
    /// When set, requests must carry exactly `Authorization: Bearer <token>` (else 401).
    pub token: Option<String>,
    pub delay: Duration,
    /// Bodies to serve before `body`, one per request (to make a container appear late).
    pub first: Vec<Vec<u8>>,
    /// Close each connection as soon as its request is read, answering nothing.
    pub hang_up: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            status: 200,
            body: br#"{"kind":"PodList","apiVersion":"v1","items":[]}"#.to_vec(),
            token: None,
            delay: Duration::ZERO,
            first: Vec::new(),
            hang_up: false,
        }
    }
}

/// A running fake kubelet.
pub struct FakeKubelet {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    /// The `Authorization` header of each request.
    pub auth: Arc<Mutex<Vec<Option<String>>>>,
    /// The request line of each request (`GET /pods HTTP/1.1`).
    pub lines: Arc<Mutex<Vec<String>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    acceptor: Arc<Mutex<Option<tokio_rustls::TlsAcceptor>>>,
}

impl FakeKubelet {
    pub async fn start(transport: Transport, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let acceptor = match transport {
            Transport::Plain => None,
            Transport::Tls { server, client_ca } => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(server.cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
                let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
                let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .unwrap();
                let config = match client_ca {
                    None => builder.with_no_client_auth(),
                    Some(ca) => {
                        let mut roots = rustls::RootCertStore::empty();
                        for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                            roots.add(c.unwrap()).unwrap();
                        }
                        let verifier =
                            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
                        builder.with_client_cert_verifier(verifier)
                    }
                }
                .with_single_cert(chain, key)
                .unwrap();
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            }
        };
        let acceptor = Arc::new(Mutex::new(acceptor));
        let (r, a, b, l, acc) = (requests.clone(), auth.clone(), behaviour.clone(), lines.clone(), acceptor.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let acceptor = acc.lock().unwrap().clone();
                let (r, a, b, l) = (r.clone(), a.clone(), b.clone(), l.clone());
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, r, a, b, l).await,
                        Some(acc) => {
                            if let Ok(tls) = acc.accept(tcp).await {
                                serve(tls, r, a, b, l).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, requests, auth, lines, behaviour, acceptor }
    }

    /// Serve a new certificate from now on (a rotated kubelet serving certificate).
    pub fn set_certificate(&self, server: Issued) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(server.cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        *self.acceptor.lock().unwrap() = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    requests: Arc<AtomicUsize>,
    auth: Arc<Mutex<Vec<Option<String>>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    lines: Arc<Mutex<Vec<String>>>,
) {
    // Keep-alive: serve requests until the client closes.
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
        let authorization = text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization").then(|| v.trim().to_owned())
        });
        requests.fetch_add(1, Ordering::SeqCst);
        lines.lock().unwrap().push(text.lines().next().unwrap_or_default().to_owned());
        auth.lock().unwrap().push(authorization.clone());
        if behaviour.lock().unwrap().hang_up {
            return;
        }
        let (status, body, delay) = {
            let mut b = behaviour.lock().unwrap();
            let denied = b.token.as_ref().is_some_and(|t| authorization.as_deref() != Some(&format!("Bearer {t}")));
            if denied {
                (401, b"Unauthorized".to_vec(), b.delay)
            } else if !b.first.is_empty() {
                let body = b.first.remove(0);
                (200, body, b.delay)
            } else {
                (b.status, b.body.clone(), b.delay)
            }
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "Error",
        };
        let content_type = if status == 200 { "application/json" } else { "text/plain; charset=utf-8" };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&body).await.is_err() {
            return;
        }
        let _ = s.flush().await;
    }
}

/// A pod as the kubelet lists it, with one running container.
pub fn pod(uid: &str, ns: &str, name: &str, container: &str, container_id: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "name": name, "namespace": ns, "uid": uid,
            "labels": {"app": name, "team": "payments"},
            "annotations": {"kubernetes.io/config.source": "api"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-rs"), "uid": format!("rs-{uid}"), "controller": true}]
        },
        "spec": {"serviceAccountName": "app-sa", "nodeName": "node-1", "containers": [{"name": container, "image": "registry.example.com/app:1.0"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": container, "image": "registry.example.com/app:1.0",
                "imageID": "registry.example.com/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "containerID": format!("containerd://{container_id}"), "ready": true
            }]
        }
    })
}

/// A PodList body.
pub fn pod_list(pods: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}))
        .unwrap()
}
