//! The `intoto` 0.0.1 body and its consistency with the layer, on the real cosign attestation
//! (its envelope and certificate); the full path, with a log that signs such entries, is in
//! `tests/sigstore_synthetic.rs`.

use proptest::prelude::*;
use serde_json::{Value, json};
use sigstore_types::{MediaType, VerificationMaterial, VerificationMaterialContent, X509Certificate};

use super::*;
use crate::facts::sigstore::AllowedIdentities;
use crate::facts::sigstore::fixtures::json as json_file;
use crate::fault::Fault;

const ATTESTATION: &str = "cosign-v3/cosign-oci-attestation.sigstore.json";

/// The real attestation's envelope bytes (as the `.att` blob) and signing certificate.
fn real() -> (Vec<u8>, DsseEnvelope, DerCertificate) {
    let bundle = json_file(ATTESTATION);
    let blob = serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap();
    let envelope: DsseEnvelope = serde_json::from_slice(&blob).unwrap();
    let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap();
    (blob, envelope, DerCertificate::from_base64(raw).unwrap())
}

/// The body Rekor would store for `blob` signed with `certificate`.
fn body_for(blob: &[u8], envelope: &DsseEnvelope, certificate: &DerCertificate) -> Value {
    let sha256 = |bytes: &[u8]| hex::encode(Sha256Digest::of(bytes).as_bytes());
    json!({
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {
            "content": {
                "hash": { "algorithm": "sha256", "value": sha256(blob) },
                "payloadHash": { "algorithm": "sha256", "value": sha256(envelope.payload.as_bytes()) },
            },
            "publicKey": PemContent::new(certificate.to_pem().into_bytes()).to_base64(),
        },
    })
}

fn bundle(envelope: &DsseEnvelope, certificate: &DerCertificate) -> Bundle {
    let chain = vec![X509Certificate::new(certificate.clone())];
    Bundle::new(
        MediaType::Bundle0_1,
        VerificationMaterial::new(VerificationMaterialContent::X509CertificateChain { certificates: chain }),
        SignatureContent::DsseEnvelope(envelope.clone()),
    )
}

fn check(body: &Value) -> Result<DerPublicKey, AttestationError> {
    let (blob, envelope, certificate) = real();
    let any = AllowedIdentities::any();
    let body = parse_body(body.to_string().as_bytes())?;
    records(&body, &bundle(&envelope, &certificate), &blob, &envelope, Signer::Keyless(&any))
}

#[test]
fn the_body_rekor_stores_records_the_layer() {
    let (blob, envelope, certificate) = real();
    let mut body = body_for(&blob, &envelope, &certificate);
    let key = check(&body).unwrap();
    assert_eq!(key, parse_certificate_info(&certificate).unwrap().public_key);
    // Entries written before Rekor stored the payload's hash have only the envelope's.
    body["spec"]["content"].as_object_mut().unwrap().remove("payloadHash");
    check(&body).unwrap();
    // The write-only envelope, were it there, must be the blob itself.
    body["spec"]["content"]["envelope"] = Value::from(String::from_utf8(blob.clone()).unwrap());
    check(&body).unwrap();
    body["spec"]["content"]["envelope"] = Value::from("{}");
    assert!(matches!(check(&body), Err(AttestationError::EntryMismatch(_))));
}

