//! A legacy cosign attestation layer (tag `sha256-<hex>.att`), transcoded into a Sigstore bundle
//! v0.1 for the verifier, and bound to the image by its in-toto statement.
//!
//! Each layer of the `.att` manifest (media type `application/vnd.dsse.envelope.v1+json`) is a
//! DSSE envelope whose payload is an in-toto statement; cosign keeps the signature in the
//! envelope, so the layer's `dev.cosignproject.cosign/signature` annotation is empty. The
//! certificate, chain and Rekor annotations are those of a `.sig` layer (legacy.rs). The bundle
//! the verifier gets holds the envelope as its content, so `sigstore-verify` checks the chain,
//! SCT, SET, the signature over the envelope's PAE, and that a subject of the statement is the
//! image's digest.
//!
//! The log entry decides who checks that it records this envelope: for `intoto` 0.0.2 and
//! `dsse` 0.0.1 (what cosign v3 writes) `sigstore-verify` does; cosign v1 and v2 log attestations
//! as `intoto` 0.0.1 (`intotoEntry` in cosign's `pkg/cosign/tlog.go`), which `sigstore-verify`
//! 0.15.1 cannot represent, and `intoto_v001.rs` checks those with every check of the other
//! paths. Any other kind is refused by name ([`AttestationError::UnsupportedEntry`]).
//!
//! The layer's `predicateType` annotation is not signed and not read: the predicate type
//! reported is the signed statement's.

use serde_json::Value;
use sigstore_types::{
    Bundle, CanonicalizedBody, DerCertificate, DsseEnvelope, InclusionPromise, KindVersion, LogId, LogIndex, LogKeyId,
    MediaType, PublicKeyIdentifier, Sha256Hash, SignatureContent, SignedTimestamp, Statement, TransparencyLogEntry,
    VerificationMaterial, VerificationMaterialContent, X509Certificate,
};

use super::digest::Sha256Digest;
use super::legacy::{BUNDLE, CERTIFICATE, CHAIN, LegacyLayer};
use super::trust::TrustRoot;
use super::verify::{self, Artifact, Checks, Signer, VerifiedSignature, VerifyError, bounded};
use crate::fault::Fault;

mod intoto_v001;

/// The DSSE payload type of an in-toto statement, the only one an attestation can carry.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The most certificates a chain annotation may hold (Fulcio's has two).
const MAX_CHAIN: usize = 10;

/// An attestation that verified: what it attests, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    /// The signed statement's `predicateType` (bounded).
    pub predicate_type: String,
    /// The signer, as for a signature; its `predicate_type` is the same as above.
    pub signature: VerifiedSignature,
}

/// Why a legacy attestation layer is refused. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The blob is not a DSSE envelope with exactly one signature.
    #[error("attestation layer is not a DSSE envelope: {0}")]
    MalformedEnvelope(String),
    /// The envelope carries something other than an in-toto statement.
    #[error("attestation envelope carries {0:?}, not an in-toto statement ({IN_TOTO})")]
    NotInToto(String),
    /// The signed payload is not an in-toto statement (read only after its signature verified).
    #[error("attestation payload is not an in-toto statement: {0}")]
    MalformedStatement(String),
    /// A required annotation is absent.
    #[error("attestation layer has no {0} annotation")]
    MissingAnnotation(&'static str),
    /// An annotation cannot be decoded.
    #[error("attestation layer annotation {annotation}: {problem}")]
    MalformedAnnotation {
        /// The annotation.
        annotation: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// No Rekor annotation while the log is not ignored (SPIRE would ask Rekor online), or a
    /// keyless attestation without one (its certificate can only be checked at a logged time).
    #[error(
        "attestation layer has no {BUNDLE} annotation: the transparency log entry would have to be looked up online, which attestor does not do"
    )]
    NoRekorBundle,
    /// The Rekor entry is of a kind that cannot record an envelope.
    #[error(
        "attestation layer's Rekor entry is {kind} {version}: only intoto 0.0.1 (cosign v1 and v2), intoto 0.0.2 and dsse 0.0.1 entries can record a DSSE envelope"
    )]
    UnsupportedEntry {
        /// The entry's kind.
        kind: String,
        /// The entry's API version.
        version: String,
    },
    /// The Rekor `intoto` 0.0.1 entry, though signed by the log, records another envelope,
    /// payload or signer than the layer's.
    #[error("attestation layer's Rekor intoto 0.0.1 entry does not record this attestation: {0}")]
    EntryMismatch(String),
    /// A certificate where a key was configured, or none where one is needed.
    #[error("{0}")]
    SignerMismatch(&'static str),
    /// The envelope, certificate or log entry does not verify, or the statement is not about
    /// this image.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl AttestationError {
    /// A refused attestation is the workload image's, unless the trusted root is unusable.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Verify(e) => e.fault(),
            _ => Fault::Workload,
        }
    }
}

