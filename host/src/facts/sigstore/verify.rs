//! Verify one Sigstore bundle against an artifact, then apply SPIRE's identity rules.
//!
//! The cryptography is `sigstore-verify`'s, run with `any_identity` (it compares identities
//! only exactly): the certificate chain to a Fulcio CA of the trusted root at the signing time,
//! the embedded SCT, the Rekor SET, inclusion proof and checkpoint, RFC 3161 timestamps, the
//! signature over the artifact (or the DSSE envelope and its statement's subject), and that
//! the log entry describes this very signature. Only then is the certificate's identity held
//! against `allowed_identities` (identity.rs), and SPIRE's rule that a keyless signature needs
//! both a subject and an OIDC issuer applied.

use serde_json::Value;
use sigstore_types::{Bundle, Sha256Hash, SignatureBytes, SignatureContent, Statement, VerificationMaterialContent};
use sigstore_verify::{CertificateError, Error as SigstoreError, PublicKeyVerificationPolicy, VerificationPolicy};

use super::certificate::{CertificateError as SpireCertificateError, CertificateIdentity};
use super::digest::Sha256Digest;
use super::identity::AllowedIdentities;
use super::trust::{TrustRoot, TrustedKey};
use crate::fault::Fault;

/// The longest piece of outside text (a bundle's, a log entry's) an error repeats.
const SHOWN: usize = 500;

/// The Rekor entry kinds and versions `sigstore-verify` can check against a bundle.
const SUPPORTED_ENTRIES: &[(&str, &str)] =
    &[("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"), ("dsse", "0.0.1"), ("intoto", "0.0.2")];

/// What was signed.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The exact bytes (a legacy payload, a file).
    Bytes(&'a [u8]),
    /// Only the digest is known (an image manifest digest).
    Digest(Sha256Digest),
}

/// Who must have signed.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// Keyless: a certificate from a Fulcio CA of the trusted root, for an identity the list
    /// accepts.
    Keyless(&'a AllowedIdentities),
    /// A long-lived key (cosign `--key`); the bundle carries no certificate.
    Key(&'a TrustedKey),
}

/// SPIRE's relaxations of the checks (`ignore_sct`, `ignore_tlog`); both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// Do not require the certificate's embedded SCT.
    pub ignore_sct: bool,
    /// Do not require proof of inclusion in the transparency log, and report no log entry.
    pub ignore_tlog: bool,
}

/// A signature that verified, with what SPIRE's selectors and the Cedar facts report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The certificate's subject as the verifier reports it (first e-mail or URI SAN); `None`
    /// for a key-based signature. SPIRE's selectors use [`Self::certificate`] instead.
    pub subject: Option<String>,
    /// The certificate's OIDC issuer as the verifier reports it (extension .1.8, else .1.1);
    /// `None` for a key-based signature. SPIRE's selectors use [`Self::certificate`] instead.
    pub issuer: Option<String>,
    /// What SPIRE reads from the signing certificate (its subject and raw issuer, per
    /// generation); `None` for a key-based signature.
    pub certificate: Option<CertificateIdentity>,
    /// The configured name of the key that verified a key-based signature.
    pub key: Option<String>,
    /// The signature bytes, standard base64.
    pub signature: String,
    /// The transparency log entry; `None` when the log is ignored.
    pub log: Option<LogEntry>,
    /// For a DSSE envelope (cosign v3 signatures, attestations): the in-toto statement's
    /// `predicateType`.
    pub predicate_type: Option<String>,
}

/// Where the signature was recorded in the transparency log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's index in the log.
    pub index: u64,
    /// The log's ID (SHA-256 of its key), lowercase hex, as SPIRE prints it.
    pub log_id: String,
    /// When the log integrated the entry (Unix seconds), authenticated by its SET; `None` for
    /// logs that keep no such time (Rekor v2).
    pub integrated_time: Option<i64>,
    /// The signed entry timestamp, standard base64, when the entry has one.
    pub signed_entry_timestamp: Option<String>,
    /// The signature as the log entry's body records it (`spec.signature.content`, what
    /// SPIRE's generation 1 reports); `None` for entries without one (DSSE).
    pub body_signature: Option<String>,
}

