//! The image a container runs, as the kubelet names it in `imageID`: a registry, a repository
//! and a sha256 manifest digest. Only digest references are accepted: a tag can be moved to
//! another image between the check and the pull, so a tag is never verified.
//!
//! The distribution grammar and Docker Hub's normalisation (`nginx` → `index.docker.io`,
//! `library/nginx`) are `oci_client::Reference`'s; this type adds the refusals SPIRE's reading
//! implies (spec a.2 step 3) with errors that say what was wrong with the input.

use std::fmt;

use oci_client::{ParseError, Reference};

use super::digest::Sha256Digest;
use crate::fault::Fault;

/// The most of a refused `imageID` an error repeats.
const SHOWN: usize = 200;
/// The longest `imageID` parsed. The distribution grammar caps a repository at 255 bytes; a
/// registry host and a digest add well under 400. Longer input is refused before the regex runs.
const MAX_INPUT: usize = 1024;
/// Docker Hub's registry host, as requests must name it (`docker.io` has no registry API).
pub const DOCKER_HUB: &str = "index.docker.io";

/// A container image named by registry, repository and manifest digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    registry: String,
    repository: String,
    digest: Sha256Digest,
}

/// Why an `imageID` cannot name an image to verify. Always the workload's: the kubelet reports
/// what the pod's image reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing to parse.
    #[error("empty imageID: no image to verify")]
    Empty,
    /// A container runtime's prefix such as `docker-pullable://` (SPIRE cannot parse it either).
    #[error("imageID {0:?} starts with a runtime prefix (`docker-pullable://`…), not an image reference")]
    RuntimePrefix(String),
    /// `sha256:<hex>` alone: no repository, so no registry to ask.
    #[error("imageID {0:?} is a bare digest: it names no repository to find signatures in")]
    BareDigest(String),
    /// A tag without a digest.
    #[error("imageID {0:?} names a tag, not a digest: a tag can move, so it is never verified")]
    NoDigest(String),
    /// A digest of another algorithm than sha256.
    #[error("imageID {0:?} has a digest that is not sha256")]
    NotSha256(String),
    /// A sha256 digest that is not 64 lowercase hex digits.
    #[error("imageID {0:?} has a malformed sha256 digest (expected 64 lowercase hex digits)")]
    BadDigest(String),
    /// Anything else the distribution grammar refuses.
    #[error("imageID {input:?} is not an image reference: {problem}")]
    Grammar {
        /// The input, bounded.
        input: String,
        /// What the grammar refused.
        problem: String,
    },
}

impl ReferenceError {
    /// Who must act: the workload, always.
    pub fn fault(&self) -> Fault {
        Fault::Workload
    }
}

impl ImageName {
    /// The container's `imageID` as the kubelet reports it: `[registry/]repo@sha256:<64 hex>`
    /// (`docker.io/library/nginx@sha256:…`, `nginx@sha256:…`, `127.0.0.1:5000/app@sha256:…`).
    /// A tag beside the digest (`nginx:1.27@sha256:…`) is ignored: the digest names the image.
    pub fn parse(image_id: &str) -> Result<ImageName, ReferenceError> {
        let shown = || crate::text::bounded(image_id, SHOWN);
        if image_id.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if image_id.contains("://") {
            return Err(ReferenceError::RuntimePrefix(shown()));
        }
        if image_id.starts_with("sha256:") && !image_id.contains('/') && !image_id.contains('@') {
            return Err(ReferenceError::BareDigest(shown()));
        }
        if image_id.len() > MAX_INPUT {
            let problem = format!("longer than {MAX_INPUT} bytes");
            return Err(ReferenceError::Grammar { input: shown(), problem });
        }
        let reference = Reference::try_from(image_id).map_err(|e| match e {
            ParseError::DigestUnsupported => ReferenceError::NotSha256(shown()),
            // The parser checks a digest's length for its algorithm: a sha512 of sha256's length
            // is not a malformed sha256.
            ParseError::DigestInvalidFormat | ParseError::DigestInvalidLength => {
                match image_id.rsplit_once('@').is_some_and(|(_, d)| d.starts_with("sha256:")) {
                    true => ReferenceError::BadDigest(shown()),
                    false => ReferenceError::NotSha256(shown()),
                }
            }
            other => ReferenceError::Grammar { input: shown(), problem: other.to_string() },
        })?;
        // oci-client lets an upper-case first component through as a Docker Hub repository;
        // the distribution grammar (and oci-client itself, once the name is printed with its
        // registry) refuses it. Found by the `image_reference` fuzz target.
        if !reference.repository().split('/').all(repository_component) {
            let problem = "repository path components must be lower-case letters, digits and separators".to_owned();
            return Err(ReferenceError::Grammar { input: shown(), problem });
        }
        let digest = reference.digest().ok_or_else(|| ReferenceError::NoDigest(shown()))?;
        if !digest.starts_with("sha256:") {
            return Err(ReferenceError::NotSha256(shown()));
        }
        let digest = digest.parse::<Sha256Digest>().map_err(|_| ReferenceError::BadDigest(shown()))?;
        Ok(ImageName {
            registry: normalise_registry(reference.registry()).to_owned(),
            repository: reference.repository().to_owned(),
            digest,
        })
    }

    /// The registry host (with its port, if any); Docker Hub is always `index.docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository within the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The image manifest's digest.
    pub fn digest(&self) -> &Sha256Digest {
        &self.digest
    }
}

/// One path component of a repository, as the distribution grammar has it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn repository_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Separators: one `.`, one or two `_`, or any run of `-`, always between alphanumerics.
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'.' => i += 1,
            b'_' => i += if bytes.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            b if alnum(&b) => {
                i += 1;
                continue;
            }
            _ => return false,
        }
        if !bytes.get(i).is_some_and(alnum) {
            return false;
        }
    }
    true
}

/// A registry host as requests and settings keys name it: `docker.io` (the name users write)
/// and `index.docker.io` (the host that serves the API) are the same registry.
pub fn normalise_registry(host: &str) -> &str {
    if host == "docker.io" { DOCKER_HUB } else { host }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

impl fmt::Debug for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests;