/// Verifies one legacy attestation layer as an attestation about the image whose manifest
/// digest is `image`, signed as `signer` says.
pub fn verify_attestation_layer(
    root: &TrustRoot,
    layer: &LegacyLayer<'_>,
    image: &Sha256Digest,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedAttestation, AttestationError> {
    const KEY_BASED: &str = "attestation layer has no certificate: it is key-based, and no public key was given for it";
    const KEYLESS: &str = "attestation layer has a certificate: it is keyless, but a public key was given for it";
    match (signer, layer.annotations.contains_key(CERTIFICATE)) {
        (Signer::Keyless(_), false) => return Err(AttestationError::SignerMismatch(KEY_BASED)),
        (Signer::Key(_), true) => return Err(AttestationError::SignerMismatch(KEYLESS)),
        _ => {}
    }
    let envelope = envelope(layer.payload)?;
    let signature = match layer.annotations.get(BUNDLE) {
        Some(rekor) => {
            let (entry, kind) = log_entry(rekor)?;
            let bundle = Bundle::new(
                MediaType::Bundle0_1,
                VerificationMaterial::new(material(layer)?).with_tlog_entries(vec![entry]),
                SignatureContent::DsseEnvelope(envelope),
            );
            match kind {
                Logged::Envelope => verify::verify_parsed(root, &bundle, Artifact::Digest(*image), signer, checks)?,
                Logged::IntotoV001 => intoto_v001::verify(root, &bundle, layer.payload, image, signer, checks)?,
            }
        }
        None => verify_without_log(&envelope, image, signer, checks)?,
    };
    let predicate_type = signature
        .predicate_type
        .clone()
        .ok_or_else(|| AttestationError::MalformedStatement("no predicateType".to_owned()))?;
    Ok(VerifiedAttestation { predicate_type, signature })
}

/// The layer's blob as a DSSE envelope of an in-toto statement.
fn envelope(blob: &[u8]) -> Result<DsseEnvelope, AttestationError> {
    let envelope: DsseEnvelope =
        serde_json::from_slice(blob).map_err(|e| AttestationError::MalformedEnvelope(bounded(&e.to_string())))?;
    if envelope.payload_type != IN_TOTO {
        return Err(AttestationError::NotInToto(bounded(&envelope.payload_type)));
    }
    if envelope.signature.sig.is_empty() {
        return Err(AttestationError::MalformedEnvelope("empty signature".to_owned()));
    }
    Ok(envelope)
}

/// The certificate and its chain, or a key hint for a key-based layer.
fn material(layer: &LegacyLayer<'_>) -> Result<VerificationMaterialContent, AttestationError> {
    let Some(pem) = layer.annotations.get(CERTIFICATE) else {
        return Ok(VerificationMaterialContent::PublicKey(PublicKeyIdentifier::new("")));
    };
    let mut leaf = pem_certificates(pem, CERTIFICATE)?;
    if leaf.len() != 1 {
        return Err(malformed(CERTIFICATE, format!("{} PEM certificates, not one", leaf.len())));
    }
    if let Some(chain) = layer.annotations.get(CHAIN) {
        leaf.extend(pem_certificates(chain, CHAIN)?);
    }
    Ok(VerificationMaterialContent::X509CertificateChain {
        certificates: leaf.into_iter().map(X509Certificate::new).collect(),
    })
}

/// A layer without a log entry: only a configured key with the log ignored can vouch for it,
/// and the statement binding is checked here, as the verifier would.
fn verify_without_log(
    envelope: &DsseEnvelope,
    image: &Sha256Digest,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, AttestationError> {
    let Signer::Key(key) = signer else { return Err(AttestationError::NoRekorBundle) };
    if !checks.ignore_tlog {
        return Err(AttestationError::NoRekorBundle);
    }
    let verified = verify::key_signed(key, &envelope.pae(), &envelope.signature.sig)?;
    let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes())
        .map_err(|e| AttestationError::MalformedStatement(bounded(&e.to_string())))?;
    if !statement.matches_sha256(&Sha256Hash::new(*image.as_bytes())) {
        let detail = format!("no subject of the statement has digest {image}");
        return Err(VerifyError::DigestMismatch(detail).into());
    }
    Ok(VerifiedSignature { predicate_type: Some(bounded(&statement.predicate_type)), ..verified })
}

/// Who checks that a log entry records the layer's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logged {
    /// `sigstore-verify` (`intoto` 0.0.2, `dsse` 0.0.1).
    Envelope,
    /// intoto_v001.rs; the entry is labelled [`intoto_v001::CARRIER`].
    IntotoV001,
}

