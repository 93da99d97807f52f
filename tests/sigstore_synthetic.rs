//! The Sigstore verification core against a synthetic keyless deployment made per run
//! (`common/sigstore_synth.rs`): real cryptography on a private trusted root, for what no public
//! vector can show (a legacy `.sig` signature with an OIDC issuer extension and an embedded SCT),
//! and each check failing for its own reason.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sigstore_synth.rs"]
mod sigstore_synth;

use std::sync::OnceLock;

use attestor::facts::sigstore::attestation::{AttestationError, verify_attestation_layer};
use attestor::facts::sigstore::{
    AllowedIdentities, Artifact, BUNDLE, CERTIFICATE, CHAIN, Checks, LegacyError, PayloadError, Sha256Digest, Signer,
    TrustRoot, TrustedKey, VerifyError, verify_bundle, verify_layer,
};
use attestor::fault::Fault;
use serde_json::Value;
use sigstore_synth::{AttestOptions, COSIGN_SIGN_V1, EnvelopeEntry, SignOptions, Subject, Synthetic};

const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_IMAGE: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.0.0";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const SLSA: &str = "https://slsa.dev/provenance/v1";

/// One deployment per test binary: key generation is the slow part.
fn sigstore() -> &'static Synthetic {
    static SYNTHETIC: OnceLock<Synthetic> = OnceLock::new();
    SYNTHETIC.get_or_init(Synthetic::new)
}

fn root() -> &'static TrustRoot {
    static ROOT: OnceLock<TrustRoot> = OnceLock::new();
    ROOT.get_or_init(|| TrustRoot::from_json(&sigstore().trusted_root_json()).unwrap())
}

fn any() -> &'static AllowedIdentities {
    static ANY: OnceLock<AllowedIdentities> = OnceLock::new();
    ANY.get_or_init(AllowedIdentities::any)
}

fn allowed(issuer: &str, subject: &str) -> AllowedIdentities {
    AllowedIdentities::new([(issuer.to_owned(), [subject.to_owned()])]).unwrap()
}

fn digest(text: &str) -> Sha256Digest {
    text.parse().unwrap()
}

fn options() -> SignOptions {
    SignOptions::keyless(IMAGE, Subject::Uri(WORKFLOW.to_owned()), ACTIONS)
}

fn verify_signature(
    layer: &sigstore_synth::LegacyLayerData,
    image: &str,
    signer: Signer<'_>,
    checks: Checks,
) -> Result<attestor::facts::sigstore::VerifiedSignature, LegacyError> {
    verify_layer(root(), &layer.layer(), &digest(image), signer, checks)
}

#[test]
fn a_synthetic_keyless_legacy_signature_verifies_for_its_image_and_identity() {
    let layer = sigstore().legacy_signature(&options());
    let identity = allowed(ACTIONS, WORKFLOW);
    let verified = verify_signature(&layer, IMAGE, Signer::Keyless(&identity), Checks::default()).unwrap();
    assert_eq!(verified.subject.as_deref(), Some(WORKFLOW));
    assert_eq!(verified.issuer.as_deref(), Some(ACTIONS));
    let certificate = verified.certificate.unwrap();
    assert_eq!(certificate.oidc_issuer().unwrap(), ACTIONS);
    let log = verified.log.unwrap();
    assert_eq!(log.log_id, hex::encode(sigstore().log_id()));
    assert_eq!(log.integrated_time, Some(options().integrated_time));
}

#[test]
fn an_email_subject_verifies_too() {
    let options =
        SignOptions::keyless(IMAGE, Subject::Email("dev@example.test".to_owned()), "https://accounts.google.com");
    let layer = sigstore().legacy_signature(&options);
    let identity = allowed("https://accounts.google.com", "dev@example.test");
    let verified = verify_signature(&layer, IMAGE, Signer::Keyless(&identity), Checks::default()).unwrap();
    assert_eq!(verified.subject.as_deref(), Some("dev@example.test"));
}

#[test]
fn the_signature_is_bound_to_its_image_digest() {
    let layer = sigstore().legacy_signature(&options());
    let error = verify_signature(&layer, OTHER_IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Payload(PayloadError::DigestMismatch { .. })), "{error}");
    assert_eq!(error.fault(), Fault::Workload);
}

