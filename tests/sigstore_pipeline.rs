//! Sigstore end to end: a process in a pod whose container image is signed, a fake kubelet
//! listing that pod, a fake HTTPS registry serving the signatures, a synthetic keyless Sigstore
//! deployment (fresh keys per run, real cryptography), and the attestor built from an HCL
//! `sigstore { }` block: SPIRE's selectors, the Cedar facts, SPIRE's error, `on_failure =
//! "fact"`, the copied-signature hole SPIRE leaves open, one verification per image, and
//! generation 1's selectors.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/sigstore_synth.rs"]
mod synth;

use std::path::Path;
use std::sync::Arc;

use attestor::config::Config;
use attestor::facts::kubernetes::SourceMode;
use attestor::pipeline::Attestor;
use attestor::sandbox::{Runtime, RuntimeSettings};
use attestor::workload::Pid;
use common::kubelet::{Behaviour, FakeKubelet, Transport, pod, pod_list};
use common::{STATUS_1000, fake_proc};
use registry::{Auth, FakeRegistry, Layer};
use synth::{AttestOptions, SignOptions, Subject, Synthetic};

const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const REPO: &str = "team/app";

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn uid(n: usize) -> String {
    format!("{n:08x}-1b1a-4b1e-9c1e-1234567890ab")
}

fn cid(n: usize) -> String {
    format!("{n:064x}")
}

/// A signed image in the registry: a keyless `.sig` layer and a provenance `.att` layer.
fn sign(reg: &FakeRegistry, synthetic: &Synthetic, image_digest: &str) {
    let mut options = SignOptions::keyless(image_digest, Subject::Uri(WORKFLOW.into()), ACTIONS);
    options.docker_reference = format!("{}/{REPO}", reg.host());
    let sig = synthetic.legacy_signature(&options);
    reg.put_legacy_signatures(REPO, image_digest, vec![Layer::simple_signing(sig.payload, sig.annotations)]);
    let att = synthetic.legacy_attestation(&AttestOptions::new(options, PROVENANCE));
    reg.put_legacy_attestations(REPO, image_digest, vec![Layer::dsse(att.payload, att.annotations)]);
}

/// `n` processes, each alone in a pod whose one container runs `images[i % len]`.
fn node(root: &Path, n: usize, images: &[String]) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let pid = 20_000 + i as u32;
            let cgroup = format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{}.scope\n",
                uid(i).replace('-', "_"),
                cid(i)
            );
            fake_proc(root, pid, 777, Some(STATUS_1000), None, Some(&cgroup));
            let mut p = pod(&uid(i), "team", &format!("app-{i}"), "app", &cid(i));
            p["status"]["containerStatuses"][0]["imageID"] = images[i % images.len()].clone().into();
            p
        })
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    registry: FakeRegistry,
    synthetic: Synthetic,
    kubelet: FakeKubelet,
    attestor: Arc<Attestor>,
}

/// The attestor over a fake node of `n` pods running `images`, with `extra` lines in the
/// (generation 2, top-level) `sigstore` block.
async fn setup(n: usize, images: impl Fn(&FakeRegistry) -> Vec<String>, extra: &str) -> Setup {
    let block = format!(
        r#"sigstore {{
  allowed_identities = {{
    "{ACTIONS}" = ["^https://github.com/example/"]
  }}
  trusted_root = "trusted_root.json"
  registry_ca_path = "registry-ca.pem"
  {extra}
}}
"#
    );
    setup_with(n, images, &block).await
}

/// The same with any `sigstore` configuration text.
async fn setup_with(n: usize, images: impl Fn(&FakeRegistry) -> Vec<String>, block: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let registry = FakeRegistry::start(Auth::Anonymous).await;
    let synthetic = Synthetic::new();
    let images = images(&registry);
    let pods = node(dir.path(), n, &images);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    std::fs::write(dir.path().join("trusted_root.json"), synthetic.trusted_root_json()).unwrap();
    std::fs::write(dir.path().join("registry-ca.pem"), registry.ca_pem()).unwrap();
    let config = format!(
        r#"kubelet_read_only_port = {port}
unix {{
  discover_workload_path = false
  passwd_file = "/dev/null"
  group_file = "/dev/null"
}}
{block}"#,
        port = kubelet.port()
    );
    let c = Config::parse_with_env(&config, dir.path(), &|_| None).unwrap();
    let rt = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
    let attestor = Arc::new(Attestor::new(&c, rt, dir.path(), SourceMode::Enabled).unwrap());
    Setup { _dir: dir, registry, synthetic, kubelet, attestor }
}

