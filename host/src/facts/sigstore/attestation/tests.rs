use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};
use sigstore_types::LogKeyId;

use super::*;
use crate::facts::sigstore::fixtures::{json as json_file, production_root as root};
use crate::facts::sigstore::{AllowedIdentities, SIGNATURE, TrustedKey};

/// The image the real cosign attestation is about (go-containerregistry's `empty.Image`).
const IMAGE: &str = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
const ATTESTATION: &str = "cosign-v3/cosign-oci-attestation.sigstore.json";

fn any_identity() -> &'static AllowedIdentities {
    static ANY: OnceLock<AllowedIdentities> = OnceLock::new();
    ANY.get_or_init(AllowedIdentities::any)
}

fn keyless() -> Signer<'static> {
    Signer::Keyless(any_identity())
}

fn image() -> Sha256Digest {
    IMAGE.parse().unwrap()
}

/// A real cosign attestation bundle as cosign v2 would have stored it in an `.att` layer: the
/// envelope as the blob, the leaf certificate, the Rekor entry with its SET, and an empty
/// signature annotation.
fn as_layer(bundle: &Value) -> (BTreeMap<String, String>, Vec<u8>) {
    let material = &bundle["verificationMaterial"];
    let entry = &material["tlogEntries"][0];
    let certificate = DerCertificate::from_base64(material["certificate"]["rawBytes"].as_str().unwrap()).unwrap();
    let log_id = LogKeyId::from_base64(entry["logId"]["keyId"].as_str().unwrap()).unwrap();
    let number = |v: &Value| v.as_str().unwrap().parse::<i64>().unwrap();
    let rekor = json!({
        "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": number(&entry["integratedTime"]),
            "logIndex": number(&entry["logIndex"]),
            "logID": hex::encode(log_id.as_bytes()),
        }
    });
    let annotations = BTreeMap::from([
        (SIGNATURE.to_owned(), String::new()),
        (CERTIFICATE.to_owned(), certificate.to_pem()),
        (BUNDLE.to_owned(), rekor.to_string()),
        ("predicateType".to_owned(), "https://cosign.sigstore.dev/attestation/v1".to_owned()),
    ]);
    (annotations, serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap())
}

fn real_layer() -> (BTreeMap<String, String>, Vec<u8>) {
    as_layer(&json_file(ATTESTATION))
}

fn verify(annotations: &BTreeMap<String, String>, payload: &[u8]) -> Result<VerifiedAttestation, AttestationError> {
    verify_attestation_layer(root(), &LegacyLayer { annotations, payload }, &image(), keyless(), Checks::default())
}

#[test]
fn the_real_cosign_attestation_verifies_as_an_att_layer() {
    let (annotations, payload) = real_layer();
    let verified = verify(&annotations, &payload).unwrap();
    assert_eq!(verified.predicate_type, "https://cosign.sigstore.dev/attestation/v1");
    assert_eq!(verified.signature.predicate_type.as_deref(), Some("https://cosign.sigstore.dev/attestation/v1"));
    assert_eq!(verified.signature.subject.as_deref(), Some("cody@soyland.com"));
    assert_eq!(verified.signature.issuer.as_deref(), Some("https://github.com/login/oauth"));
    let log = verified.signature.log.unwrap();
    assert_eq!(log.index, 175_508_996);
    assert_eq!(log.integrated_time, Some(1_740_770_291));
}

#[test]
fn another_image_is_refused_by_the_statement_subject() {
    let (annotations, payload) = real_layer();
    let other: Sha256Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    let layer = LegacyLayer { annotations: &annotations, payload: &payload };
    let error = verify_attestation_layer(root(), &layer, &other, keyless(), Checks::default()).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::DigestMismatch(_))), "{error}");
    assert_eq!(error.fault(), Fault::Workload);
}

#[test]
fn an_identity_not_allowed_is_refused() {
    let (annotations, payload) = real_layer();
    let allowed =
        AllowedIdentities::new([("https://github.com/login/oauth".to_owned(), ["someone@else.test".to_owned()])])
            .unwrap();
    let layer = LegacyLayer { annotations: &annotations, payload: &payload };
    let error =
        verify_attestation_layer(root(), &layer, &image(), Signer::Keyless(&allowed), Checks::default()).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::IdentityNotAllowed { .. })), "{error}");
}

