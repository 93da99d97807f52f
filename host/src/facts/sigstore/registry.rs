//! The registry client that fetches signatures: our own reqwest client (rustls with ring),
//! speaking just enough of the distribution API to read manifests, blobs and referrers, with
//! the caps `RegistrySettings` gives.
//!
//! Why not `oci_client::Client`: it reads a manifest whole whatever its size and follows
//! redirects to http, and neither can be configured. Here every request (each redirect hop
//! and token request too) must finish, body included, within `timeout`; bodies are streamed
//! under a cap and never buffered beyond it; redirects are followed at most five times, only
//! to https, and the registry's `Authorization` never goes to another origin (blob storage on
//! a CDN is common). Authentication: anonymous first; a 401 is answered once (a Bearer token
//! from the challenge's realm, with the configured credentials for that registry if any, or
//! HTTP Basic credentials), and a second 401 is an error: no loops. 429 and 5xx are errors
//! naming the status, never retried here: the caller remembers failures briefly.
//!
//! What is fetched is checked here: content asked by digest must hash to it and have its
//! descriptor's size. What the bytes mean is `discover.rs`'s business.

mod auth;
mod body;
mod error;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};

use self::auth::{AuthCache, Challenge};
pub use self::error::RegistryError;
use super::digest::Sha256Digest;
use super::reference::normalise_registry;
use super::settings::{Credentials, RegistrySettings};

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
/// Bytes of an error body quoted in an error.
const MAX_ERROR_BODY: usize = 512;
/// How long Basic credentials are sent first without asking, once a registry asked for them.
const BASIC_REUSE: Duration = Duration::from_secs(3600);
/// What a manifest request accepts: OCI and Docker image manifests, and OCI indexes (cosign's
/// fallback tag is one).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";
/// What the referrers API answers.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A registry client; clones share connections, tokens and the request counter.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    timeout: Duration,
    max_manifest_bytes: usize,
    max_blob_bytes: usize,
    max_layers: usize,
    /// Normalised registry host → mirror base URL, without a trailing slash.
    mirrors: HashMap<String, Url>,
    /// Normalised registry host → credentials.
    credentials: HashMap<String, Credentials>,
    auth: AuthCache,
    requests: AtomicU64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("mirrors", &self.inner.mirrors.keys().collect::<Vec<_>>())
            .field("credentials", &self.inner.credentials.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A manifest or index as fetched: its bytes and the `Content-Type` the registry gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `Content-Type`, if any.
    pub media_type: Option<String>,
    /// The body, at most the cap.
    pub bytes: Vec<u8>,
}

/// Where one registry's requests go, and how errors name it.
struct Endpoint<'a> {
    /// The registry host, normalised (the key for credentials and tokens).
    registry: &'a str,
    /// `https://host[:port][/prefix]`, without a trailing slash.
    base: String,
    /// The host as errors name it.
    label: String,
}

/// One HTTP exchange's answer (after redirects).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    /// The body for 200 (under the cap) and, excerpted, for errors; empty otherwise.
    body: Vec<u8>,
}

