use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::facts::sigstore::fixtures::{data, json as json_file, production_root as root, read, text};
use crate::facts::sigstore::{AllowedIdentities, TrustedKey};

fn any_identity() -> &'static AllowedIdentities {
    static ANY: OnceLock<AllowedIdentities> = OnceLock::new();
    ANY.get_or_init(AllowedIdentities::any)
}

fn keyless() -> Signer<'static> {
    Signer::Keyless(any_identity())
}

/// Any image digest: no conformance payload names one.
fn some_image() -> Sha256Digest {
    "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e".parse().unwrap()
}

/// A conformance hashedrekord bundle as cosign would have stored it in a `.sig` layer: the
/// signature, the leaf certificate, the rest of the chain, and the Rekor entry with its SET.
/// `None` for bundles that have no such form (DSSE content, no SET).
fn as_annotations(bundle: &Value) -> Option<BTreeMap<String, String>> {
    let material = &bundle["verificationMaterial"];
    let entry = &material["tlogEntries"][0];
    if entry["kindVersion"]["kind"] != "hashedrekord" || entry["inclusionPromise"].is_null() {
        return None;
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(SIGNATURE.to_owned(), bundle["messageSignature"]["signature"].as_str()?.to_owned());
    let pem = |raw: &Value| DerCertificate::from_base64(raw["rawBytes"].as_str().unwrap()).unwrap().to_pem();
    let certificates: Vec<&Value> = match material["certificate"].is_null() {
        false => vec![&material["certificate"]],
        true => {
            material["x509CertificateChain"]["certificates"].as_array().map(|c| c.iter().collect()).unwrap_or_default()
        }
    };
    if let Some((leaf, chain)) = certificates.split_first() {
        annotations.insert(CERTIFICATE.to_owned(), pem(leaf));
        if !chain.is_empty() {
            annotations.insert(CHAIN.to_owned(), chain.iter().map(|c| pem(c)).collect());
        }
    }
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
    annotations.insert(BUNDLE.to_owned(), rekor.to_string());
    Some(annotations)
}

/// What failed, as one word.
fn step(e: &LegacyError) -> &'static str {
    match e {
        LegacyError::MissingAnnotation(_) => "missing",
        LegacyError::MalformedAnnotation { .. } => "malformed",
        LegacyError::NoRekorBundle => "no-rekor-bundle",
        LegacyError::SignerMismatch(_) => "signer",
        LegacyError::Verify(VerifyError::UnsupportedEntryKind { .. }) => "entry-kind",
        LegacyError::Verify(VerifyError::Signature(_)) => "signature",
        LegacyError::Verify(VerifyError::Tlog(_)) => "tlog",
        LegacyError::Verify(VerifyError::Chain(_)) => "chain",
        LegacyError::Verify(VerifyError::Sct(_)) => "sct",
        LegacyError::Verify(VerifyError::DigestMismatch(_)) => "digest",
        LegacyError::Verify(_) => "verify",
        LegacyError::Payload(PayloadError::DigestMismatch { .. }) => "image-digest",
        LegacyError::Payload(_) => "payload",
    }
}

/// Every conformance hashedrekord bundle, as a `.sig` layer: the happy paths pass every
/// cryptographic check and then fail at the digest binding (their payload is `a.txt`, not a
/// simple-signing document); the `_fail` ones fail before it, except the two whose defect was
/// in what the legacy layout does not carry.
#[test]
fn conformance_bundles_as_legacy_layers() {
    let expected = json_file("expected.json");
    let mut outcomes = Vec::new();
    for vector in expected["vectors"].as_array().unwrap() {
        let (Some(path), None) = (vector["path"].as_str(), vector["variant"].as_str()) else { continue };
        let Some(name) = path.strip_prefix("conformance/") else { continue };
        let Some(annotations) = as_annotations(&json_file(vector["bundle"].as_str().unwrap())) else { continue };
        let payload = read(vector["artifact"].as_str().unwrap());
        let layer = LegacyLayer { annotations: &annotations, payload: &payload };
        let key = vector["key"].as_str().map(|k| TrustedKey::from_file("conformance", &data(k)));
        let outcome = match (&key, annotations.contains_key(CERTIFICATE)) {
            (Some(Ok(key)), false) => verify_layer(root(), &layer, &some_image(), Signer::Key(key), Checks::default()),
            (Some(Err(_)), _) => Err(LegacyError::SignerMismatch("the vector's key does not parse")),
            _ => verify_layer(root(), &layer, &some_image(), keyless(), Checks::default()),
        };
        let reached = outcome.as_ref().map_or_else(step, |_| "verified");
        outcomes.push(format!("{name}: {reached}"));
    }
    let expected_outcomes = [
        // Every check passed, then the payload is not simple-signing.
        "happy-path-v0.1: payload",
        "happy-path-v0.3: payload",
        "happy-path-v0.3-new-mediaType: payload",
        "managed-key-happy-path: payload",
        "managed-key-wrong-key_fail: signer",
        "signature-mismatch_fail: signature",
        "wrong-material_fail: signature",
        "set-invalid-signature_fail: tlog",
        // The bad inclusion proof is not part of the legacy layout; the rest is valid.
        "invalid-inclusion-proof_fail: payload",
        "incorrect-public-key_fail: tlog",
        "wrong-hashedrekord-entry_fail: digest",
        "bundle-from-wrong-instance_fail: tlog",
        // cosign's chain annotation carries the root too: not a fault in this layout.
        "bundle-with-root-cert_fail: payload",
        "integrated-time-in-future_fail: chain",
    ];
    assert_eq!(outcomes, expected_outcomes);
}

