use proptest::prelude::*;

use super::*;

/// The 2021 keyless vector's payload, byte for byte.
const PAYLOAD: &[u8] = include_bytes!("../testdata/cosign-legacy/keyless-2021/payload.json");
const IMAGE: &str = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
const OTHER: &str = "sha256:356631f7603526a0af827741f5fe005acf19b7ef7705a34241a91c2d47a6db5e";

#[test]
fn a_real_payload_names_its_image() {
    let parsed = SimpleSigning::parse(PAYLOAD).unwrap();
    assert_eq!(parsed.docker_manifest_digest, IMAGE);
    assert_eq!(
        parsed.docker_reference.as_deref(),
        Some("registry-testing.svc.lan/kubewarden/disallow-service-nodeport")
    );
    assert_eq!(parsed.kind.as_deref(), Some("cosign container image signature"));
    assert_eq!(SimpleSigning::bind(PAYLOAD, &IMAGE.parse().unwrap()).unwrap(), parsed);
}

#[test]
fn a_payload_for_another_image_is_refused_naming_both_digests() {
    let err = SimpleSigning::bind(PAYLOAD, &OTHER.parse().unwrap()).unwrap_err();
    assert_eq!(err, PayloadError::DigestMismatch { signed: IMAGE.to_owned(), image: OTHER.parse().unwrap() });
    let message = err.to_string();
    assert!(message.contains(IMAGE) && message.contains(OTHER), "{message}");
}

#[test]
fn a_signed_file_is_not_a_simple_signing_payload() {
    let a = include_bytes!("../testdata/conformance/a.txt");
    let err = SimpleSigning::bind(a, &IMAGE.parse().unwrap()).unwrap_err();
    assert!(matches!(err, PayloadError::NotJson(_)), "{err}");
    assert!(err.to_string().starts_with("the signed payload is not a simple-signing document"), "{err}");
}

#[test]
fn json_without_the_fields_is_not_simple_signing() {
    for payload in [
        "{}",
        "[]",
        "null",
        "3",
        r#"{"critical":{}}"#,
        r#"{"critical":{"image":{}}}"#,
        r#"{"critical":{"image":{"docker-manifest-digest":3}}}"#,
        r#"{"critical":{"image":{"docker-manifest-digest":"sha256:x"},"type":3}}"#,
        r#"{"critical":{"image":{"docker-manifest-digest":"a","docker-manifest-digest":"b"}}}"#,
    ] {
        let err = SimpleSigning::parse(payload.as_bytes()).unwrap_err();
        assert!(matches!(err, PayloadError::NotSimpleSigning(_)), "{payload}: {err}");
    }
    for payload in ["", "{", r#"{"critical":"#, "\u{0}"] {
        let err = SimpleSigning::parse(payload.as_bytes()).unwrap_err();
        assert!(matches!(err, PayloadError::NotJson(_)), "{payload:?}: {err}");
    }
}

#[test]
fn only_the_digest_is_required_and_unknown_fields_are_ignored() {
    let minimal = format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{IMAGE}"}}}},"extra":[1,2]}}"#);
    let parsed = SimpleSigning::bind(minimal.as_bytes(), &IMAGE.parse().unwrap()).unwrap();
    assert_eq!(parsed.docker_reference, None);
    assert_eq!(parsed.kind, None);
}

#[test]
fn digests_compare_as_cosign_compares_them() {
    // A different spelling of the same digest is another string: refused, as cosign refuses it.
    let upper = format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{}"}}}}}}"#, IMAGE.to_uppercase());
    assert!(matches!(
        SimpleSigning::bind(upper.as_bytes(), &IMAGE.parse().unwrap()),
        Err(PayloadError::DigestMismatch { .. })
    ));
}

#[test]
fn a_huge_signed_digest_is_repeated_bounded() {
    let huge = format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{}"}}}}}}"#, "a\n".repeat(50_000));
    let err = SimpleSigning::bind(huge.as_bytes(), &IMAGE.parse().unwrap()).unwrap_err();
    assert!(err.to_string().len() < 1_000);
    assert!(!err.to_string().contains('\n'));
}

/// Pieces that make arbitrary text look like a payload often enough to reach every branch.
fn payloadish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\"critical\":".to_owned()),
        Just("\"image\":".to_owned()),
        Just("\"identity\":".to_owned()),
        Just("\"docker-manifest-digest\":".to_owned()),
        Just("\"docker-reference\":".to_owned()),
        Just("\"type\":".to_owned()),
        Just(format!("\"{IMAGE}\"")),
        Just(",".to_owned()),
        Just("null".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match SimpleSigning::bind(&bytes, &IMAGE.parse().unwrap()) {
            Ok(parsed) => prop_assert_eq!(parsed.docker_manifest_digest, IMAGE),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn payload_like_text_never_panics(text in payloadish()) {
        match SimpleSigning::bind(text.as_bytes(), &IMAGE.parse().unwrap()) {
            Ok(parsed) => prop_assert_eq!(parsed.docker_manifest_digest, IMAGE),
            Err(PayloadError::DigestMismatch { signed, .. }) => prop_assert_ne!(signed, IMAGE),
            Err(PayloadError::NotJson(m) | PayloadError::NotSimpleSigning(m)) => prop_assert!(m.chars().count() <= 501),
        }
    }
}