fn image(reg: &FakeRegistry, d: &str) -> String {
    format!("{}/{REPO}@{d}", reg.host())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_image_yields_spires_selectors_and_the_facts_then_costs_nothing() {
    let s = setup(1, |r| vec![image(r, &digest(1))], "").await;
    sign(&s.registry, &s.synthetic, &digest(1));
    let att = s.attestor.attest(Pid(20_000)).await.unwrap();
    let sels: Vec<String> = att.selectors().iter().map(ToString::to_string).collect();
    let sig: Vec<&String> = sels.iter().filter(|v| v.starts_with("k8s:image-")).collect();
    assert_eq!(sig[0], "k8s:image-signature:verified", "{sels:?}");
    assert_eq!(sig[1], "k8s:image-attestations:verified", "{sels:?}");
    assert_eq!(sig[2], &format!("k8s:image-signature-subject:{WORKFLOW}"), "{sels:?}");
    assert_eq!(sig[3], &format!("k8s:image-signature-issuer:{ACTIONS}"), "{sels:?}");
    for name in ["value", "log-id", "log-index", "integrated-time", "signed-entry-timestamp"] {
        assert!(sels.iter().any(|v| v.starts_with(&format!("k8s:image-signature-{name}:"))), "{name}: {sels:?}");
    }
    let facts = att.workload().kubernetes.as_ref().unwrap().container.as_ref().unwrap().image.sigstore.clone().unwrap();
    assert!(facts.verified);
    assert_eq!(facts.signer_identities, [format!("{ACTIONS}|{WORKFLOW}")]);
    assert_eq!(facts.predicate_types, [PROVENANCE]);
    assert_eq!(facts.signatures[0].source, "legacy");
    assert!(facts.signatures[0].log_index.is_some() && facts.signatures[0].integrated_time.is_some());

    let before = s.registry.requests();
    assert!(before > 0);
    let again = s.attestor.attest(Pid(20_000)).await.unwrap();
    assert_eq!(again.selectors(), att.selectors());
    assert_eq!(s.registry.requests(), before, "a second attestation makes no registry request");
    assert_eq!(s.kubelet.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pods_sharing_few_images_verify_each_image_once() {
    let s = setup(60, |r| (1..=3).map(|n| image(r, &digest(n))).collect(), "").await;
    for n in 1..=3 {
        sign(&s.registry, &s.synthetic, &digest(n));
    }
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let a = Arc::clone(&s.attestor);
            tokio::spawn(async move { a.attest(Pid(20_000 + i)).await })
        })
        .collect();
    for t in tasks {
        let att = t.await.unwrap().unwrap();
        assert!(att.selectors().iter().any(|v| v.to_string() == "k8s:image-signature:verified"));
    }
    let verifier = s.attestor.gatherer().sigstore().unwrap();
    assert_eq!(verifier.evaluations(), 3, "60 concurrent attestations of 3 images: 3 verifications");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_image_fails_with_spires_internal_message() {
    let s = setup(1, |r| vec![image(r, &digest(2))], "").await;
    let e = s.attestor.attest(Pid(20_000)).await.unwrap_err();
    let want = format!(
        "error verifying sigstore image signature for imageID {}: no signatures found",
        image(&s.registry, &digest(2))
    );
    assert_eq!(e.to_string(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_on_failure_fact_the_failure_is_a_fact_and_no_selector_leaves() {
    let s = setup(1, |r| vec![image(r, &digest(2))], "on_failure = \"fact\"").await;
    let att = s.attestor.attest(Pid(20_000)).await.unwrap();
    assert!(!att.selectors().iter().any(|v| v.to_string().starts_with("k8s:image-signature")));
    let facts = att.workload().kubernetes.as_ref().unwrap().container.as_ref().unwrap().image.sigstore.clone().unwrap();
    assert!(!facts.verified);
    assert!(facts.failure.unwrap().ends_with("no signatures found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_copied_from_another_image_is_refused() {
    // SPIRE's cosign accepts a valid layer of image 1 served under image 3's `.sig` tag; the
    // signed payload names image 1, so attestor refuses it.
    let s = setup(1, |r| vec![image(r, &digest(3))], "ignore_attestations = true").await;
    let mut options = SignOptions::keyless(&digest(1), Subject::Uri(WORKFLOW.into()), ACTIONS);
    options.docker_reference = format!("{}/{REPO}", s.registry.host());
    let sig = s.synthetic.legacy_signature(&options);
    s.registry.put_legacy_signatures(REPO, &digest(3), vec![Layer::simple_signing(sig.payload, sig.annotations)]);
    let e = s.attestor.attest(Pid(20_000)).await.unwrap_err().to_string();
    assert!(e.contains("no matching signatures: tag sha256-"), "{e}");
    assert!(
        e.contains(&digest(1)) || e.contains("docker-manifest-digest"),
        "the refusal names the digest binding: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_image_gets_no_selectors_no_facts_and_no_request() {
    // The registry's port is only known once it runs: a second attestor skips by the exact imageID.
    let s = setup(1, |r| vec![image(r, &digest(4))], "").await;
    let id = image(&s.registry, &digest(4));
    let config = format!(
        "kubelet_read_only_port = {}\nunix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\nsigstore {{\n  skipped_images = [\"{id}\"]\n}}\n",
        s.kubelet.port()
    );
    let c = Config::parse_with_env(&config, s._dir.path(), &|_| None).unwrap();
    let rt = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
    let a = Arc::new(Attestor::new(&c, rt, s._dir.path(), SourceMode::Enabled).unwrap());
    let att = a.attest(Pid(20_000)).await.unwrap();
    assert!(!att.selectors().iter().any(|v| v.to_string().starts_with("k8s:image-signature")));
    assert!(att.workload().kubernetes.as_ref().unwrap().container.as_ref().unwrap().image.sigstore.is_none());
    assert_eq!(s.registry.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_one_names_the_container_and_keeps_only_listed_subjects() {
    let block = format!(
        r#"experimental {{
  sigstore {{
    rekor_url = "https://rekor.sigstore.dev/"
    allowed_subjects_list = {{
      "{ACTIONS}" = ["{WORKFLOW}"]
    }}
    trusted_root = "trusted_root.json"
    registry_ca_path = "registry-ca.pem"
  }}
}}
"#
    );
    let s = setup_with(1, |r| vec![image(r, &digest(5))], &block).await;
    sign(&s.registry, &s.synthetic, &digest(5));
    let att = s.attestor.attest(Pid(20_000)).await.unwrap();
    let sels: Vec<String> = att.selectors().iter().map(ToString::to_string).collect();
    let c = cid(0);
    // Generation 1: cosign's CertSubject (e-mail, else URI), the Rekor body's signature, the
    // log ID and time, each prefixed by the container, then the trailer; no attestations.
    assert!(sels.contains(&format!("k8s:{c}:image-signature-subject:{WORKFLOW}")), "{sels:?}");
    for name in ["content", "logid", "integrated-time"] {
        assert!(sels.iter().any(|v| v.starts_with(&format!("k8s:{c}:image-signature-{name}:"))), "{name}: {sels:?}");
    }
    assert_eq!(sels.iter().filter(|v| *v == "k8s:sigstore-validation:passed").count(), 1, "{sels:?}");
    assert!(!sels.iter().any(|v| v.starts_with("k8s:image-signature")), "no generation-2 selector: {sels:?}");

    // A subject not on the list does not verify (cosign is given only the listed identities),
    // and the failure carries generation 1's message.
    let other = block.replace(WORKFLOW, "https://github.com/example/other.yml@refs/heads/main");
    let s = setup_with(1, |r| vec![image(r, &digest(5))], &other).await;
    sign(&s.registry, &s.synthetic, &digest(5));
    let e = s.attestor.attest(Pid(20_000)).await.unwrap_err().to_string();
    assert!(e.starts_with("error retrieving signature payload: no matching signatures: "), "{e}");
}
