//! A real OCI registry on loopback for tests and demos: Debian's `docker-registry` package (CNCF
//! distribution 2.8), started per use on `127.0.0.1` with a free port, storage in a temporary
//! directory, TLS with an rcgen certificate and, optionally, htpasswd (Basic) authentication;
//! signatures are pushed to it with `oci-client`, as a client outside the project would push them.
//! Stopped (killed and reaped) on drop.
//!
//! ```ignore
//! let registry = Distribution::start(Access::Anonymous)?; // Err(why) when the binary is missing
//! registry.push_legacy("team/app", &image_digest, "sig", &[Layer::simple_signing(payload, annotations)]).await?;
//! registry.push_fallback_referrer("team/app", &image_digest, &bundle_json).await?;
//! // RegistrySettings { ca_path: Some(<a file holding registry.ca_pem()>), .. }
//! ```
//!
//! Distribution 2.8 predates OCI 1.1: it has no referrers API (`/v2/<repo>/referrers/<digest>`
//! answers 404), so cosign v3 bundles are found only through the `sha256-<hex>` fallback index
//! tag, which is what makes this registry worth testing against. It stores manifests byte for
//! byte, `artifactType` and `subject` included, and checks that every blob and child manifest
//! a manifest names exists, so pushes go blobs first, then the manifest, then the index.
//!
//! Measured here (2 cores): the registry accepts connections 25–35 ms after it is started alone,
//! 25–75 ms when five start at once (as `tests/sigstore_real_registry.rs` does).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Where Debian's `docker-registry` package puts the binary.
pub const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";
/// An environment variable naming another `docker-registry` binary (or a missing one, to see
/// what happens without it).
pub const BINARY_ENV: &str = "ATTESTOR_DOCKER_REGISTRY";
/// What to install when the binary is missing.
pub const INSTALL_HINT: &str = "install Debian's docker-registry package (`apt-get install docker-registry`; \
     `cargo xtask test` does it when running as root), or point ATTESTOR_DOCKER_REGISTRY at a CNCF distribution binary";

/// The htpasswd user of [`Access::Htpasswd`].
pub const HTPASSWD_USER: &str = "pusher";
/// Its password.
pub const HTPASSWD_PASSWORD: &str = "not-a-secret-test-password";
/// bcrypt (cost 5) of [`HTPASSWD_PASSWORD`], as distribution's htpasswd file wants it. No bcrypt
/// crate is in the tree, so the hash was made once with glibc's `crypt(3)` (libxcrypt, `$2b$`)
/// and checked to round-trip; distribution's Go bcrypt accepts `$2b$`.
pub const HTPASSWD_HASH: &str = "$2b$05$hHrbV9KvVFF.UjznPQoDbehAOUogYN4hXYVbdJk.AzvVDpsIC5H36";

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (the fallback tag's content).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// cosign's legacy signature layers.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// cosign's legacy attestation layers.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle v0.3 (cosign v3's artifact type and layer).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// OCI 1.1's empty descriptor, the config of an artifact manifest.
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// How long the registry may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Who may use the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, anonymously.
    Anonymous,
    /// [`HTPASSWD_USER`] with [`HTPASSWD_PASSWORD`], over Basic authentication.
    Htpasswd,
}

/// One layer of a legacy `.sig` or `.att` manifest.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The layer's media type.
    pub media_type: String,
    /// The layer descriptor's annotations (signature, certificate, chain, Rekor bundle).
    pub annotations: BTreeMap<String, String>,
    /// The blob.
    pub blob: Vec<u8>,
}

impl Layer {
    /// A `.sig` layer: a simple-signing payload and its annotations.
    pub fn simple_signing(blob: Vec<u8>, annotations: BTreeMap<String, String>) -> Self {
        Self { media_type: SIMPLE_SIGNING.to_owned(), annotations, blob }
    }

    /// An `.att` layer: a DSSE envelope and its annotations.
    pub fn dsse(blob: Vec<u8>, annotations: BTreeMap<String, String>) -> Self {
        Self { media_type: DSSE.to_owned(), annotations, blob }
    }
}

/// A running `docker-registry`; killed, reaped and its storage removed on drop.
pub struct Distribution {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    ca_pem: String,
    access: Access,
    startup: Duration,
    client: Client,
}

