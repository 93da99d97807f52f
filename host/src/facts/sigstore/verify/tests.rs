use serde_json::{Value, json};
use sigstore_types::SignatureBytes;

use super::*;
use crate::facts::sigstore::fixtures::{data, json as json_file, production_root as root, read, text};

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn beacon() -> AllowedIdentities {
    AllowedIdentities::new([(GITHUB.to_string(), [BEACON.to_string()])]).unwrap()
}

/// The check a failure names, as a word the tables below use.
fn reason(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::MalformedBundle(_) => "malformed",
        VerifyError::UnsupportedEntryKind { .. } => "entry-kind",
        VerifyError::Unsupported(_) => "unsupported",
        VerifyError::Chain(_) => "chain",
        VerifyError::Sct(_) => "sct",
        VerifyError::Tlog(_) => "tlog",
        VerifyError::Timestamp(_) => "timestamp",
        VerifyError::Signature(_) => "signature",
        VerifyError::DigestMismatch(_) => "digest",
        VerifyError::IdentityMissing(_) => "identity-missing",
        VerifyError::Certificate(_) => "certificate",
        VerifyError::IdentityNotAllowed { .. } => "identity",
        VerifyError::TrustRoot(_) => "trust-root",
        VerifyError::Other(_) => "other",
    }
}

/// A vector's value, or the content of the file a `file:` value names.
fn value_of(vector: &Value, field: &str) -> Option<String> {
    let value = vector[field].as_str()?;
    Some(match value.strip_prefix("file:") {
        Some(path) => text(path).trim().to_owned(),
        None => value.to_owned(),
    })
}

/// The outcome of one expected.json vector with its artifact given as `artifact`.
fn run(vector: &Value, artifact: Artifact<'_>) -> Result<VerifiedSignature, String> {
    let bundle = text(vector["bundle"].as_str().unwrap());
    let root = TrustRoot::from_file(&data(vector["trusted_root"].as_str().unwrap())).map_err(|e| e.to_string())?;
    match vector["key"].as_str() {
        Some(key) => {
            let key = TrustedKey::from_file("conformance", &data(key)).map_err(|e| format!("key: {e}"))?;
            verify_bundle(&root, &bundle, artifact, Signer::Key(&key), Checks::default())
        }
        None => {
            let (identity, issuer) = (value_of(vector, "identity").unwrap(), value_of(vector, "issuer").unwrap());
            let allowed = AllowedIdentities::new([(issuer, [identity])]).unwrap();
            verify_bundle(&root, &bundle, artifact, Signer::Keyless(&allowed), Checks::default())
        }
    }
    .map_err(|e| format!("{}: {e}", reason(&e)))
}

/// The check each `_fail` vector must fail at; `None` where the spec says it fails earlier than
/// the reason it was built for (only "fails" is asserted), or where the key cannot be read.
fn failure_reason(vector: &Value) -> Option<&'static str> {
    let path = vector["path"].as_str().unwrap();
    match (path.rsplit('/').next().unwrap(), vector["variant"].as_str()) {
        (_, Some("wrong-subject" | "wrong-issuer")) => Some("identity"),
        (_, Some("wrong-digest")) => Some("digest"),
        ("managed-key-wrong-key_fail", _) => Some("key"),
        ("signature-mismatch_fail", _) => Some("signature"),
        ("wrong-material_fail", _) => Some("digest"),
        ("set-invalid-signature_fail", _) => Some("tlog"),
        ("incorrect-public-key_fail", _) => Some("tlog"),
        // The log entry's body names another artifact's hash: caught as the entry not being
        // about this artifact.
        ("wrong-hashedrekord-entry_fail", _) => Some("digest"),
        ("bundle-from-wrong-instance_fail", _) => Some("tlog"),
        ("integrated-time-in-future_fail", _) => Some("chain"),
        ("dsse-mismatch-envelope_fail", _) => Some("tlog"),
        ("bundle-with-root-cert_fail" | "invalid-inclusion-proof_fail", _) => None,
        (other, _) => panic!("no failure reason listed for {other}"),
    }
}