#[test]
fn a_changed_statement_fails_the_signature() {
    let (annotations, _) = real_layer();
    let mut envelope = json_file(ATTESTATION)["dsseEnvelope"].clone();
    let real: DsseEnvelope = serde_json::from_value(envelope.clone()).unwrap();
    let statement = String::from_utf8(real.payload.as_bytes().to_vec()).unwrap();
    let forged = statement.replace("cosign.sigstore.dev/attestation/v1", "cosign.sigstore.dev/attestation/v2");
    envelope["payload"] = Value::from(sigstore_types::PayloadBytes::new(forged.into_bytes()).to_base64());
    let error = verify(&annotations, &serde_json::to_vec(&envelope).unwrap()).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::Signature(_))), "{error}");
}

#[test]
fn a_swapped_set_fails_the_log_check() {
    let (mut annotations, payload) = real_layer();
    let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE]).unwrap();
    let other = json_file("cosign-v3/kubewarden-controller-v1.34.0.sigstore.json");
    rekor["SignedEntryTimestamp"] =
        other["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"].clone();
    annotations.insert(BUNDLE.to_owned(), rekor.to_string());
    let error = verify(&annotations, &payload).unwrap_err();
    assert!(matches!(error, AttestationError::Verify(VerifyError::Tlog(_))), "{error}");
}

#[test]
fn layer_shape_errors_name_what_is_wrong() {
    let (annotations, payload) = real_layer();
    let mut no_certificate = annotations.clone();
    no_certificate.remove(CERTIFICATE);
    assert!(matches!(verify(&no_certificate, &payload), Err(AttestationError::SignerMismatch(_))));

    let mut no_bundle = annotations.clone();
    no_bundle.remove(BUNDLE);
    assert!(matches!(verify(&no_bundle, &payload), Err(AttestationError::NoRekorBundle)));

    let mut bad_chain = annotations.clone();
    bad_chain.insert(CHAIN.to_owned(), "-----BEGIN CERTIFICATE-----\nnot base64\n".to_owned());
    assert!(matches!(
        verify(&bad_chain, &payload),
        Err(AttestationError::MalformedAnnotation { annotation: CHAIN, .. })
    ));

    assert!(matches!(verify(&annotations, b"\x1b[31m not json"), Err(AttestationError::MalformedEnvelope(_))));

    let mut envelope: Value = serde_json::from_slice(&payload).unwrap();
    envelope["payloadType"] = Value::from("text/plain\n");
    let error = verify(&annotations, &serde_json::to_vec(&envelope).unwrap()).unwrap_err();
    assert!(matches!(&error, AttestationError::NotInToto(t) if t == "text/plain\\n"), "{error}");
}

/// Kinds that cannot record an envelope are refused by name.
#[test]
fn entries_that_cannot_record_an_envelope_are_refused_by_name() {
    for (kind, version) in [("hashedrekord", "0.0.1"), ("rekord", "0.0.1"), ("intoto", "0.0.3")] {
        let (mut annotations, payload) = real_layer();
        let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE]).unwrap();
        let body = json!({"apiVersion": version, "kind": kind, "spec": {}}).to_string();
        rekor["Payload"]["body"] = Value::from(CanonicalizedBody::new(body.into_bytes()).to_base64());
        annotations.insert(BUNDLE.to_owned(), rekor.to_string());
        let error = verify(&annotations, &payload).unwrap_err();
        assert_eq!(error, AttestationError::UnsupportedEntry { kind: kind.to_owned(), version: version.to_owned() });
        assert!(error.to_string().contains("only intoto 0.0.1 (cosign v1 and v2), intoto 0.0.2 and dsse 0.0.1"));
    }
}