#[test]
fn no_sct_fails_unless_ignored() {
    let layer = sigstore().legacy_signature(&SignOptions { with_sct: false, ..options() });
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Sct(_))), "{error}");
    let checks = Checks { ignore_sct: true, ..Checks::default() };
    verify_signature(&layer, IMAGE, Signer::Keyless(any()), checks).unwrap();
}

#[test]
fn a_wrong_identity_or_issuer_is_refused() {
    let layer = sigstore().legacy_signature(&options());
    for identity in
        [allowed(ACTIONS, "https://github.com/attacker/app"), allowed("https://accounts.google.com", WORKFLOW)]
    {
        let error = verify_signature(&layer, IMAGE, Signer::Keyless(&identity), Checks::default()).unwrap_err();
        assert!(matches!(error, LegacyError::Verify(VerifyError::IdentityNotAllowed { .. })), "{error}");
    }
}

#[test]
fn a_flipped_payload_byte_is_refused() {
    let mut layer = sigstore().legacy_signature(&options());
    let at = layer.payload.len() / 2;
    layer.payload[at] ^= 1;
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Signature(_))), "{error}");
}

#[test]
fn a_swapped_set_is_refused() {
    let mut layer = sigstore().legacy_signature(&options());
    let other = sigstore().legacy_signature(&options());
    let mut rekor: Value = serde_json::from_str(&layer.annotations[BUNDLE]).unwrap();
    let theirs: Value = serde_json::from_str(&other.annotations[BUNDLE]).unwrap();
    rekor["SignedEntryTimestamp"] = theirs["SignedEntryTimestamp"].clone();
    layer.annotations.insert(BUNDLE.to_owned(), rekor.to_string());
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Tlog(_))), "{error}");
}

#[test]
fn a_chain_from_another_ca_is_refused() {
    let layer = sigstore().with_other_ca().legacy_signature(&options());
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Chain(_))), "{error}");
    // Even with this deployment's chain in the annotation: the leaf is not signed by it.
    let mut layer = layer;
    layer.annotations.insert(CHAIN.to_owned(), sigstore().chain_pem());
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Chain(_))), "{error}");
}

#[test]
fn a_certificate_outside_its_validity_at_integrated_time_is_refused() {
    let base = options();
    let expired =
        SignOptions { not_before: base.integrated_time - 900, not_after: base.integrated_time - 300, ..base.clone() };
    let not_yet = SignOptions { not_before: base.integrated_time + 10, not_after: base.integrated_time + 600, ..base };
    for options in [expired, not_yet] {
        let layer = sigstore().legacy_signature(&options);
        let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
        assert!(matches!(&error, LegacyError::Verify(VerifyError::Chain(e)) if e.contains("Cert")), "{error}");
    }
}

#[test]
fn no_chain_annotation_still_verifies_through_the_trusted_root() {
    let layer = sigstore().legacy_signature(&SignOptions { with_chain: false, ..options() });
    verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap();
}

#[test]
fn no_rekor_annotation_is_refused_as_an_online_lookup() {
    let layer = sigstore().legacy_signature(&SignOptions { with_bundle: false, ..options() });
    let error = verify_signature(&layer, IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::NoRekorBundle), "{error}");
}

#[test]
fn a_key_based_signature_verifies_with_its_key_only() {
    let key = TrustedKey::from_pem("release", &sigstore().public_key_pem()).unwrap();
    let layer = sigstore().legacy_signature(&SignOptions::key(IMAGE));
    assert!(!layer.annotations.contains_key(CERTIFICATE));
    let verified = verify_signature(&layer, IMAGE, Signer::Key(&key), Checks::default()).unwrap();
    assert_eq!(verified.key.as_deref(), Some("release"));
    assert!(verified.log.is_some());
    let error = verify_signature(&layer, OTHER_IMAGE, Signer::Key(&key), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Payload(_)), "{error}");
    let stranger = TrustedKey::from_pem("stranger", &Synthetic::new().public_key_pem()).unwrap();
    let error = verify_signature(&layer, IMAGE, Signer::Key(&stranger), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(_)), "{error}");
}

