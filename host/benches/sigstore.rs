//! Sigstore figures: verifying one signature (CPU), the first attestation of a pod with a new
//! image against a loopback HTTPS registry, what a cached verdict adds to a warm attestation,
//! and how many verifications 1,000 attestations of pods sharing 20 images cost.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use attestor::config::Config;
use attestor::facts::kubernetes::SourceMode;
use attestor::facts::sigstore::{
    AllowedIdentities, Artifact, Checks, Sha256Digest, Signer, TrustRoot, verify_bundle, verify_layer,
};
use attestor::pipeline::Attestor;
use attestor::sandbox::{Runtime, RuntimeSettings};
use attestor::workload::Pid;

use super::common::kubelet::{Behaviour, FakeKubelet, Transport, pod, pod_list};
use super::common::{STATUS_1000, fake_proc};
use super::registry::{Auth, FakeRegistry, Layer};
use super::synth::{AttestOptions, SignOptions, Subject, Synthetic};
use super::{iters, measure, report};

const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const REPO: &str = "team/app";
const FIRST_PID: u32 = 30_000;

fn digest(n: usize) -> String {
    format!("sha256:{n:064x}")
}

/// Verifying one signature, no network: a keyless legacy `.sig` layer (synthetic deployment)
/// and the real cosign v3 bundle of kubewarden-controller v1.34.0 (public-good root).
fn verification() {
    let synthetic = Synthetic::new();
    let root = TrustRoot::from_json(&synthetic.trusted_root_json()).unwrap();
    let image = digest(1);
    let layer = synthetic.legacy_signature(&SignOptions::keyless(&image, Subject::Uri(WORKFLOW.into()), ACTIONS));
    let image: Sha256Digest = image.parse().unwrap();
    let any = AllowedIdentities::any();
    let s = measure(iters(500), || {
        verify_layer(&root, &layer.layer(), &image, Signer::Keyless(&any), Checks::default()).unwrap();
    });
    report("sigstore: verify one legacy .sig layer (keyless, CPU)", &s);

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/facts/sigstore/testdata");
    let root = TrustRoot::from_file(&data.join("trusted_root/production.json")).unwrap();
    let bundle = std::fs::read_to_string(data.join("cosign-v3/kubewarden-controller-v1.34.0.sigstore.json")).unwrap();
    let image: Sha256Digest =
        "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172".parse().unwrap();
    let s = measure(iters(500), || {
        verify_bundle(&root, &bundle, Artifact::Digest(image), Signer::Keyless(&any), Checks::default()).unwrap();
    });
    report("sigstore: verify one cosign v3 bundle (keyless, CPU)", &s);
}

/// A node of `n` pods; pod `i` runs image `i % images`, each signed (`.sig` and `.att`).
struct Node {
    _dir: tempfile::TempDir,
    registry: FakeRegistry,
    kubelet: FakeKubelet,
    config: String,
    proc_root: std::path::PathBuf,
}

async fn node(n: usize, images: usize) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let registry = FakeRegistry::start(Auth::Anonymous).await;
    let synthetic = Synthetic::new();
    for i in 0..images {
        let mut options = SignOptions::keyless(&digest(i), Subject::Uri(WORKFLOW.into()), ACTIONS);
        options.docker_reference = format!("{}/{REPO}", registry.host());
        let sig = synthetic.legacy_signature(&options);
        registry.put_legacy_signatures(REPO, &digest(i), vec![Layer::simple_signing(sig.payload, sig.annotations)]);
        let att = synthetic.legacy_attestation(&AttestOptions::new(options, "https://slsa.dev/provenance/v1"));
        registry.put_legacy_attestations(REPO, &digest(i), vec![Layer::dsse(att.payload, att.annotations)]);
    }
    let proc_root = dir.path().join("proc");
    let pods: Vec<_> = (0..n)
        .map(|i| {
            let uid = format!("{i:08x}-1b1a-4b1e-9c1e-1234567890ab");
            let cid = format!("{i:064x}");
            let cgroup = format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{cid}.scope\n",
                uid.replace('-', "_")
            );
            fake_proc(&proc_root, FIRST_PID + i as u32, 777, Some(STATUS_1000), None, Some(&cgroup));
            let mut p = pod(&uid, "team", &format!("app-{i}"), "app", &cid);
            p["status"]["containerStatuses"][0]["imageID"] = format!("{}/{REPO}@{}", registry.host(), digest(i % images)).into();
            p
        })
        .collect();
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    std::fs::write(dir.path().join("trusted_root.json"), synthetic.trusted_root_json()).unwrap();
    std::fs::write(dir.path().join("registry-ca.pem"), registry.ca_pem()).unwrap();
    let config = format!(
        "kubelet_read_only_port = {}\nunix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n",
        kubelet.port()
    );
    Node { _dir: dir, registry, kubelet, config, proc_root }
}