/// cosign v1 and v2's intoto 0.0.1 entries go to intoto_v001.rs: a body that is not one is
/// malformed, and one that records this very layer still needs the log's signature over it
/// (the real SET signs the real dsse entry, not this body).
#[test]
fn intoto_0_0_1_entries_are_checked_not_refused() {
    let (mut annotations, payload) = real_layer();
    let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE]).unwrap();
    let mut set_body = |body: Value| {
        rekor["Payload"]["body"] = Value::from(CanonicalizedBody::new(body.to_string().into_bytes()).to_base64());
        annotations.insert(BUNDLE.to_owned(), rekor.to_string());
        verify(&annotations, &payload)
    };
    let error = set_body(json!({"apiVersion": "0.0.1", "kind": "intoto", "spec": {}})).unwrap_err();
    assert!(matches!(error, AttestationError::MalformedAnnotation { annotation: BUNDLE, .. }), "{error}");

    let envelope: DsseEnvelope = serde_json::from_slice(&payload).unwrap();
    let sha256 = |bytes: &[u8]| hex::encode(Sha256Digest::of(bytes).as_bytes());
    let certificate = sigstore_types::PemContent::new(real_layer().0[CERTIFICATE].clone().into_bytes());
    let body = json!({"apiVersion": "0.0.1", "kind": "intoto", "spec": {
        "content": {
            "hash": {"algorithm": "sha256", "value": sha256(&payload)},
            "payloadHash": {"algorithm": "sha256", "value": sha256(envelope.payload.as_bytes())},
        },
        "publicKey": certificate.to_base64(),
    }});
    let error = set_body(body).unwrap_err();
    assert!(matches!(&error, AttestationError::Verify(VerifyError::Tlog(m)) if m.contains("SET")), "{error}");
}

#[test]
fn a_key_is_not_used_for_a_keyless_layer() {
    let (annotations, payload) = real_layer();
    let pem =
        std::fs::read_to_string(crate::facts::sigstore::fixtures::data("conformance/managed-key-happy-path/key.pub"))
            .unwrap();
    let key = TrustedKey::from_pem("release", &pem).unwrap();
    let layer = LegacyLayer { annotations: &annotations, payload: &payload };
    let error = verify_attestation_layer(root(), &layer, &image(), Signer::Key(&key), Checks::default()).unwrap_err();
    assert!(matches!(error, AttestationError::SignerMismatch(_)));
}

/// A Rekor annotation: shaped (with arbitrary field values), or any text.
fn rekor_annotation() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (any::<String>(), any::<String>(), any::<i64>(), any::<i64>(), any::<String>()).prop_map(
            |(set, body, time, index, id)| {
                json!({"SignedEntryTimestamp": set, "Payload": {"body": body, "integratedTime": time, "logIndex": index, "logID": id}})
                    .to_string()
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Never panics, whatever the annotations and blob; every refusal is a typed error.
    #[test]
    fn arbitrary_layers_never_panic(
        certificate in prop::option::of(any::<String>()),
        chain in prop::option::of(any::<String>()),
        rekor in prop::option::of(rekor_annotation()),
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            any::<String>().prop_map(|p| json!({"payloadType": IN_TOTO, "payload": p, "signatures": [{"sig": "MEUC"}]}).to_string().into_bytes()),
        ],
    ) {
        let mut annotations = BTreeMap::new();
        for (key, value) in [(CERTIFICATE, certificate), (CHAIN, chain), (BUNDLE, rekor)] {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), value);
            }
        }
        prop_assert!(verify(&annotations, &payload).is_err());
    }

    /// The real layer with its blob or Rekor annotation cut anywhere is refused, never a panic.
    #[test]
    fn real_layers_cut_anywhere_are_refused(cut in 0usize..4000, in_blob in any::<bool>()) {
        let (mut annotations, mut payload) = real_layer();
        if in_blob {
            payload.truncate(cut.min(payload.len().saturating_sub(1)));
        } else {
            let rekor = annotations[BUNDLE].clone();
            let mut end = cut.min(rekor.len().saturating_sub(1));
            while !rekor.is_char_boundary(end) {
                end -= 1;
            }
            annotations.insert(BUNDLE.to_owned(), rekor[..end].to_owned());
        }
        prop_assert!(verify(&annotations, &payload).is_err());
    }
}