/// The `docker-registry` binary to run, or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    let path = std::env::var_os(BINARY_ENV).map_or_else(|| PathBuf::from(DEFAULT_BINARY), PathBuf::from);
    if path.is_file() { Ok(path) } else { Err(format!("{} not found: {INSTALL_HINT}", path.display())) }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// cosign's tag for a digest: `sha256:<hex>` → `sha256-<hex>`.
pub fn tag_of(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

impl Distribution {
    /// Start the registry and wait until it answers; `Err` says why it cannot run (the binary
    /// is missing) or why it did not start (with the end of its log).
    pub fn start(access: Access) -> Result<Self, String> {
        let binary = binary()?;
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let (ca_pem, cert_pem, key_pem) = certificates();
        write(&dir.path().join("cert.pem"), &cert_pem)?;
        write(&dir.path().join("key.pem"), &key_pem)?;
        write(&dir.path().join("htpasswd"), &format!("{HTPASSWD_USER}:{HTPASSWD_HASH}\n"))?;
        let client = push_client(&ca_pem)?;
        // The port is free when asked, but another process may take it before the registry
        // binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let addr = free_port()?;
            let config = dir.path().join("config.yml");
            write(&config, &config_yaml(dir.path(), addr, access))?;
            let started = Instant::now();
            let mut child = spawn(&binary, &config, dir.path())?;
            match wait_ready(&mut child, addr) {
                Ok(()) => {
                    let startup = started.elapsed();
                    return Ok(Self { child, dir, addr, ca_pem, access, startup, client });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
                    let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                    last = format!("{} did not start: {why}; its log ends: {tail}", binary.display());
                }
            }
        }
        Err(last)
    }

    /// `127.0.0.1:<port>`: the registry host of images stored here.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The CA certificate (PEM) the registry's certificate chains to.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How long the registry took from start to its first answer.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The registry's working directory (storage, configuration, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The version line `docker-registry --version` prints.
    pub fn version() -> Result<String, String> {
        let out = Command::new(binary()?).arg("--version").output().map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Push a blob; its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = digest_of(bytes);
        let reference = self.by_digest(repo, &digest);
        self.credentials().await;
        self.client
            .push_blob(&reference, bytes.to_vec(), &digest)
            .await
            .map_err(|e| format!("pushing blob {digest} to {repo}: {e}"))?;
        Ok(digest)
    }

    /// Push a manifest's exact bytes under `tag`, or under its digest when `tag` is `None`;
    /// its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, String> {
        let digest = digest_of(bytes);
        let reference = match tag {
            Some(tag) => self.tagged(repo, tag),
            None => self.by_digest(repo, &digest),
        };
        let content_type = media_type.parse().map_err(|_| format!("bad media type {media_type:?}"))?;
        self.credentials().await;
        self.client
            .push_manifest_raw(&reference, bytes.to_vec(), content_type)
            .await
            .map_err(|e| format!("pushing manifest {reference}: {e}"))?;
        Ok(digest)
    }

    /// Push cosign's `sha256-<hex>.<suffix>` manifest (`suffix` = `sig` or `att`) for
    /// `image_digest` with these layers, blobs first; the manifest's digest.
    pub async fn push_legacy(
        &self,
        repo: &str,
        image_digest: &str,
        suffix: &str,
        layers: &[Layer],
    ) -> Result<String, String> {
        let config = b"{}";
        let config_digest = self.push_blob(repo, config).await?;
        let mut descriptors = Vec::new();
        for layer in layers {
            let digest = self.push_blob(repo, &layer.blob).await?;
            descriptors.push(json!({
                "mediaType": layer.media_type, "digest": digest, "size": layer.blob.len(), "annotations": layer.annotations,
            }));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        });
        let tag = format!("{}.{suffix}", tag_of(image_digest));
        self.push_manifest(repo, Some(&tag), OCI_MANIFEST, &to_vec(&manifest)?).await
    }

    /// Attach a Sigstore bundle to `image_digest` as cosign v3 does on a registry without the
    /// referrers API: an artifact manifest (`artifactType`, an empty config, one bundle layer,
    /// `subject` = the image) pushed by digest, then listed in the `sha256-<hex>` index tag. The
    /// image's own manifest need not be in the registry. Returns the referrer manifest's digest.
    pub async fn push_fallback_referrer(
        &self,
        repo: &str,
        image_digest: &str,
        bundle: &[u8],
    ) -> Result<String, String> {
        let empty = b"{}";
        let empty_digest = self.push_blob(repo, empty).await?;
        let bundle_digest = self.push_blob(repo, bundle).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": empty.len()},
            "layers": [{"mediaType": BUNDLE_V03, "digest": bundle_digest, "size": bundle.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": 0},
        });
        let bytes = to_vec(&manifest)?;
        let digest = self.push_manifest(repo, None, OCI_MANIFEST, &bytes).await?;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": bytes.len(), "artifactType": BUNDLE_V03}],
        });
        self.push_manifest(repo, Some(&tag_of(image_digest)), OCI_INDEX, &to_vec(&index)?).await?;
        Ok(digest)
    }

    fn tagged(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host(), repo.to_owned(), tag.to_owned())
    }

    fn by_digest(&self, repo: &str, digest: &str) -> Reference {
        Reference::with_digest(self.host(), repo.to_owned(), digest.to_owned())
    }

    /// The pushes' credentials, stored in the client before its first request (oci-client
    /// asks `/v2/` which challenge applies, once per repository and operation).
    async fn credentials(&self) {
        let auth = match self.access {
            Access::Anonymous => RegistryAuth::Anonymous,
            Access::Htpasswd => RegistryAuth::Basic(HTPASSWD_USER.to_owned(), HTPASSWD_PASSWORD.to_owned()),
        };
        self.client.store_auth_if_needed(&self.host(), &auth).await;
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An rcgen CA and a leaf for `127.0.0.1` and `localhost`: (CA PEM, leaf PEM, leaf key PEM).
fn certificates() -> (String, String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "docker-registry test CA");
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "docker-registry");
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (issuer.pem(), cert.pem(), key.serialize_pem())
}

