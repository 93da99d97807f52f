//! One image, start to finish: find its signatures in the registry, check each one, and say
//! whether the image counts as verified under the configured rules, and why not.
//!
//! Every signature found is checked and its outcome kept (the `image verify` command prints
//! them all); the verdict needs at least one verified signature and, when attestations are
//! required (generation 2 without `ignore_attestations`), at least one verified attestation.

use std::fmt;

use super::attestation::verify_attestation_layer;
use super::discover::{Content, Found, FoundItem, Location, discover};
use super::reference::ImageName;
use super::registry::RegistryClient;
use super::{AllowedIdentities, Artifact, BundleFormats, Checks, LegacyLayer, Sha256Digest, Signer, TrustRoot};
use super::{TrustedKey, VerifiedSignature, verify_bundle, verify_layer};
use crate::fault::Fault;

/// The predicate type cosign v3 gives an image signature (any other is an attestation).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The longest list of refusals a failure message carries.
const MAX_REASONS: usize = 4096;

/// What makes a signature count: who may sign, which checks are relaxed, where to look.
#[derive(Debug)]
pub struct Rules {
    /// Keyless signers accepted.
    pub identities: AllowedIdentities,
    /// Keys accepted for key-based signatures.
    pub keys: Vec<TrustedKey>,
    /// SPIRE's relaxations.
    pub checks: Checks,
    /// Where signatures are looked for.
    pub formats: BundleFormats,
    /// Whether at least one verified attestation is required (and attestations are fetched).
    pub attestations: bool,
}

/// What a found item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image signature.
    Signature,
    /// An attestation (an in-toto statement about the image).
    Attestation,
}

/// One item found for the image and what checking it gave.
#[derive(Debug)]
pub struct Checked {
    /// Where it was found.
    pub location: Location,
    /// Signature or attestation.
    pub kind: Kind,
    /// The verified signature, or why it did not verify.
    pub result: Result<VerifiedSignature, String>,
}

/// The image counts as verified: its verified signatures and attestations.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Verified signatures, legacy ones first (in layer order), then referrers.
    pub signatures: Vec<(Source, VerifiedSignature)>,
    /// Predicate types of verified attestations, in the order found, without repeats.
    pub predicate_types: Vec<String>,
    /// Attestations were required and at least one verified.
    pub attestations_verified: bool,
}

/// Where a verified signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// cosign's `sha256-<hex>.sig` tag.
    Legacy,
    /// A cosign v3 bundle attached as an OCI referrer (or through the fallback tag).
    Referrer,
}

impl Source {
    /// The name facts use: `legacy` or `referrer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Referrer => "referrer",
        }
    }
}

/// Why the image does not count as verified: the message (cosign's wording where SPIRE
/// repeats cosign's) and who must act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub message: String,
    /// Who must act.
    pub fault: Fault,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything learned about one image.
#[derive(Debug)]
pub struct Evaluation {
    /// The image, when its `imageID` parsed.
    pub image: Option<ImageName>,
    /// Every item found, checked, in the order found.
    pub checked: Vec<Checked>,
    /// The verdict.
    pub outcome: Result<Verified, Failure>,
}

/// Finds and checks everything about `image_id` under `rules`.
pub async fn evaluate(root: &TrustRoot, rules: &Rules, client: &RegistryClient, image_id: &str) -> Evaluation {
    let image = match ImageName::parse(image_id) {
        Ok(image) => image,
        Err(e) => {
            let outcome = Err(Failure { message: e.to_string(), fault: e.fault() });
            return Evaluation { image: None, checked: Vec::new(), outcome };
        }
    };
    let found = match discover(client, &image, rules.formats, rules.attestations).await {
        Ok(found) => found,
        Err(e) => {
            let outcome = Err(Failure { message: e.to_string(), fault: e.fault() });
            return Evaluation { image: Some(image), checked: Vec::new(), outcome };
        }
    };
    let checked = check_all(root, rules, image.digest(), found);
    let outcome = verdict(rules, &checked);
    Evaluation { image: Some(image), checked, outcome }
}

/// Checks every item found; the CPU part (about a millisecond per signature, see the benches).
pub fn check_all(root: &TrustRoot, rules: &Rules, digest: &Sha256Digest, found: Found) -> Vec<Checked> {
    let mut checked = Vec::new();
    for item in found.legacy_signatures {
        let result = check_legacy(root, rules, digest, &item, Kind::Signature);
        checked.push(Checked { location: item.location, kind: Kind::Signature, result });
    }
    for item in found.referrers {
        let result = check_bundle(root, rules, digest, &item);
        let kind = match &result {
            Ok(v) if v.predicate_type.as_deref().is_some_and(|p| p != COSIGN_SIGN_PREDICATE) => Kind::Attestation,
            _ => Kind::Signature,
        };
        checked.push(Checked { location: item.location, kind, result });
    }
    for item in found.legacy_attestations {
        let result = check_legacy(root, rules, digest, &item, Kind::Attestation);
        checked.push(Checked { location: item.location, kind: Kind::Attestation, result });
    }
    checked
}

