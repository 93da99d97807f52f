//! Finding an image's Sigstore material in its registry, where cosign puts it (spec a.3):
//! legacy `sha256-<hex>.sig` and `.att` tags (one signature or DSSE envelope per layer), and
//! cosign v3 bundles attached as OCI 1.1 referrers (the referrers API, or its `sha256-<hex>`
//! fallback index tag on registries without it).
//!
//! Nothing here is verified cryptographically: this gathers bytes, in order, with their
//! location, for `verify.rs` and `legacy.rs`. What is checked is that the registry answered
//! what was asked (digests and sizes, in `registry.rs`), and the caps.

use std::collections::BTreeMap;
use std::fmt;

use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;

use super::digest::Sha256Digest;
use super::reference::ImageName;
use super::registry::{RegistryClient, RegistryError};
use super::settings::BundleFormats;

/// Requests in flight for one image's layers or referrers: a handful hides round-trip time
/// without opening many connections to one registry.
const CONCURRENCY: usize = 4;

/// Everything found for one image, each list in the order the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Found {
    /// Layers of the `sha256-<hex>.sig` manifest, in layer order.
    pub legacy_signatures: Vec<FoundItem>,
    /// Layers of the `sha256-<hex>.att` manifest (DSSE envelopes), in layer order.
    pub legacy_attestations: Vec<FoundItem>,
    /// Sigstore bundles attached as OCI referrers (or listed by the fallback tag).
    pub referrers: Vec<FoundItem>,
}

/// One signature, attestation or bundle, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundItem {
    /// Where it was found.
    pub location: Location,
    /// What was found.
    pub content: Content,
}

/// Where an item was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A layer of a legacy `.sig` or `.att` manifest.
    LegacyTag {
        /// The tag (`sha256-<hex>.sig`).
        tag: String,
        /// The layer's index, from 0.
        layer: usize,
    },
    /// A referrer listed by the referrers API.
    Referrer {
        /// The referrer manifest's digest.
        manifest: Sha256Digest,
    },
    /// A referrer listed by the fallback index tag.
    FallbackTag {
        /// The tag (`sha256-<hex>`).
        tag: String,
        /// The referrer manifest's digest.
        manifest: Sha256Digest,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LegacyTag { tag, layer } => write!(f, "tag {tag} layer {layer}"),
            Self::Referrer { manifest } => write!(f, "referrer {manifest}"),
            Self::FallbackTag { tag, manifest } => write!(f, "tag {tag} referrer {manifest}"),
        }
    }
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A legacy layer: its annotations and its blob (payload bytes, exactly as stored).
    Legacy {
        /// The layer's media type.
        media_type: String,
        /// The layer's annotations (signature, certificate, chain, Rekor bundle).
        annotations: BTreeMap<String, String>,
        /// The blob: the signed payload, or a DSSE envelope.
        blob: Vec<u8>,
    },
    /// A Sigstore bundle's JSON bytes, and its media type.
    Bundle {
        /// The bundle layer's media type.
        media_type: String,
        /// The bundle, as stored.
        json: Vec<u8>,
    },
}

/// The media types a Sigstore bundle is stored under: v0.3's own, and the `version=`
/// parameter spellings of v0.1 to v0.3 (cosign has pushed both).
pub fn is_bundle_media_type(media_type: &str) -> bool {
    let compact: String = media_type.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>();
    matches!(
        compact.to_ascii_lowercase().as_str(),
        "application/vnd.dev.sigstore.bundle.v0.3+json"
            | "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle+json;version=0.2"
            | "application/vnd.dev.sigstore.bundle+json;version=0.1"
    )
}

/// An OCI image manifest or index, as far as it is read here.
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An OCI descriptor.
#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

/// Find what `formats` asks for: legacy `.sig` (and `.att` when `attestations`) layers, and
/// referrer bundles. A tag or referrer list that does not exist yields nothing; anything the
/// registry answers wrongly is an error naming the host, what was fetched and the problem.
pub async fn discover(
    client: &RegistryClient,
    image: &ImageName,
    formats: BundleFormats,
    attestations: bool,
) -> Result<Found, RegistryError> {
    let none = || async { Ok::<_, RegistryError>(Vec::new()) };
    let signatures = async { if formats.legacy { legacy(client, image, "sig").await } else { none().await } };
    let attestation_layers =
        async { if formats.legacy && attestations { legacy(client, image, "att").await } else { none().await } };
    let bundles = async { if formats.referrers { referrers(client, image).await } else { none().await } };
    let (legacy_signatures, legacy_attestations, referrers) =
        futures_util::future::try_join3(signatures, attestation_layers, bundles).await?;
    Ok(Found { legacy_signatures, legacy_attestations, referrers })
}

/// The layers of the `sha256-<hex>.<suffix>` manifest, blobs fetched.
async fn legacy(client: &RegistryClient, image: &ImageName, suffix: &str) -> Result<Vec<FoundItem>, RegistryError> {
    let (registry, repository) = (image.registry(), image.repository());
    let tag = format!("sha256-{}.{suffix}", hex::encode(image.digest().as_bytes()));
    let Some(fetched) = client.manifest(registry, repository, &tag).await? else { return Ok(Vec::new()) };
    let what = format!("manifest {repository}:{tag}");
    let manifest = parse(client, image, &what, &fetched.bytes)?;
    check_count(client, image, &what, manifest.layers.len(), "layers")?;
    let layers = manifest.layers.into_iter().enumerate().map(|(index, layer)| {
        let (tag, what) = (&tag, &what);
        async move {
            let digest = descriptor_digest(client, image, what, &layer)?;
            let blob = client.blob(registry, repository, &digest, layer.size).await?;
            let location = Location::LegacyTag { tag: tag.clone(), layer: index };
            let content = Content::Legacy { media_type: layer.media_type, annotations: layer.annotations, blob };
            Ok::<_, RegistryError>(FoundItem { location, content })
        }
    });
    futures_util::stream::iter(layers).buffered(CONCURRENCY).try_collect().await
}