#[test]
fn the_2021_keyless_layer_is_refused_for_its_rekord_entry() {
    let descriptor = json_file("cosign-legacy/keyless-2021/sig-layer-descriptor.json");
    let annotations: BTreeMap<String, String> = serde_json::from_value(descriptor["annotations"].clone()).unwrap();
    let payload = read("cosign-legacy/keyless-2021/payload.json");
    assert_eq!(Sha256Digest::of(&payload).to_string(), descriptor["digest"].as_str().unwrap());
    let layer = LegacyLayer { annotations: &annotations, payload: &payload };
    let image = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e".parse().unwrap();
    let err = verify_layer(root(), &layer, &image, keyless(), Checks::default()).unwrap_err();
    assert_eq!(
        err,
        LegacyError::Verify(VerifyError::UnsupportedEntryKind { kind: "rekord".into(), version: "0.0.1".into() })
    );
    assert!(err.to_string().contains("rekord 0.0.1"), "{err}");
    // The same with every relaxation: the entry kind cannot be checked at all.
    let relaxed = Checks { ignore_sct: true, ignore_tlog: true };
    assert_eq!(step(&verify_layer(root(), &layer, &image, keyless(), relaxed).unwrap_err()), "entry-kind");
}

/// The SUSE key-based layer: a signature over the payload and nothing else (no certificate, no
/// Rekor entry).
struct Suse {
    annotations: BTreeMap<String, String>,
    payload: Vec<u8>,
    key: TrustedKey,
    image: Sha256Digest,
}

fn suse() -> Suse {
    let signature = text("cosign-legacy/key-rsa-suse/signature.b64").trim().to_owned();
    Suse {
        annotations: BTreeMap::from([(SIGNATURE.to_owned(), signature)]),
        payload: read("cosign-legacy/key-rsa-suse/payload.json"),
        key: TrustedKey::from_file("suse", &data("cosign-legacy/key-rsa-suse/cosign.pub")).unwrap(),
        image: "sha256:356631f7603526a0af827741f5fe005acf19b7ef7705a34241a91c2d47a6db5e".parse().unwrap(),
    }
}

const NO_TLOG: Checks = Checks { ignore_sct: false, ignore_tlog: true };

#[test]
fn a_key_based_layer_verifies_with_its_key_when_the_log_is_ignored() {
    let s = suse();
    let layer = LegacyLayer { annotations: &s.annotations, payload: &s.payload };
    let verified = verify_layer(root(), &layer, &s.image, Signer::Key(&s.key), NO_TLOG).unwrap();
    assert_eq!(verified.key.as_deref(), Some("suse"));
    assert_eq!((verified.subject, verified.issuer, verified.log), (None, None, None));
    assert_eq!(verified.signature, s.annotations[SIGNATURE]);
}

#[test]
fn a_layer_without_a_rekor_entry_needs_the_log_ignored() {
    let s = suse();
    let layer = LegacyLayer { annotations: &s.annotations, payload: &s.payload };
    let err = verify_layer(root(), &layer, &s.image, Signer::Key(&s.key), Checks::default()).unwrap_err();
    assert_eq!(err, LegacyError::NoRekorBundle);
}

#[test]
fn a_copied_signature_layer_is_refused_naming_both_digests() {
    // SPIRE accepts a valid layer served under another image's `.sig` tag; this does not.
    let s = suse();
    let layer = LegacyLayer { annotations: &s.annotations, payload: &s.payload };
    let other: Sha256Digest =
        "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172".parse().unwrap();
    let err = verify_layer(root(), &layer, &other, Signer::Key(&s.key), NO_TLOG).unwrap_err();
    assert_eq!(step(&err), "image-digest");
    let message = err.to_string();
    assert!(message.contains(&other.to_string()) && message.contains(&s.image.to_string()), "{message}");
}

