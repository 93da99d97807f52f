//! The kubelet HTTP client: one `GET /pods`, credentials re-read every `reload_interval`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::{ClientConfigError, Credential, CredentialError, KubeletError};
use super::settings::{Endpoint, KubernetesSettings};
use super::tls::{self, Verify};

/// SPIRE's per-request timeout, independent of any caller's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A pod list larger than this is refused rather than buffered (110 pods are about 1 MiB).
const MAX_BODY: usize = 64 << 20;
/// Bytes of a non-200 body quoted in the error.
const MAX_ERROR_BODY: usize = 1024;

/// What credentials to present.
#[derive(Clone, Debug)]
enum Credentials {
    None,
    ClientCert { cert: PathBuf, key: PathBuf },
    Token(PathBuf),
}

/// Everything read from disk for one client generation.
struct Loaded {
    http: reqwest::Client,
    token: Option<String>,
    /// The TLS material the client was built from; a reload that only changes the token keeps
    /// the client (and its connections).
    tls_material: Vec<u8>,
    at: Instant,
}

/// What is needed to (re)load the client's files.
struct Params {
    secure: bool,
    node_name: String,
    ca_path: PathBuf,
    skip_verify: bool,
    credentials: Credentials,
}

/// The kubelet client.
pub(crate) struct KubeletClient {
    url: String,
    params: Params,
    reload_interval: Duration,
    state: Mutex<Loaded>,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient").field("url", &self.url).finish_non_exhaustive()
    }
}

fn read(what: Credential, path: &Path) -> Result<Vec<u8>, CredentialError> {
    std::fs::read(path).map_err(|e| CredentialError::Read { what, path: path.to_owned(), problem: e.to_string() })
}

impl KubeletClient {
    /// Build the client, loading every file now: SPIRE fails Configure on unreadable ones.
    pub(crate) fn new(s: &KubernetesSettings) -> Result<Self, ClientConfigError> {
        let (url, secure) = match &s.endpoint {
            Endpoint::ReadOnly(port) => (format!("http://127.0.0.1:{port}/pods"), false),
            Endpoint::Secure(port) => {
                let host = if s.node_name.is_empty() { "127.0.0.1" } else { s.node_name.as_str() };
                (format!("https://{host}:{port}/pods"), true)
            }
            other => return Err(ClientConfigError::NoClient(format!("{other:?}"))),
        };
        let credentials = match (&s.certificate_path, &s.private_key_path) {
            _ if s.use_anonymous_authentication => Credentials::None,
            (Some(cert), Some(key)) => Credentials::ClientCert { cert: cert.clone(), key: key.clone() },
            (Some(_), None) => {
                return Err(ClientConfigError::KeyMissing);
            }
            (None, Some(_)) => {
                return Err(ClientConfigError::CertificateMissing);
            }
            (None, None) => Credentials::Token(s.token_path.clone()),
        };
        let params = Params {
            secure,
            node_name: s.node_name.clone(),
            ca_path: s.kubelet_ca_path.clone(),
            skip_verify: s.skip_kubelet_verification,
            credentials,
        };
        let loaded = params.load(None)?;
        Ok(Self { url, params, reload_interval: s.reload_interval, state: Mutex::new(loaded) })
    }

    /// `GET /pods`: the raw body of a 200 answer.
    pub(crate) async fn fetch(&self) -> Result<Vec<u8>, KubeletError> {
        let (http, token) = {
            let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.at.elapsed() >= self.reload_interval {
                // A failed reload fails this fetch (it is retried like any kubelet error); the
                // previous generation is kept for the next attempt.
                let fresh = self.params.load(Some(&state)).map_err(KubeletError::Credentials)?;
                *state = fresh;
            }
            (state.http.clone(), state.token.clone())
        };
        let mut request = http.get(&self.url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let mut response = request.send().await.map_err(|e| KubeletError::Transport(crate::text::chain(&e)))?;
        let status = response.status();
        // An announced length over the cap is refused before a byte is read: reading 64 MiB
        // only to refuse it cost the time and left tens of MiB resident in the allocator's
        // caches after the fault (measured: 21 MiB in tests/plugin_faults.rs, over its bound
        // one run in three).
        if status.is_success() && response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(KubeletError::Transport(format!("kubelet response is larger than {MAX_BODY} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| KubeletError::Transport(crate::text::chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(KubeletError::Transport(format!("kubelet response is larger than {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
            if !status.is_success() && body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        if status != reqwest::StatusCode::OK {
            body.truncate(MAX_ERROR_BODY);
            return Err(KubeletError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(body)
    }
}

impl Params {
    /// Read CA, key pair and token, and build an HTTP client (reusing `previous`'s when the TLS
    /// material did not change).
    fn load(&self, previous: Option<&Loaded>) -> Result<Loaded, CredentialError> {
        let mut tls_material = Vec::new();
        let mut identity = None;
        let mut token = None;
        let verify = if !self.secure || self.skip_verify {
            Verify::Skip
        } else {
            let ca = read(Credential::Ca, &self.ca_path)?;
            tls_material.extend_from_slice(&ca);
            let roots = tls::roots(&ca).map_err(CredentialError::Ca)?;
            if self.node_name.is_empty() { Verify::ChainOnly(roots) } else { Verify::WithName(roots) }
        };
        if self.secure {
            match &self.credentials {
                Credentials::None => {}
                Credentials::ClientCert { cert, key } => {
                    let cert = read(Credential::Certificate, cert)?;
                    let key = read(Credential::PrivateKey, key)?;
                    tls_material.extend_from_slice(&cert);
                    tls_material.extend_from_slice(&key);
                    identity = Some(tls::identity(&cert, &key).map_err(CredentialError::Keypair)?);
                }
                Credentials::Token(path) => {
                    let raw = read(Credential::Token, path)?;
                    let t = String::from_utf8_lossy(&raw).trim().to_owned();
                    token = (!t.is_empty()).then_some(t);
                }
            }
        }
        let http = match previous {
            Some(p) if p.tls_material == tls_material => p.http.clone(),
            _ => {
                let config = tls::client_config(verify, identity).map_err(CredentialError::Keypair)?;
                reqwest::Client::builder()
                    .use_preconfigured_tls(config)
                    .timeout(REQUEST_TIMEOUT)
                    .no_proxy()
                    .build()
                    .map_err(|e| CredentialError::Client(crate::text::chain(&e)))?
            }
        };
        Ok(Loaded { http, token, tls_material, at: Instant::now() })
    }
}