/// Why a signature did not verify. Each variant names the check that failed; the text after it
/// is the verifier's own account, bounded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bundle is not a Sigstore bundle, or not a consistent one.
    #[error("malformed Sigstore bundle: {0}")]
    MalformedBundle(String),
    /// A log entry of a kind that cannot be checked against the signature: Rekor `rekord`
    /// 0.0.1 (the 2021-era format), `cose`, `jar`, …
    #[error(
        "unsupported Rekor entry kind {kind} {version}: only hashedrekord, dsse and intoto entries can be checked (rekord 0.0.1 is the 2021-era format)"
    )]
    UnsupportedEntryKind {
        /// The entry's kind.
        kind: String,
        /// The entry's API version.
        version: String,
    },
    /// A bundle that is well formed but uses content, keys or inputs the verifier cannot use.
    #[error("unsupported signature: {0}")]
    Unsupported(String),
    /// The signing certificate does not chain to a trusted Fulcio CA at the signing time, is
    /// malformed, or lacks the code-signing usage.
    #[error("signing certificate rejected: {0}")]
    Chain(String),
    /// The certificate's embedded SCT is missing or does not verify with a trusted CT log key.
    #[error("SCT check failed: {0}")]
    Sct(String),
    /// Transparency log: unknown log, bad SET (inclusion promise), inclusion proof or
    /// checkpoint, an entry that does not describe this signature, or an integrated time
    /// outside the certificate's validity.
    #[error("transparency log check failed: {0}")]
    Tlog(String),
    /// An RFC 3161 timestamp does not verify, or no trusted signing time exists.
    #[error("timestamp check failed: {0}")]
    Timestamp(String),
    /// The signature does not verify with the certificate's (or the configured) key.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// The bundle is not about this artifact: its message digest or statement subject differs.
    #[error("the signature is not over this artifact: {0}")]
    DigestMismatch(String),
    /// The certificate lacks what SPIRE needs for its selectors.
    #[error("the signing certificate has no {0}")]
    IdentityMissing(&'static str),
    /// The signing certificate verified, but cannot be read as SPIRE reads it (Go's parser,
    /// and so cosign, would have refused it).
    #[error(transparent)]
    Certificate(#[from] SpireCertificateError),
    /// The certificate's identity is not one `allowed_identities` accepts.
    #[error("signer {subject:?} (OIDC issuer {issuer:?}) is not in allowed_identities")]
    IdentityNotAllowed {
        /// The certificate's subject.
        subject: String,
        /// The certificate's OIDC issuer.
        issuer: String,
    },
    /// The trusted root cannot be used for this bundle.
    #[error("trusted root unusable: {0}")]
    TrustRoot(String),
    /// Any other refusal by the verifier.
    #[error("verification failed: {0}")]
    Other(String),
}

impl VerifyError {
    /// The signatures belong to the workload's image; an unusable trusted root is the
    /// configuration's.
    pub fn fault(&self) -> Fault {
        match self {
            Self::TrustRoot(_) => Fault::Config,
            _ => Fault::Workload,
        }
    }
}

/// Verifies one Sigstore bundle (JSON, any version) against `artifact`, signed as `signer` says.
pub fn verify_bundle(
    root: &TrustRoot,
    bundle_json: &str,
    artifact: Artifact<'_>,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, VerifyError> {
    let bundle = parse_bundle(bundle_json)?;
    verify_parsed(root, &bundle, artifact, signer, checks)
}

/// A signature by a configured key over `message`, with no log entry to check (the log is
/// ignored): all that vouches for a key-based legacy layer without a Rekor annotation.
pub(super) fn key_signed(
    key: &TrustedKey,
    message: &[u8],
    signature: &SignatureBytes,
) -> Result<VerifiedSignature, VerifyError> {
    use sigstore_verify::crypto::{KeyAlgorithm, verify_signature};
    let failed = |e: sigstore_verify::crypto::Error| VerifyError::Signature(bounded(&e.to_string()));
    let scheme = KeyAlgorithm::from_spki(key.der()).map_err(failed)?.default_signing_scheme();
    verify_signature(key.der(), message, signature, scheme).map_err(failed)?;
    Ok(VerifiedSignature {
        subject: None,
        issuer: None,
        certificate: None,
        key: Some(key.name().to_owned()),
        signature: signature.to_base64(),
        log: None,
        predicate_type: None,
    })
}

/// Parses a bundle, naming an unsupported log entry kind rather than failing on it as JSON.
fn parse_bundle(json: &str) -> Result<Bundle, VerifyError> {
    Bundle::from_json(json).map_err(|e| match unsupported_entry(json) {
        Some((kind, version)) => VerifyError::UnsupportedEntryKind { kind, version },
        None => VerifyError::MalformedBundle(bounded(&e.to_string())),
    })
}

/// The first log entry kind the verifier cannot check, if the text is shaped enough to say.
fn unsupported_entry(json: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(json).ok()?;
    let entries = value.pointer("/verificationMaterial/tlogEntries")?.as_array()?;
    entries.iter().find_map(|entry| {
        let kind = entry.pointer("/kindVersion/kind")?.as_str()?;
        let version = entry.pointer("/kindVersion/version")?.as_str()?;
        let supported = SUPPORTED_ENTRIES.contains(&(kind, version));
        (!supported).then(|| (bounded(kind), bounded(version)))
    })
}

/// Verifies a parsed bundle; see [`verify_bundle`].
pub(super) fn verify_parsed(
    root: &TrustRoot,
    bundle: &Bundle,
    artifact: Artifact<'_>,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, VerifyError> {
    let digest;
    let input: sigstore_types::Artifact<'_> = match artifact {
        Artifact::Bytes(bytes) => bytes.into(),
        Artifact::Digest(d) => {
            digest = Sha256Hash::new(*d.as_bytes());
            (&digest).into()
        }
    };
    let verifier = root.verifier();
    let (subject, issuer, key, certificate, result) = match signer {
        Signer::Keyless(allowed) => {
            let mut policy = VerificationPolicy::any_identity();
            if checks.ignore_sct {
                policy = policy.skip_sct();
            }
            if checks.ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            let result = verifier.verify(input, bundle, &policy).map_err(classify)?;
            let subject = result.identity().map(|san| san.as_str().to_owned()).filter(|s| !s.is_empty());
            let subject = subject.ok_or(VerifyError::IdentityMissing("subject (e-mail or URI SAN)"))?;
            let issuer = result.issuer().filter(|s| !s.is_empty()).map(str::to_owned);
            let issuer = issuer.ok_or(VerifyError::IdentityMissing("OIDC issuer extension"))?;
            let certificate = CertificateIdentity::from_der(leaf(bundle)?)?;
            if !allowed.accepts_any() && !spire_allows(allowed, &certificate) {
                return Err(VerifyError::IdentityNotAllowed { subject: bounded(&subject), issuer: bounded(&issuer) });
            }
            (Some(subject), Some(issuer), None, Some(certificate), result)
        }
        Signer::Key(key) => {
            let mut policy = PublicKeyVerificationPolicy::new(key.der().clone());
            if checks.ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            let result = verifier.verify(input, bundle, &policy).map_err(classify)?;
            (None, None, Some(key.name().to_owned()), None, result)
        }
    };
    let log = if checks.ignore_tlog {
        None
    } else {
        bundle.verification_material.tlog_entries.first().map(|entry| LogEntry {
            index: entry.log_index.get(),
            log_id: hex::encode(entry.log_id.key_id.as_bytes()),
            integrated_time: result.integrated_time().map(|t| t.as_second()),
            signed_entry_timestamp: entry.inclusion_promise.as_ref().map(|p| p.signed_entry_timestamp.to_base64()),
            body_signature: body_signature(entry.canonicalized_body.as_bytes()),
        })
    };
    let (signature, predicate_type) = match &bundle.content {
        SignatureContent::MessageSignature(message) => (message.signature.to_base64(), None),
        SignatureContent::DsseEnvelope(envelope) => {
            let statement = serde_json::from_slice::<Statement>(envelope.payload.as_bytes()).ok();
            (envelope.signature.sig.to_base64(), statement.map(|s| bounded(&s.predicate_type)))
        }
        _ => return Err(VerifyError::Unsupported("signature content of an unknown kind".to_owned())),
    };
    Ok(VerifiedSignature { subject, issuer, key, certificate, signature, log, predicate_type })
}

