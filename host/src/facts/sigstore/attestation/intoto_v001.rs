//! A cosign v1/v2 attestation layer whose Rekor entry is `intoto` 0.0.1, checked with every check
//! the other attestation paths have.
//!
//! cosign v1 and v2 log an attestation by sending Rekor the whole DSSE envelope, the exact bytes
//! they then push as the `.att` layer's blob, with the signer's PEM (`intotoEntry` in cosign's
//! `pkg/cosign/tlog.go`). Rekor checks the envelope's signature on upload, then keeps only this
//! (`Canonicalize` in Rekor's `pkg/types/intoto/v0.0.1/entry.go`; the `envelope` field of the
//! schema is write-only and never stored):
//!
//! ```text
//! {"apiVersion":"0.0.1","kind":"intoto","spec":{
//!   "content":{"hash":{"algorithm":"sha256","value":<hex SHA-256 of the envelope bytes uploaded>},
//!              "payloadHash":{"algorithm":"sha256","value":<hex SHA-256 of the decoded payload>}},
//!   "publicKey":<base64 of the signer's PEM certificate or key, as Rekor re-encodes it>}}
//! ```
//!
//! (`payloadHash` is absent from entries written before Rekor stored it.) The entry records no
//! signature, and `sigstore-verify` 0.15.1 has no `KindVersion` for it, so it cannot hold such an
//! entry against a bundle. What each check protects, and who makes it:
//!
//! 1. The body is read strictly: `intoto` 0.0.1, no field Rekor does not write (so it cannot
//!    also pass for another kind), SHA-256 hashes only.
//! 2. `sigstore-verify` runs every check it has on the v0.1 bundle the layer amounts to, the
//!    entry travelling under the label `dsse` 0.0.1 ([`CARRIER`]), a label the SET does not cover
//!    (it signs the RFC 8785 JSON of body, integrated time, log index and log ID only): the SET
//!    with a Rekor key of the trusted root valid at the integrated time (the log vouches for the
//!    body and the time); the certificate chain to a Fulcio CA of the trusted root valid at that
//!    time, the code-signing usage and the certificate's validity then (the signer held a
//!    certificate Fulcio issued when it signed); the embedded SCT unless `ignore_sct` (the
//!    certificate was publicly logged); the integrated time not in the future; the DSSE
//!    signature over the PAE with the certificate's (or the configured) key; and a subject of
//!    the statement naming the image digest (the attestation is about this image). Its last
//!    step, holding the entry against the bundle (step 8 of `Verifier::verify`, after all of the
//!    above), then fails to read the body as `dsse`: that one refusal, recognised by its type
//!    and text ([`carrier_refused`]), is the step this module replaces. Any other error is the
//!    verifier's verdict. The synthetic tests fail each earlier check on this path, so a
//!    `sigstore-verify` that reordered its steps would show there, not pass silently.
//! 3. The entry records this attestation (what cosign compares when it checks a bundle, closing the
//!    CVE-2022-36056 class: a genuine SET for somebody else's entry riding along): `hash` is the
//!    SHA-256 of the layer's blob, byte for byte (cosign pushes the bytes it uploaded), and
//!    `payloadHash`, when present, that of the payload; `publicKey` is the layer's signing
//!    certificate (compared as DER: Rekor re-encodes the PEM) or, key-based, the configured key.
//! 4. Defence in depth, for what costs a signature check: the DSSE signature and the statement's
//!    subject are checked again here, so only the chain, SCT and SET rest on the step order of
//!    `sigstore-verify` alone.
//!
//! Then SPIRE's identity rules, exactly as verify.rs applies them to every other signature.

use serde::Deserialize;
use sigstore_types::{
    Bundle, DerCertificate, DerPublicKey, DsseEnvelope, KindVersion, PemContent, Sha256Hash, SignatureContent,
    Statement,
};
use sigstore_verify::crypto::{KeyAlgorithm, parse_certificate_info, verify_signature};
use sigstore_verify::{Error as SigstoreError, PublicKeyVerificationPolicy, TransparencyLogError, VerificationPolicy};

use super::AttestationError;
use crate::facts::sigstore::certificate::CertificateIdentity;
use crate::facts::sigstore::digest::Sha256Digest;
use crate::facts::sigstore::legacy::BUNDLE;
use crate::facts::sigstore::trust::TrustRoot;
use crate::facts::sigstore::verify::{
    Checks, LogEntry, Signer, VerifiedSignature, VerifyError, bounded, classify, spire_allows,
};

/// The label an `intoto` 0.0.1 entry travels under through `sigstore-verify`: a kind whose
/// integrated time the verifier authenticates with the SET and uses as the signing time.
pub(super) const CARRIER: KindVersion = KindVersion::DsseV001;

/// How `sigstore-verify` 0.15.1 words its refusal to read the carried body as [`CARRIER`], at its
/// consistency step (`verify_dsse_v001` in its `verify_impl/rekor.rs`, wrapping
/// `sigstore-rekor`'s `RekorEntryBody::parse` error).
const CARRIER_REFUSAL: &str = "failed to parse Rekor body: Invalid response: failed to parse dsse v0.0.1 body:";