#[test]
fn a_body_that_records_something_else_is_a_mismatch_naming_what() {
    let (blob, envelope, certificate) = real();
    let body = body_for(&blob, &envelope, &certificate);
    let zero = Value::from("0".repeat(64));
    for (pointer, what) in [
        ("/spec/content/hash/value", "hash"),
        ("/spec/content/payloadHash/value", "payloadHash"),
        ("/spec/publicKey", "certificate"),
    ] {
        let mut changed = body.clone();
        *changed.pointer_mut(pointer).unwrap() = if what == "certificate" {
            let other = json_file("cosign-v3/kubewarden-controller-v1.34.0.sigstore.json");
            let raw = other["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap();
            let pem = DerCertificate::from_base64(raw).unwrap().to_pem();
            Value::from(PemContent::new(pem.into_bytes()).to_base64())
        } else {
            zero.clone()
        };
        let error = check(&changed).unwrap_err();
        assert!(matches!(&error, AttestationError::EntryMismatch(m) if m.contains(what)), "{what}: {error}");
        assert_eq!(error.fault(), Fault::Workload);
    }
    // Upper-case hex is the same hash (Go's hex decoder reads either).
    let mut upper = body.clone();
    let value = upper["spec"]["content"]["hash"]["value"].as_str().unwrap().to_uppercase();
    upper["spec"]["content"]["hash"]["value"] = Value::from(value);
    check(&upper).unwrap();
}

#[test]
fn a_body_of_another_shape_is_malformed() {
    let (blob, envelope, certificate) = real();
    let body = body_for(&blob, &envelope, &certificate);
    let changes: [fn(&mut Value); 7] = [
        |b| b["kind"] = Value::from("dsse"),
        |b| b["apiVersion"] = Value::from("0.0.2"),
        |b| b["spec"]["content"]["hash"]["algorithm"] = Value::from("sha512"),
        |b| b["spec"]["signatures"] = json!([]),
        |b| b["spec"]["payloadHash"] = b["spec"]["content"]["payloadHash"].clone(),
        |b| b["spec"]["publicKey"] = Value::from("not base64!"),
        |b| b["spec"]["content"] = json!({}),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut changed = body.clone();
        change(&mut changed);
        let error = check(&changed).unwrap_err();
        assert!(matches!(error, AttestationError::MalformedAnnotation { annotation: BUNDLE, .. }), "{i}: {error}");
    }
}

#[test]
fn a_key_based_entry_names_the_configured_key() {
    let (blob, envelope, certificate) = real();
    let pem =
        std::fs::read_to_string(crate::facts::sigstore::fixtures::data("conformance/managed-key-happy-path/key.pub"))
            .unwrap();
    let key = crate::facts::sigstore::TrustedKey::from_pem("release", &pem).unwrap();
    let mut body = body_for(&blob, &envelope, &certificate);
    body["spec"]["publicKey"] = Value::from(PemContent::new(pem.into_bytes()).to_base64());
    let parsed = parse_body(body.to_string().as_bytes()).unwrap();
    let bundle = bundle(&envelope, &certificate);
    assert_eq!(records(&parsed, &bundle, &blob, &envelope, Signer::Key(&key)).unwrap(), *key.der());
    // The certificate where a key was configured is a mismatch.
    let body = parse_body(body_for(&blob, &envelope, &certificate).to_string().as_bytes()).unwrap();
    let error = records(&body, &bundle, &blob, &envelope, Signer::Key(&key)).unwrap_err();
    assert!(matches!(error, AttestationError::EntryMismatch(_)), "{error}");
}

#[test]
fn only_the_carried_body_refused_at_the_last_step_counts_as_passed() {
    let refusal = |detail: &str| SigstoreError::TransparencyLog(TransparencyLogError::MalformedEntry(detail.into()));
    assert!(carrier_refused(&refusal(&format!("{CARRIER_REFUSAL} missing field `payloadHash`"))));
    assert!(!carrier_refused(&refusal("invalid Rekor log ID: wrong length")));
    assert!(!carrier_refused(&refusal("failed to parse Rekor body: failed to parse intoto v0.0.2 body: x")));
    let other = SigstoreError::TransparencyLog(TransparencyLogError::EntryMismatch(CARRIER_REFUSAL.into()));
    assert!(!carrier_refused(&other));
    assert!(!carrier_refused(&SigstoreError::InvalidBundle(CARRIER_REFUSAL.into())));
}

#[test]
fn the_statement_is_checked_again_with_the_signing_key() {
    let (_, envelope, certificate) = real();
    let key = parse_certificate_info(&certificate).unwrap().public_key;
    let image: Sha256Digest =
        "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4".parse().unwrap();
    let statement = signed_statement(&envelope, &key, &image).unwrap();
    assert_eq!(statement.predicate_type, "https://cosign.sigstore.dev/attestation/v1");
    let other: Sha256Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    let error = signed_statement(&envelope, &key, &other).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
    let mut forged = envelope.clone();
    forged.payload = sigstore_types::PayloadBytes::new(b"{}".to_vec());
    let error = signed_statement(&forged, &key, &image).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::Signature(_))), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any body text: parsed or refused as a typed error, never a panic; and a parsed one is
    /// held against the layer without panicking.
    #[test]
    fn arbitrary_bodies_never_panic(
        text in prop_oneof![
            any::<String>(),
            (any::<String>(), any::<String>(), any::<String>(), any::<String>()).prop_map(|(kind, algorithm, value, key)| {
                json!({"apiVersion": "0.0.1", "kind": kind, "spec": {"content": {"hash": {"algorithm": algorithm, "value": value}}, "publicKey": key}}).to_string()
            }),
            (any::<String>(), any::<String>()).prop_map(|(value, key)| {
                json!({"apiVersion": "0.0.1", "kind": "intoto", "spec": {"content": {"hash": {"algorithm": "sha256", "value": value}}, "publicKey": key}}).to_string()
            }),
        ],
    ) {
        if let Ok(body) = parse_body(text.as_bytes()) {
            let (blob, envelope, certificate) = real();
            let any = AllowedIdentities::any();
            prop_assert!(records(&body, &bundle(&envelope, &certificate), &blob, &envelope, Signer::Keyless(&any)).is_err());
        }
    }
}