impl Node {
    fn attestor(&self, sigstore: bool) -> Arc<Attestor> {
        let block = "sigstore {\n  trusted_root = \"trusted_root.json\"\n  registry_ca_path = \"registry-ca.pem\"\n}\n";
        let text = if sigstore { format!("{}{block}", self.config) } else { self.config.clone() };
        let config = Config::parse_with_env(&text, self._dir.path(), &|_| None).unwrap();
        let rt = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
        Arc::new(Attestor::new(&config, rt, &self.proc_root, SourceMode::Enabled).unwrap())
    }
}

/// First attestations (every pod a new image), then warm ones with and without the block.
fn attestations(tokio: &tokio::runtime::Runtime) {
    let n = iters(100).min(200);
    let node = tokio.block_on(node(n, n));
    let a = tokio.block_on(async { node.attestor(true) });
    // The pod list is fetched once first, so the figure is the registry and verification alone.
    tokio.block_on(async { node.attestor(false).attest(Pid(FIRST_PID)).await.unwrap() });
    let before = node.registry.requests();
    let mut samples = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        tokio.block_on(a.attest(Pid(FIRST_PID + i as u32))).unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "{:<58} median {:>9.1} µs   p99 {:>9.1} µs   ({n} images, {:.1} registry requests each)",
        "sigstore: first attestation of a pod with a new image",
        samples[n / 2].as_secs_f64() * 1e6,
        samples[(n * 99 / 100).min(n - 1)].as_secs_f64() * 1e6,
        (node.registry.requests() - before) as f64 / n as f64
    );
    let plain = node.attestor(false);
    for i in 0..n {
        tokio.block_on(plain.attest(Pid(FIRST_PID + i as u32))).unwrap();
    }
    let mut medians = Vec::new();
    for (label, attestor) in [("without a sigstore block", &plain), ("with a cached verdict", &a)] {
        let mut i = 0;
        let s = measure(iters(3000), || {
            tokio.block_on(attestor.attest(Pid(FIRST_PID + (i % n) as u32))).unwrap();
            i += 1;
        });
        report(&format!("sigstore: warm k8s attestation, {label}"), &s);
        medians.push(s.median);
    }
    if let [without, with] = medians[..] {
        let added = with.as_secs_f64() - without.as_secs_f64();
        println!(
            "{:<58} {:+.1} µs per attestation (difference of medians)",
            "sigstore: a cached verdict adds",
            added * 1e6
        );
    }
    let _ = &node.kubelet;
}

/// 1,000 attestations, 16 in flight, of 200 pods sharing 20 images, on a fresh attestor.
fn shared_images(tokio: &tokio::runtime::Runtime) {
    let node = tokio.block_on(node(200, 20));
    let a = tokio.block_on(async { node.attestor(true) });
    let t = Instant::now();
    tokio.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for k in 0..16u32 {
            let a = a.clone();
            set.spawn(async move {
                for n in (k..1000).step_by(16) {
                    a.attest(Pid(FIRST_PID + n % 200)).await.unwrap();
                }
            });
        }
        while set.join_next().await.is_some() {}
    });
    let verifier = a.gatherer().sigstore().unwrap();
    println!(
        "{:<58} {} verifications, {} registry requests, {:.0} ms in all",
        "sigstore: 1,000 attestations of 200 pods sharing 20 images",
        verifier.evaluations(),
        verifier.registry_requests(),
        t.elapsed().as_secs_f64() * 1e3
    );
}

/// Every Sigstore figure.
pub fn bench() {
    verification();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    attestations(&tokio);
    shared_images(&tokio);
}