#[test]
fn a_v3_bundle_verifies_against_the_image_digest() {
    for entry in [EnvelopeEntry::Dsse, EnvelopeEntry::Intoto] {
        let attest = AttestOptions { entry, ..AttestOptions::new(options(), COSIGN_SIGN_V1) };
        let bundle = sigstore().v3_bundle(&attest);
        let identity = allowed(ACTIONS, WORKFLOW);
        let verified = verify_bundle(
            root(),
            &bundle,
            Artifact::Digest(digest(IMAGE)),
            Signer::Keyless(&identity),
            Checks::default(),
        )
        .unwrap();
        assert_eq!(verified.predicate_type.as_deref(), Some(COSIGN_SIGN_V1));
        assert_eq!(verified.subject.as_deref(), Some(WORKFLOW));
        let error = verify_bundle(
            root(),
            &bundle,
            Artifact::Digest(digest(OTHER_IMAGE)),
            Signer::Keyless(any()),
            Checks::default(),
        )
        .unwrap_err();
        assert!(matches!(error, VerifyError::DigestMismatch(_)), "{error}");
    }
}

#[test]
fn a_key_based_v3_bundle_verifies_with_its_key() {
    let key = TrustedKey::from_pem("release", &sigstore().public_key_pem()).unwrap();
    let attest =
        AttestOptions { entry: EnvelopeEntry::Dsse, ..AttestOptions::new(SignOptions::key(IMAGE), COSIGN_SIGN_V1) };
    let bundle = sigstore().v3_bundle(&attest);
    let verified =
        verify_bundle(root(), &bundle, Artifact::Digest(digest(IMAGE)), Signer::Key(&key), Checks::default()).unwrap();
    assert_eq!(verified.key.as_deref(), Some("release"));
}

#[test]
fn a_legacy_attestation_verifies_with_its_predicate_type() {
    for entry in [EnvelopeEntry::Intoto, EnvelopeEntry::Dsse] {
        let layer = sigstore().legacy_attestation(&AttestOptions { entry, ..AttestOptions::new(options(), SLSA) });
        let identity = allowed(ACTIONS, WORKFLOW);
        let verified = verify_attestation_layer(
            root(),
            &layer.layer(),
            &digest(IMAGE),
            Signer::Keyless(&identity),
            Checks::default(),
        )
        .unwrap();
        assert_eq!(verified.predicate_type, SLSA);
        assert_eq!(verified.signature.subject.as_deref(), Some(WORKFLOW));
        let error = verify_attestation_layer(
            root(),
            &layer.layer(),
            &digest(OTHER_IMAGE),
            Signer::Keyless(any()),
            Checks::default(),
        )
        .unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
    }
}

#[test]
fn a_legacy_attestation_fails_each_check_for_its_reason() {
    let attest = AttestOptions::new(SignOptions { with_sct: false, ..options() }, SLSA);
    let layer = sigstore().legacy_attestation(&attest);
    let error =
        verify_attestation_layer(root(), &layer.layer(), &digest(IMAGE), Signer::Keyless(any()), Checks::default())
            .unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::Sct(_))), "{error}");

    let layer = sigstore().with_other_ca().legacy_attestation(&AttestOptions::new(options(), SLSA));
    let error =
        verify_attestation_layer(root(), &layer.layer(), &digest(IMAGE), Signer::Keyless(any()), Checks::default())
            .unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::Chain(_))), "{error}");

    let key = TrustedKey::from_pem("release", &sigstore().public_key_pem()).unwrap();
    let layer = sigstore().legacy_attestation(&AttestOptions::new(SignOptions::key(IMAGE), SLSA));
    let verified =
        verify_attestation_layer(root(), &layer.layer(), &digest(IMAGE), Signer::Key(&key), Checks::default()).unwrap();
    assert_eq!(verified.signature.key.as_deref(), Some("release"));
}

#[test]
fn the_trusted_root_is_a_private_deployment_the_public_root_does_not_trust() {
    let layer = sigstore().legacy_signature(&options());
    let public = TrustRoot::public_good().unwrap();
    let error =
        verify_layer(&public, &layer.layer(), &digest(IMAGE), Signer::Keyless(any()), Checks::default()).unwrap_err();
    assert!(matches!(error, LegacyError::Verify(VerifyError::Tlog(_))), "{error}");
}

#[test]
fn a_key_based_attestation_without_log_entry_verifies_only_with_the_log_ignored() {
    let key = TrustedKey::from_pem("release", &sigstore().public_key_pem()).unwrap();
    let options = SignOptions { with_bundle: false, ..SignOptions::key(IMAGE) };
    let layer = sigstore().legacy_attestation(&AttestOptions::new(options, SLSA));
    let verify = |image: &str, checks| {
        verify_attestation_layer(root(), &layer.layer(), &digest(image), Signer::Key(&key), checks)
    };
    let error = verify(IMAGE, Checks::default()).unwrap_err();
    assert!(matches!(error, AttestationError::NoRekorBundle), "{error}");
    let ignore_tlog = Checks { ignore_tlog: true, ..Checks::default() };
    let verified = verify(IMAGE, ignore_tlog).unwrap();
    assert_eq!(verified.predicate_type, SLSA);
    assert!(verified.signature.log.is_none());
    let error = verify(OTHER_IMAGE, ignore_tlog).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
}