/// The canonical body of an `intoto` 0.0.1 entry, as Rekor stores it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Body {
    api_version: String,
    kind: String,
    spec: Spec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    content: Content,
    /// Base64 of a PEM certificate or public key.
    public_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Content {
    /// Write-only in Rekor's schema: a stored body never has it, but a body that does must hold
    /// the layer's blob exactly.
    envelope: Option<String>,
    hash: Hash,
    payload_hash: Option<Hash>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hash {
    algorithm: String,
    value: String,
}

/// Verifies a layer whose v0.1 `bundle` (the envelope, the layer's certificate and chain or a key
/// hint, and its one Rekor entry labelled [`CARRIER`]) records an `intoto` 0.0.1 entry; `blob` is
/// the layer's exact bytes.
pub(super) fn verify(
    root: &TrustRoot,
    bundle: &Bundle,
    blob: &[u8],
    image: &Sha256Digest,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<VerifiedSignature, AttestationError> {
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err(VerifyError::Unsupported("an intoto 0.0.1 entry without a DSSE envelope".to_owned()).into());
    };
    let [entry] = bundle.verification_material.tlog_entries.as_slice() else {
        return Err(malformed("not exactly one log entry"));
    };
    let body = parse_body(entry.canonicalized_body.as_bytes())?;
    verifier_checks(root, bundle, image, signer, checks)?;
    let signing_key = records(&body, bundle, blob, envelope, signer)?;
    let statement = signed_statement(envelope, &signing_key, image)?;
    let mut verified = identity(bundle, signer)?;
    verified.signature = envelope.signature.sig.to_base64();
    verified.predicate_type = Some(bounded(&statement.predicate_type));
    verified.log = (!checks.ignore_tlog).then(|| LogEntry {
        index: entry.log_index.get(),
        log_id: hex::encode(entry.log_id.key_id.as_bytes()),
        integrated_time: entry.integrated_time.map(|t| t.as_second()),
        signed_entry_timestamp: entry.inclusion_promise.as_ref().map(|p| p.signed_entry_timestamp.to_base64()),
        body_signature: None,
    });
    Ok(verified)
}

/// The entry's body, read strictly.
fn parse_body(bytes: &[u8]) -> Result<Body, AttestationError> {
    let body: Body = serde_json::from_slice(bytes).map_err(|e| malformed(format!("intoto 0.0.1 body: {e}")))?;
    if (body.kind.as_str(), body.api_version.as_str()) != ("intoto", "0.0.1") {
        let (kind, version) = (bounded(&body.kind), bounded(&body.api_version));
        return Err(malformed(format!("body is {kind} {version}, not intoto 0.0.1")));
    }
    Ok(body)
}

/// Everything `sigstore-verify` checks (item 2 of the module's list): passes when its only
/// refusal is the carried body at its last step.
fn verifier_checks(
    root: &TrustRoot,
    bundle: &Bundle,
    image: &Sha256Digest,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<(), VerifyError> {
    let digest = Sha256Hash::new(*image.as_bytes());
    let artifact: sigstore_types::Artifact<'_> = (&digest).into();
    let outcome = match signer {
        Signer::Keyless(_) => {
            let mut policy = VerificationPolicy::any_identity();
            if checks.ignore_sct {
                policy = policy.skip_sct();
            }
            if checks.ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            root.verifier().verify(artifact, bundle, &policy)
        }
        Signer::Key(key) => {
            let mut policy = PublicKeyVerificationPolicy::new(key.der().clone());
            if checks.ignore_tlog {
                policy = policy.skip_tlog_unsafe();
            }
            root.verifier().verify(artifact, bundle, &policy)
        }
    };
    match outcome {
        // Cannot happen (the body was read as intoto 0.0.1 with no other field), and would mean
        // every step passed.
        Ok(_) => Ok(()),
        Err(error) if carrier_refused(&error) => Ok(()),
        Err(error) => Err(classify(error)),
    }
}

/// Whether the verifier's refusal is its consistency step failing to read the carried body.
fn carrier_refused(error: &SigstoreError) -> bool {
    matches!(error, SigstoreError::TransparencyLog(TransparencyLogError::MalformedEntry(detail))
        if detail.starts_with(CARRIER_REFUSAL))
}

/// The entry records this attestation (item 3); returns the key that signed it.
fn records(
    body: &Body,
    bundle: &Bundle,
    blob: &[u8],
    envelope: &DsseEnvelope,
    signer: Signer<'_>,
) -> Result<DerPublicKey, AttestationError> {
    let content = &body.spec.content;
    if content.envelope.as_ref().is_some_and(|logged| logged.as_bytes() != blob) {
        return Err(mismatch("its envelope is not the layer's"));
    }
    same_hash(&content.hash, blob, "hash", "the layer's envelope")?;
    if let Some(payload_hash) = &content.payload_hash {
        same_hash(payload_hash, envelope.payload.as_bytes(), "payloadHash", "the envelope's payload")?;
    }
    let pem = PemContent::from_base64(&body.spec.public_key)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.as_bytes().to_vec()).ok())
        .ok_or_else(|| malformed("intoto 0.0.1 publicKey is not base64 of a PEM text"))?;
    match signer {
        Signer::Keyless(_) => {
            let leaf = bundle.signing_certificate().ok_or_else(|| mismatch("the layer has no certificate"))?;
            let logged = DerCertificate::from_pem(&pem).map_err(|_| mismatch("its publicKey is not a certificate"))?;
            if logged.as_bytes() != leaf.as_bytes() {
                return Err(mismatch("its certificate is not the layer's signing certificate"));
            }
            let info = parse_certificate_info(leaf).map_err(|e| VerifyError::Chain(bounded(&e.to_string())))?;
            Ok(info.public_key)
        }
        Signer::Key(key) => {
            let logged = DerPublicKey::from_pem(&pem).map_err(|_| mismatch("its publicKey is not a public key"))?;
            if logged != *key.der() {
                return Err(mismatch("its public key is not the configured key"));
            }
            Ok(key.der().clone())
        }
    }
}