/// distribution's configuration: loopback, filesystem storage, TLS, htpasswd when asked, no
/// access log (it would fill the log file the start-up error quotes).
fn config_yaml(dir: &Path, addr: SocketAddr, access: Access) -> String {
    let d = dir.display();
    let auth = match access {
        Access::Anonymous => String::new(),
        Access::Htpasswd => format!("auth:\n  htpasswd:\n    realm: attestor-tests\n    path: {d}/htpasswd\n"),
    };
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {d}/storage\n\
         http:\n  addr: {addr}\n  secret: attestor-tests\n  tls:\n    certificate: {d}/cert.pem\n    key: {d}/key.pem\n\
         {auth}"
    )
}

fn spawn(binary: &Path, config: &Path, dir: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join("registry.log")).map_err(|e| format!("registry log: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("registry log: {e}"))?;
    Command::new(binary)
        .arg("serve")
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // distribution reads REGISTRY_* variables over its file; none from our environment.
        .env_clear()
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

/// Wait until the registry accepts connections (it binds its listener once the configuration,
/// TLS files and storage are all usable), or it exits, or [`START_TIMEOUT`].
fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listening on {addr} after {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| format!("no free port: {e}"))
}

/// An `oci-client` that trusts the registry's CA. Its reqwest is built without a rustls
/// provider, so ring (the project's provider) is installed as the process default first.
fn push_client(ca_pem: &str) -> Result<Client, String> {
    let _ = rustls::crypto::CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    let config = ClientConfig {
        extra_root_certificates: vec![Certificate {
            encoding: CertificateEncoding::Pem,
            data: ca_pem.as_bytes().to_vec(),
        }],
        // One PUT per blob instead of a POST, PATCHes and a PUT: fewer requests, same result.
        use_monolithic_push: true,
        read_timeout: Some(Duration::from_secs(10)),
        connect_timeout: Some(Duration::from_secs(5)),
        ..ClientConfig::default()
    };
    // `Client::new` falls back to a default client (without our CA) when this fails; say why.
    Client::try_from(config).map_err(|e| format!("cannot build the oci-client: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn to_vec(value: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}