/// SPIRE's cosign check of `allowed_identities`: the raw OIDC issuer extension
/// (1.3.6.1.4.1.57264.1.1) against each configured issuer, and any non-empty SAN against its
/// subjects (the verifier's own identity is only the first e-mail or URI SAN, and prefers the
/// newer issuer extension .1.8).
pub(super) fn spire_allows(allowed: &AllowedIdentities, certificate: &CertificateIdentity) -> bool {
    let Ok(issuer) = certificate.oidc_issuer() else { return false };
    certificate.subject_alternative_names().iter().filter(|san| !san.is_empty()).any(|san| allowed.allows(issuer, san))
}

/// The leaf certificate's DER bytes.
fn leaf(bundle: &Bundle) -> Result<&[u8], VerifyError> {
    match &bundle.verification_material.content {
        VerificationMaterialContent::Certificate(certificate) => Ok(certificate.raw_bytes.as_bytes()),
        VerificationMaterialContent::X509CertificateChain { certificates } => certificates
            .first()
            .map(|c| c.raw_bytes.as_bytes())
            .ok_or_else(|| VerifyError::MalformedBundle("no signing certificate".to_owned())),
        _ => Err(VerifyError::Unsupported("a keyless signature without a certificate".to_owned())),
    }
}

/// `spec.signature.content` of a Rekor entry body (hashedrekord, rekord); verbatim, as the body
/// is authenticated by the log and the selector must repeat it exactly.
fn body_signature(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let content = value.pointer("/spec/signature/content")?.as_str()?;
    (!content.is_empty()).then(|| content.to_owned())
}

