use super::*;
use crate::facts::sigstore::fixtures::data;

#[test]
fn a_trusted_root_file_is_read_and_named() {
    let path = data("trusted_root/production.json");
    let root = TrustRoot::from_file(&path).unwrap();
    assert_eq!(root.origin(), &RootOrigin::File(path.clone()));
    assert_eq!(root.origin().to_string(), format!("trusted root {}", path.display()));
    assert!(format!("{root:?}").starts_with("TrustRoot { origin: File("));
}

#[test]
fn the_embedded_root_needs_no_file() {
    let root = TrustRoot::public_good().unwrap();
    assert_eq!(root.origin().to_string(), "the embedded Sigstore public-good trusted root");
}

#[test]
fn unusable_roots_are_configuration_errors() {
    let missing = TrustRoot::from_file(Path::new("/nonexistent/trusted_root.json")).unwrap_err();
    assert!(matches!(missing, TrustError::Read { .. }), "{missing}");
    assert_eq!(missing.fault(), Fault::Config);

    for json in ["", "{}", "not json", r#"{"mediaType": 3}"#] {
        let err = TrustRoot::from_json(json).unwrap_err();
        assert!(matches!(&err, TrustError::Root { origin: RootOrigin::Memory, .. }), "{json:?}: {err}");
        assert!(err.to_string().starts_with("the trusted root given: "), "{err}");
    }

    // A bundle is JSON, but not a trusted root.
    let bundle = data("conformance/happy-path-v0.3/bundle.sigstore.json");
    let err = TrustRoot::from_file(&bundle).unwrap_err();
    assert!(err.to_string().starts_with(&format!("trusted root {}: ", bundle.display())), "{err}");
}

#[test]
fn an_endless_file_is_refused_without_reading_it_whole() {
    let err = TrustRoot::from_file(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(err, TrustError::TooLarge { .. }), "{err}");
}

#[test]
fn public_keys_are_named_pem_keys() {
    let key = TrustedKey::from_file("release", &data("conformance/managed-key-happy-path/key.pub")).unwrap();
    assert_eq!(key.name(), "release");
    assert_eq!(format!("{key:?}"), r#"TrustedKey { name: "release", .. }"#);
    let rsa = TrustedKey::from_file("suse", &data("cosign-legacy/key-rsa-suse/cosign.pub")).unwrap();
    assert_eq!(rsa.name(), "suse");

    // The conformance "wrong key" is deliberately not a key at all.
    let err = TrustedKey::from_file("wrong", &data("conformance/managed-key-wrong-key_fail/key.pub")).unwrap_err();
    assert!(matches!(&err, TrustError::Key { name, .. } if name == "wrong"), "{err}");

    // A certificate is not a public key, nor is a PEM block of garbage.
    let cert = std::fs::read_to_string(data("cosign-legacy/keyless-2021/cert.pem")).unwrap();
    assert!(matches!(TrustedKey::from_pem("cert", &cert), Err(TrustError::Key { .. })));
    let garbage = "-----BEGIN PUBLIC KEY-----\nYWJjZA==\n-----END PUBLIC KEY-----\n";
    let err = TrustedKey::from_pem("garbage", garbage).unwrap_err();
    assert!(err.to_string().starts_with(r#"public key "garbage": "#), "{err}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any `trusted_root.json` text: a root or a typed error, never a panic.
        #[test]
        fn any_root_text_never_panics(text in any::<String>()) {
            let _ = TrustRoot::from_json(&text);
        }

        /// Any PEM text for a named key: a key or a typed error.
        #[test]
        fn any_key_text_never_panics(text in any::<String>()) {
            let _ = TrustedKey::from_pem("k", &text);
        }
    }
}