/// A logged SHA-256 equals that of `bytes`.
fn same_hash(logged: &Hash, bytes: &[u8], field: &str, what: &str) -> Result<(), AttestationError> {
    if logged.algorithm != "sha256" {
        return Err(malformed(format!("intoto 0.0.1 {field} algorithm {:?}", bounded(&logged.algorithm))));
    }
    if !logged.value.eq_ignore_ascii_case(&hex::encode(Sha256Digest::of(bytes).as_bytes())) {
        return Err(mismatch(&format!("its {field} is not the SHA-256 of {what}")));
    }
    Ok(())
}

/// The statement, once its signature verified with `key` and a subject names `image` (item 4).
fn signed_statement(
    envelope: &DsseEnvelope,
    key: &DerPublicKey,
    image: &Sha256Digest,
) -> Result<Statement, AttestationError> {
    let failed = |e: sigstore_verify::crypto::Error| VerifyError::Signature(bounded(&e.to_string()));
    let scheme = KeyAlgorithm::from_spki(key).map_err(failed)?.default_signing_scheme();
    verify_signature(key, &envelope.pae(), &envelope.signature.sig, scheme).map_err(failed)?;
    let statement: Statement = serde_json::from_slice(envelope.payload.as_bytes())
        .map_err(|e| AttestationError::MalformedStatement(bounded(&e.to_string())))?;
    if !statement.matches_sha256(&Sha256Hash::new(*image.as_bytes())) {
        return Err(VerifyError::DigestMismatch(format!("no subject of the statement has digest {image}")).into());
    }
    Ok(statement)
}

/// Who signed, under SPIRE's rules (as verify.rs's `verify_parsed`): a keyless signer needs a
/// subject and an OIDC issuer, and `allowed_identities` must accept the certificate.
fn identity(bundle: &Bundle, signer: Signer<'_>) -> Result<VerifiedSignature, VerifyError> {
    let mut verified = VerifiedSignature {
        subject: None,
        issuer: None,
        certificate: None,
        key: None,
        signature: String::new(),
        log: None,
        predicate_type: None,
    };
    match signer {
        Signer::Key(key) => verified.key = Some(key.name().to_owned()),
        Signer::Keyless(allowed) => {
            let leaf = bundle.signing_certificate().ok_or(VerifyError::IdentityMissing("signing certificate"))?;
            let info = parse_certificate_info(leaf).map_err(|e| VerifyError::Chain(bounded(&e.to_string())))?;
            let subject = info.identity.map(|san| san.as_str().to_owned()).filter(|s| !s.is_empty());
            let subject = subject.ok_or(VerifyError::IdentityMissing("subject (e-mail or URI SAN)"))?;
            let issuer = info.issuer.filter(|s| !s.is_empty());
            let issuer = issuer.ok_or(VerifyError::IdentityMissing("OIDC issuer extension"))?;
            let certificate = CertificateIdentity::from_der(leaf.as_bytes())?;
            if !allowed.accepts_any() && !spire_allows(allowed, &certificate) {
                return Err(VerifyError::IdentityNotAllowed { subject: bounded(&subject), issuer: bounded(&issuer) });
            }
            (verified.subject, verified.issuer, verified.certificate) =
                (Some(subject), Some(issuer), Some(certificate));
        }
    }
    Ok(verified)
}

fn malformed(problem: impl ToString) -> AttestationError {
    AttestationError::MalformedAnnotation { annotation: BUNDLE, problem: bounded(&problem.to_string()) }
}

fn mismatch(what: &str) -> AttestationError {
    AttestationError::EntryMismatch(what.to_owned())
}

#[cfg(test)]
mod tests;
