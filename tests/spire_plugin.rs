//! The SPIRE plugin surface, driven exactly as SPIRE's loader drives it: environment, handshake
//! line, dial, broker stream with a `ConnInfo`, stdio stream, health, `Init`, `Configure` with
//! HCL as SPIRE reprints it, `Attest` against a loopback kubelet, `Deinit`, `Shutdown`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/apiserver.rs"]
mod apiserver;
mod common;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/sigstore_synth.rs"]
mod synth;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use attestor::spire::proto::plugin::{
    ConnInfo, Empty, grpc_broker_client::GrpcBrokerClient, grpc_controller_client::GrpcControllerClient,
    grpc_stdio_client::GrpcStdioClient,
};
use attestor::spire::proto::spire::plugin::agent::workloadattestor::v1::{
    self as wa, workload_attestor_client::WorkloadAttestorClient,
};
use attestor::spire::proto::spire::service::common::config::v1::{self as cfg, config_client::ConfigClient};
use attestor::spire::proto::spire::service::private::init::v1::{self as init, init_client::InitClient};
use common::kubelet::{Behaviour, FakeKubelet, Transport, pod_list};
use common::plugin::{Plugin, attest, configure, fake_node, plugin_data};
use common::{guest, sha256};
use registry::{Auth, FakeRegistry, Layer};
use synth::{AttestOptions, SignOptions, Subject, Synthetic};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

#[test]
fn without_the_cookie_it_tells_a_human_and_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_attestor"))
        .args(["plugin", "workload-attestor"])
        .env_remove("WorkloadAttestor")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no handshake: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("meant to be launched by SPIRE") && err.contains("WorkloadAttestor=WorkloadAttestor"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_as_spire_drives_it() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let pods = fake_node(node.path(), 3);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;

    // go-plugin's background streams: broker (SPIRE sends its host-services address) and stdio.
    let (broker_tx, broker_rx) = tokio::sync::mpsc::channel(4);
    broker_tx
        .send(ConnInfo {
            service_id: 1,
            network: "unix".into(),
            address: "/tmp/plugin-host-services".into(),
            knock: None,
        })
        .await
        .unwrap();
    let broker =
        GrpcBrokerClient::new(ch.clone()).start_stream(ReceiverStream::new(broker_rx)).await.unwrap().into_inner();
    let stdio = GrpcStdioClient::new(ch.clone()).stream_stdio(()).await.unwrap().into_inner();

    // Health: `plugin` is SERVING.
    let health = tonic_health::pb::health_client::HealthClient::new(ch.clone())
        .check(tonic_health::pb::HealthCheckRequest { service: "plugin".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // Init: the plugin names its services exactly.
    let names = InitClient::new(ch.clone())
        .init(init::InitRequest { host_service_names: vec!["spire.hostservice.common.metrics.v1.Metrics".into()] })
        .await
        .unwrap()
        .into_inner()
        .plugin_service_names;
    assert_eq!(
        names,
        ["spire.plugin.agent.workloadattestor.v1.WorkloadAttestor", "spire.service.common.config.v1.Config"]
    );

    // Attest before Configure.
    let err = attest(&ch, 10_000).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "not configured"));

    // Validate: bad HCL is `valid = false` with notes, not an error.
    let v = ConfigClient::new(ch.clone())
        .validate(cfg::ValidateRequest {
            core_configuration: None,
            hcl_configuration: "\"kubelet_read_only_port\" = 1\n\"kubelet_secure_port\" = 2\n\"bogus\" = 3\n".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!v.valid);
    assert_eq!(v.notes, ["unknown configurations detected: bogus", "cannot use both the read-only and secure port"]);

    // Configure with bad HCL: InvalidArgument.
    let err = configure(&ch, "kubelet_read_only_port = ").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("unable to decode configuration: "), "{}", err.message());

    // Configure for real, then Attest against the loopback kubelet.
    configure(&ch, &plugin_data(kubelet.port(), node.path(), "")).await.unwrap();
    let values = attest(&ch, 10_001).await.unwrap();
    for want in ["ns:team", "sa:app-sa", "pod-name:app-1", "container-name:app", "unix:uid:1000"] {
        assert!(values.contains(&want.to_owned()), "{want} not in {values:?}");
    }
    assert!(!values.iter().any(|v| v.starts_with("k8s:")), "k8s values are bare: SPIRE adds the block name");

    // AttestReference: UNIMPLEMENTED, so SPIRE falls back to Attest.
    let err = WorkloadAttestorClient::new(ch.clone())
        .attest_reference(wa::AttestReferenceRequest { reference: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // A PID that does not exist.
    assert_eq!(attest(&ch, 999_999).await.unwrap_err().code(), Code::NotFound);

    // Reconfigure with spiffe-id selectors.
    configure(&ch, &plugin_data(kubelet.port(), node.path(), "\"policy\" {\n  \"spiffe_id_selectors\" = true\n}\n"))
        .await
        .unwrap();
    let values = attest(&ch, 10_002).await.unwrap();
    assert!(values.contains(&"spiffe-id:spiffe://example.org/ns/team/sa/app-sa".to_owned()), "{values:?}");

    // A bad reconfiguration is refused and the previous one keeps serving.
    let err =
        configure(&ch, &plugin_data(kubelet.port(), node.path(), "\"policy\" {\n  \"dir\" = \"/nonexistent\"\n}\n"))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(attest(&ch, 10_002).await.unwrap().iter().any(|v| v.starts_with("spiffe-id:")));

    // Unload: Deinit, broker closed, Shutdown; exit 0 within 2 s, socket gone.
    InitClient::new(ch.clone()).deinit(init::DeinitRequest {}).await.unwrap();
    drop(broker_tx);
    drop(broker);
    drop(stdio);
    let asked = Instant::now();
    GrpcControllerClient::new(ch.clone()).shutdown(Empty {}).await.unwrap();
    let status = plugin.wait_exit(Duration::from_secs(2)).expect("the plugin exits within 2 s of Shutdown");
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(!plugin.socket.exists(), "socket removed");
    let logs = plugin.check_logs();
    assert!(logs.iter().any(|l| l["@message"] == "workload attested" && l["pid"] == 10_001), "structured pid field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attests_and_reconfiguration_under_load() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let pods = fake_node(node.path(), 200);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    configure(&ch, &plugin_data(kubelet.port(), node.path(), "")).await.unwrap();

    // 200 concurrent Attest calls, each answered with its own pod.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let ch = ch.clone();
            tokio::spawn(async move { (i, attest(&ch, 10_000 + i).await) })
        })
        .collect();
    for c in calls {
        let (i, r) = c.await.unwrap();
        let values = r.unwrap();
        assert!(values.contains(&format!("pod-name:app-{i}")), "{values:?}");
    }
    assert_eq!(kubelet.requests(), 1, "one kubelet request for 200 concurrent attestations");

    // Reconfigure twice while 200 more calls are in flight: every call answers, from one
    // generation or the other.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let ch = ch.clone();
            tokio::spawn(async move { attest(&ch, 10_000 + i).await })
        })
        .collect();
    configure(&ch, &plugin_data(kubelet.port(), node.path(), "\"policy\" {\n  \"spiffe_id_selectors\" = true\n}\n"))
        .await
        .unwrap();
    configure(&ch, &plugin_data(kubelet.port(), node.path(), "")).await.unwrap();
    for c in calls {
        let values = c.await.unwrap().unwrap();
        assert!(values.contains(&"ns:team".to_owned()));
    }
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_traps_fails_the_attest() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let pods = fake_node(node.path(), 1);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let panic = guest("hostile-panic");
    let module = format!(
        "\"module\" \"p\" {{\n  \"path\" = \"{}\"\n  \"sha256\" = \"{}\"\n}}\n",
        panic.display(),
        sha256(&panic)
    );
    configure(&ch, &plugin_data(kubelet.port(), node.path(), &module)).await.unwrap();
    let err = attest(&ch, 10_000).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(
        err.message(),
        "module `p` trapped: panicked: boom: hostile module refuses pid 10000 at hostile/panic/src/lib.rs:12:9"
    );
    // A wrong module pin is a configuration error.
    let bad = module.replace(&sha256(&panic), &"0".repeat(64));
    let err = configure(&ch, &plugin_data(kubelet.port(), node.path(), &bad)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("but the config pins 0000"), "{}", err.message());
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some());
    let logs = plugin.check_logs();
    assert!(
        logs.iter().any(|l| l["@level"] == "error" && l["module"] == "p"),
        "the guest's panic is logged with its module"
    );
}