/// One legacy `.sig` or `.att` layer: keyless when it carries a certificate, else each
/// configured key in turn.
fn check_legacy(
    root: &TrustRoot,
    rules: &Rules,
    digest: &Sha256Digest,
    item: &FoundItem,
    kind: Kind,
) -> Result<VerifiedSignature, String> {
    let Content::Legacy { annotations, blob, .. } = &item.content else {
        return Err("not a legacy signature layer".to_owned());
    };
    let layer = LegacyLayer { annotations, payload: blob.as_slice() };
    let keyless = annotations.contains_key(super::CERTIFICATE) || rules.keys.is_empty();
    let signers: Vec<Signer<'_>> =
        if keyless { vec![Signer::Keyless(&rules.identities)] } else { rules.keys.iter().map(Signer::Key).collect() };
    first_success(signers, |signer| match kind {
        Kind::Signature => verify_layer(root, &layer, digest, signer, rules.checks).map_err(|e| e.to_string()),
        Kind::Attestation => verify_attestation_layer(root, &layer, digest, signer, rules.checks)
            .map(|a| VerifiedSignature { predicate_type: Some(a.predicate_type), ..a.signature })
            .map_err(|e| e.to_string()),
    })
}

/// One Sigstore bundle attached to the image: keyless unless its material is a public key.
fn check_bundle(
    root: &TrustRoot,
    rules: &Rules,
    digest: &Sha256Digest,
    item: &FoundItem,
) -> Result<VerifiedSignature, String> {
    let Content::Bundle { json, .. } = &item.content else {
        return Err("not a Sigstore bundle".to_owned());
    };
    let text = std::str::from_utf8(json).map_err(|_| "the bundle is not UTF-8 JSON".to_owned())?;
    let key_based = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.pointer("/verificationMaterial/publicKey").is_some());
    let signers: Vec<Signer<'_>> = if key_based && !rules.keys.is_empty() {
        rules.keys.iter().map(Signer::Key).collect()
    } else {
        vec![Signer::Keyless(&rules.identities)]
    };
    first_success(signers, |signer| {
        verify_bundle(root, text, Artifact::Digest(*digest), signer, rules.checks).map_err(|e| e.to_string())
    })
}

/// The first signer that verifies; otherwise every signer's reason (a key-based signature
/// tried against several keys says why each refused it).
fn first_success<'a>(
    signers: Vec<Signer<'a>>,
    mut check: impl FnMut(Signer<'a>) -> Result<VerifiedSignature, String>,
) -> Result<VerifiedSignature, String> {
    let mut reasons = Vec::new();
    for signer in signers {
        match check(signer) {
            Ok(v) => return Ok(v),
            Err(e) => match signer {
                Signer::Key(key) => reasons.push(format!("key {:?}: {e}", key.name())),
                Signer::Keyless(_) => reasons.push(e),
            },
        }
    }
    Err(reasons.join("; "))
}

/// The verdict over everything checked, in cosign's words.
fn verdict(rules: &Rules, checked: &[Checked]) -> Result<Verified, Failure> {
    let refuse = |message: String| Err(Failure { message, fault: Fault::Workload });
    let signatures: Vec<&Checked> = checked.iter().filter(|c| c.kind == Kind::Signature).collect();
    if signatures.is_empty() {
        return refuse("no signatures found".to_owned());
    }
    let verified: Vec<(Source, VerifiedSignature)> =
        signatures.iter().filter_map(|c| c.result.as_ref().ok().map(|v| (source(&c.location), v.clone()))).collect();
    if verified.is_empty() {
        return refuse(format!("no matching signatures: {}", reasons(&signatures)));
    }
    let attestations: Vec<&Checked> = checked.iter().filter(|c| c.kind == Kind::Attestation).collect();
    let mut predicate_types = Vec::new();
    for v in attestations.iter().filter_map(|c| c.result.as_ref().ok()) {
        if let Some(p) = &v.predicate_type
            && !predicate_types.contains(p)
        {
            predicate_types.push(p.clone());
        }
    }
    if rules.attestations && predicate_types.is_empty() {
        if attestations.is_empty() {
            return refuse("no matching attestations: no attestations found".to_owned());
        }
        return refuse(format!("no matching attestations: {}", reasons(&attestations)));
    }
    Ok(Verified { signatures: verified, predicate_types, attestations_verified: rules.attestations })
}

/// Each refused item's location and reason, for a failure message.
fn reasons(items: &[&Checked]) -> String {
    let all: Vec<String> =
        items.iter().filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.location))).collect();
    // Each reason is already bounded; 64 layers of them would still make a 30 KiB status.
    crate::text::bounded(&all.join("; "), MAX_REASONS)
}

fn source(location: &Location) -> Source {
    match location {
        Location::LegacyTag { .. } => Source::Legacy,
        Location::Referrer { .. } | Location::FallbackTag { .. } => Source::Referrer,
    }
}

#[cfg(test)]
mod tests;
