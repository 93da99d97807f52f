use std::collections::{BTreeMap, BTreeSet};

use rcgen::{CertificateParams, CustomExtension, KeyPair, SanType};

use super::*;
use crate::facts::sigstore::fixtures::{production_root as root, read, text};
use crate::facts::sigstore::{
    AllowedIdentities, Artifact, CertificateIdentity, Checks, LogEntry, Signer, verify_bundle,
};

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const REKOR: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
const IMAGE: &str = "registry.example/app@sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
const V01_SIGNATURE: &str =
    "MEQCIFOpaXKWvvBDwThDjTHX7tFF8liRoSxLZIsSeoUM/6D4AiBxV9/RnTMMw1t6nniX0rCuwrf8Vh+feLFu99m4ir+3yA==";
const V01_SET: &str =
    "MEUCIQCvkqgP1sCP3BiNYQ+36o79yGXZP5CNeo7OmpmVT6kehgIgegEh0UlZwjMj2KEi/X0nm9cyq+vuG8uOGqG4i//nqgM=";
const V03_SIGNATURE: &str =
    "MEUCICYFq/4bTEdlurgqVuNmwCcIWu3NKOCgveWAJBiezJ0uAiEA2i7U18+aRpFxLYksr5HKBQQy08zE050WIc0RzKunDIA=";
const V03_SET: &str =
    "MEYCIQDMNM49CNrcrpuvB9G3likdSse0miAkY0ILCqzRGP5ZJQIhAKnSS9GUSFVCar1+Sq3qoRtJIJ8x9tqRnQ8kuS1ojtTH";

/// A real conformance vector, verified.
fn verified(name: &str, checks: Checks) -> VerifiedSignature {
    let bundle = text(&format!("conformance/{name}/bundle.sigstore.json"));
    let any = AllowedIdentities::any();
    verify_bundle(root(), &bundle, Artifact::Bytes(&read("conformance/a.txt")), Signer::Keyless(&any), checks).unwrap()
}

fn two(ignore_tlog: bool, attestations_verified: bool) -> Generation<'static> {
    Generation::Two { ignore_tlog, attestations_verified }
}

