//! SPIRE's sigstore selector values, byte for byte, from verified signatures (the values
//! without the `k8s:` prefix SPIRE's agent adds).
//!
//! Generation 2 (SPIRE 1.10.2+, spec a.2): `image-signature:verified`, then
//! `image-attestations:verified` when attestations were checked and one verified, then for each
//! signature in manifest layer order its subject, issuer and signature value and, unless the
//! log is ignored, its log ID, log index, integrated time and signed entry timestamp. Any
//! signature SPIRE cannot read (no SAN, no or empty issuer, no log entry) fails the whole list,
//! with SPIRE's message.
//!
//! Generation 1 (SPIRE 1.6–1.10.1, spec a.1): per signature `<containerID>:image-signature-*`
//! (subject, Rekor body signature, log ID, integrated time), then `sigstore-validation:passed`
//! once if any signature was kept. A signature that cannot be read, or whose issuer and subject
//! are not in `allowed_subjects_list`, is dropped, as SPIRE drops it (logged there, not an
//! error); its subject is cosign's `CertSubject` (certificate.rs), not the first SAN.
//!
//! Attestor's addition, in both generations: a key-based signature (which SPIRE cannot verify)
//! reports `image-signature-key:<name>` where a keyless one reports its subject and issuer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::certificate::CertificateError;
use super::verify::VerifiedSignature;
use crate::workload::ContainerId;

/// Generation 2: the image's signatures verified.
pub const SIGNATURE_VERIFIED: &str = "image-signature:verified";
/// Generation 2: attestations were checked and at least one verified.
pub const ATTESTATIONS_VERIFIED: &str = "image-attestations:verified";
/// Generation 1: the trailer after the kept signatures, and the whole answer for a skipped image.
pub const VALIDATION_PASSED: &str = "sigstore-validation:passed";

/// Which SPIRE the selectors answer as, with what that generation's formatting depends on.
#[derive(Debug, Clone, Copy)]
pub enum Generation<'a> {
    /// SPIRE 1.6–1.10.1 (`experimental { sigstore { … } }` with `rekor_url` required).
    One {
        /// The container the selectors name (its 64-hex id).
        container: &'a ContainerId,
        /// `allowed_subjects_list`: OIDC issuer → subjects, exact strings. Empty: no keyless
        /// signature yields selectors.
        allowed_subjects: &'a BTreeMap<String, BTreeSet<String>>,
    },
    /// SPIRE 1.10.2 and later.
    Two {
        /// `ignore_tlog`: the four log selectors are left out.
        ignore_tlog: bool,
        /// Attestations were checked (not `ignore_attestations`) and at least one verified.
        attestations_verified: bool,
    },
}

/// Why SPIRE (generation 2) could not turn a signature into selectors. The text is SPIRE's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailError {
    /// A keyless signature without a certificate.
    #[error("failed to get certificate from signature: no certificate found in signature")]
    NoCertificate,
    /// No usable SAN.
    #[error("failed to extract subject from certificate: {0}")]
    Subject(CertificateError),
    /// No usable OIDC issuer extension.
    #[error("failed to extract issuer from certificate: {0}")]
    Issuer(CertificateError),
    /// The log is not ignored, but the signature has no log entry.
    #[error("failed to get signature rekor bundle: the signature has no transparency log entry")]
    NoLogEntry,
}

/// Why no selectors could be made for an image (generation 2 only; generation 1 drops the
/// signature instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to extract details from signatures for image {image_id:?}: {detail}")]
pub struct SelectorError {
    /// The container's `imageID`, as SPIRE quotes it.
    pub image_id: String,
    /// What could not be read.
    pub detail: DetailError,
}

/// The selector values for `signatures` (verified, in manifest layer order) of the image
/// `image_id`, as `generation` of SPIRE formats them.
pub fn selector_values(
    image_id: &str,
    signatures: &[VerifiedSignature],
    generation: &Generation<'_>,
) -> Result<Vec<String>, SelectorError> {
    match *generation {
        Generation::One { container, allowed_subjects } => Ok(generation_one(signatures, container, allowed_subjects)),
        Generation::Two { ignore_tlog, attestations_verified } => {
            let mut values = vec![SIGNATURE_VERIFIED.to_owned()];
            if attestations_verified {
                values.push(ATTESTATIONS_VERIFIED.to_owned());
            }
            for signature in signatures {
                generation_two(signature, ignore_tlog, &mut values)
                    .map_err(|detail| SelectorError { image_id: image_id.to_owned(), detail })?;
            }
            Ok(values)
        }
    }
}