#[test]
fn a_flipped_payload_byte_fails_the_signature() {
    let s = suse();
    let mut payload = s.payload.clone();
    let i = payload.len() / 2;
    payload[i] ^= 1;
    let layer = LegacyLayer { annotations: &s.annotations, payload: &payload };
    let err = verify_layer(root(), &layer, &s.image, Signer::Key(&s.key), NO_TLOG).unwrap_err();
    assert_eq!(step(&err), "signature", "{err}");

    // And in a keyless layer with a real Rekor entry: the SET still verifies (it covers the
    // entry, not the payload), the signature over the changed payload does not.
    let annotations = as_annotations(&json_file("conformance/happy-path-v0.1/bundle.sigstore.json")).unwrap();
    let mut a = read("conformance/a.txt");
    a[0] ^= 1;
    let layer = LegacyLayer { annotations: &annotations, payload: &a };
    let err = verify_layer(root(), &layer, &some_image(), keyless(), Checks::default()).unwrap_err();
    assert_eq!(step(&err), "signature", "{err}");
}

fn v01_layer() -> BTreeMap<String, String> {
    as_annotations(&json_file("conformance/happy-path-v0.1/bundle.sigstore.json")).unwrap()
}

fn outcome(annotations: &BTreeMap<String, String>) -> Result<VerifiedSignature, LegacyError> {
    let a = read("conformance/a.txt");
    verify_layer(root(), &LegacyLayer { annotations, payload: &a }, &some_image(), keyless(), Checks::default())
}

#[test]
fn the_transcoded_bundle_carries_the_log_entry() {
    let annotations = v01_layer();
    let a = read("conformance/a.txt");
    let layer = LegacyLayer { annotations: &annotations, payload: &a };
    let bundle = transcode(&layer, &signature(&layer).unwrap()).unwrap().unwrap();
    assert_eq!(bundle.media_type, MediaType::Bundle0_1);
    let entry = &bundle.verification_material.tlog_entries[0];
    assert_eq!(entry.log_index.get(), 27246492);
    assert_eq!(entry.kind_version, KindVersion::HashedRekordV001);
    assert!(entry.inclusion_promise.is_some() && entry.inclusion_proof.is_none());
    // Verified up to the payload, the report is the bundle's.
    let verified = verify::verify_parsed(root(), &bundle, Artifact::Bytes(&a), keyless(), Checks::default()).unwrap();
    let log = verified.log.unwrap();
    assert_eq!((log.index, log.integrated_time), (27246492, Some(1689177396)));
    assert_eq!(log.log_id, "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
}

#[test]
fn a_swapped_set_fails_the_log_check() {
    let mut annotations = v01_layer();
    let other = as_annotations(&json_file("conformance/happy-path-v0.3/bundle.sigstore.json")).unwrap();
    let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE]).unwrap();
    let their: Value = serde_json::from_str(&other[BUNDLE]).unwrap();
    assert_ne!(rekor["SignedEntryTimestamp"], their["SignedEntryTimestamp"]);
    rekor["SignedEntryTimestamp"] = their["SignedEntryTimestamp"].clone();
    annotations.insert(BUNDLE.to_owned(), rekor.to_string());
    let err = outcome(&annotations).unwrap_err();
    assert_eq!(step(&err), "tlog", "{err}");
}

#[test]
fn a_changed_integrated_time_fails_the_set() {
    let mut annotations = v01_layer();
    let mut rekor: Value = serde_json::from_str(&annotations[BUNDLE]).unwrap();
    rekor["Payload"]["integratedTime"] = json!(rekor["Payload"]["integratedTime"].as_i64().unwrap() + 1);
    annotations.insert(BUNDLE.to_owned(), rekor.to_string());
    assert_eq!(step(&outcome(&annotations).unwrap_err()), "tlog");
}

#[test]
fn dropped_annotations_are_named() {
    let mut annotations = v01_layer();
    annotations.remove(CERTIFICATE);
    let err = outcome(&annotations).unwrap_err();
    assert_eq!(step(&err), "signer", "{err}");

    let mut annotations = v01_layer();
    annotations.remove(BUNDLE);
    assert_eq!(outcome(&annotations).unwrap_err(), LegacyError::NoRekorBundle);

    let mut annotations = v01_layer();
    annotations.remove(SIGNATURE);
    assert_eq!(outcome(&annotations).unwrap_err(), LegacyError::MissingAnnotation(SIGNATURE));
}

#[test]
fn a_certificate_that_does_not_chain_fails_the_chain() {
    // The 2021 leaf is from a CA whose window ended in 2022, long before this entry's time.
    let mut annotations = v01_layer();
    annotations.insert(CERTIFICATE.to_owned(), text("cosign-legacy/keyless-2021/cert.pem"));
    let err = outcome(&annotations).unwrap_err();
    assert!(matches!(step(&err), "chain" | "tlog"), "{err}");
}