fn container() -> ContainerId {
    ContainerId::new("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap()
}

fn beacon_allowed() -> BTreeMap<String, BTreeSet<String>> {
    BTreeMap::from([(GITHUB.to_owned(), BTreeSet::from([BEACON.to_owned()]))])
}

#[test]
fn generation_two_for_two_real_signatures_in_layer_order() {
    let signatures = [verified("happy-path-v0.1", Checks::default()), verified("happy-path-v0.3", Checks::default())];
    let values = selector_values(IMAGE, &signatures, &two(false, false)).unwrap();
    let expected = [
        "image-signature:verified".to_owned(),
        format!("image-signature-subject:{BEACON}"),
        format!("image-signature-issuer:{GITHUB}"),
        format!("image-signature-value:{V01_SIGNATURE}"),
        format!("image-signature-log-id:{REKOR}"),
        "image-signature-log-index:27246492".to_owned(),
        "image-signature-integrated-time:1689177396".to_owned(),
        format!("image-signature-signed-entry-timestamp:{V01_SET}"),
        format!("image-signature-subject:{BEACON}"),
        format!("image-signature-issuer:{GITHUB}"),
        format!("image-signature-value:{V03_SIGNATURE}"),
        format!("image-signature-log-id:{REKOR}"),
        "image-signature-log-index:79571823".to_owned(),
        "image-signature-integrated-time:1710869186".to_owned(),
        format!("image-signature-signed-entry-timestamp:{V03_SET}"),
    ];
    assert_eq!(values, expected);
}

#[test]
fn generation_two_attestations_come_second() {
    let signatures = [verified("happy-path-v0.3", Checks::default())];
    let values = selector_values(IMAGE, &signatures, &two(false, true)).unwrap();
    assert_eq!(
        values[..3],
        ["image-signature:verified", "image-attestations:verified", &format!("image-signature-subject:{BEACON}")]
    );
    assert_eq!(values.len(), 9);
}

#[test]
fn ignore_tlog_drops_the_four_log_selectors() {
    // The log ignored when verifying, or only when formatting: the same three per signature.
    let expected = [
        "image-signature:verified".to_owned(),
        format!("image-signature-subject:{BEACON}"),
        format!("image-signature-issuer:{GITHUB}"),
        format!("image-signature-value:{V03_SIGNATURE}"),
    ];
    let relaxed = Checks { ignore_sct: false, ignore_tlog: true };
    assert_eq!(selector_values(IMAGE, &[verified("happy-path-v0.3", relaxed)], &two(true, false)).unwrap(), expected);
    assert_eq!(
        selector_values(IMAGE, &[verified("happy-path-v0.3", Checks::default())], &two(true, false)).unwrap(),
        expected
    );
    // Without the log ignored, a signature without an entry fails with SPIRE's wording.
    let err = selector_values(IMAGE, &[verified("happy-path-v0.3", relaxed)], &two(false, false)).unwrap_err();
    assert_eq!(err.detail, DetailError::NoLogEntry);
}

#[test]
fn generation_one_for_real_signatures() {
    let cid = container();
    let allowed = beacon_allowed();
    let signatures = [verified("happy-path-v0.1", Checks::default()), verified("happy-path-v0.3", Checks::default())];
    let values =
        selector_values(IMAGE, &signatures, &Generation::One { container: &cid, allowed_subjects: &allowed }).unwrap();
    let expected = [
        format!("{cid}:image-signature-subject:{BEACON}"),
        format!("{cid}:image-signature-content:{V01_SIGNATURE}"),
        format!("{cid}:image-signature-logid:{REKOR}"),
        format!("{cid}:image-signature-integrated-time:1689177396"),
        format!("{cid}:image-signature-subject:{BEACON}"),
        format!("{cid}:image-signature-content:{V03_SIGNATURE}"),
        format!("{cid}:image-signature-logid:{REKOR}"),
        format!("{cid}:image-signature-integrated-time:1710869186"),
        "sigstore-validation:passed".to_owned(),
    ];
    assert_eq!(values, expected);
}

#[test]
fn generation_one_drops_signatures_outside_the_allow_list() {
    let cid = container();
    let signatures = [verified("happy-path-v0.3", Checks::default())];
    for allowed in [
        BTreeMap::new(),
        BTreeMap::from([(GITHUB.to_owned(), BTreeSet::from(["someone@example.com".to_owned()]))]),
        BTreeMap::from([("https://accounts.google.com".to_owned(), BTreeSet::from([BEACON.to_owned()]))]),
    ] {
        let generation = Generation::One { container: &cid, allowed_subjects: &allowed };
        // No signature kept: no trailer either.
        assert_eq!(selector_values(IMAGE, &signatures, &generation).unwrap(), Vec::<String>::new());
    }
}

#[test]
fn skipped_images() {
    let cid = container();
    let allowed = BTreeMap::new();
    assert_eq!(
        skipped_image(&Generation::One { container: &cid, allowed_subjects: &allowed }),
        ["sigstore-validation:passed"]
    );
    assert_eq!(skipped_image(&two(false, false)), Vec::<String>::new());
}

/// A signature with a generated certificate (SANs in this order, this raw issuer) and a log
/// entry.
fn synthetic(sans: Vec<SanType>, issuer: Option<&[u8]>) -> VerifiedSignature {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    if let Some(issuer) = issuer {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 1], issuer.to_vec()));
    }
    let der = params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec();
    VerifiedSignature {
        subject: Some("verifier's view".to_owned()),
        issuer: Some("verifier's view".to_owned()),
        key: None,
        certificate: Some(CertificateIdentity::from_der(&der).unwrap()),
        signature: "c2ln".to_owned(),
        log: Some(LogEntry {
            index: 7,
            log_id: "ab".to_owned(),
            integrated_time: Some(1_700_000_000),
            signed_entry_timestamp: Some("c2V0".to_owned()),
            body_signature: Some("c2ln".to_owned()),
        }),
        predicate_type: None,
    }
}

fn ia5(s: &str) -> rcgen::string::Ia5String {
    rcgen::string::Ia5String::try_from(s).unwrap()
}

#[test]
fn the_subject_differs_between_generations_as_spire_does() {
    let signature = synthetic(
        vec![SanType::URI(ia5("https://ci.example/w")), SanType::DnsName(ia5("host.example"))],
        Some(b"https://issuer.example"),
    );
    let values = selector_values(IMAGE, std::slice::from_ref(&signature), &two(false, false)).unwrap();
    assert_eq!(
        values,
        [
            "image-signature:verified",
            "image-signature-subject:host.example",
            "image-signature-issuer:https://issuer.example",
            "image-signature-value:c2ln",
            "image-signature-log-id:ab",
            "image-signature-log-index:7",
            "image-signature-integrated-time:1700000000",
            "image-signature-signed-entry-timestamp:c2V0",
        ]
    );
    let cid = container();
    let allowed =
        BTreeMap::from([("https://issuer.example".to_owned(), BTreeSet::from(["https://ci.example/w".to_owned()]))]);
    let values =
        selector_values(IMAGE, &[signature], &Generation::One { container: &cid, allowed_subjects: &allowed }).unwrap();
    assert_eq!(
        values,
        [
            format!("{cid}:image-signature-subject:https://ci.example/w"),
            format!("{cid}:image-signature-content:c2ln"),
            format!("{cid}:image-signature-logid:ab"),
            format!("{cid}:image-signature-integrated-time:1700000000"),
            "sigstore-validation:passed".to_owned(),
        ]
    );
}

