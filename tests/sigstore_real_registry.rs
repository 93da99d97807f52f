//! Sigstore against a real registry: Debian's `docker-registry` (CNCF distribution 2.8.2),
//! started on loopback per test with TLS, the signatures pushed to it with `oci-client`, and the
//! library's `ImageVerifier` reading them back: legacy `.sig`/`.att` layers made per run by the
//! synthetic keyless deployment, the real kubewarden cosign v3 bundle found through the
//! `sha256-<hex>` fallback tag (distribution 2.8 has no referrers API), SPIRE-identical mode
//! finding nothing for that v3-only image, a copied signature refused, and htpasswd (Basic)
//! authentication with `registry_credentials`.
//!
//! Its own harness (libtest-mimic): without the `docker-registry` binary every test is reported
//! as ignored with the reason, never passed without having run.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/distribution.rs"]
mod distribution;
#[path = "common/sigstore_synth.rs"]
mod synth;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use attestor::facts::sigstore::discover::Location;
use attestor::facts::sigstore::evaluate::{Kind, Source};
use attestor::facts::sigstore::{
    BundleFormats, Credentials, GenerationTwo, ImageVerifier, SigstoreSettings, SpireKeys,
};
use attestor::workload::ContainerId;
use distribution::{Access, Distribution, HTPASSWD_PASSWORD, HTPASSWD_USER, Layer};
use libtest_mimic::{Arguments, Failed, Trial};
use synth::{AttestOptions, SignOptions, Subject, Synthetic};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/facts/sigstore/testdata");
const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const REPO: &str = "team/app";
/// The image the kubewarden v3 bundle signs, and who signed it.
const KUBEWARDEN_REPO: &str = "kubewarden/kubewarden-controller";
const KUBEWARDEN_IMAGE: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const KUBEWARDEN_WORKFLOW: &str =
    "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const BOTH: BundleFormats = BundleFormats { legacy: true, referrers: true };

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn container() -> ContainerId {
    ContainerId::from_bytes([7; 32])
}

/// A started registry and a directory for the trust files, or why the registry did not start.
struct Setup {
    registry: Distribution,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start(access: Access) -> Result<Self, Failed> {
        let registry = Distribution::start(access)?;
        eprintln!(
            "note: docker-registry on {} answered {} ms after it was started",
            registry.host(),
            registry.startup().as_millis()
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry-ca.pem"), registry.ca_pem()).unwrap();
        Ok(Self { registry, dir })
    }

    fn image(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.registry.host())
    }

    /// Generation 2's defaults, the registry's CA, `allowed_identities` = `issuer` → `subject`,
    /// and `trusted_root` when given (else the embedded public-good root).
    fn settings(&self, issuer: &str, subject: &str, trusted_root: Option<PathBuf>) -> SigstoreSettings {
        let mut s = SigstoreSettings::generation_two();
        s.registry.ca_path = Some(self.dir.path().join("registry-ca.pem"));
        s.trusted_root = trusted_root;
        two(&mut s).allowed_identities = BTreeMap::from([(issuer.to_owned(), vec![subject.to_owned()])]);
        s
    }

    /// Settings trusting `synthetic`'s root and its example workflow.
    fn synthetic_settings(&self, synthetic: &Synthetic) -> SigstoreSettings {
        let root = self.dir.path().join("trusted_root.json");
        std::fs::write(&root, synthetic.trusted_root_json()).unwrap();
        self.settings(ACTIONS, "^https://github.com/example/", Some(root))
    }

    /// A keyless `.sig` layer by the example workflow over `image_digest`.
    fn signature(&self, synthetic: &Synthetic, image_digest: &str) -> Layer {
        let sig = synthetic.legacy_signature(&self.sign_options(image_digest));
        Layer::simple_signing(sig.payload, sig.annotations)
    }

    fn sign_options(&self, image_digest: &str) -> SignOptions {
        let mut options = SignOptions::keyless(image_digest, Subject::Uri(WORKFLOW.into()), ACTIONS);
        options.docker_reference = format!("{}/{REPO}", self.registry.host());
        options
    }

    /// The real kubewarden bundle attached to its image through the fallback tag.
    async fn push_kubewarden(&self) -> Result<String, Failed> {
        let bundle =
            std::fs::read(format!("{TESTDATA}/cosign-v3/kubewarden-controller-v1.34.0.sigstore.json")).unwrap();
        Ok(self.registry.push_fallback_referrer(KUBEWARDEN_REPO, KUBEWARDEN_IMAGE, &bundle).await?)
    }
}

