use std::collections::BTreeMap;

use super::super::fixtures::{production_root, read};
use super::*;

const KUBEWARDEN: &str = "cosign-v3/kubewarden-controller-v1.34.0.sigstore.json";
const KUBEWARDEN_DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const KUBEWARDEN_ID: &str =
    "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const ATTESTATION: &str = "cosign-v3/cosign-oci-attestation.sigstore.json";
const ATTESTATION_DIGEST: &str = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";

fn rules(identities: AllowedIdentities, attestations: bool) -> Rules {
    Rules {
        identities,
        keys: Vec::new(),
        checks: Checks::default(),
        formats: BundleFormats { legacy: true, referrers: true },
        attestations,
    }
}

fn digest(text: &str) -> Sha256Digest {
    text.parse().unwrap()
}

fn referrer(path: &str) -> FoundItem {
    FoundItem {
        location: Location::Referrer { manifest: Sha256Digest::of(path.as_bytes()) },
        content: Content::Bundle {
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
            json: read(path),
        },
    }
}

fn kubewarden_only() -> AllowedIdentities {
    AllowedIdentities::new([(ACTIONS.to_owned(), vec![KUBEWARDEN_ID.to_owned()])]).unwrap()
}

#[test]
fn a_cosign_v3_signature_verifies_for_its_image() {
    let found = Found { referrers: vec![referrer(KUBEWARDEN)], ..Found::default() };
    let checked = check_all(production_root(), &rules(kubewarden_only(), false), &digest(KUBEWARDEN_DIGEST), found);
    assert_eq!(checked.len(), 1);
    assert_eq!(checked[0].kind, Kind::Signature);
    let verified = verdict(&rules(kubewarden_only(), false), &checked).unwrap();
    assert_eq!(verified.signatures.len(), 1);
    assert_eq!(verified.signatures[0].0, Source::Referrer);
    assert!(!verified.attestations_verified);
}

#[test]
fn the_same_bundle_is_refused_for_another_image() {
    let found = Found { referrers: vec![referrer(KUBEWARDEN)], ..Found::default() };
    let other = digest("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let r = rules(kubewarden_only(), false);
    let checked = check_all(production_root(), &r, &other, found);
    let failure = verdict(&r, &checked).unwrap_err();
    assert!(failure.message.starts_with("no matching signatures: referrer sha256:"), "{failure}");
    assert_eq!(failure.fault, Fault::Workload);
}

#[test]
fn another_identity_is_refused() {
    let found = Found { referrers: vec![referrer(KUBEWARDEN)], ..Found::default() };
    let r = rules(AllowedIdentities::new([(ACTIONS.to_owned(), vec!["someone-else".to_owned()])]).unwrap(), false);
    let failure = verdict(&r, &check_all(production_root(), &r, &digest(KUBEWARDEN_DIGEST), found)).unwrap_err();
    assert!(failure.message.starts_with("no matching signatures: "), "{failure}");
}

#[test]
fn nothing_found_is_cosigns_no_signatures_found() {
    let r = rules(AllowedIdentities::any(), false);
    let failure = verdict(&r, &[]).unwrap_err();
    assert_eq!(failure.message, "no signatures found");
}

#[test]
fn required_attestations_must_be_there() {
    let r = rules(kubewarden_only(), true);
    let found = Found { referrers: vec![referrer(KUBEWARDEN)], ..Found::default() };
    let failure = verdict(&r, &check_all(production_root(), &r, &digest(KUBEWARDEN_DIGEST), found)).unwrap_err();
    assert_eq!(failure.message, "no matching attestations: no attestations found");
}

#[test]
fn an_attestation_bundle_is_sorted_as_an_attestation_with_its_predicate_type() {
    let r = rules(AllowedIdentities::any(), true);
    let found = Found { referrers: vec![referrer(ATTESTATION)], ..Found::default() };
    let checked = check_all(production_root(), &r, &digest(ATTESTATION_DIGEST), found);
    assert_eq!(checked[0].kind, Kind::Attestation, "{:?}", checked[0].result);
    // An attestation alone is not a signature.
    assert_eq!(verdict(&r, &checked).unwrap_err().message, "no signatures found");
}

#[test]
fn the_2021_legacy_layer_is_refused_and_says_where_and_why() {
    let dir = "cosign-legacy/keyless-2021/";
    let mut annotations = BTreeMap::new();
    annotations.insert(
        super::super::SIGNATURE.to_owned(),
        String::from_utf8(read(&format!("{dir}signature.b64"))).unwrap().trim().to_owned(),
    );
    annotations
        .insert(super::super::CERTIFICATE.to_owned(), String::from_utf8(read(&format!("{dir}cert.pem"))).unwrap());
    annotations
        .insert(super::super::BUNDLE.to_owned(), String::from_utf8(read(&format!("{dir}rekor-bundle.json"))).unwrap());
    let item = FoundItem {
        location: Location::LegacyTag { tag: "sha256-5f48.sig".into(), layer: 0 },
        content: Content::Legacy {
            media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
            annotations,
            blob: read(&format!("{dir}payload.json")),
        },
    };
    let r = rules(AllowedIdentities::any(), false);
    let image = digest("sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e");
    let checked = check_all(production_root(), &r, &image, Found { legacy_signatures: vec![item], ..Found::default() });
    let failure = verdict(&r, &checked).unwrap_err();
    assert!(failure.message.starts_with("no matching signatures: tag sha256-5f48.sig layer 0: "), "{failure}");
}

#[test]
fn many_refusals_make_a_bounded_message() {
    let items: Vec<FoundItem> = (0..64).map(|_| referrer(KUBEWARDEN)).collect();
    let r = rules(AllowedIdentities::new([(ACTIONS.to_owned(), vec!["nobody".to_owned()])]).unwrap(), false);
    let checked =
        check_all(production_root(), &r, &digest(KUBEWARDEN_DIGEST), Found { referrers: items, ..Found::default() });
    let failure = verdict(&r, &checked).unwrap_err();
    assert!(failure.message.len() < MAX_REASONS + 200, "{} bytes", failure.message.len());
}