/// The selector values for an image on the skip list: generation 1 still says
/// `sigstore-validation:passed`, generation 2 says nothing.
pub fn skipped_image(generation: &Generation<'_>) -> Vec<String> {
    match generation {
        Generation::One { .. } => vec![VALIDATION_PASSED.to_owned()],
        Generation::Two { .. } => Vec::new(),
    }
}

/// The message of SPIRE's `Internal` status when verifying the container's image failed
/// (generation 2, spec a.2).
pub fn spire_error_message(image_id: &str, error: &dyn fmt::Display) -> String {
    format!("error verifying sigstore image signature for imageID {image_id}: {error}")
}

fn generation_two(
    signature: &VerifiedSignature,
    ignore_tlog: bool,
    values: &mut Vec<String>,
) -> Result<(), DetailError> {
    let mut push = |name: &str, value: &str| {
        // SPIRE emits a selector only when its value is non-empty.
        if !value.is_empty() {
            values.push(format!("{name}:{value}"));
        }
    };
    match (&signature.key, &signature.certificate) {
        (Some(key), _) => push("image-signature-key", key),
        (None, None) => return Err(DetailError::NoCertificate),
        (None, Some(certificate)) => {
            let subject = certificate.spire_subject().map_err(DetailError::Subject)?;
            let issuer = certificate.oidc_issuer().map_err(DetailError::Issuer)?;
            push("image-signature-subject", subject);
            push("image-signature-issuer", issuer);
        }
    }
    push("image-signature-value", &signature.signature);
    if ignore_tlog {
        return Ok(());
    }
    let log = signature.log.as_ref().ok_or(DetailError::NoLogEntry)?;
    push("image-signature-log-id", &log.log_id);
    push("image-signature-log-index", &log.index.to_string());
    push("image-signature-integrated-time", &log.integrated_time.map(|t| t.to_string()).unwrap_or_default());
    push("image-signature-signed-entry-timestamp", log.signed_entry_timestamp.as_deref().unwrap_or_default());
    Ok(())
}

fn generation_one(
    signatures: &[VerifiedSignature],
    container: &ContainerId,
    allowed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut values = Vec::new();
    for signature in signatures {
        let Some(kept) = generation_one_values(signature, allowed) else { continue };
        for (name, value) in kept {
            if !value.is_empty() {
                values.push(format!("{container}:{name}:{value}"));
            }
        }
    }
    if !values.is_empty() {
        values.push(VALIDATION_PASSED.to_owned());
    }
    values
}

/// A kept generation-1 signature's (selector name, value) pairs; `None` where SPIRE drops it.
fn generation_one_values(
    signature: &VerifiedSignature,
    allowed: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Vec<(&'static str, String)>> {
    let log = signature.log.as_ref();
    let content = log.and_then(|l| l.body_signature.clone()).unwrap_or_default();
    let log_id = log.map(|l| l.log_id.clone()).unwrap_or_default();
    let time = log.and_then(|l| l.integrated_time).filter(|t| *t != 0).map(|t| t.to_string()).unwrap_or_default();
    let first = match (&signature.key, &signature.certificate) {
        (Some(key), _) => ("image-signature-key", key.clone()),
        (None, None) => return None,
        (None, Some(certificate)) => {
            let subject = certificate.cosign_subject().ok()?;
            let issuer = certificate.oidc_issuer().ok()?;
            if !allowed.get(issuer).is_some_and(|subjects| subjects.contains(subject)) {
                return None;
            }
            // SPIRE requires the Rekor entry's log ID, integrated time and body signature.
            if log_id.is_empty() || time.is_empty() || content.is_empty() {
                return None;
            }
            ("image-signature-subject", subject.to_owned())
        }
    };
    Some(vec![
        first,
        ("image-signature-content", content),
        ("image-signature-logid", log_id),
        ("image-signature-integrated-time", time),
    ])
}

#[cfg(test)]
mod tests;