/// Sorts the verifier's error into the check that failed.
pub(super) fn classify(error: SigstoreError) -> VerifyError {
    use sigstore_verify::bundle::Error as Structure;
    let detail = bounded(&error.to_string());
    match error {
        SigstoreError::Certificate(CertificateError::Sct(_)) => VerifyError::Sct(detail),
        SigstoreError::Certificate(_) => VerifyError::Chain(detail),
        SigstoreError::TransparencyLog(_) => VerifyError::Tlog(detail),
        SigstoreError::Bundle(
            Structure::MissingInclusionPromise(_)
            | Structure::MissingInclusionProof(_)
            | Structure::MissingCheckpoint
            | Structure::LogIndexOutOfRange { .. }
            | Structure::CheckpointRootMismatch
            | Structure::MissingSigningTimeEvidence,
        ) => VerifyError::Tlog(detail),
        SigstoreError::Timestamp(_) => VerifyError::Timestamp(detail),
        SigstoreError::SignatureInvalid(_) | SigstoreError::Crypto(_) => VerifyError::Signature(detail),
        SigstoreError::ArtifactMismatch(_) => VerifyError::DigestMismatch(detail),
        SigstoreError::InvalidBundle(_) | SigstoreError::Bundle(_) | SigstoreError::Types(_) => {
            VerifyError::MalformedBundle(detail)
        }
        SigstoreError::UnsupportedBundle(_) | SigstoreError::UnsupportedArtifact(_) => VerifyError::Unsupported(detail),
        SigstoreError::InvalidTrustRoot(_) | SigstoreError::TrustRoot(_) | SigstoreError::TrustedCertificate(_) => {
            VerifyError::TrustRoot(detail)
        }
        _ => VerifyError::Other(detail),
    }
}

/// Outside text made safe for an error: at most [`SHOWN`] bytes, control characters escaped
/// (the crate's one rule for outside text, `crate::text::bounded`).
pub(super) fn bounded(text: &str) -> String {
    crate::text::bounded(text, SHOWN)
}

#[cfg(test)]
mod tests;