fn shape(input: &Artifact<'_>) -> &'static str {
    match input {
        Artifact::Bytes(_) => "bytes",
        Artifact::Digest(_) => "digest",
    }
}

/// Every bundle vector of expected.json, with the artifact as bytes and as a digest.
#[test]
fn every_expected_vector_has_its_outcome() {
    let expected = json_file("expected.json");
    let vectors = expected["vectors"].as_array().unwrap();
    let (mut passed, mut failed, mut legacy, mut wrong) = (0, 0, 0, Vec::new());
    for vector in vectors {
        if vector["format"].as_str().is_some_and(|f| f.starts_with("legacy")) {
            legacy += 1; // through legacy.rs: see legacy/tests.rs
            continue;
        }
        let name = format!("{} {}", vector["path"], vector["variant"].as_str().unwrap_or(""));
        let bytes = vector["artifact"].as_str().map(read);
        let mut inputs = Vec::new();
        if let Some(bytes) = &bytes {
            inputs.push(Artifact::Bytes(bytes));
            inputs.push(Artifact::Digest(Sha256Digest::of(bytes)));
        }
        if let Some(digest) = vector["artifact_digest"].as_str() {
            inputs.push(Artifact::Digest(digest.parse().unwrap()));
        }
        for input in inputs {
            let outcome = run(vector, input);
            match (vector["expect"].as_str().unwrap(), &outcome) {
                ("pass", Ok(verified)) => {
                    passed += 1;
                    if let (Some(identity), Some(issuer)) = (value_of(vector, "identity"), value_of(vector, "issuer")) {
                        assert_eq!(verified.subject.as_deref(), Some(identity.as_str()), "{name}");
                        assert_eq!(verified.issuer.as_deref(), Some(issuer.as_str()), "{name}");
                    } else {
                        assert_eq!(verified.key.as_deref(), Some("conformance"), "{name}");
                    }
                    let log = verified.log.as_ref().unwrap_or_else(|| panic!("{name}: no log entry"));
                    assert_eq!(log.log_id.len(), 64, "{name}");
                }
                ("fail", Err(message)) => {
                    failed += 1;
                    if let Some(reason) = failure_reason(vector)
                        && !message.starts_with(reason)
                    {
                        wrong.push(format!("{name} ({}): wanted {reason}, got {message}", shape(&input)));
                    }
                }
                (expect, outcome) => {
                    wrong.push(format!("{name} ({}): expected {expect}, got {outcome:?}", shape(&input)))
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // 7 passing bundle vectors (5 with artifact files, each as bytes and as a digest; the two
    // cosign v3 bundles by image digest), 14 failing ones (13 with files, twice; one by digest),
    // and the 2 legacy layers.
    assert_eq!((passed, failed, legacy), (12, 27, 2));
}

#[test]
fn cosign_v3_image_signature_reports_its_statement_and_log_entry() {
    let bundle = text("cosign-v3/kubewarden-controller-v1.34.0.sigstore.json");
    let digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172".parse().unwrap();
    let subject = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
    // SPIRE-style regex identities: the issuer exact, the subject a pattern.
    let allowed = AllowedIdentities::new([(
        GITHUB.to_string(),
        [r"^https://github\.com/kubewarden/.*/release\.yml@refs/tags/v".to_string()],
    )])
    .unwrap();
    let verified =
        verify_bundle(root(), &bundle, Artifact::Digest(digest), Signer::Keyless(&allowed), Checks::default()).unwrap();
    assert_eq!(verified.subject.as_deref(), Some(subject));
    assert_eq!(verified.issuer.as_deref(), Some(GITHUB));
    assert_eq!(verified.predicate_type.as_deref(), Some("https://sigstore.dev/cosign/sign/v1"));
    let log = verified.log.unwrap();
    assert_eq!(log.index, 1261105807);
    assert_eq!(log.log_id, "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
    assert!(log.integrated_time.is_some_and(|t| t > 1_700_000_000));
    assert!(log.signed_entry_timestamp.is_some());

    let other = AllowedIdentities::new([(GITHUB.to_string(), [r"^https://github\.com/acme/".to_string()])]).unwrap();
    let err = verify_bundle(root(), &bundle, Artifact::Digest(digest), Signer::Keyless(&other), Checks::default())
        .unwrap_err();
    assert!(matches!(&err, VerifyError::IdentityNotAllowed { subject: s, issuer } if s == subject && issuer == GITHUB));
}

#[test]
fn cosign_attestation_reports_its_predicate_type() {
    let bundle = text("cosign-v3/cosign-oci-attestation.sigstore.json");
    let digest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4".parse().unwrap();
    let verified = verify_bundle(
        root(),
        &bundle,
        Artifact::Digest(digest),
        Signer::Keyless(&AllowedIdentities::any()),
        Checks::default(),
    )
    .unwrap();
    assert_eq!(verified.predicate_type.as_deref(), Some("https://cosign.sigstore.dev/attestation/v1"));
    assert_eq!(verified.subject.as_deref(), Some("cody@soyland.com"));
}

#[test]
fn the_embedded_root_is_the_pinned_public_good_root() {
    let embedded = TrustRoot::public_good().unwrap();
    assert_eq!(embedded.origin(), &crate::facts::sigstore::RootOrigin::Embedded);
    let bundle = text("conformance/happy-path-v0.3/bundle.sigstore.json");
    let a = read("conformance/a.txt");
    verify_bundle(&embedded, &bundle, Artifact::Bytes(&a), Signer::Keyless(&beacon()), Checks::default()).unwrap();
}

// Mutations of real vectors, each failing for its reason.

fn happy_v03() -> Value {
    json_file("conformance/happy-path-v0.3/bundle.sigstore.json")
}

fn verify_value(bundle: &Value, artifact: &[u8]) -> Result<VerifiedSignature, VerifyError> {
    verify_bundle(root(), &bundle.to_string(), Artifact::Bytes(artifact), Signer::Keyless(&beacon()), Checks::default())
}

#[test]
fn the_unmutated_vector_verifies() {
    let verified = verify_value(&happy_v03(), &read("conformance/a.txt")).unwrap();
    assert_eq!(verified.subject.as_deref(), Some(BEACON));
}

#[test]
fn a_flipped_payload_byte_is_not_the_signed_artifact() {
    let mut a = read("conformance/a.txt");
    a[0] ^= 1;
    let err = verify_value(&happy_v03(), &a).unwrap_err();
    assert_eq!(reason(&err), "digest", "{err}");
    // Without the bundle's message digest to compare, the signature itself fails.
    let mut bundle = happy_v03();
    bundle["messageSignature"].as_object_mut().unwrap().remove("messageDigest");
    let err = verify_value(&bundle, &a).unwrap_err();
    assert_eq!(reason(&err), "signature", "{err}");
}

#[test]
fn a_flipped_signature_byte_fails_the_signature_or_the_log_entry() {
    let mut bundle = happy_v03();
    let signature = bundle["messageSignature"]["signature"].as_str().unwrap().to_owned();
    let mut bytes = SignatureBytes::from_base64(&signature).unwrap().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bundle["messageSignature"]["signature"] = json!(SignatureBytes::new(bytes).to_base64());
    let err = verify_value(&bundle, &read("conformance/a.txt")).unwrap_err();
    assert_eq!(reason(&err), "signature", "{err}");
}

#[test]
fn a_swapped_set_fails_the_log_check() {
    // The SET of another real entry (the v0.1 vector's), signed by the same Rekor key.
    let other: Value = json_file("conformance/happy-path-v0.1/bundle.sigstore.json");
    let mut bundle = happy_v03();
    let set = &other["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"];
    assert_ne!(set, &bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"]);
    bundle["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"] = set.clone();
    let err = verify_value(&bundle, &read("conformance/a.txt")).unwrap_err();
    assert_eq!(reason(&err), "tlog", "{err}");
    assert!(err.to_string().contains("inclusion promise"), "{err}");
}

#[test]
fn a_dropped_certificate_fails() {
    let mut bundle = happy_v03();
    bundle["verificationMaterial"].as_object_mut().unwrap().remove("certificate");
    let err = verify_value(&bundle, &read("conformance/a.txt")).unwrap_err();
    assert_eq!(reason(&err), "malformed", "{err}");

    // A v0.1 bundle whose chain is emptied has no signing certificate either.
    let mut v01: Value = json_file("conformance/happy-path-v0.1/bundle.sigstore.json");
    v01["verificationMaterial"]["x509CertificateChain"]["certificates"] = json!([]);
    let err = verify_value(&v01, &read("conformance/a.txt")).unwrap_err();
    assert!(err.to_string().contains("no signing certificate"), "{err}");
}

#[test]
fn a_certificate_from_another_instance_fails_the_chain() {
    // The staging certificate of bundle-from-wrong-instance_fail in place of the production one.
    let staging: Value = json_file("conformance/bundle-from-wrong-instance_fail/bundle.sigstore.json");
    let material = &staging["verificationMaterial"];
    let certificate = material["certificate"]["rawBytes"]
        .as_str()
        .or(material["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str())
        .unwrap();
    let mut bundle = happy_v03();
    bundle["verificationMaterial"]["certificate"]["rawBytes"] = json!(certificate);
    let err = verify_value(&bundle, &read("conformance/a.txt")).unwrap_err();
    assert_eq!(reason(&err), "chain", "{err}");
}

#[test]
fn a_rekord_entry_is_refused_by_name() {
    let mut bundle = happy_v03();
    bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"] = json!({"kind": "rekord", "version": "0.0.1"});
    let err = verify_value(&bundle, &read("conformance/a.txt")).unwrap_err();
    assert_eq!(err, VerifyError::UnsupportedEntryKind { kind: "rekord".into(), version: "0.0.1".into() });
}

#[test]
fn relaxed_checks_still_verify_and_ignore_tlog_reports_no_entry() {
    let bundle = text("conformance/happy-path-v0.3/bundle.sigstore.json");
    let a = read("conformance/a.txt");
    let relaxed = Checks { ignore_sct: true, ignore_tlog: true };
    let verified = verify_bundle(root(), &bundle, Artifact::Bytes(&a), Signer::Keyless(&beacon()), relaxed).unwrap();
    assert_eq!(verified.log, None);
    assert_eq!(verified.subject.as_deref(), Some(BEACON));
}

#[test]
fn a_key_for_a_keyless_bundle_is_refused() {
    let bundle = text("conformance/happy-path-v0.3/bundle.sigstore.json");
    let key = TrustedKey::from_file("k", &data("conformance/managed-key-happy-path/key.pub")).unwrap();
    let err = verify_bundle(
        root(),
        &bundle,
        Artifact::Bytes(&read("conformance/a.txt")),
        Signer::Key(&key),
        Checks::default(),
    )
    .unwrap_err();
    assert_eq!(reason(&err), "unsupported", "{err}");
}

#[test]
fn malformed_bundles_are_typed_errors() {
    let a = read("conformance/a.txt");
    for text in ["", "{", "null", "[]", "{}", r#"{"mediaType":"x"}"#] {
        let err = verify_bundle(root(), text, Artifact::Bytes(&a), Signer::Keyless(&beacon()), Checks::default())
            .unwrap_err();
        assert_eq!(reason(&err), "malformed", "{text:?}: {err}");
    }
}

#[test]
fn errors_repeat_outside_text_bounded_and_printable() {
    let long = format!("{}\n\u{1b}[31m", "x".repeat(10_000));
    let shown = bounded(&long);
    assert!(shown.len() <= SHOWN + 40 && shown.ends_with("… (10006 bytes in all)"), "{shown}");
    assert!(!shown.chars().any(char::is_control));
    assert_eq!(bounded("a\nb"), "a\\nb");
}

#[test]
fn faults() {
    assert_eq!(VerifyError::Signature(String::new()).fault(), Fault::Workload);
    assert_eq!(VerifyError::TrustRoot(String::new()).fault(), Fault::Config);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any bundle text: a typed refusal, never a panic.
        #[test]
        fn any_bundle_text_is_refused_without_panicking(text in any::<String>()) {
            let allowed = AllowedIdentities::any();
            let artifact = Artifact::Bytes(b"a");
            prop_assert!(verify_bundle(root(), &text, artifact, Signer::Keyless(&allowed), Checks::default()).is_err());
        }

        /// A real bundle cut anywhere: still a typed refusal.
        #[test]
        fn truncated_bundles_are_refused(cut in 0_usize..4096) {
            let bundle = text("conformance/happy-path-v0.1/bundle.sigstore.json");
            let cut = (0..=cut.min(bundle.len().saturating_sub(1))).rev().find(|i| bundle.is_char_boundary(*i)).unwrap_or(0);
            let allowed = AllowedIdentities::any();
            let result = verify_bundle(root(), &bundle[..cut], Artifact::Bytes(b"a"), Signer::Keyless(&allowed), Checks::default());
            prop_assert!(result.is_err());
        }
    }
}