#[test]
fn sigterm_stops_the_plugin_sigint_and_sighup_do_not() {
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    assert!(plugin.socket.exists());
    let pid = plugin.child.id();
    let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
    std::thread::sleep(Duration::from_millis(200));
    assert!(plugin.child.try_wait().unwrap().is_none(), "SIGINT is ignored (a Ctrl-C meant for SPIRE)");
    let _ = Command::new("kill").args(["-HUP", &pid.to_string()]).status();
    std::thread::sleep(Duration::from_millis(200));
    assert!(plugin.child.try_wait().unwrap().is_none(), "SIGHUP before any configuration does not kill the plugin");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    assert!(!plugin.socket.exists());
}

/// The `plugin_data` of the `kind "label"` block of `examples/spire/<file>`, re-printed as
/// SPIRE re-prints it.
fn example_plugin_data(file: &str, kind: &str, label: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/spire").join(file);
    let body = hcl::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let plugins = body.blocks().find(|b| b.identifier() == "plugins").unwrap();
    let block = plugins.body().blocks().find(|b| b.identifier() == kind && b.labels()[0].as_str() == label).unwrap();
    let data = block.body().blocks().find(|b| b.identifier() == "plugin_data").unwrap();
    hcl::to_string(data.body()).unwrap()
}

/// `Validate` of `hcl` with trust domain example.org.
async fn validate(ch: &tonic::transport::Channel, hcl: String) -> cfg::ValidateResponse {
    ConfigClient::new(ch.clone())
        .validate(cfg::ValidateRequest {
            core_configuration: Some(cfg::CoreConfiguration { trust_domain: "example.org".into() }),
            hcl_configuration: hcl,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The example agent configuration's plugin_data, re-printed as SPIRE would hand it over,
/// validates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_agent_configuration_validates() {
    let printed = example_plugin_data("agent.conf", "WorkloadAttestor", "k8s");
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let v = validate(&ch, printed).await;
    assert!(v.valid, "{:?}", v.notes);
    assert!(v.notes.is_empty(), "{:?}", v.notes);
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some());
}

fn rule(version: &str) -> String {
    format!(
        "@id(\"by-namespace\")\n@spiffe_id(\"spiffe://{{trust_domain}}/{version}/{{k8s.namespace}}\")\npermit (principal, action == Attest::Action::\"propose\", resource)\nwhen {{ principal has k8s }};\n"
    )
}

/// Attest until the answer holds `want` (a reload is asynchronous), or give up after `limit`.
async fn attest_until(ch: &Channel, pid: i32, want: &str, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let values = attest(ch, pid).await.unwrap();
        if values.iter().any(|v| v == want) || start.elapsed() > limit {
            return values;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Log lines whose message contains `needle`.
fn logged(plugin: &Plugin, needle: &str) -> Vec<String> {
    plugin.stderr.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
}

async fn wait_logged(plugin: &Plugin, needle: &str, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    while logged(plugin, needle).is_empty() && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    logged(plugin, needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_reload_on_change_and_sighup_and_a_bad_generation_is_refused() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let live = tempfile::tempdir().unwrap();
    let shadow = tempfile::tempdir().unwrap();
    let pods = fake_node(node.path(), 1);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    std::fs::write(live.path().join("rules.cedar"), rule("v1")).unwrap();
    std::fs::write(shadow.path().join("rules.cedar"), rule("candidate")).unwrap();
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let policy = |interval: &str| {
        format!(
            "\"policy\" {{\n  \"dir\" = \"{}\"\n  \"shadow_dir\" = \"{}\"\n  \"spiffe_id_selectors\" = true\n  \"reload_interval\" = \"{interval}\"\n}}\n",
            live.path().display(),
            shadow.path().display()
        )
    };
    configure(&ch, &plugin_data(kubelet.port(), node.path(), &policy("100ms"))).await.unwrap();
    let v1 = "spiffe-id:spiffe://example.org/v1/team";
    assert!(attest(&ch, 10_000).await.unwrap().contains(&v1.to_owned()));

    // The shadow set decides differently: logged, never answered.
    let diff = wait_logged(&plugin, "shadow policies decide differently", Duration::from_secs(10)).await;
    assert!(
        diff.iter().any(|l| l.contains("spiffe://example.org/candidate/team: issued by shadow, not by live")),
        "{diff:?}"
    );
    // Every attestation left an audit record in the log, with the generation hash.
    let audit = logged(&plugin, "policy_generation");
    assert!(!audit.is_empty() && audit[0].contains("sha256:"), "{audit:?}");

    // A change on disk is picked up without a Configure.
    std::fs::write(live.path().join("rules.cedar"), rule("v2")).unwrap();
    let v2 = "spiffe-id:spiffe://example.org/v2/team";
    let values = attest_until(&ch, 10_000, v2, Duration::from_secs(20)).await;
    assert!(values.contains(&v2.to_owned()), "{values:?}");
    assert!(!values.contains(&v1.to_owned()), "one generation at a time: {values:?}");
    assert!(
        !wait_logged(&plugin, "new policy and module generation in force", Duration::from_secs(5)).await.is_empty()
    );

    // A broken file: refused once, logged once, and the old generation keeps answering.
    std::fs::write(live.path().join("broken.cedar"), "@id(\"x\") permit (principal,").unwrap();
    let refused = wait_logged(&plugin, "new generation refused", Duration::from_secs(20)).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("broken.cedar:1"), "the log names the file and line: {refused:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        logged(&plugin, "new generation refused").len(),
        1,
        "the same bad files are not re-logged every interval"
    );
    assert!(attest(&ch, 10_000).await.unwrap().contains(&v2.to_owned()));
    std::fs::remove_file(live.path().join("broken.cedar")).unwrap();

    // SIGHUP reloads at once, even with a long interval; the plugin survives the signal.
    configure(&ch, &plugin_data(kubelet.port(), node.path(), &policy("1h"))).await.unwrap();
    std::fs::write(live.path().join("rules.cedar"), rule("v3")).unwrap();
    let v3 = "spiffe-id:spiffe://example.org/v3/team";
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(attest(&ch, 10_000).await.unwrap().contains(&v2.to_owned()), "an hour has not passed");
    let status = Command::new("kill").args(["-HUP", &plugin.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let values = attest_until(&ch, 10_000, v3, Duration::from_secs(20)).await;
    assert!(values.contains(&v3.to_owned()), "{values:?}");
    assert!(!logged(&plugin, "SIGHUP: reloading").is_empty());

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const REPO: &str = "team/app";

/// A `sigstore` block as SPIRE's HCL v1 printer re-prints it (quoted keys), trusting the
/// synthetic root in `dir`, the registry's CA, and the example workflow.
fn sigstore_block(dir: &Path) -> String {
    format!(
        "\"sigstore\" {{\n  \"allowed_identities\" = {{\n    \"{ACTIONS}\" = [\"^https://github.com/example/\"]\n  }}\n  \"trusted_root\" = \"{}\"\n  \"registry_ca_path\" = \"{}\"\n}}\n",
        dir.join("trusted_root.json").display(),
        dir.join("registry-ca.pem").display()
    )
}

/// A keyless `.sig` and a provenance `.att` layer for `digest`, signed by the example workflow.
fn sign(registry: &FakeRegistry, synthetic: &Synthetic, digest: &str) {
    let mut options = SignOptions::keyless(digest, Subject::Uri(WORKFLOW.into()), ACTIONS);
    options.docker_reference = format!("{}/{REPO}", registry.host());
    let sig = synthetic.legacy_signature(&options);
    registry.put_legacy_signatures(REPO, digest, vec![Layer::simple_signing(sig.payload, sig.annotations)]);
    let att = synthetic.legacy_attestation(&AttestOptions::new(options, PROVENANCE));
    registry.put_legacy_attestations(REPO, digest, vec![Layer::dsse(att.payload, att.annotations)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigstore_block_verifies_the_pods_image_as_spire_does() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let trust = tempfile::tempdir().unwrap();
    let registry = FakeRegistry::start(Auth::Anonymous).await;
    let synthetic = Synthetic::new();
    std::fs::write(trust.path().join("trusted_root.json"), synthetic.trusted_root_json()).unwrap();
    std::fs::write(trust.path().join("registry-ca.pem"), registry.ca_pem()).unwrap();
    let (signed, unsigned) = (format!("sha256:{}", "01".repeat(32)), format!("sha256:{}", "02".repeat(32)));
    sign(&registry, &synthetic, &signed);
    let image = |d: &str| format!("{}/{REPO}@{d}", registry.host());

    // Pod 0 (pid 10000) runs the signed image, pod 1 (pid 10001) the unsigned one.
    let mut pods = fake_node(node.path(), 2);
    pods[0]["status"]["containerStatuses"][0]["imageID"] = image(&signed).into();
    pods[1]["status"]["containerStatuses"][0]["imageID"] = image(&unsigned).into();
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    configure(&ch, &plugin_data(kubelet.port(), node.path(), &sigstore_block(trust.path()))).await.unwrap();

    // SPIRE's selectors, bare (SPIRE adds `k8s:`), in SPIRE's order, beside the pod's own.
    let values = attest(&ch, 10_000).await.unwrap();
    assert!(values.contains(&"pod-name:app-0".to_owned()), "{values:?}");
    let sig: Vec<&String> = values.iter().filter(|v| v.starts_with("image-")).collect();
    assert_eq!(sig[0], "image-signature:verified", "{values:?}");
    assert_eq!(sig[1], "image-attestations:verified", "{values:?}");
    assert_eq!(sig[2], &format!("image-signature-subject:{WORKFLOW}"), "{values:?}");
    assert_eq!(sig[3], &format!("image-signature-issuer:{ACTIONS}"), "{values:?}");
    for name in ["value", "log-id", "log-index", "integrated-time", "signed-entry-timestamp"] {
        assert!(values.iter().any(|v| v.starts_with(&format!("image-signature-{name}:"))), "{name}: {values:?}");
    }
    assert!(!values.iter().any(|v| v.starts_with("k8s:")), "{values:?}");

    // An unsigned image: SPIRE's Internal error, word for word.
    let err = attest(&ch, 10_001).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(
        err.message(),
        format!("error verifying sigstore image signature for imageID {}: no signatures found", image(&unsigned))
    );

    // A second attestation of the signed pod is answered from the cache.
    let before = registry.requests();
    assert_eq!(attest(&ch, 10_000).await.unwrap(), values);
    assert_eq!(registry.requests(), before, "a verified image is not fetched again");

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigstore_block_with_a_missing_trusted_root_fails_configure() {
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let trust = tempfile::tempdir().unwrap();
    std::fs::write(trust.path().join("registry-ca.pem"), "").unwrap();
    let pods = fake_node(node.path(), 1);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let err =
        configure(&ch, &plugin_data(kubelet.port(), node.path(), &sigstore_block(trust.path()))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let root = trust.path().join("trusted_root.json").display().to_string();
    assert!(
        err.message().starts_with("error initializing sigstore verifier: ") && err.message().contains(&root),
        "{}",
        err.message()
    );
    // Nothing was configured.
    let err = attest(&ch, 10_000).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "not configured"));
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some());
    plugin.check_logs();
}

/// One `AidAttestation` as SPIRE's agent runs it: open the stream, send nothing, read every
/// message until the plugin ends the stream.
async fn aid_attestation(ch: &Channel) -> Result<Vec<Vec<u8>>, tonic::Status> {
    use attestor::spire::proto::spire::plugin::agent::nodeattestor::v1::{
        self as na, node_attestor_client::NodeAttestorClient,
    };
    let (_challenges, rx) = tokio::sync::mpsc::channel::<na::Challenge>(1);
    let mut stream = NodeAttestorClient::new(ch.clone()).aid_attestation(ReceiverStream::new(rx)).await?.into_inner();
    let mut payloads = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.data {
            Some(na::payload_or_challenge_response::Data::Payload(p)) => payloads.push(p),
            other => panic!("a payload, never a challenge response: {other:?}"),
        }
    }
    Ok(payloads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_k8s_psat_agent_role_sends_spire_s_payload() {
    let sockets = tempfile::tempdir().unwrap();
    let tokens = tempfile::tempdir().unwrap();
    let token_path = tokens.path().join("spire-agent");
    let plugin = Plugin::start("node-attestor-agent", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;

    let names = InitClient::new(ch.clone())
        .init(init::InitRequest { host_service_names: Vec::new() })
        .await
        .unwrap()
        .into_inner()
        .plugin_service_names;
    assert_eq!(names, ["spire.plugin.agent.nodeattestor.v1.NodeAttestor", "spire.service.common.config.v1.Config"]);

    let err = aid_attestation(&ch).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "not configured"));

    // SPIRE's Configure errors, then plugin_data as SPIRE's HCL v1 printer re-prints it.
    let err = configure(&ch, "").await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing required cluster block"));
    let hcl = format!("\"cluster\" = \"production\"\n\"token_path\" = \"{}\"\n", token_path.display());
    configure(&ch, &hcl).await.unwrap();

    // Missing token file: SPIRE's InvalidArgument, Go's wording of the cause.
    let err = aid_attestation(&ch).await.unwrap_err();
    let p = token_path.display();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, format!("unable to load token from {p}: open {p}: no such file or directory").as_str())
    );

    // One payload, byte for byte SPIRE's, then the stream ends; the file is read every time.
    std::fs::write(&token_path, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").unwrap();
    let payloads = aid_attestation(&ch).await.unwrap();
    assert_eq!(payloads, [br#"{"cluster":"production","token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}"#.to_vec()]);
    std::fs::write(&token_path, "rotated").unwrap();
    assert_eq!(aid_attestation(&ch).await.unwrap(), [br#"{"cluster":"production","token":"rotated"}"#.to_vec()]);

    plugin.check_logs();
}

/// One server `Attest` as SPIRE's server runs it: open the stream, send `first`, read the one
/// answer (the send side stays open, as SPIRE's does while it waits).
async fn node_attest(
    ch: &Channel,
    first: attestor::spire::proto::spire::plugin::server::nodeattestor::v1::attest_request::Request,
) -> Result<attestor::spire::proto::spire::plugin::server::nodeattestor::v1::AgentAttributes, tonic::Status> {
    use attestor::spire::proto::spire::plugin::server::nodeattestor::v1::{
        self as na, node_attestor_client::NodeAttestorClient,
    };
    let (requests, rx) = tokio::sync::mpsc::channel::<na::AttestRequest>(1);
    requests.send(na::AttestRequest { request: Some(first) }).await.unwrap();
    let mut stream = NodeAttestorClient::new(ch.clone()).attest(ReceiverStream::new(rx)).await?.into_inner();
    let answer = stream.message().await?;
    drop(requests);
    match answer.and_then(|a| a.response) {
        Some(na::attest_response::Response::AgentAttributes(attributes)) => Ok(attributes),
        other => panic!("agent attributes, never a challenge or nothing: {other:?}"),
    }
}

/// A `k8s_psat` payload as SPIRE's agent sends it.
fn psat_payload(
    cluster: &str,
    token: &str,
) -> attestor::spire::proto::spire::plugin::server::nodeattestor::v1::attest_request::Request {
    let json = serde_json::json!({"cluster": cluster, "token": token}).to_string();
    attestor::spire::proto::spire::plugin::server::nodeattestor::v1::attest_request::Request::Payload(json.into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_k8s_psat_server_role_attests_agents_as_spire_does() {
    use attestor::spire::proto::spire::plugin::server::nodeattestor::v1::attest_request::Request;
    const CALLER: &str = "server-token-1";
    const POD_UID: &str = "7f1c5e2a-0000-4000-8000-000000000001";
    let api = apiserver::FakeApiServer::start(CALLER).await;
    api.put_pod("spire", "spire-agent-x1", POD_UID, "node-1");
    api.put_node("node-1", "node-uid-1");
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("ca.pem");
    std::fs::write(&ca, api.ca_pem()).unwrap();
    let kubeconfig = files.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig(&ca, CALLER)).unwrap();

    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("node-attestor-server", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;
    let names = InitClient::new(ch.clone())
        .init(init::InitRequest { host_service_names: Vec::new() })
        .await
        .unwrap()
        .into_inner()
        .plugin_service_names;
    assert_eq!(names, ["spire.plugin.server.nodeattestor.v1.NodeAttestor", "spire.service.common.config.v1.Config"]);

    let token = api.issue(&apiserver::AgentToken::new("spire-agent-x1", POD_UID));
    let err = node_attest(&ch, psat_payload("production", &token)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "not configured"));

    // SPIRE's Configure: the core trust domain is required; no clusters is only a note.
    let err = ConfigClient::new(ch.clone())
        .configure(cfg::ConfigureRequest {
            core_configuration: Some(cfg::CoreConfiguration { trust_domain: String::new() }),
            hcl_configuration: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "server core configuration must contain trust_domain")
    );
    configure(&ch, "").await.unwrap();
    wait_logged(&plugin, "No clusters configured, PSAT attestation is effectively disabled", Duration::from_secs(5))
        .await;
    let err = node_attest(&ch, psat_payload("production", &token)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, r#"not configured for cluster "production""#));

    let hcl = format!(
        "\"clusters\" = {{\n  \"production\" = {{\n    \"service_account_allow_list\" = [\"spire:spire-agent\"]\n    \"kube_config_file\" = \"{}\"\n    \"allowed_node_label_keys\" = [\"pool\"]\n    \"allowed_pod_label_keys\" = [\"app\"]\n  }}\n}}\n",
        kubeconfig.display()
    );
    configure(&ch, &hcl).await.unwrap();

    // A valid agent token: SPIRE's agent ID, selectors in its order, can_reattest.
    let attributes = node_attest(&ch, psat_payload("production", &token)).await.unwrap();
    assert_eq!(attributes.spiffe_id, "spiffe://example.org/spire/agent/k8s_psat/production/node-uid-1");
    assert_eq!(
        attributes.selector_values,
        [
            "cluster:production",
            "agent_ns:spire",
            "agent_sa:spire-agent",
            "agent_pod_name:spire-agent-x1",
            &format!("agent_pod_uid:{POD_UID}"),
            "agent_node_ip:10.0.0.7",
            "agent_node_name:node-1",
            "agent_node_uid:node-uid-1",
            "agent_node_label:pool:general",
            "agent_pod_label:app:spire-agent",
        ]
    );
    assert!(attributes.can_reattest);
    let asked: Vec<String> = api.log().iter().map(|l| format!("{} {}", l.method, l.path)).collect();
    assert_eq!(
        asked,
        [
            "POST /apis/authentication.k8s.io/v1/tokenreviews",
            "GET /api/v1/namespaces/spire/pods/spire-agent-x1",
            "GET /api/v1/nodes/node-1",
        ]
    );

    // A service account not on the allow-list: SPIRE's PermissionDenied, no pod or node read.
    let mut other = apiserver::AgentToken::new("spire-agent-x1", POD_UID);
    other.service_account = "intruder".into();
    let err = node_attest(&ch, psat_payload("production", &api.issue(&other))).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, r#""spire:intruder" is not an allowed service account for cluster "production""#)
    );
    assert_eq!(api.requests(), 4);

    // An unknown cluster, a challenge response first, a message over the limit.
    let err = node_attest(&ch, psat_payload("elsewhere", &token)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, r#"not configured for cluster "elsewhere""#));
    let err = node_attest(&ch, Request::ChallengeResponse(b"x".to_vec())).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing attestation payload"));
    let huge = vec![b'x'; attestor::spire::node_server::MAX_MESSAGE_BYTES + 1];
    let err = node_attest(&ch, Request::Payload(huge)).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().len() < 200, "{err:?}");
    // Still serving.
    assert!(node_attest(&ch, psat_payload("production", &token)).await.is_ok());

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

/// The `NodeAttestor "k8s_psat"` server block of `examples/spire/server.conf`, re-printed as
/// SPIRE re-prints it, validates against the server role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_server_configuration_validates() {
    let printed = example_plugin_data("server.conf", "NodeAttestor", "k8s_psat");
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("node-attestor-server", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;
    let v = validate(&ch, printed).await;
    assert!(v.valid, "{:?}", v.notes);
    assert!(v.notes.is_empty(), "{:?}", v.notes);
    // No clusters: valid, with SPIRE's note.
    let v = validate(&ch, String::new()).await;
    assert!(v.valid, "{:?}", v.notes);
    assert_eq!(v.notes, ["No clusters configured, PSAT attestation is effectively disabled"]);
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some());
}

/// The pod UID of agent `n`'s pod.
fn agent_pod_uid(n: usize) -> String {
    format!("7f1c5e2a-0000-4000-8000-{n:012}")
}

/// A fake API server holding two agents of `spire/spire-agent`: `spire-agent-x<n>` on `node-<n>`
/// (node UID `node-uid-<n>`) for n = 1, 2, and a kubeconfig reaching it. The fake labels every
/// node `pool: general` (and every pod `app: spire-agent`).
struct AgentCluster {
    api: apiserver::FakeApiServer,
    kubeconfig: std::path::PathBuf,
    _files: tempfile::TempDir,
}

impl AgentCluster {
    const CALLER: &'static str = "server-token-1";

    async fn start() -> Self {
        let api = apiserver::FakeApiServer::start(Self::CALLER).await;
        for n in 1..=2 {
            api.put_pod("spire", &format!("spire-agent-x{n}"), &agent_pod_uid(n), &format!("node-{n}"));
            api.put_node(&format!("node-{n}"), &format!("node-uid-{n}"));
        }
        let files = tempfile::tempdir().unwrap();
        let ca = files.path().join("ca.pem");
        std::fs::write(&ca, api.ca_pem()).unwrap();
        let kubeconfig = files.path().join("kubeconfig");
        std::fs::write(&kubeconfig, api.kubeconfig(&ca, Self::CALLER)).unwrap();
        Self { api, kubeconfig, _files: files }
    }

    /// Agent `n`'s payload for cluster `production`.
    fn payload(
        &self,
        n: usize,
    ) -> attestor::spire::proto::spire::plugin::server::nodeattestor::v1::attest_request::Request {
        psat_payload(
            "production",
            &self.api.issue(&apiserver::AgentToken::new(&format!("spire-agent-x{n}"), &agent_pod_uid(n))),
        )
    }

    /// plugin_data as SPIRE re-prints it: cluster `production` allowing `spire:spire-agent`,
    /// then `extra` (attestor's blocks).
    fn plugin_data(&self, extra: &str) -> String {
        format!(
            "\"clusters\" = {{\n  \"production\" = {{\n    \"service_account_allow_list\" = [\"spire:spire-agent\"]\n    \"kube_config_file\" = \"{}\"\n    \"allowed_node_label_keys\" = [\"pool\"]\n    \"allowed_pod_label_keys\" = [\"app\"]\n  }}\n}}\n{extra}",
            self.kubeconfig.display()
        )
    }
}

/// attestor's `policy { dir, reload_interval }` block (as SPIRE re-prints it).
fn node_policy_block(dir: &Path, reload_interval: &str) -> String {
    format!("\"policy\" {{\n  \"dir\" = \"{}\"\n  \"reload_interval\" = \"{reload_interval}\"\n}}\n", dir.display())
}

/// attestor's `audit { path }` block.
fn audit_block(path: &Path) -> String {
    format!("\"audit\" {{\n  \"path\" = \"{}\"\n}}\n", path.display())
}

/// The smallest `reload_interval` the configuration takes (`config::ranges::POLICY_RELOAD`).
const SMALLEST_RELOAD: &str = "100ms";

/// Every record in an audit file, each line checked to be one JSON object.
fn audit_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
        .collect()
}

/// Agent 2's node is drained: a gate on the node's `pool` label (every node of the fake is on
/// the general pool) and its name.
const DRAIN_GATE: &str = r#"@id("drain-node-2")
@reason("node-2 is being drained from the general pool")
forbid (principal, action == Attest::Action::"attest_node", resource)
when {
  principal.node.hasTag("pool") &&
  principal.node.getTag("pool") == "general" &&
  principal.node.name == "node-2"
};
"#;

/// A node identity rule naming the agent by its node's pool.
const BY_POOL: &str = r#"@id("by-pool")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/pool/{node_label:pool}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("pool") };
"#;

/// A node identity rule naming the agent by a label no node of the fake has.
const BY_RACK: &str = r#"@id("by-rack")
@spiffe_id("spiffe://{trust_domain}/spire/agent/rack/{node_label:rack}")
permit (principal, action == Attest::Action::"attest_node", resource);
"#;

/// SPIRE's selectors for agent `n` (as the existing server-role test pins them).
fn spire_selectors(n: usize) -> Vec<String> {
    [
        "cluster:production".to_owned(),
        "agent_ns:spire".to_owned(),
        "agent_sa:spire-agent".to_owned(),
        format!("agent_pod_name:spire-agent-x{n}"),
        format!("agent_pod_uid:{}", agent_pod_uid(n)),
        "agent_node_ip:10.0.0.7".to_owned(),
        format!("agent_node_name:node-{n}"),
        format!("agent_node_uid:node-uid-{n}"),
        "agent_node_label:pool:general".to_owned(),
        "agent_pod_label:app:spire-agent".to_owned(),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_policies_gate_and_name_agents_and_every_attestation_is_audited() {
    let cluster = AgentCluster::start().await;
    let policies = tempfile::tempdir().unwrap();
    let audit = tempfile::tempdir().unwrap();
    let audit_file = audit.path().join("audit.jsonl");
    std::fs::write(policies.path().join("gate.cedar"), DRAIN_GATE).unwrap();
    std::fs::write(policies.path().join("rules.cedar"), BY_POOL).unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("node-attestor-server", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;

    // Without node policies: SPIRE's agent ID.
    configure(&ch, &cluster.plugin_data(&audit_block(&audit_file))).await.unwrap();
    let spire = node_attest(&ch, cluster.payload(1)).await.unwrap();
    assert_eq!(spire.spiffe_id, "spiffe://example.org/spire/agent/k8s_psat/production/node-uid-1");
    assert_eq!(spire.selector_values, spire_selectors(1));

    // With them: the rule names agent 1, its selectors and can_reattest untouched.
    let extra = format!("{}{}", node_policy_block(policies.path(), "1h"), audit_block(&audit_file));
    configure(&ch, &cluster.plugin_data(&extra)).await.unwrap();
    let named = node_attest(&ch, cluster.payload(1)).await.unwrap();
    assert_eq!(named.spiffe_id, "spiffe://example.org/spire/agent/k8s_psat/production/pool/general/node-uid-1");
    assert_eq!(named.selector_values, spire.selector_values);
    assert_eq!(named.can_reattest, spire.can_reattest);
    assert!(named.can_reattest);

    // Agent 2's node is drained: PermissionDenied naming the agent, the policy and its reason.
    let err = node_attest(&ch, cluster.payload(2)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::PermissionDenied,
            r#"agent "spire:spire-agent" on node "node-2" in cluster "production" refused by node policy "drain-node-2" (node-2 is being drained from the general pool)"#
        )
    );

    // SPIRE's own checks come first: a service account off the allow-list never reaches them.
    let mut intruder = apiserver::AgentToken::new("spire-agent-x1", &agent_pod_uid(1));
    intruder.service_account = "intruder".into();
    let err = node_attest(&ch, psat_payload("production", &cluster.api.issue(&intruder))).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::PermissionDenied, r#""spire:intruder" is not an allowed service account for cluster "production""#)
    );

    // One record per attestation, in order, in the file (none in the log).
    let records = audit_records(&audit_file);
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in &records {
        assert_eq!(r["event"], "node_attestation", "{r}");
    }
    let agent = |n: usize| {
        serde_json::json!({
            "cluster": "production", "ns": "spire", "sa": "spire-agent",
            "pod": format!("spire-agent-x{n}"), "pod_uid": agent_pod_uid(n),
            "node": format!("node-{n}"), "node_uid": format!("node-uid-{n}"),
        })
    };
    // Without node policies: the agent and its ID, no decision.
    let r = &records[0];
    assert_eq!(r["agent"], agent(1));
    assert_eq!(r["agent_id"], spire.spiffe_id);
    assert!(r.get("node_decision").is_none() && r.get("policy_generation").is_none(), "{r}");
    assert!(r.get("failed").is_none(), "{r}");
    // Admitted under the rule's ID.
    let r = &records[1];
    let generation = r["policy_generation"].as_str().unwrap();
    assert!(generation.starts_with("sha256:"), "{r}");
    assert_eq!(r["agent"], agent(1));
    assert_eq!(r["agent_id"], named.spiffe_id);
    let d = &r["node_decision"];
    assert_eq!(
        (&d["decision"], &d["agent_id"], &d["rule"], &d["determining"]),
        (&"allow_as".into(), &named.spiffe_id.clone().into(), &"by-pool".into(), &serde_json::json!(["by-pool"])),
        "{r}"
    );
    assert!(d["eval_us"].is_u64(), "{r}");
    assert!(r.get("failed").is_none(), "{r}");
    // Refused by the gate.
    let r = &records[2];
    assert_eq!(r["policy_generation"], generation);
    assert_eq!(r["agent"], agent(2));
    let d = &r["node_decision"];
    assert_eq!(d["decision"], "deny", "{r}");
    assert_eq!(d["determining"], serde_json::json!(["drain-node-2"]), "{r}");
    assert_eq!(d["reasons"], serde_json::json!(["node-2 is being drained from the general pool"]), "{r}");
    assert_eq!(
        r["failed"],
        r#"agent "spire:spire-agent" on node "node-2" in cluster "production" refused by node policy "drain-node-2" (node-2 is being drained from the general pool)"#
    );
    assert_eq!((&r["code"], &r["fault"]), (&"PermissionDenied".into(), &"policy".into()), "{r}");
    assert!(r.get("agent_id").is_none(), "{r}");
    // Refused by SPIRE's allow-list: no agent, no decision.
    let r = &records[3];
    assert_eq!(r["failed"], r#""spire:intruder" is not an allowed service account for cluster "production""#);
    assert_eq!((&r["code"], &r["fault"]), (&"PermissionDenied".into(), &"workload".into()), "{r}");
    for absent in ["agent", "node_decision", "policy_generation", "agent_id"] {
        assert!(r.get(absent).is_none(), "{absent}: {r}");
    }
    assert!(logged(&plugin, "node_attestation").is_empty(), "records go to the audit file only");

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

/// Replace `dir/name` with `text` at once (written beside `scratch`, then renamed in), so the
/// watcher never reads a half-written file.
fn replace(dir: &Path, name: &str, text: &str, scratch: &Path) {
    let new = scratch.join(name);
    std::fs::write(&new, text).unwrap();
    std::fs::rename(&new, dir.join(name)).unwrap();
}

/// Wait until `count` log lines contain `needle`, or give up after `limit`; those lines.
async fn wait_logged_times(plugin: &Plugin, needle: &str, count: usize, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    while logged(plugin, needle).len() < count && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    logged(plugin, needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_policies_reload_and_a_set_that_does_not_load_leaves_the_old_one_serving() {
    let cluster = AgentCluster::start().await;
    let policies = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let audit = tempfile::tempdir().unwrap();
    let audit_file = audit.path().join("audit.jsonl");
    std::fs::write(policies.path().join("rules.cedar"), BY_POOL).unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("node-attestor-server", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;
    let extra = format!("{}{}", node_policy_block(policies.path(), SMALLEST_RELOAD), audit_block(&audit_file));
    configure(&ch, &cluster.plugin_data(&extra)).await.unwrap();
    let by_pool = "spiffe://example.org/spire/agent/k8s_psat/production/pool/general/node-uid-1";
    assert_eq!(node_attest(&ch, cluster.payload(1)).await.unwrap().spiffe_id, by_pool);
    const IN_FORCE: &str = "new node policy generation in force";

    // The rule is replaced by one no node can render: a new generation, and the agent is refused
    // with the rule's message.
    replace(policies.path(), "rules.cedar", BY_RACK, scratch.path());
    let in_force = wait_logged(&plugin, IN_FORCE, Duration::from_secs(20)).await;
    assert_eq!(in_force.len(), 1, "{in_force:?}");
    let not_rendered = r#"node identity rule "by-rack" matched agent "spire:spire-agent" on node "node-1" in cluster "production", but its agent ID cannot be rendered: missing {node_label:rack}"#;
    let err = node_attest(&ch, cluster.payload(1)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::PermissionDenied, not_rendered));

    // A set that does not load: refused once, and the previous set keeps answering.
    replace(policies.path(), "broken.cedar", "@id(\"x\") forbid (principal,", scratch.path());
    let refused = wait_logged(&plugin, "new generation refused", Duration::from_secs(20)).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("broken.cedar:1"), "the log names the file and line: {refused:?}");
    let err = node_attest(&ch, cluster.payload(1)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::PermissionDenied, not_rendered));
    assert_eq!(logged(&plugin, IN_FORCE).len(), 1);

    // Mended: the next generation answers.
    std::fs::remove_file(policies.path().join("broken.cedar")).unwrap();
    replace(policies.path(), "rules.cedar", BY_POOL, scratch.path());
    let in_force = wait_logged_times(&plugin, IN_FORCE, 2, Duration::from_secs(20)).await;
    assert_eq!(in_force.len(), 2, "{in_force:?}");
    assert_eq!(node_attest(&ch, cluster.payload(1)).await.unwrap().spiffe_id, by_pool);

    // One audit line per attestation, with the generation that decided it.
    let records = audit_records(&audit_file);
    let seen: Vec<(&serde_json::Value, &serde_json::Value)> =
        records.iter().map(|r| (&r["node_decision"]["decision"], &r["node_decision"]["rule"])).collect();
    assert_eq!(
        seen,
        [
            (&"allow_as".into(), &"by-pool".into()),
            (&"not_rendered".into(), &"by-rack".into()),
            (&"not_rendered".into(), &"by-rack".into()),
            (&"allow_as".into(), &"by-pool".into()),
        ]
    );
    let r = &records[1];
    assert_eq!(r["node_decision"]["why"], "missing {node_label:rack}", "{r}");
    assert_eq!(r["failed"], not_rendered, "{r}");
    assert_eq!((&r["code"], &r["fault"]), (&"PermissionDenied".into(), &"policy".into()), "{r}");
    assert_eq!(records[1]["policy_generation"], records[2]["policy_generation"]);
    assert_ne!(records[0]["policy_generation"], records[1]["policy_generation"]);
    assert_eq!(records[0]["policy_generation"], records[3]["policy_generation"], "the same files, the same generation");

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_policy_set_that_does_not_load_fails_configure_and_the_old_configuration_serves() {
    let cluster = AgentCluster::start().await;
    let good = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(good.path().join("gate.cedar"), DRAIN_GATE).unwrap();
    std::fs::write(bad.path().join("rules.cedar"), BY_POOL).unwrap();
    std::fs::write(
        bad.path().join("nameless.cedar"),
        "forbid (principal, action == Attest::Action::\"attest_node\", resource);\n",
    )
    .unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("node-attestor-server", "NodeAttestor", sockets.path());
    let ch = plugin.channel().await;
    let refusal = format!(
        "node policies in {}: {}:1: policy has no @id annotation; every policy needs a stable id, e.g. @id(\"ns-sa-identity\")",
        bad.path().display(),
        bad.path().join("nameless.cedar").display()
    );

    // A set that does not load, first: nothing is configured.
    let err = configure(&ch, &cluster.plugin_data(&node_policy_block(bad.path(), "5s"))).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, refusal.as_str()));
    let err = node_attest(&ch, cluster.payload(1)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "not configured"));

    // A good configuration, then the bad set again: refused, and the good one keeps serving.
    configure(&ch, &cluster.plugin_data(&node_policy_block(good.path(), "5s"))).await.unwrap();
    let err = configure(&ch, &cluster.plugin_data(&node_policy_block(bad.path(), "5s"))).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, refusal.as_str()));
    let spire_id = "spiffe://example.org/spire/agent/k8s_psat/production/node-uid-1";
    assert_eq!(
        node_attest(&ch, cluster.payload(1)).await.unwrap().spiffe_id,
        spire_id,
        "the bad set's rule is not in force"
    );
    let err = node_attest(&ch, cluster.payload(2)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "the good set's gate still refuses");
    assert!(err.message().contains(r#"refused by node policy "drain-node-2""#), "{}", err.message());

    // A workload attestor's key in the server role's policy block is refused by name.
    let with_cluster = format!("\"policy\" {{\n  \"dir\" = \"{}\"\n  \"cluster\" = \"x\"\n}}\n", good.path().display());
    let err = configure(&ch, &cluster.plugin_data(&with_cluster)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::InvalidArgument,
            "config key `policy.cluster`: applies to workload attestation only; the node-attestor-server role reads `dir` and `reload_interval`"
        )
    );
    assert!(node_attest(&ch, cluster.payload(2)).await.is_err(), "the good configuration still serves");
    assert_eq!(node_attest(&ch, cluster.payload(1)).await.unwrap().spiffe_id, spire_id);

    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}