fn two(s: &mut SigstoreSettings) -> &mut GenerationTwo {
    match &mut s.spire {
        SpireKeys::Two(two) => two,
        SpireKeys::One(_) => panic!("generation_two() is generation 2"),
    }
}

fn block_on<F: Future<Output = Result<(), Failed>>>(f: F) -> Result<(), Failed> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A keyless `.sig` layer and a provenance `.att` layer, pushed with oci-client: the selectors
/// SPIRE gives and the facts.
fn legacy_signature_and_attestation_verify() -> Result<(), Failed> {
    let s = Setup::start(Access::Anonymous)?;
    let synthetic = Synthetic::new();
    block_on(async {
        let d = digest(1);
        s.registry.push_legacy(REPO, &d, "sig", &[s.signature(&synthetic, &d)]).await?;
        let att = synthetic.legacy_attestation(&AttestOptions::new(s.sign_options(&d), PROVENANCE));
        s.registry.push_legacy(REPO, &d, "att", &[Layer::dsse(att.payload, att.annotations)]).await?;

        let verifier = ImageVerifier::new(&s.synthetic_settings(&synthetic)).unwrap();
        let answer = verifier.answer(&s.image(REPO, &d), &container()).await.map_err(|e| e.to_string())?;
        assert_eq!(answer.selectors[0], "image-signature:verified", "{:?}", answer.selectors);
        assert_eq!(answer.selectors[1], "image-attestations:verified", "{:?}", answer.selectors);
        assert_eq!(answer.selectors[2], format!("image-signature-subject:{WORKFLOW}"));
        assert_eq!(answer.selectors[3], format!("image-signature-issuer:{ACTIONS}"));
        let facts = answer.facts.unwrap();
        assert!(facts.verified);
        assert_eq!(facts.signatures[0].source, "legacy");
        assert_eq!(facts.predicate_types, [PROVENANCE]);
        Ok(())
    })
}

/// The real cosign v3 bundle: the referrers API answers 404 on distribution 2.8, the fallback
/// tag lists it, and it verifies against the production root file and the embedded root.
fn v3_bundle_is_found_through_the_fallback_tag_and_verifies() -> Result<(), Failed> {
    let s = Setup::start(Access::Anonymous)?;
    block_on(async {
        let referrer = s.push_kubewarden().await?;
        let image = s.image(KUBEWARDEN_REPO, KUBEWARDEN_IMAGE);
        let production = PathBuf::from(format!("{TESTDATA}/trusted_root/production.json"));
        for root in [Some(production), None] {
            let mut settings = s.settings(ACTIONS, KUBEWARDEN_WORKFLOW, root.clone());
            settings.formats = BOTH;
            two(&mut settings).ignore_attestations = true;
            let verifier = ImageVerifier::new(&settings).unwrap();
            let evaluation = verifier.evaluate_uncached(&image).await;
            let verified = evaluation.outcome.as_ref().map_err(|e| format!("root {root:?}: {e}"))?;
            assert_eq!(verified.signatures.len(), 1);
            assert_eq!(verified.signatures[0].0, Source::Referrer);
            assert_eq!(evaluation.checked.len(), 1);
            let checked = &evaluation.checked[0];
            assert_eq!(checked.kind, Kind::Signature);
            let Location::FallbackTag { tag, manifest } = &checked.location else {
                return Err(format!("found at {}, not through the fallback tag", checked.location).into());
            };
            assert_eq!(tag, &distribution::tag_of(KUBEWARDEN_IMAGE));
            assert_eq!(manifest.to_string(), referrer);
            let log = checked.result.as_ref().unwrap().log.as_ref().unwrap();
            assert_eq!(log.index, 1_261_105_807, "the bundle's Rekor entry");
        }
        Ok(())
    })
}

/// `bundle_formats` left at SPIRE's `["legacy"]`: a v3-only image has no signatures, in SPIRE's
/// words.
fn spire_identical_mode_finds_no_signatures_for_a_v3_only_image() -> Result<(), Failed> {
    let s = Setup::start(Access::Anonymous)?;
    block_on(async {
        s.push_kubewarden().await?;
        let image = s.image(KUBEWARDEN_REPO, KUBEWARDEN_IMAGE);
        let mut settings = s.settings(ACTIONS, KUBEWARDEN_WORKFLOW, None);
        two(&mut settings).ignore_attestations = true;
        let verifier = ImageVerifier::new(&settings).unwrap();
        let e = verifier.answer(&image, &container()).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("error verifying sigstore image signature for imageID {image}: no signatures found")
        );
        Ok(())
    })
}