/// The Rekor annotation (`{"SignedEntryTimestamp", "Payload": {body, integratedTime, logIndex,
/// logID}}`) as a log entry; only the kinds that record an envelope are accepted.
fn log_entry(annotation: &str) -> Result<(TransparencyLogEntry, Logged), AttestationError> {
    let value: Value = serde_json::from_str(annotation).map_err(|e| malformed(BUNDLE, e))?;
    let field = |pointer: &str| value.pointer(pointer).ok_or_else(|| malformed(BUNDLE, format!("no {pointer}")));
    let text =
        |pointer: &str| field(pointer)?.as_str().ok_or_else(|| malformed(BUNDLE, format!("{pointer} is not a string")));
    let number = |pointer: &str| {
        field(pointer)?.as_i64().ok_or_else(|| malformed(BUNDLE, format!("{pointer} is not an integer")))
    };
    let body = CanonicalizedBody::from_base64(text("/Payload/body")?).map_err(|e| malformed(BUNDLE, e))?;
    let kind: Value = serde_json::from_slice(body.as_bytes()).map_err(|e| malformed(BUNDLE, e))?;
    let (kind, version) = (kind["kind"].as_str().unwrap_or_default(), kind["apiVersion"].as_str().unwrap_or_default());
    let (kind_version, logged) = match (kind, version) {
        ("intoto", "0.0.2") => (KindVersion::IntotoV002, Logged::Envelope),
        ("dsse", "0.0.1") => (KindVersion::DsseV001, Logged::Envelope),
        ("intoto", "0.0.1") => (intoto_v001::CARRIER, Logged::IntotoV001),
        (kind, version) => {
            return Err(AttestationError::UnsupportedEntry { kind: bounded(kind), version: bounded(version) });
        }
    };
    let index = number("/Payload/logIndex")?;
    let index = u64::try_from(index)
        .ok()
        .and_then(|i| LogIndex::new(i).ok())
        .ok_or_else(|| malformed(BUNDLE, format!("log index {index} is out of range")))?;
    let log_id = hex::decode(text("/Payload/logID")?).map_err(|e| malformed(BUNDLE, format!("logID: {e}")))?;
    let time = jiff::Timestamp::from_second(number("/Payload/integratedTime")?)
        .map_err(|e| malformed(BUNDLE, format!("integratedTime: {e}")))?;
    let set = SignedTimestamp::from_base64(text("/SignedEntryTimestamp")?).map_err(|e| malformed(BUNDLE, e))?;
    let entry = TransparencyLogEntry::new(index, LogId::new(LogKeyId::new(log_id)), kind_version, body)
        .with_integrated_time(time)
        .with_inclusion_promise(InclusionPromise::new(set));
    Ok((entry, logged))
}

/// Every `CERTIFICATE` block of a PEM text, in order (text between blocks ignored, as Go's
/// `pem.Decode` loop does), at most [`MAX_CHAIN`].
fn pem_certificates(text: &str, annotation: &'static str) -> Result<Vec<DerCertificate>, AttestationError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        if certificates.len() == MAX_CHAIN {
            return Err(malformed(annotation, format!("more than {MAX_CHAIN} certificates")));
        }
        let after = &rest[start..];
        let end = after.find(END).ok_or_else(|| malformed(annotation, "unterminated PEM certificate"))? + END.len();
        certificates.push(DerCertificate::from_pem(&after[..end]).map_err(|e| malformed(annotation, e))?);
        rest = &after[end..];
    }
    Ok(certificates)
}

fn malformed(annotation: &'static str, problem: impl ToString) -> AttestationError {
    AttestationError::MalformedAnnotation { annotation, problem: bounded(&problem.to_string()) }
}

#[cfg(test)]
mod tests;
