use std::collections::BTreeSet;

use super::super::evaluate::{Checked, Kind, Source};
use super::super::settings::{GenerationOne, GenerationTwo};
use super::super::{LogEntry, VerifiedSignature};
use super::*;

const IMAGE: &str = "ghcr.io/example/app@sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

fn container() -> ContainerId {
    ContainerId::new("a68976bd993dc4d531981c3079ae1697b1cf1901d3af4f732f55ac18863da214").unwrap()
}

fn verifier(f: impl FnOnce(&mut SigstoreSettings)) -> ImageVerifier {
    let mut settings = SigstoreSettings::generation_two();
    f(&mut settings);
    ImageVerifier::new(&settings).unwrap()
}

fn key_signature() -> VerifiedSignature {
    VerifiedSignature {
        subject: None,
        issuer: None,
        certificate: None,
        key: Some("release".into()),
        signature: "c2ln".into(),
        log: Some(LogEntry {
            index: 7,
            log_id: "abcd".into(),
            integrated_time: Some(1_700_000_000),
            signed_entry_timestamp: Some("c2V0".into()),
            body_signature: Some("c2ln".into()),
        }),
        predicate_type: None,
    }
}

fn evaluation(outcome: Result<Verified, Failure>) -> Evaluation {
    Evaluation { image: None, checked: Vec::<Checked>::new(), outcome }
}

fn verified(attestations: bool) -> Verified {
    Verified {
        signatures: vec![(Source::Legacy, key_signature())],
        predicate_types: if attestations { vec!["https://slsa.dev/provenance/v1".into()] } else { vec![] },
        attestations_verified: attestations,
    }
}

#[test]
fn generation_two_selectors_and_facts() {
    let v = verifier(|_| {});
    let answer = v.render(IMAGE, &container(), &evaluation(Ok(verified(true)))).unwrap();
    assert_eq!(
        answer.selectors,
        [
            "image-signature:verified",
            "image-attestations:verified",
            "image-signature-key:release",
            "image-signature-value:c2ln",
            "image-signature-log-id:abcd",
            "image-signature-log-index:7",
            "image-signature-integrated-time:1700000000",
            "image-signature-signed-entry-timestamp:c2V0",
        ]
    );
    let facts = answer.facts.unwrap();
    assert!(facts.verified);
    assert_eq!(facts.keys, ["release"]);
    assert_eq!(facts.predicate_types, ["https://slsa.dev/provenance/v1"]);
    assert_eq!(facts.signatures[0].source, "legacy");
    assert_eq!(facts.signatures[0].log_index, Some(7));
    assert_eq!(facts.signatures[0].integrated_time, Some(1_700_000_000));
    assert!(facts.signer_identities.is_empty(), "a key has no OIDC identity");
}

#[test]
fn a_failure_under_deny_is_spires_internal_message() {
    let v = verifier(|_| {});
    let failure = Failure { message: "no signatures found".into(), fault: Fault::Workload };
    let e = v.render(IMAGE, &container(), &evaluation(Err(failure))).unwrap_err();
    assert_eq!(e.message, format!("error verifying sigstore image signature for imageID {IMAGE}: no signatures found"));
    assert_eq!(e.fault(), Fault::Workload);
}

#[test]
fn a_failure_under_fact_is_a_fact_without_selectors_or_signatures() {
    let v = verifier(|s| s.on_failure = OnFailure::Fact);
    let failure = Failure { message: "registry 127.0.0.1:1 answered 500".into(), fault: Fault::Registry };
    let answer = v.render(IMAGE, &container(), &evaluation(Err(failure))).unwrap();
    assert!(answer.selectors.is_empty());
    let facts = answer.facts.unwrap();
    assert!(!facts.verified);
    assert!(facts.signatures.is_empty() && facts.signer_identities.is_empty());
    assert!(facts.failure.unwrap().ends_with("registry 127.0.0.1:1 answered 500"));
}

#[test]
fn generation_one_names_the_container_and_its_failure_message() {
    let v = verifier(|s| {
        s.spire = SpireKeys::One(GenerationOne {
            rekor_url: "https://rekor.sigstore.dev/".into(),
            enforce_sct: true,
            skip_images: BTreeSet::new(),
            allowed_subjects: Default::default(),
        })
    });
    let answer = v.render(IMAGE, &container(), &evaluation(Ok(verified(false)))).unwrap();
    let c = container();
    assert_eq!(
        answer.selectors,
        [
            format!("{c}:image-signature-key:release"),
            format!("{c}:image-signature-content:c2ln"),
            format!("{c}:image-signature-logid:abcd"),
            format!("{c}:image-signature-integrated-time:1700000000"),
            "sigstore-validation:passed".to_owned(),
        ]
    );
    let failure = Failure { message: "no signatures found".into(), fault: Fault::Workload };
    let e = v.render(IMAGE, &container(), &evaluation(Err(failure))).unwrap_err();
    assert_eq!(e.message, "error retrieving signature payload: no signatures found");
}

