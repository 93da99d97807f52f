//! The `sigstore { }` block, typed: which SPIRE generation it speaks, and attestor's own keys.
//!
//! Read and validated in `config/sigstore.rs`; paths are kept as paths and read when the
//! verifier is built ([`crate::facts::sigstore::ImageVerifier::new`]), so a reload re-reads the
//! trusted root and the keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Everything the `sigstore` block says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreSettings {
    /// SPIRE's keys, by generation.
    pub spire: SpireKeys,
    /// `trusted_root`: a `trusted_root.json`; `None` is the embedded Sigstore public-good root.
    pub trusted_root: Option<PathBuf>,
    /// `public_keys`: name → PEM file, for key-based cosign signatures.
    pub public_keys: BTreeMap<String, PathBuf>,
    /// `bundle_formats`: where signatures are looked for.
    pub formats: BundleFormats,
    /// `on_failure`: what a verification failure does.
    pub on_failure: OnFailure,
    /// How registries are reached.
    pub registry: RegistrySettings,
    /// `cache_ttl`: how long a verified image's answer is reused.
    pub cache_ttl: Duration,
    /// `cache_max_entries`: the most image answers kept (successes and failures together).
    pub cache_max_entries: usize,
}

/// SPIRE's keys, in the generation the block's keys name (a block mixing both is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpireKeys {
    /// SPIRE 1.6.0–1.10.1: `experimental { sigstore { rekor_url = … } }`.
    One(GenerationOne),
    /// SPIRE 1.10.2 and later: top-level `sigstore { }` or `experimental { sigstore { } }`.
    Two(GenerationTwo),
}

/// Generation 1's keys (spec a.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationOne {
    /// `rekor_url` (required, https with a host). attestor never queries Rekor online: a
    /// signature without its log entry fails.
    pub rekor_url: String,
    /// `enforce_sct` (default true).
    pub enforce_sct: bool,
    /// `skip_signature_verification_image_list`: exact `imageID`s, not verified and still
    /// answered `sigstore-validation:passed`.
    pub skip_images: BTreeSet<String>,
    /// `allowed_subjects_list`: OIDC issuer → exact subjects. Empty: no signature yields
    /// selectors.
    pub allowed_subjects: BTreeMap<String, BTreeSet<String>>,
}

/// Generation 2's keys (spec a.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GenerationTwo {
    /// `allowed_identities`: OIDC issuer → subjects (exact, or unanchored regexes). Empty: any.
    pub allowed_identities: BTreeMap<String, Vec<String>>,
    /// `skipped_images`: exact `imageID`s that get no selectors and no error.
    pub skipped_images: BTreeSet<String>,
    /// `rekor_url` (default `https://rekor.sigstore.dev`). attestor never queries Rekor online.
    pub rekor_url: String,
    /// `ignore_sct`.
    pub ignore_sct: bool,
    /// `ignore_tlog`.
    pub ignore_tlog: bool,
    /// `ignore_attestations`.
    pub ignore_attestations: bool,
}

/// Where signatures are looked for (`bundle_formats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleFormats {
    /// `"legacy"`: cosign's `sha256-<hex>.sig` and `.att` tags (SPIRE's only place).
    pub legacy: bool,
    /// `"referrers"`: cosign v3 bundles, through the OCI 1.1 referrers API and its
    /// `sha256-<hex>` fallback tag.
    pub referrers: bool,
}

impl Default for BundleFormats {
    fn default() -> Self {
        Self { legacy: true, referrers: false }
    }
}

/// What a verification failure does (`on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// `"deny"` (SPIRE's behaviour): the attestation fails with SPIRE's `Internal` error.
    #[default]
    Deny,
    /// `"fact"`: the failure becomes a fact, and the policies decide.
    Fact,
}

/// How registries are reached: credentials, mirrors, trust and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// `registry_credentials`: registry host → user name and password.
    pub credentials: BTreeMap<String, Credentials>,
    /// `registry_mirrors`: registry host → the https base URL requests go to instead.
    pub mirrors: BTreeMap<String, String>,
    /// `registry_ca_path`: extra CA certificates (PEM) trusted for registries.
    pub ca_path: Option<PathBuf>,
    /// The most one registry request (connect, headers and body) may take.
    pub timeout: Duration,
    /// The largest manifest (or referrers index) read.
    pub max_manifest_bytes: usize,
    /// The largest blob (signature payload, attestation envelope, bundle) read.
    pub max_blob_bytes: usize,
    /// The most layers (or referrers) of one manifest read.
    pub max_layers: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            credentials: BTreeMap::new(),
            mirrors: BTreeMap::new(),
            ca_path: None,
            // A registry answering a small manifest in more than 10 s is down for our purpose;
            // SPIRE's cosign has no timeout of its own.
            timeout: Duration::from_secs(10),
            // OCI's own guidance: registries should accept manifests up to 4 MiB.
            max_manifest_bytes: 4 << 20,
            // A simple-signing payload is ~300 B, a DSSE envelope or a v3 bundle a few KiB; 1 MiB
            // leaves room for large SBOM attestations without letting one blob eat memory.
            max_blob_bytes: 1 << 20,
            // cosign appends a layer per `cosign sign`; 64 signatures on one image is already odd.
            max_layers: 64,
        }
    }
}

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

impl SigstoreSettings {
    /// Generation 2 with every default: what an empty top-level `sigstore { }` means.
    pub fn generation_two() -> Self {
        Self {
            spire: SpireKeys::Two(GenerationTwo {
                rekor_url: DEFAULT_REKOR_URL.to_owned(),
                ..GenerationTwo::default()
            }),
            trusted_root: None,
            public_keys: BTreeMap::new(),
            formats: BundleFormats::default(),
            on_failure: OnFailure::Deny,
            registry: RegistrySettings::default(),
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
        }
    }
}

/// SPIRE's default `rekor_url` (generation 2).
pub const DEFAULT_REKOR_URL: &str = "https://rekor.sigstore.dev";
/// `cache_ttl`'s default: a verified digest does not change, but a revoked identity should stop
/// counting within the hour.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(3600);
/// `cache_max_entries`' default: far more distinct images than one node runs.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 4096;
/// How long a failure is remembered: long enough that a registry outage does not turn into a
/// request per attestation, short enough that a fixed signature counts within seconds.
pub const FAILURE_TTL: Duration = Duration::from_secs(5);
