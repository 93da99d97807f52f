//! A legacy cosign signature layer (tag `sha256-<hex>.sig`), transcoded into a Sigstore bundle
//! v0.1 for the verifier, then bound to the image by its payload.
//!
//! Each layer of the `.sig` manifest is a payload blob (the exact bytes signed) with
//! annotations: `dev.cosignproject.cosign/signature` (base64 signature over the blob),
//! `dev.sigstore.cosign/certificate` (PEM leaf; absent for key-based signatures),
//! `dev.sigstore.cosign/chain` (PEM intermediates and root) and `dev.sigstore.cosign/bundle`
//! (`{"SignedEntryTimestamp": b64, "Payload": {"body": b64 Rekor entry, "integratedTime",
//! "logIndex", "logID": hex}}`). That is everything a v0.1 bundle holds: the certificate and
//! chain become its `x509CertificateChain`, the Rekor annotation its one log entry with the SET
//! as inclusion promise, the signature and the payload's SHA-256 its message signature. The
//! verifier then checks what cosign does (chain, SCT, SET, that the entry body matches this
//! signature, certificate and payload, the signature itself), and the payload must name the
//! image being verified (simple_signing.rs).
//!
//! A layer without the Rekor annotation would make SPIRE ask Rekor online; that lookup is not
//! made here, so such a layer fails unless the log is ignored and a key is configured, in which
//! case the signature over the payload is all there is to check.

use std::collections::BTreeMap;

use serde::Deserialize;
use sigstore_types::{
    Bundle, CanonicalizedBody, DerCertificate, DigestBytes, HashAlgorithm, InclusionPromise, KindVersion, LogId,
    LogIndex, LogKeyId, MediaType, MessageDigest, MessageSignature, PublicKeyIdentifier, SignatureBytes,
    SignatureContent, SignedTimestamp, TransparencyLogEntry, VerificationMaterial, VerificationMaterialContent,
    X509Certificate,
};

use super::digest::Sha256Digest;
use super::simple_signing::{PayloadError, SimpleSigning};
use super::trust::TrustRoot;
use super::verify::{self, Artifact, Checks, Signer, VerifiedSignature, VerifyError, bounded};
use crate::fault::Fault;

/// The signature over the payload, standard base64.
pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The signing certificate, PEM.
pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The certificate's chain (intermediates, then the root), PEM.
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
/// The Rekor entry and its signed entry timestamp, JSON.
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// The most certificates a chain annotation may hold (Fulcio's has two).
const MAX_CHAIN: usize = 10;

/// Why a layer without a certificate cannot be checked keylessly.
const KEY_BASED: &str = "signature layer has no certificate: it is key-based, and no public key was given for it";
/// Why a layer with a certificate is not checked with a configured key.
const KEYLESS: &str = "signature layer has a certificate: it is keyless, but a public key was given for it";

/// One layer of a `.sig` manifest: its annotations and its blob.
#[derive(Debug, Clone, Copy)]
pub struct LegacyLayer<'a> {
    /// The layer descriptor's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The blob: the exact payload bytes that were signed.
    pub payload: &'a [u8],
}

/// Why a legacy signature layer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// A required annotation is absent.
    #[error("signature layer has no {0} annotation")]
    MissingAnnotation(&'static str),
    /// An annotation cannot be decoded.
    #[error("signature layer annotation {annotation}: {problem}")]
    MalformedAnnotation {
        /// The annotation.
        annotation: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// No Rekor bundle annotation, and the log is not ignored: SPIRE would look the entry up
    /// in Rekor online, which attestor does not do.
    #[error(
        "signature layer has no {BUNDLE} annotation: the transparency log entry would have to be looked up online, which attestor does not do"
    )]
    NoRekorBundle,
    /// The layer has no certificate (a key-based signature) and is checked keylessly, or has
    /// one and is checked with a key.
    #[error("{0}")]
    SignerMismatch(&'static str),
    /// The signature, certificate or log entry does not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The signature verifies but the payload does not name this image.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

impl LegacyError {
    /// A refused signature layer is the workload image's, unless the trusted root is unusable.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Verify(e) => e.fault(),
            _ => Fault::Workload,
        }
    }
}

/// The `dev.sigstore.cosign/bundle` annotation, as cosign writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// The two fields of a Rekor entry body that say what kind of entry it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryKind {
    kind: String,
    api_version: String,
}