#[test]
fn skipped_images_answer_without_a_registry() {
    let two = verifier(|s| {
        s.spire =
            SpireKeys::Two(GenerationTwo { skipped_images: [IMAGE.to_owned()].into(), ..GenerationTwo::default() })
    });
    assert_eq!(two.answer_now(IMAGE, &container()), Some(Ok(SigstoreAnswer::default())));
    let one = verifier(|s| {
        s.spire = SpireKeys::One(GenerationOne {
            rekor_url: "https://rekor.sigstore.dev/".into(),
            enforce_sct: true,
            skip_images: [IMAGE.to_owned()].into(),
            allowed_subjects: Default::default(),
        })
    });
    let answer = one.answer_now(IMAGE, &container()).unwrap().unwrap();
    assert_eq!(answer.selectors, ["sigstore-validation:passed"]);
    assert_eq!(answer.facts, None);
    assert_eq!(one.registry_requests(), 0);
}

#[test]
fn nothing_is_cached_before_the_first_answer() {
    let v = verifier(|_| {});
    assert_eq!(v.answer_now(IMAGE, &container()), None);
    assert_eq!(v.evaluations(), 0);
}

#[tokio::test]
async fn an_unparsable_image_id_fails_without_a_request_and_is_cached_briefly() {
    let v = verifier(|_| {});
    for id in [
        "",
        "docker-pullable://nginx@sha256:00",
        "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172",
    ] {
        let e = v.answer(id, &container()).await.unwrap_err();
        assert!(e.message.starts_with(&format!("error verifying sigstore image signature for imageID {id}: ")), "{e}");
        assert_eq!(e.fault(), Fault::Workload, "{e}");
        assert!(v.answer_now(id, &container()).is_some(), "the failure is cached");
    }
    assert_eq!(v.registry_requests(), 0);
    assert_eq!(v.evaluations(), 3);
}

#[test]
fn a_missing_trusted_root_or_key_is_refused_naming_the_file() {
    let mut settings = SigstoreSettings::generation_two();
    settings.trusted_root = Some("/nonexistent/trusted_root.json".into());
    let e = ImageVerifier::new(&settings).unwrap_err();
    assert!(e.to_string().starts_with("error initializing sigstore verifier: "), "{e}");
    assert!(e.to_string().contains("/nonexistent/trusted_root.json"), "{e}");
    assert_eq!(e.fault(), Fault::Config);
    let mut settings = SigstoreSettings::generation_two();
    settings.public_keys.insert("release".into(), "/nonexistent/key.pem".into());
    let e = ImageVerifier::new(&settings).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/key.pem"), "{e}");
}

#[test]
fn kinds_are_named_for_reports() {
    assert_ne!(Kind::Signature, Kind::Attestation);
}

#[test]
fn a_changed_trusted_root_is_read_again_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trusted_root.json");
    let production = super::super::fixtures::read("trusted_root/production.json");
    std::fs::write(&path, &production).unwrap();
    let mut settings = SigstoreSettings::generation_two();
    settings.trusted_root = Some(path.clone());
    let v = ImageVerifier::new(&settings).unwrap();
    assert!(v.watches_files());
    assert!(!v.refresh(false).unwrap(), "unchanged");
    std::fs::write(&path, b"{ not a trusted root").unwrap();
    let e = v.refresh(false).unwrap_err();
    assert!(e.to_string().contains("trusted_root.json"), "{e}");
    // Still serving: the old root answers, and the next good file is taken.
    let mut pretty: serde_json::Value = serde_json::from_slice(&production).unwrap();
    pretty["mediaType"] = pretty["mediaType"].clone();
    std::fs::write(&path, serde_json::to_vec_pretty(&pretty).unwrap()).unwrap();
    assert!(v.refresh(false).unwrap(), "a new file is read");
    assert!(v.refresh(true).unwrap(), "force re-reads");
    assert!(!verifier(|_| {}).refresh(true).unwrap(), "the embedded root has no file to re-read");
}
