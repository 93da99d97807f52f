use proptest::prelude::*;

use super::*;

#[test]
fn bundle_media_types() {
    for yes in [
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json; version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    ] {
        assert!(is_bundle_media_type(yes), "{yes}");
    }
    for no in [
        "",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "application/vnd.dev.sigstore.bundle+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.4",
        "application/spdx+json",
    ] {
        assert!(!is_bundle_media_type(no), "{no}");
    }
}

#[test]
fn locations_print_where_to_look() {
    let digest = Sha256Digest::of(b"");
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let tag = format!("sha256-{hex}.sig");
    assert_eq!(Location::LegacyTag { tag: tag.clone(), layer: 0 }.to_string(), format!("tag {tag} layer 0"));
    assert_eq!(Location::Referrer { manifest: digest }.to_string(), format!("referrer sha256:{hex}"));
    let tag = format!("sha256-{hex}");
    assert_eq!(
        Location::FallbackTag { tag: tag.clone(), manifest: digest }.to_string(),
        format!("tag {tag} referrer sha256:{hex}")
    );
}

#[test]
fn manifests_and_indexes_parse() {
    let manifest: Manifest = serde_json::from_str(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json",
            "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
            "layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"annotations":{"a":"b"}}]}"#,
    )
    .unwrap();
    assert_eq!(manifest.layers.len(), 1);
    assert_eq!(manifest.layers[0].annotations["a"], "b");
    assert!(manifest.manifests.is_empty());
    let index: Manifest = serde_json::from_str(r#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
    assert!(index.layers.is_empty() && index.config.is_none());
}

proptest! {
    /// Any bytes, and JSON close to a manifest: parsed or refused, never a panic.
    #[test]
    fn manifest_parsing_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        json in r#"\{"(layers|manifests)":\[(\{"mediaType":"[a-z/.+]{0,10}","digest":"[a-z0-9:]{0,12}","size":-?[0-9]{1,21}\},?){0,3}\]\}"#,
    ) {
        let _ = serde_json::from_slice::<Manifest>(&bytes);
        let _ = serde_json::from_str::<Manifest>(&json);
    }

    /// Any media type text: a yes or no.
    #[test]
    fn media_type_checks_never_panic(text in ".{0,80}") {
        let _ = is_bundle_media_type(&text);
    }
}