impl RegistryClient {
    /// A client for `settings`: reads `ca_path` now (a bad file is the configuration's fault)
    /// and checks every mirror is an https base URL.
    pub fn new(settings: &RegistrySettings) -> Result<RegistryClient, RegistryError> {
        let mut mirrors = HashMap::new();
        for (registry, url) in &settings.mirrors {
            mirrors.insert(normalise_registry(registry).to_owned(), mirror_url(registry, url)?);
        }
        let credentials = settings
            .credentials
            .iter()
            .map(|(host, credentials)| (normalise_registry(host).to_owned(), credentials.clone()))
            .collect();
        let tls = tls::client_config(settings.ca_path.as_deref())?;
        let mut builder = reqwest::Client::builder();
        if let Some(proxy) = proxy_from_env(&|name| std::env::var(name).ok())? {
            builder = builder.proxy(proxy);
        }
        let http = builder
            .tls_backend_preconfigured(tls)
            // Redirects are followed by hand: only to https, and without the registry's
            // credentials on another origin.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| RegistryError::Client(crate::text::chain(&e)))?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                timeout: settings.timeout,
                max_manifest_bytes: settings.max_manifest_bytes,
                max_blob_bytes: settings.max_blob_bytes,
                max_layers: settings.max_layers,
                mirrors,
                credentials,
                auth: AuthCache::default(),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// HTTP requests sent so far (every redirect hop and token request counts).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The most layers (or referrers) of one manifest read (`max_layers`).
    pub fn max_layers(&self) -> usize {
        self.inner.max_layers
    }

    /// The host errors name for `registry`: the registry itself, or its mirror.
    pub fn host_label(&self, registry: &str) -> String {
        self.endpoint(registry).label
    }

    /// `GET /v2/<repository>/manifests/<reference>`; `None` when the registry has no such
    /// manifest (404). A digest `reference` (`sha256:…`) must be what the bytes hash to; for a
    /// tag, a `Docker-Content-Digest` header, when given, must be.
    pub async fn manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, RegistryError> {
        let endpoint = self.endpoint(registry);
        let what = format!("manifest {repository}:{reference}");
        let path = format!("/v2/{repository}/manifests/{reference}");
        let max = self.inner.max_manifest_bytes;
        let Some(answer) = self.get(&endpoint, repository, &path, MANIFEST_ACCEPT, &what, max).await? else {
            return Ok(None);
        };
        let expected = match reference.parse::<Sha256Digest>() {
            Ok(digest) => Some(digest),
            Err(_) => answer.headers.get("docker-content-digest").and_then(|v| v.to_str().ok()?.parse().ok()),
        };
        if let Some(expected) = expected {
            check_digest(&endpoint, &what, &expected, &answer.body)?;
        }
        Ok(Some(Fetched { media_type: content_type(&answer.headers), bytes: answer.body }))
    }

    /// `GET /v2/<repository>/referrers/<digest>`; `None` when the registry has no referrers
    /// API: 404, as OCI 1.1 says, or 400, 405 and 501, which registries that do not route the
    /// path answer (distribution 2.x answers 404; some older registries 405). The caller then
    /// reads the fallback tag, which such registries serve.
    pub async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
    ) -> Result<Option<Fetched>, RegistryError> {
        let endpoint = self.endpoint(registry);
        let what = format!("referrers of {repository}@{digest}");
        let path = format!("/v2/{repository}/referrers/{digest}");
        let max = self.inner.max_manifest_bytes;
        match self.get(&endpoint, repository, &path, INDEX, &what, max).await {
            Ok(answer) => Ok(answer.map(|a| Fetched { media_type: content_type(&a.headers), bytes: a.body })),
            Err(RegistryError::Status { status: 400 | 405 | 501, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/<repository>/blobs/<digest>`: its bytes, which must hash to `digest` and be
    /// `size` long. A missing blob is an error: a manifest named it.
    pub async fn blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let endpoint = self.endpoint(registry);
        let what = format!("blob {repository}@{digest}");
        let max = self.inner.max_blob_bytes;
        if usize::try_from(size).map_or(true, |size| size > max) {
            return Err(RegistryError::TooLarge { host: endpoint.label, what: format!("{what} ({size} bytes)"), max });
        }
        let path = format!("/v2/{repository}/blobs/{digest}");
        let accept = "application/octet-stream, */*";
        let Some(answer) = self.get(&endpoint, repository, &path, accept, &what, max).await? else {
            let detail = " (not found, though a manifest names it)".to_owned();
            return Err(RegistryError::Status { host: endpoint.label, what, status: 404, detail });
        };
        check_digest(&endpoint, &what, digest, &answer.body)?;
        let actual = answer.body.len() as u64;
        if actual != size {
            return Err(RegistryError::Size { host: endpoint.label, what, expected: size, actual });
        }
        Ok(answer.body)
    }

    fn endpoint<'a>(&self, registry: &'a str) -> Endpoint<'a> {
        let registry = normalise_registry(registry);
        match self.inner.mirrors.get(registry) {
            Some(url) => {
                let authority = match (url.host_str(), url.port()) {
                    (Some(host), Some(port)) => format!("{host}:{port}"),
                    (host, None) => host.unwrap_or_default().to_owned(),
                    (None, Some(_)) => String::new(),
                };
                Endpoint {
                    registry,
                    base: url.as_str().trim_end_matches('/').to_owned(),
                    label: format!("{authority} (mirror of {registry})"),
                }
            }
            None => Endpoint { registry, base: format!("https://{registry}"), label: registry.to_owned() },
        }
    }

    /// A GET with authentication: `Some` for 200, `None` for 404, an error for anything else.
    async fn get(
        &self,
        endpoint: &Endpoint<'_>,
        repository: &str,
        path: &str,
        accept: &str,
        what: &str,
        max: usize,
    ) -> Result<Option<Answer>, RegistryError> {
        let url = format!("{}{path}", endpoint.base);
        let mut authorization = self.inner.auth.get(endpoint.registry, repository);
        let mut answered = false;
        loop {
            let answer = self.follow(endpoint, &url, authorization.as_ref(), accept, what, max).await?;
            match answer.status {
                StatusCode::OK => return Ok(Some(answer)),
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED if !answered => {
                    authorization = Some(self.authenticate(endpoint, repository, &answer.headers, what).await?);
                    answered = true;
                }
                StatusCode::UNAUTHORIZED => {
                    let credentials = self.inner.credentials.contains_key(endpoint.registry);
                    let problem = if credentials {
                        format!("the credentials configured for {} were refused (HTTP 401 again)", endpoint.registry)
                    } else {
                        "access refused (HTTP 401 again after authenticating anonymously; \
                         registry_credentials has none for this registry)"
                            .to_owned()
                    };
                    return Err(RegistryError::Unauthorized {
                        host: endpoint.label.clone(),
                        what: what.to_owned(),
                        problem,
                        credentials,
                    });
                }
                status => return Err(status_error(endpoint, what, status, &answer.body)),
            }
        }
    }

    /// Answer a 401's challenge: the `Authorization` value to retry with (cached for later
    /// requests to the same repository).
    async fn authenticate(
        &self,
        endpoint: &Endpoint<'_>,
        repository: &str,
        headers: &HeaderMap,
        what: &str,
    ) -> Result<HeaderValue, RegistryError> {
        let challenge_error =
            |problem: String| RegistryError::Challenge { host: endpoint.label.clone(), what: what.to_owned(), problem };
        let header = headers
            .get(WWW_AUTHENTICATE)
            .ok_or_else(|| challenge_error("HTTP 401 without a WWW-Authenticate challenge".to_owned()))?;
        let header = header.to_str().map_err(|_| challenge_error("a non-ASCII WWW-Authenticate header".to_owned()))?;
        let challenge = auth::parse_challenge(header).map_err(|problem| {
            challenge_error(format!("{problem} in WWW-Authenticate {:?}", crate::text::bounded(header, 200)))
        })?;
        let credentials = self.inner.credentials.get(endpoint.registry);
        let basic = credentials.map(|c| self.basic(c)).transpose().map_err(challenge_error)?;
        let (realm, service, scope) = match challenge {
            Challenge::Basic => {
                let basic = basic.ok_or_else(|| RegistryError::NeedsCredentials {
                    host: endpoint.label.clone(),
                    what: what.to_owned(),
                })?;
                self.inner.auth.put(endpoint.registry, repository, basic.clone(), BASIC_REUSE);
                return Ok(basic);
            }
            Challenge::Bearer { realm, service, scope } => (realm, service, scope),
        };
        let shown = crate::text::bounded(&realm, 200);
        let mut url = Url::parse(&realm).map_err(|e| challenge_error(format!("token realm {shown:?}: {e}")))?;
        if url.scheme() != "https" {
            return Err(challenge_error(format!("token realm {shown:?} is not https")));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope.as_deref().unwrap_or(&format!("repository:{repository}:pull")));
        }
        let token_what = format!("{what}: token from {shown}");
        let answer = self.follow(
            endpoint,
            url.as_str(),
            basic.as_ref(),
            "application/json",
            &token_what,
            auth::MAX_TOKEN_ANSWER,
        );
        let answer = answer.await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let problem = match credentials {
                    Some(_) => format!(
                        "the token endpoint {shown} refused the credentials configured for {}",
                        endpoint.registry
                    ),
                    None => format!("the token endpoint {shown} refused anonymous access"),
                };
                return Err(RegistryError::Unauthorized {
                    host: endpoint.label.clone(),
                    what: what.to_owned(),
                    problem,
                    credentials: credentials.is_some(),
                });
            }
            status => return Err(status_error(endpoint, &token_what, status, &answer.body)),
        }
        let token = auth::parse_token(&answer.body).map_err(|p| challenge_error(format!("token from {shown}: {p}")))?;
        let value = HeaderValue::from_str(&format!("Bearer {}", token.token))
            .map_err(|_| challenge_error(format!("token from {shown} cannot be sent in a header")))?;
        self.inner.auth.put(endpoint.registry, repository, value.clone(), token.lifetime);
        Ok(value)
    }

    /// The `Authorization: Basic …` value for `credentials` (reqwest does the encoding).
    fn basic(&self, credentials: &Credentials) -> Result<HeaderValue, String> {
        let request = self
            .inner
            .http
            .get("https://registry.invalid/")
            .basic_auth(&credentials.username, Some(&credentials.password))
            .build()
            .map_err(|e| format!("cannot encode the configured credentials: {}", crate::text::chain(&e)))?;
        request
            .headers()
            .get(AUTHORIZATION)
            .cloned()
            .ok_or_else(|| "cannot encode the configured credentials".to_owned())
    }

    /// One request, following redirects: at most five, only to https, and `authorization`
    /// sent only to the origin of `url`.
    async fn follow(
        &self,
        endpoint: &Endpoint<'_>,
        url: &str,
        authorization: Option<&HeaderValue>,
        accept: &str,
        what: &str,
        max: usize,
    ) -> Result<Answer, RegistryError> {
        let redirect_error =
            |problem: String| RegistryError::Redirect { host: endpoint.label.clone(), what: what.to_owned(), problem };
        let mut url = Url::parse(url).map_err(|e| redirect_error(format!("bad URL {url:?}: {e}")))?;
        let origin = url.origin();
        for _ in 0..=MAX_REDIRECTS {
            let authorization = authorization.filter(|_| url.origin() == origin);
            let answer = self.hop(endpoint, &url, authorization, accept, what, max).await?;
            if !answer.status.is_redirection() || answer.status == StatusCode::NOT_MODIFIED {
                return Ok(answer);
            }
            let location =
                answer.headers.get(LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(|| {
                    redirect_error(format!("HTTP {} without a usable Location", answer.status.as_u16()))
                })?;
            let shown = crate::text::bounded(location, 200);
            let next = url.join(location).map_err(|e| redirect_error(format!("Location {shown:?}: {e}")))?;
            if next.scheme() != "https" {
                return Err(redirect_error(format!("to {shown:?}: only https redirects are followed")));
            }
            url = next;
        }
        Err(redirect_error(format!(
            "more than {MAX_REDIRECTS} redirects (last to {})",
            crate::text::bounded(url.as_str(), 200)
        )))
    }

    /// One HTTP request and its body, all within the timeout.
    async fn hop(
        &self,
        endpoint: &Endpoint<'_>,
        url: &Url,
        authorization: Option<&HeaderValue>,
        accept: &str,
        what: &str,
        max: usize,
    ) -> Result<Answer, RegistryError> {
        let mut request = self.inner.http.get(url.clone()).header(ACCEPT, accept);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = match status {
                StatusCode::OK => body::read(response, max).await?,
                s if s.is_client_error() || s.is_server_error() => Some(body::excerpt(response, MAX_ERROR_BODY).await),
                _ => Some(Vec::new()),
            };
            Ok::<_, reqwest::Error>((status, headers, body))
        };
        let host = || endpoint.label.clone();
        match tokio::time::timeout(self.inner.timeout, exchange).await {
            Err(_) => Err(RegistryError::Timeout { host: host(), what: what.to_owned(), timeout: self.inner.timeout }),
            Ok(Err(e)) => Err(transport_error(endpoint, what, &e, self.inner.timeout)),
            Ok(Ok((_, _, None))) => Err(RegistryError::TooLarge { host: host(), what: what.to_owned(), max }),
            Ok(Ok((status, headers, Some(body)))) => Ok(Answer { status, headers, body }),
        }
    }
}

/// A mirror's base URL, checked: https, a host, no query, fragment or credentials.
fn mirror_url(registry: &str, url: &str) -> Result<Url, RegistryError> {
    let refuse = |problem: &str| RegistryError::Mirror {
        registry: crate::text::bounded(registry, 100),
        url: crate::text::bounded(url, 200),
        problem: problem.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
    if parsed.scheme() != "https" {
        return Err(refuse("only https mirrors are used"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(refuse("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(refuse("a base URL takes no query, fragment or user name"));
    }
    Ok(parsed)
}

fn check_digest(
    endpoint: &Endpoint<'_>,
    what: &str,
    expected: &Sha256Digest,
    bytes: &[u8],
) -> Result<(), RegistryError> {
    let actual = Sha256Digest::of(bytes);
    if actual != *expected {
        return Err(RegistryError::Digest {
            host: endpoint.label.clone(),
            what: format!("{what} (expected {expected})"),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| crate::text::bounded(v, 200))
}

fn status_error(endpoint: &Endpoint<'_>, what: &str, status: StatusCode, body: &[u8]) -> RegistryError {
    let reason = match status.as_u16() {
        429 => " (too many requests)".to_owned(),
        s if s >= 500 => " (server error)".to_owned(),
        _ => String::new(),
    };
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let detail = if text.is_empty() { reason } else { format!("{reason}: {}", crate::text::bounded(text, 200)) };
    RegistryError::Status { host: endpoint.label.clone(), what: what.to_owned(), status: status.as_u16(), detail }
}

fn transport_error(endpoint: &Endpoint<'_>, what: &str, error: &reqwest::Error, timeout: Duration) -> RegistryError {
    let host = endpoint.label.clone();
    let what = what.to_owned();
    if let Some(problem) = tls::tls_problem(error) {
        return RegistryError::Tls { host, what, problem: crate::text::bounded(&problem, 300) };
    }
    let text = crate::text::chain(error);
    // hyper-util boxes the connector's error, which hides the rustls error from downcasts;
    // rustls's own wording still says it.
    if tls::mentions_tls(&text) {
        return RegistryError::Tls { host, what, problem: crate::text::bounded(&text, 300) };
    }
    if error.is_timeout() {
        return RegistryError::Timeout { host, what, timeout };
    }
    RegistryError::Transport { host, what, problem: crate::text::bounded(&text, 300) }
}

/// The proxy SPIRE's registry client uses (Go's `http.ProxyFromEnvironment`): `HTTPS_PROXY`
/// (or `https_proxy`) for https requests, except hosts in `NO_PROXY` (or `no_proxy`) and, as Go
/// does, `localhost` and loopback addresses. `None` when no proxy is set. reqwest's own system
/// proxy would also read `HTTP_PROXY`/`ALL_PROXY` and proxy loopback registries, so it is off.
fn proxy_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<reqwest::Proxy>, RegistryError> {
    let set = |upper: &str, lower: &str| env(upper).or_else(|| env(lower)).filter(|v| !v.trim().is_empty());
    let Some(url) = set("HTTPS_PROXY", "https_proxy") else { return Ok(None) };
    let mut exempt = set("NO_PROXY", "no_proxy").unwrap_or_default();
    exempt.push_str(",localhost,127.0.0.0/8,::1");
    // The URL may carry a password: the error names the variable, not its value (reqwest's
    // message does not repeat it either).
    let proxy = reqwest::Proxy::https(url.trim()).map_err(|e| RegistryError::Proxy(crate::text::chain(&e)))?;
    Ok(Some(proxy.no_proxy(reqwest::NoProxy::from_string(&exempt))))
}

#[cfg(test)]
mod tests;