/// Verifies one legacy signature layer as a signature of the image whose manifest digest is
/// `image`: the cryptography first (on the transcoded bundle), then the payload's binding to
/// the image, so that only authenticated payloads are parsed.
pub fn verify_layer(
    root: &TrustRoot,
    layer: &LegacyLayer<'_>,
    image: &Sha256Digest,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, LegacyError> {
    match (signer, layer.annotations.contains_key(CERTIFICATE)) {
        (Signer::Keyless(_), false) => return Err(LegacyError::SignerMismatch(KEY_BASED)),
        (Signer::Key(_), true) => return Err(LegacyError::SignerMismatch(KEYLESS)),
        _ => {}
    }
    let signature = signature(layer)?;
    let verified = match transcode(layer, &signature)? {
        Some(bundle) => verify::verify_parsed(root, &bundle, Artifact::Bytes(layer.payload), signer, checks)?,
        None => verify_without_log(layer, &signature, signer, checks)?,
    };
    SimpleSigning::bind(layer.payload, image)?;
    Ok(verified)
}

/// The v0.1 bundle a layer with this signature amounts to; `None` when it has no Rekor
/// annotation.
fn transcode(layer: &LegacyLayer<'_>, signature: &SignatureBytes) -> Result<Option<Bundle>, LegacyError> {
    let Some(rekor) = layer.annotations.get(BUNDLE) else { return Ok(None) };
    let entry = log_entry(rekor)?;
    let material = match layer.annotations.get(CERTIFICATE) {
        Some(pem) => {
            let mut certificates = vec![X509Certificate::new(leaf(pem)?)];
            if let Some(chain) = layer.annotations.get(CHAIN) {
                certificates.extend(chain_certificates(chain)?.into_iter().map(X509Certificate::new));
            }
            VerificationMaterialContent::X509CertificateChain { certificates }
        }
        None => VerificationMaterialContent::PublicKey(PublicKeyIdentifier::new("")),
    };
    let digest = Sha256Digest::of(layer.payload);
    let content = MessageSignature::new(signature.clone())
        .with_message_digest(MessageDigest::new(HashAlgorithm::Sha2256, DigestBytes::new(digest.as_bytes().to_vec())));
    Ok(Some(Bundle::new(
        MediaType::Bundle0_1,
        VerificationMaterial::new(material).with_tlog_entries(vec![entry]),
        SignatureContent::MessageSignature(content),
    )))
}

/// A layer without a log entry: only a configured key with the log ignored can vouch for it.
fn verify_without_log(
    layer: &LegacyLayer<'_>,
    signature: &SignatureBytes,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, LegacyError> {
    let Signer::Key(key) = signer else { return Err(LegacyError::NoRekorBundle) };
    if !checks.ignore_tlog {
        return Err(LegacyError::NoRekorBundle);
    }
    Ok(verify::key_signed(key, layer.payload, signature)?)
}

fn signature(layer: &LegacyLayer<'_>) -> Result<SignatureBytes, LegacyError> {
    let text = layer.annotations.get(SIGNATURE).ok_or(LegacyError::MissingAnnotation(SIGNATURE))?;
    let signature = SignatureBytes::from_base64(text.trim()).map_err(|e| malformed(SIGNATURE, e))?;
    if signature.is_empty() {
        return Err(malformed(SIGNATURE, "empty"));
    }
    Ok(signature)
}

/// The Rekor annotation as a log entry; a `rekord` (or any other unsupported) entry is refused
/// here, by name.
fn log_entry(annotation: &str) -> Result<TransparencyLogEntry, LegacyError> {
    let rekor: RekorBundle = serde_json::from_str(annotation).map_err(|e| malformed(BUNDLE, e))?;
    let body = CanonicalizedBody::from_base64(&rekor.payload.body).map_err(|e| malformed(BUNDLE, e))?;
    let kind: EntryKind = serde_json::from_slice(body.as_bytes()).map_err(|e| malformed(BUNDLE, e))?;
    let kind_version = match (kind.kind.as_str(), kind.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => KindVersion::HashedRekordV001,
        ("hashedrekord", "0.0.2") => KindVersion::HashedRekordV002,
        ("dsse", "0.0.1") => KindVersion::DsseV001,
        ("intoto", "0.0.2") => KindVersion::IntotoV002,
        (kind, version) => {
            return Err(VerifyError::UnsupportedEntryKind { kind: bounded(kind), version: bounded(version) }.into());
        }
    };
    let index = u64::try_from(rekor.payload.log_index)
        .ok()
        .and_then(|i| LogIndex::new(i).ok())
        .ok_or_else(|| malformed(BUNDLE, format!("log index {} is out of range", rekor.payload.log_index)))?;
    let log_id = hex::decode(&rekor.payload.log_id).map_err(|e| malformed(BUNDLE, format!("logID: {e}")))?;
    let time = jiff::Timestamp::from_second(rekor.payload.integrated_time)
        .map_err(|e| malformed(BUNDLE, format!("integratedTime: {e}")))?;
    let set = SignedTimestamp::from_base64(&rekor.signed_entry_timestamp).map_err(|e| malformed(BUNDLE, e))?;
    Ok(TransparencyLogEntry::new(index, LogId::new(LogKeyId::new(log_id)), kind_version, body)
        .with_integrated_time(time)
        .with_inclusion_promise(InclusionPromise::new(set)))
}

fn leaf(pem: &str) -> Result<DerCertificate, LegacyError> {
    let mut certificates = pem_certificates(pem, CERTIFICATE)?;
    match (certificates.pop(), certificates.is_empty()) {
        (Some(leaf), true) => Ok(leaf),
        (None, _) => Err(malformed(CERTIFICATE, "no PEM certificate")),
        (Some(_), false) => Err(malformed(CERTIFICATE, "more than one PEM certificate")),
    }
}

fn chain_certificates(pem: &str) -> Result<Vec<DerCertificate>, LegacyError> {
    let certificates = pem_certificates(pem, CHAIN)?;
    if certificates.len() > MAX_CHAIN {
        return Err(malformed(CHAIN, format!("more than {MAX_CHAIN} certificates")));
    }
    Ok(certificates)
}

/// Every `CERTIFICATE` block of a PEM text, in order; text between blocks is ignored, as Go's
/// `pem.Decode` loop does.
fn pem_certificates(text: &str, annotation: &'static str) -> Result<Vec<DerCertificate>, LegacyError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after.find(END).ok_or_else(|| malformed(annotation, "unterminated PEM certificate"))?;
        let block = &after[..end + END.len()];
        certificates.push(DerCertificate::from_pem(block).map_err(|e| malformed(annotation, e))?);
        if certificates.len() > MAX_CHAIN {
            break;
        }
        rest = &after[end + END.len()..];
    }
    Ok(certificates)
}

fn malformed(annotation: &'static str, problem: impl ToString) -> LegacyError {
    LegacyError::MalformedAnnotation { annotation, problem: bounded(&problem.to_string()) }
}

#[cfg(test)]
mod tests;