/// SANs, raw issuer, and the detail SPIRE reports.
type Case = (Vec<SanType>, Option<&'static [u8]>, &'static str);

#[test]
fn generation_two_fails_with_spires_messages() {
    let cases: [Case; 3] = [
        (
            vec![],
            Some(b"https://issuer.example"),
            "failed to extract subject from certificate: no subject found in certificate",
        ),
        (
            vec![SanType::Rfc822Name(ia5("a@b.c"))],
            None,
            "failed to extract issuer from certificate: no OIDC issuer found in certificate extensions",
        ),
        (
            vec![SanType::Rfc822Name(ia5("a@b.c"))],
            Some(b""),
            "failed to extract issuer from certificate: OIDC issuer extension is present but empty",
        ),
    ];
    for (sans, issuer, detail) in cases {
        // A good signature first: one bad signature still fails the whole list.
        let good = synthetic(vec![SanType::Rfc822Name(ia5("x@y.z"))], Some(b"https://issuer.example"));
        let err = selector_values(IMAGE, &[good, synthetic(sans, issuer)], &two(false, false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to extract details from signatures for image \"{IMAGE}\": {detail}")
        );
        assert_eq!(
            spire_error_message(IMAGE, &err),
            format!(
                "error verifying sigstore image signature for imageID {IMAGE}: failed to extract details from signatures for image \"{IMAGE}\": {detail}"
            )
        );
    }
}

#[test]
fn generation_one_drops_what_it_cannot_read() {
    let cid = container();
    let allowed = BTreeMap::from([("https://issuer.example".to_owned(), BTreeSet::from(["a@b.c".to_owned()]))]);
    let generation = Generation::One { container: &cid, allowed_subjects: &allowed };
    let kept = synthetic(vec![SanType::Rfc822Name(ia5("a@b.c"))], Some(b"https://issuer.example"));
    let no_issuer = synthetic(vec![SanType::Rfc822Name(ia5("a@b.c"))], None);
    let dns_only = synthetic(vec![SanType::DnsName(ia5("a@b.c"))], Some(b"https://issuer.example"));
    let mut no_log_id = kept.clone();
    no_log_id.log.as_mut().unwrap().log_id.clear();
    let values = selector_values(IMAGE, &[no_issuer, kept, dns_only, no_log_id], &generation).unwrap();
    assert_eq!(values.len(), 5, "{values:?}");
    assert_eq!(values[0], format!("{cid}:image-signature-subject:a@b.c"));
    assert_eq!(values[4], "sigstore-validation:passed");
}

#[test]
fn key_based_signatures_name_their_key() {
    let mut signature = synthetic(vec![], None);
    signature.key = Some("release".to_owned());
    signature.certificate = None;
    let values = selector_values(IMAGE, std::slice::from_ref(&signature), &two(true, false)).unwrap();
    assert_eq!(values, ["image-signature:verified", "image-signature-key:release", "image-signature-value:c2ln"]);
    let cid = container();
    let allowed = BTreeMap::new();
    let values =
        selector_values(IMAGE, &[signature], &Generation::One { container: &cid, allowed_subjects: &allowed }).unwrap();
    assert_eq!(values[0], format!("{cid}:image-signature-key:release"));
    assert_eq!(values.last().map(String::as_str), Some("sigstore-validation:passed"));

    // A keyless signature without its certificate is SPIRE's "no certificate" failure.
    let mut bare = synthetic(vec![], None);
    bare.certificate = None;
    let err = selector_values(IMAGE, &[bare], &two(true, false)).unwrap_err();
    assert_eq!(err.detail, DetailError::NoCertificate);
}

#[test]
fn the_verifiers_view_is_kept_beside_spires() {
    let signature = verified("happy-path-v0.3", Checks::default());
    let certificate = signature.certificate.as_ref().unwrap();
    assert_eq!(signature.subject.as_deref(), certificate.spire_subject().ok());
    assert_eq!(signature.log.as_ref().unwrap().body_signature.as_deref(), Some(V03_SIGNATURE));
}
