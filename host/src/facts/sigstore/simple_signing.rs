//! The cosign simple-signing payload of a legacy `.sig` layer, and the check SPIRE forgot.
//!
//! A legacy signature signs a small JSON document naming the image it is for:
//! `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":"sha256:…"},
//! "type":"cosign container image signature"},"optional":…}`. The signature binds the payload,
//! and only the payload binds the image: SPIRE sets no claim verifier, so a valid signature
//! layer copied under another image's `.sig` tag verifies for that image too. Here the payload's
//! `docker-manifest-digest` must equal the digest of the image being verified, as cosign's own
//! CLI requires. The comparison is of strings, as cosign makes it.

use serde::Deserialize;
use serde_json::error::Category;

use super::digest::Sha256Digest;
use super::verify::bounded;

/// What a simple-signing payload says about the image it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.image.docker-manifest-digest`: the signed image's manifest digest.
    pub docker_manifest_digest: String,
    /// `critical.identity.docker-reference`: the repository the signer named, if any.
    pub docker_reference: Option<String>,
    /// `critical.type`, if any (cosign writes `cosign container image signature`).
    pub kind: Option<String>,
}

/// Why a payload does not bind the signature to the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is not JSON at all (a signed file, not an image signature).
    #[error("the signed payload is not a simple-signing document (not JSON: {0})")]
    NotJson(String),
    /// The payload is JSON without the simple-signing fields.
    #[error("the signed payload is not a simple-signing document: {0}")]
    NotSimpleSigning(String),
    /// The payload signs another image.
    #[error(
        "the signature is for image {signed}, not for {image}: a signature layer copied from another image is refused"
    )]
    DigestMismatch {
        /// The digest the payload names (bounded).
        signed: String,
        /// The digest of the image being verified.
        image: Sha256Digest,
    },
}

/// The payload as cosign writes it; unknown fields are ignored, as Go's decoder does.
#[derive(Deserialize)]
struct Wire {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Option<Identity>,
    image: Image,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

impl SimpleSigning {
    /// Parses the exact payload bytes that were signed.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let wire: Wire = serde_json::from_slice(payload).map_err(|e| match e.classify() {
            Category::Data => PayloadError::NotSimpleSigning(bounded(&e.to_string())),
            Category::Syntax | Category::Eof | Category::Io => PayloadError::NotJson(bounded(&e.to_string())),
        })?;
        let Critical { identity, image, kind } = wire.critical;
        Ok(Self {
            docker_manifest_digest: image.docker_manifest_digest,
            docker_reference: identity.and_then(|i| i.docker_reference),
            kind,
        })
    }

    /// Parses the payload and requires it to name `image`.
    pub fn bind(payload: &[u8], image: &Sha256Digest) -> Result<Self, PayloadError> {
        let parsed = Self::parse(payload)?;
        if parsed.docker_manifest_digest != image.to_string() {
            return Err(PayloadError::DigestMismatch {
                signed: bounded(&parsed.docker_manifest_digest),
                image: *image,
            });
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests;