/// cosign v1 and v2 `.att` layers, whose Rekor entry is `intoto` 0.0.1 (the envelope's and the
/// payload's hashes and the signer, no signature).
mod intoto_0_0_1 {
    use super::*;

    fn attest(sign: SignOptions) -> AttestOptions {
        AttestOptions { entry: EnvelopeEntry::Intoto001, ..AttestOptions::new(sign, SLSA) }
    }

    fn layer() -> sigstore_synth::LegacyLayerData {
        sigstore().legacy_attestation(&attest(options()))
    }

    fn verify(
        layer: &sigstore_synth::LegacyLayerData,
        image: &str,
        signer: Signer<'_>,
        checks: Checks,
    ) -> Result<attestor::facts::sigstore::attestation::VerifiedAttestation, AttestationError> {
        verify_attestation_layer(root(), &layer.layer(), &digest(image), signer, checks)
    }

    fn keyless(layer: &sigstore_synth::LegacyLayerData) -> Result<(), AttestationError> {
        verify(layer, IMAGE, Signer::Keyless(any()), Checks::default()).map(drop)
    }

    /// The layer's Rekor annotation, and its entry body.
    fn rekor(layer: &sigstore_synth::LegacyLayerData) -> (Value, Value) {
        let rekor: Value = serde_json::from_str(&layer.annotations[BUNDLE]).unwrap();
        let body = sigstore_types::CanonicalizedBody::from_base64(rekor["Payload"]["body"].as_str().unwrap()).unwrap();
        let body = serde_json::from_slice(body.as_bytes()).unwrap();
        (rekor, body)
    }

    #[test]
    fn a_cosign_v2_attestation_verifies_with_its_signer_and_log_entry() {
        let layer = layer();
        let (_, body) = rekor(&layer);
        assert_eq!((body["kind"].as_str(), body["apiVersion"].as_str()), (Some("intoto"), Some("0.0.1")));
        assert!(body["spec"]["content"].get("envelope").is_none());
        let identity = allowed(ACTIONS, WORKFLOW);
        let verified = verify(&layer, IMAGE, Signer::Keyless(&identity), Checks::default()).unwrap();
        assert_eq!(verified.predicate_type, SLSA);
        assert_eq!(verified.signature.subject.as_deref(), Some(WORKFLOW));
        assert_eq!(verified.signature.issuer.as_deref(), Some(ACTIONS));
        assert_eq!(verified.signature.certificate.unwrap().oidc_issuer().unwrap(), ACTIONS);
        let log = verified.signature.log.unwrap();
        assert_eq!(log.log_id, hex::encode(sigstore().log_id()));
        assert_eq!(log.integrated_time, Some(options().integrated_time));
        assert_eq!(log.body_signature, None);
        assert!(log.signed_entry_timestamp.is_some());
        let ignore_tlog = Checks { ignore_tlog: true, ..Checks::default() };
        let verified = verify(&layer, IMAGE, Signer::Keyless(&identity), ignore_tlog).unwrap();
        assert!(verified.signature.log.is_none());
    }

    #[test]
    fn another_image_is_refused_by_the_statement_subject() {
        let error = verify(&layer(), OTHER_IMAGE, Signer::Keyless(any()), Checks::default()).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
    }

    #[test]
    fn an_identity_not_allowed_is_refused() {
        for identity in [allowed(ACTIONS, "https://github.com/someone/else"), allowed("https://other.test", WORKFLOW)] {
            let error = verify(&layer(), IMAGE, Signer::Keyless(&identity), Checks::default()).unwrap_err();
            assert!(matches!(error, AttestationError::Verify(VerifyError::IdentityNotAllowed { .. })), "{error}");
        }
    }

    #[test]
    fn a_swapped_set_or_another_log_fails_the_log_check() {
        let mut layer = layer();
        let (mut rekor, _) = rekor(&layer);
        let (other, _) = self::rekor(&self::layer());
        rekor["SignedEntryTimestamp"] = other["SignedEntryTimestamp"].clone();
        layer.annotations.insert(BUNDLE.to_owned(), rekor.to_string());
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(&error, AttestationError::Verify(VerifyError::Tlog(m)) if m.contains("SET")), "{error}");