/// A valid layer of image 1 pushed under image 2's `.sig` tag: SPIRE accepts it, attestor
/// refuses it because the signed payload names image 1. Image 1 itself verifies.
fn a_signature_copied_from_another_image_is_refused() -> Result<(), Failed> {
    let s = Setup::start(Access::Anonymous)?;
    let synthetic = Synthetic::new();
    block_on(async {
        let layer = s.signature(&synthetic, &digest(1));
        s.registry.push_legacy(REPO, &digest(1), "sig", std::slice::from_ref(&layer)).await?;
        s.registry.push_legacy(REPO, &digest(2), "sig", &[layer]).await?;
        let mut settings = s.synthetic_settings(&synthetic);
        two(&mut settings).ignore_attestations = true;
        let verifier = ImageVerifier::new(&settings).unwrap();
        verifier.answer(&s.image(REPO, &digest(1)), &container()).await.map_err(|e| e.to_string())?;
        let e = verifier.answer(&s.image(REPO, &digest(2)), &container()).await.unwrap_err().to_string();
        assert!(e.contains("no matching signatures: tag sha256-"), "{e}");
        assert!(e.contains(&digest(1)) || e.contains("docker-manifest-digest"), "names the digest binding: {e}");
        Ok(())
    })
}

/// distribution's htpasswd: pushed with Basic credentials, read with `registry_credentials`;
/// without them the error says so and names the registry.
fn htpasswd_needs_registry_credentials() -> Result<(), Failed> {
    let s = Setup::start(Access::Htpasswd)?;
    let synthetic = Synthetic::new();
    block_on(async {
        let d = digest(3);
        s.registry.push_legacy(REPO, &d, "sig", &[s.signature(&synthetic, &d)]).await?;
        let mut settings = s.synthetic_settings(&synthetic);
        two(&mut settings).ignore_attestations = true;
        let anonymous = ImageVerifier::new(&settings).unwrap();
        let e = anonymous.answer(&s.image(REPO, &d), &container()).await.unwrap_err().to_string();
        assert!(e.contains(&s.registry.host()) && e.contains("registry_credentials"), "{e}");
        let credentials = Credentials { username: HTPASSWD_USER.to_owned(), password: HTPASSWD_PASSWORD.to_owned() };
        settings.registry.credentials = BTreeMap::from([(s.registry.host(), credentials)]);
        let verifier = ImageVerifier::new(&settings).unwrap();
        let answer = verifier.answer(&s.image(REPO, &d), &container()).await.map_err(|e| e.to_string())?;
        assert_eq!(answer.selectors[0], "image-signature:verified");
        Ok(())
    })
}

/// One test of this file.
type Test = fn() -> Result<(), Failed>;

fn trial(name: &str, test: Test, missing: Option<&str>) -> Trial {
    match missing {
        None => Trial::test(name, test),
        Some(why) => {
            let why = why.to_owned();
            // Run anyway (`--include-ignored`), it fails with the reason rather than passing.
            Trial::test(name, move || Err(Failed::from(why))).with_ignored_flag(true)
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let missing = distribution::binary().err();
    if let Some(why) = &missing {
        eprintln!("note: every test of sigstore_real_registry is ignored on this machine: {why}");
    }
    let missing = missing.as_deref();
    let tests: [(&str, Test); 5] = [
        ("legacy_signature_and_attestation_verify", legacy_signature_and_attestation_verify),
        (
            "v3_bundle_is_found_through_the_fallback_tag_and_verifies",
            v3_bundle_is_found_through_the_fallback_tag_and_verifies,
        ),
        (
            "spire_identical_mode_finds_no_signatures_for_a_v3_only_image",
            spire_identical_mode_finds_no_signatures_for_a_v3_only_image,
        ),
        ("a_signature_copied_from_another_image_is_refused", a_signature_copied_from_another_image_is_refused),
        ("htpasswd_needs_registry_credentials", htpasswd_needs_registry_credentials),
    ];
    let trials = tests.into_iter().map(|(name, test)| trial(name, test, missing)).collect();
    libtest_mimic::run(&args, trials).exit();
}