#[test]
fn cosigns_chain_annotation_is_accepted() {
    // cosign stores the Fulcio intermediate and root beside the leaf; with them the layer still
    // verifies, up to its payload.
    let root_json = json_file("trusted_root/production.json");
    let chain: String =
        root_json["certificateAuthorities"].as_array().unwrap().last().unwrap()["certChain"]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| DerCertificate::from_base64(c["rawBytes"].as_str().unwrap()).unwrap().to_pem())
            .collect();
    let mut annotations = v01_layer();
    annotations.insert(CHAIN.to_owned(), format!("{chain}\n"));
    let err = outcome(&annotations).unwrap_err();
    assert_eq!(step(&err), "payload", "{err}");
}

#[test]
fn malformed_annotations_are_named() {
    let cases: [(&str, &str, &str); 9] = [
        (SIGNATURE, "!!!", "malformed"),
        (SIGNATURE, "", "malformed"),
        (CERTIFICATE, "not pem", "malformed"),
        (CERTIFICATE, "-----BEGIN CERTIFICATE-----\nMIIB", "malformed"),
        (CHAIN, "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----", "malformed"),
        (BUNDLE, "{}", "malformed"),
        (
            BUNDLE,
            r#"{"SignedEntryTimestamp":"","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}"#,
            "malformed",
        ),
        (
            BUNDLE,
            r#"{"SignedEntryTimestamp":"","Payload":{"body":"eyJraW5kIjoiY29zZSIsImFwaVZlcnNpb24iOiIwLjAuMSJ9","integratedTime":1,"logIndex":1,"logID":"00"}}"#,
            "entry-kind",
        ),
        (
            BUNDLE,
            r#"{"SignedEntryTimestamp":"","Payload":{"body":"eyJraW5kIjoiaGFzaGVkcmVrb3JkIiwiYXBpVmVyc2lvbiI6IjAuMC4xIn0=","integratedTime":1,"logIndex":-1,"logID":"00"}}"#,
            "malformed",
        ),
    ];
    for (annotation, value, expected) in cases {
        let mut annotations = v01_layer();
        annotations.insert(annotation.to_owned(), value.to_owned());
        let err = outcome(&annotations).unwrap_err();
        assert_eq!(step(&err), expected, "{annotation}={value:?}: {err}");
    }
}

#[test]
fn faults() {
    assert_eq!(LegacyError::NoRekorBundle.fault(), Fault::Workload);
    assert_eq!(LegacyError::Verify(VerifyError::TrustRoot(String::new())).fault(), Fault::Config);
}

/// A Rekor annotation built from arbitrary parts, often well formed enough to reach deep.
fn rekor_annotation() -> impl Strategy<Value = String> {
    let body = prop_oneof![
        Just("eyJraW5kIjoiaGFzaGVkcmVrb3JkIiwiYXBpVmVyc2lvbiI6IjAuMC4xIn0=".to_owned()),
        Just("eyJraW5kIjoicmVrb3JkIiwiYXBpVmVyc2lvbiI6IjAuMC4xIn0=".to_owned()),
        any::<String>(),
    ];
    let log_id = prop_oneof![
        Just("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d".to_owned()),
        any::<String>()
    ];
    (any::<String>(), body, any::<i64>(), any::<i64>(), log_id, any::<bool>()).prop_map(
        |(set, body, time, index, log_id, garbage)| {
            if garbage {
                return format!("{set}{body}");
            }
            json!({"SignedEntryTimestamp": set, "Payload": {"body": body, "integratedTime": time, "logIndex": index, "logID": log_id}})
                .to_string()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_annotations_never_panic(
        signature_text in prop_oneof![Just("MEUCIQ==".to_owned()), any::<String>()],
        certificate in prop::option::of(any::<String>()),
        chain in prop::option::of(any::<String>()),
        rekor in prop::option::of(rekor_annotation()),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut annotations = BTreeMap::from([(SIGNATURE.to_owned(), signature_text)]);
        for (key, value) in [(CERTIFICATE, certificate), (CHAIN, chain), (BUNDLE, rekor)] {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), value);
            }
        }
        let layer = LegacyLayer { annotations: &annotations, payload: &payload };
        // Transcoding alone, then the whole path: typed errors only, bounded.
        if let Err(e) = signature(&layer).and_then(|s| transcode(&layer, &s)) {
            prop_assert!(e.to_string().len() < 2_000);
        }
        match verify_layer(root(), &layer, &some_image(), keyless(), Checks::default()) {
            Ok(_) => prop_assert!(false, "garbage verified"),
            Err(e) => prop_assert!(e.to_string().len() < 2_000),
        }
    }
}
