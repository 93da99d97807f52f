//! Trust material: the Sigstore trusted root (Fulcio CAs, Rekor and CT log keys, timestamp
//! authorities) and the long-lived public keys key-based cosign signatures are checked with.
//!
//! The root comes from a `trusted_root.json` file (a private Sigstore deployment, or a pinned
//! copy of the public one) or from the copy of the public-good root compiled into the binary.
//! It is never fetched: `sigstore-trust-root` is built without its `tuf` feature.

use std::fmt;
use std::path::{Path, PathBuf};

use sigstore_trust_root::{SigstoreInstance, TrustedRoot};
use sigstore_types::DerPublicKey;
use sigstore_verify::Verifier;

use crate::fault::Fault;

/// The largest `trusted_root.json` read (the public-good root is about 10 KiB).
const MAX_ROOT_BYTES: u64 = 4 << 20;

/// A trusted root, parsed and checked, with its verifier prepared once for every signature
/// checked against it.
pub struct TrustRoot {
    verifier: Verifier,
    origin: RootOrigin,
}

/// Where a trusted root was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootOrigin {
    /// The public-good root compiled into the binary.
    Embedded,
    /// A `trusted_root.json` file.
    File(PathBuf),
    /// JSON handed over in memory.
    Memory,
}

impl fmt::Display for RootOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded => f.write_str("the embedded Sigstore public-good trusted root"),
            Self::File(path) => write!(f, "trusted root {}", path.display()),
            Self::Memory => f.write_str("the trusted root given"),
        }
    }
}

/// Why trust material cannot be used. Always the operator's to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is larger than any trust material should be.
    #[error("{path} is larger than {MAX_ROOT_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The trusted root is not a `trusted_root.json` document, or its keys and certificates
    /// cannot be used (malformed, unsupported, duplicated, or with an inverted validity window).
    #[error("{origin}: {problem}")]
    Root {
        /// Where the root came from.
        origin: RootOrigin,
        /// What is wrong with it.
        problem: String,
    },
    /// A public key is not a PEM `PUBLIC KEY` of a supported algorithm.
    #[error("public key {name:?}: {problem}")]
    Key {
        /// The key's configured name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl TrustError {
    /// Trust material is configuration.
    pub fn fault(&self) -> Fault {
        Fault::Config
    }
}

impl TrustRoot {
    /// The Sigstore public-good root compiled into the binary (the same document as
    /// `trusted_root/production.json` in the test data).
    pub fn public_good() -> Result<Self, TrustError> {
        let root = TrustedRoot::from_embedded(SigstoreInstance::PublicGood)
            .map_err(|e| TrustError::Root { origin: RootOrigin::Embedded, problem: e.to_string() })?;
        Self::prepare(&root, RootOrigin::Embedded)
    }

    /// A `trusted_root.json` file.
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let json = read_bounded(path)?;
        Self::parse(&json, RootOrigin::File(path.to_owned()))
    }

    /// A `trusted_root.json` document held in memory.
    pub fn from_json(json: &str) -> Result<Self, TrustError> {
        Self::parse(json, RootOrigin::Memory)
    }

    /// Where this root came from.
    pub fn origin(&self) -> &RootOrigin {
        &self.origin
    }

    /// The verifier built from this root.
    pub(super) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    fn parse(json: &str, origin: RootOrigin) -> Result<Self, TrustError> {
        match TrustedRoot::from_json(json) {
            Ok(root) => Self::prepare(&root, origin),
            Err(e) => Err(TrustError::Root { origin, problem: e.to_string() }),
        }
    }

    /// Checks every key and certificate once, here rather than at the first signature; a root
    /// that trusts nothing (`{}` parses) is refused too, as no signature could verify against it.
    fn prepare(root: &TrustedRoot, origin: RootOrigin) -> Result<Self, TrustError> {
        if root.certificate_authorities.is_empty() && root.tlogs.is_empty() {
            let problem = "names no certificate authority and no transparency log".to_owned();
            return Err(TrustError::Root { origin, problem });
        }
        match Verifier::new(root) {
            Ok(verifier) => Ok(Self { verifier, origin }),
            Err(e) => Err(TrustError::Root { origin, problem: e.to_string() }),
        }
    }
}

impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustRoot").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// A long-lived public key that key-based (cosign `--key`) signatures are checked with, under
/// the name selectors and facts report it by.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey {
    name: String,
    key: DerPublicKey,
}

impl TrustedKey {
    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of an algorithm Sigstore signs with (ECDSA
    /// P-256/P-384, RSA, Ed25519).
    pub fn from_pem(name: impl Into<String>, pem: &str) -> Result<Self, TrustError> {
        let name = name.into();
        let refuse = |problem: String| TrustError::Key { name: name.clone(), problem };
        let key = DerPublicKey::from_pem(pem).map_err(|e| refuse(e.to_string()))?;
        sigstore_verify::crypto::KeyAlgorithm::from_spki(&key).map_err(|e| refuse(e.to_string()))?;
        Ok(Self { name, key })
    }

    /// A PEM public key read from a file.
    pub fn from_file(name: impl Into<String>, path: &Path) -> Result<Self, TrustError> {
        let pem = read_bounded(path)?;
        Self::from_pem(name, &pem)
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key (DER SubjectPublicKeyInfo).
    pub(super) fn der(&self) -> &DerPublicKey {
        &self.key
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Reads a small text file, refusing one past [`MAX_ROOT_BYTES`] without reading it whole.
fn read_bounded(path: &Path) -> Result<String, TrustError> {
    use std::io::Read as _;
    let read = |source| TrustError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    file.take(MAX_ROOT_BYTES + 1).read_to_string(&mut text).map_err(read)?;
    if text.len() as u64 > MAX_ROOT_BYTES {
        return Err(TrustError::TooLarge { path: path.to_owned() });
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