        // The same layer logged by a Rekor the trusted root does not name.
        let stranger = Synthetic::new();
        let mut layer = self::layer();
        let (_, body) = self::rekor(&layer);
        layer.annotations.insert(BUNDLE.to_owned(), stranger.rekor_annotation(&body, options().integrated_time));
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Tlog(_))), "{error}");
    }

    #[test]
    fn a_tampered_envelope_is_refused() {
        // Another statement under the same signature: the signature check.
        let mut layer = layer();
        let mut envelope: Value = serde_json::from_slice(&layer.payload).unwrap();
        let statement = serde_json::json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": SLSA,
            "subject": [{"name": "x", "digest": {"sha256": IMAGE.trim_start_matches("sha256:")}}], "predicate": {}});
        envelope["payload"] = Value::from(sigstore_synth::base64(statement.to_string().as_bytes()));
        layer.payload = serde_json::to_vec(&envelope).unwrap();
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Signature(_))), "{error}");

        // The same envelope in other bytes (still validly signed): not what the log recorded.
        let mut layer = self::layer();
        let envelope: Value = serde_json::from_slice(&layer.payload).unwrap();
        layer.payload = serde_json::to_vec_pretty(&envelope).unwrap();
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(&error, AttestationError::EntryMismatch(m) if m.contains("hash")), "{error}");
    }

    /// Bodies the log did sign (a SET over them) that record something other than this layer.
    #[test]
    fn a_logged_body_that_records_another_attestation_is_refused() {
        let other = layer();
        let (_, other_body) = rekor(&other);
        let changes: [(&str, Value); 3] = [
            ("/spec/content/hash/value", Value::from("0".repeat(64))),
            ("/spec/content/payloadHash/value", Value::from("0".repeat(64))),
            ("/spec/publicKey", other_body["spec"]["publicKey"].clone()),
        ];
        for (pointer, value) in changes {
            let mut layer = layer();
            let (_, mut body) = rekor(&layer);
            *body.pointer_mut(pointer).unwrap() = value;
            layer.annotations.insert(BUNDLE.to_owned(), sigstore().rekor_annotation(&body, options().integrated_time));
            let error = keyless(&layer).unwrap_err();
            assert!(matches!(error, AttestationError::EntryMismatch(_)), "{pointer}: {error}");
            assert_eq!(error.fault(), Fault::Workload);
        }
    }

    #[test]
    fn a_certificate_from_another_ca_fails_the_chain() {
        let layer = sigstore().with_other_ca().legacy_attestation(&attest(options()));
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Chain(_))), "{error}");
    }

    #[test]
    fn an_integrated_time_outside_the_certificate_fails() {
        // Logged a minute before the certificate's notBefore.
        let early = SignOptions { integrated_time: options().not_before - 60, ..options() };
        let error = keyless(&sigstore().legacy_attestation(&attest(early))).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Chain(_))), "{error}");
    }

    #[test]
    fn no_sct_fails_unless_ignored() {
        let layer = sigstore().legacy_attestation(&attest(SignOptions { with_sct: false, ..options() }));
        let error = keyless(&layer).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Sct(_))), "{error}");
        let ignore_sct = Checks { ignore_sct: true, ..Checks::default() };
        let verified = verify(&layer, IMAGE, Signer::Keyless(any()), ignore_sct).unwrap();
        assert_eq!(verified.predicate_type, SLSA);
    }

    #[test]
    fn a_key_based_attestation_verifies_with_its_key_only() {
        let key = TrustedKey::from_pem("release", &sigstore().public_key_pem()).unwrap();
        let layer = sigstore().legacy_attestation(&attest(SignOptions::key(IMAGE)));
        let verified = verify(&layer, IMAGE, Signer::Key(&key), Checks::default()).unwrap();
        assert_eq!(verified.signature.key.as_deref(), Some("release"));
        assert!(verified.signature.log.is_some());
        let stranger = TrustedKey::from_pem("stranger", &Synthetic::new().public_key_pem()).unwrap();
        let error = verify(&layer, IMAGE, Signer::Key(&stranger), Checks::default()).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::Signature(_))), "{error}");
        let error = verify(&layer, OTHER_IMAGE, Signer::Key(&key), Checks::default()).unwrap_err();
        assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
    }
}