/// The bundles among the image's referrers: from the referrers API, or, when the registry
/// has none (404), from the fallback index tag.
async fn referrers(client: &RegistryClient, image: &ImageName) -> Result<Vec<FoundItem>, RegistryError> {
    let (registry, repository, digest) = (image.registry(), image.repository(), image.digest());
    let (fetched, fallback, what) = match client.referrers(registry, repository, digest).await? {
        Some(fetched) => (fetched, None, format!("referrers of {repository}@{digest}")),
        None => {
            let tag = format!("sha256-{}", hex::encode(digest.as_bytes()));
            match client.manifest(registry, repository, &tag).await? {
                Some(fetched) => (fetched, Some(tag.clone()), format!("manifest {repository}:{tag}")),
                None => return Ok(Vec::new()),
            }
        }
    };
    let index = parse(client, image, &what, &fetched.bytes)?;
    // A descriptor without `artifactType` may still be a bundle (older registries drop it from
    // the list): its manifest says. One with another artifact type is not fetched at all.
    let candidates: Vec<Descriptor> =
        index.manifests.into_iter().filter(|d| d.artifact_type.as_deref().is_none_or(is_bundle_media_type)).collect();
    check_count(client, image, &what, candidates.len(), "referrers")?;
    let items = candidates.into_iter().map(|descriptor| {
        let (fallback, what) = (&fallback, &what);
        async move {
            let manifest = descriptor_digest(client, image, what, &descriptor)?;
            let Some(content) = referrer(client, image, &manifest, descriptor.size).await? else { return Ok(None) };
            let location = match fallback {
                Some(tag) => Location::FallbackTag { tag: tag.clone(), manifest },
                None => Location::Referrer { manifest },
            };
            Ok::<_, RegistryError>(Some(FoundItem { location, content }))
        }
    });
    let found: Vec<Option<FoundItem>> = futures_util::stream::iter(items).buffered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// One referrer manifest: its bundle layer's bytes, or `None` when it is not a bundle.
async fn referrer(
    client: &RegistryClient,
    image: &ImageName,
    digest: &Sha256Digest,
    size: u64,
) -> Result<Option<Content>, RegistryError> {
    let (registry, repository) = (image.registry(), image.repository());
    let reference = digest.to_string();
    let what = format!("manifest {repository}@{digest}");
    let host = || client.host_label(registry);
    let Some(fetched) = client.manifest(registry, repository, &reference).await? else {
        let detail = " (not found, though the referrers list names it)".to_owned();
        return Err(RegistryError::Status { host: host(), what, status: 404, detail });
    };
    let actual = fetched.bytes.len() as u64;
    if actual != size {
        return Err(RegistryError::Size { host: host(), what, expected: size, actual });
    }
    let manifest = parse(client, image, &what, &fetched.bytes)?;
    let artifact_type = manifest.artifact_type.as_deref().or(manifest.config.as_ref().map(|c| c.media_type.as_str()));
    if !artifact_type.is_some_and(is_bundle_media_type) {
        return Ok(None);
    }
    check_count(client, image, &what, manifest.layers.len(), "layers")?;
    let layer = manifest.layers.into_iter().find(|l| is_bundle_media_type(&l.media_type)).ok_or_else(|| {
        RegistryError::Malformed {
            host: host(),
            what: what.clone(),
            problem: "a bundle referrer without a bundle layer".into(),
        }
    })?;
    let blob_digest = descriptor_digest(client, image, &what, &layer)?;
    let json = client.blob(registry, repository, &blob_digest, layer.size).await?;
    Ok(Some(Content::Bundle { media_type: layer.media_type, json }))
}

fn parse(client: &RegistryClient, image: &ImageName, what: &str, bytes: &[u8]) -> Result<Manifest, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Malformed {
        host: client.host_label(image.registry()),
        what: what.to_owned(),
        problem: format!("not an OCI manifest or index: {}", crate::text::bounded(&e.to_string(), 200)),
    })
}

fn descriptor_digest(
    client: &RegistryClient,
    image: &ImageName,
    what: &str,
    descriptor: &Descriptor,
) -> Result<Sha256Digest, RegistryError> {
    descriptor.digest.parse().map_err(|_| RegistryError::Malformed {
        host: client.host_label(image.registry()),
        what: what.to_owned(),
        problem: format!("descriptor digest {:?} is not sha256", crate::text::bounded(&descriptor.digest, 100)),
    })
}

fn check_count(
    client: &RegistryClient,
    image: &ImageName,
    what: &str,
    count: usize,
    items: &'static str,
) -> Result<(), RegistryError> {
    let max = client.max_layers();
    if count > max {
        let host = client.host_label(image.registry());
        return Err(RegistryError::TooMany { host, what: what.to_owned(), count, items, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
