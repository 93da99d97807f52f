//! Faults while the plugin is under load: a kubelet that is down, slow, failing, lying or
//! flooding; credentials rotated; policies reloaded a hundred times; `Configure` repeated. In
//! every case each answer is either a complete selector set of one configuration or an error
//! that names what failed, the plugin keeps serving, stderr stays hclog, and its memory and open
//! descriptors stay flat.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use attestor::spire::proto::plugin::{Empty, grpc_controller_client::GrpcControllerClient};
use common::kubelet::{Behaviour, Ca, FakeKubelet, Transport, pod_list};
use common::plugin::{Plugin, attest, configure, fake_node, plugin_data};
use common::{STATUS_1000, fake_proc};
use tokio::task::JoinSet;
use tonic::transport::Channel;

/// The host process (no container) of every node: attested without the kubelet.
const HOST_PID: i32 = 9_999;
/// Pods on the fake node.
const PODS: usize = 10;

type Answer = Result<BTreeSet<String>, tonic::Status>;

/// A change to the kubelet's behaviour.
type Fault = Box<dyn Fn(&mut Behaviour)>;

/// Attestations of `pids` round-robin on `streams` concurrent streams until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    set: JoinSet<Vec<(i32, Answer)>>,
}

impl Load {
    fn start(ch: &Channel, pids: &[i32], streams: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = JoinSet::new();
        for s in 0..streams {
            let (ch, stop, pids) = (ch.clone(), Arc::clone(&stop), pids.to_vec());
            set.spawn(async move {
                let mut out = Vec::new();
                let mut i = s;
                while !stop.load(Ordering::Relaxed) {
                    let pid = pids[i % pids.len()];
                    let answer = attest(&ch, pid).await.map(|v| v.into_iter().collect());
                    out.push((pid, answer));
                    i += 1;
                }
                out
            });
        }
        Self { stop, set }
    }

    async fn finish(mut self) -> Vec<(i32, Answer)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        while let Some(r) = self.set.join_next().await {
            all.extend(r.unwrap());
        }
        all
    }

    /// Run for `d`, then stop and collect.
    async fn run(ch: &Channel, pids: &[i32], streams: usize, d: Duration) -> Vec<(i32, Answer)> {
        let load = Self::start(ch, pids, streams);
        tokio::time::sleep(d).await;
        load.finish().await
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix(" kB")?.trim().parse().ok()).unwrap()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Resident memory and descriptors of the plugin, after its allocator has had time to purge.
async fn footprint(plugin: &Plugin) -> (u64, usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (rss_kib(plugin.child.id()), fds(plugin.child.id()))
}

fn assert_flat(before: (u64, usize), after: (u64, usize), what: &str) {
    assert!(after.0 < before.0 + 20 * 1024, "{what}: resident memory grew from {} to {} KiB", before.0, after.0);
    assert!(after.1 <= before.1 + 2, "{what}: open descriptors grew from {} to {}", before.1, after.1);
}

/// The node: `PODS` pod processes and a host process under one proc root.
fn node(root: &Path) -> Vec<serde_json::Value> {
    let pods = fake_node(root, PODS);
    fake_proc(root, HOST_PID as u32, 5, Some(STATUS_1000), None, None);
    pods
}

fn pod_pids() -> Vec<i32> {
    (0..PODS as i32).map(|i| 10_000 + i).collect()
}

/// The complete answer of each PID, from one healthy round.
async fn expected(ch: &Channel) -> BTreeMap<i32, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for pid in pod_pids().into_iter().chain([HOST_PID]) {
        out.insert(pid, attest(ch, pid).await.unwrap().into_iter().collect());
    }
    out
}

/// Every answer is the PID's complete selector set or an error; returns the error messages.
fn check(answers: &[(i32, Answer)], whole: &BTreeMap<i32, BTreeSet<String>>, phase: &str) -> Vec<String> {
    assert!(!answers.is_empty(), "{phase}: no attestation finished");
    let mut errors = Vec::new();
    for (pid, a) in answers {
        match a {
            Ok(values) => assert_eq!(values, &whole[pid], "{phase}: pid {pid} got a partial or foreign answer"),
            Err(e) => errors.push(format!("{:?}: {}", e.code(), e.message())),
        }
    }
    errors
}

async fn shutdown(mut plugin: Plugin, ch: Channel) {
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some_and(|s| s.success()));
    plugin.check_logs();
}

/// A kubelet that fails in every way, under load, with SPIRE's re-fetch per attestation (no
/// cached list hides it): pod attestations fail naming the failure, the host process keeps
/// attesting, and the first healthy answer after each fault is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_kubelet_under_load() {
    let sockets = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let pods = node(root.path());
    let good = pod_list(&pods);
    let kubelet = FakeKubelet::start(Transport::Plain, Behaviour { body: good.clone(), ..Behaviour::default() }).await;
    let plugin = Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn,attestor=info");
    let ch = plugin.channel().await;
    let spire_mode = "\"pod_list_cache_ttl\" = \"0s\"\n";
    configure(
        &ch,
        &plugin_data(kubelet.port(), root.path(), spire_mode)
            .replace("\"max_poll_attempts\" = 2", "\"max_poll_attempts\" = 1"),
    )
    .await
    .unwrap();
    let whole = expected(&ch).await;
    let all: Vec<i32> = pod_pids().into_iter().chain([HOST_PID]).collect();
    check(&Load::run(&ch, &all, 8, Duration::from_millis(500)).await, &whole, "warm-up");
    let before = footprint(&plugin).await;

    let huge = {
        let mut b = b"{\"items\": [".to_vec();
        b.resize(100 << 20, b' ');
        b
    };
    let faults: [(&str, Fault, &str); 4] = [
        ("500", Box::new(|b| b.status = 500), "unexpected status code on pods response: 500"),
        ("garbage", Box::new(|b| b.body = b"<html>proxy error</html>".to_vec()), "unable to parse kubelet response"),
        ("100 MB", Box::new(move |b| b.body = huge.clone()), "kubelet response is larger than 67108864 bytes"),
        ("hang-up", Box::new(|b| b.hang_up = true), "connection closed before message completed"),
    ];
    for (name, fault, says) in faults {
        kubelet.set(|b| fault(b));
        let load = Load::start(&ch, &all, 8);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Meanwhile a host process attests at once: nothing waits on the kubelet but pods.
        let quick = Instant::now();
        assert!(attest(&ch, HOST_PID).await.is_ok(), "{name}: host processes still attest");
        assert!(quick.elapsed() < Duration::from_secs(1), "{name}: the host process waited {:?}", quick.elapsed());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let answers = load.finish().await;
        let errors = check(&answers, &whole, name);
        assert!(!errors.is_empty(), "{name}: pod attestations must fail");
        for e in &errors {
            assert!(e.starts_with("Unavailable: ") && e.contains(says), "{name}: {e}");
        }
        kubelet.set(|b| *b = Behaviour { body: good.clone(), ..Behaviour::default() });
        let healed = Load::run(&ch, &all, 8, Duration::from_millis(300)).await;
        assert!(check(&healed, &whole, &format!("after {name}")).is_empty(), "{name}: healthy again");
    }

    // Slower than SPIRE's 10 s request timeout: the attestation fails with the timeout, and
    // other attestations (the host process) are not held up meanwhile.
    kubelet.set(|b| b.delay = Duration::from_secs(12));
    let started = Instant::now();
    let slow = tokio::spawn({
        let ch = ch.clone();
        async move { attest(&ch, 10_000).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = Instant::now();
    assert!(attest(&ch, HOST_PID).await.is_ok());
    assert!(quick.elapsed() < Duration::from_secs(1), "a slow kubelet stalls nothing else");
    let err = slow.await.unwrap().unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("timed out") || err.message().contains("timeout"), "{}", err.message());
    assert!(started.elapsed() < Duration::from_secs(12), "answered at the timeout, not when the kubelet did");
    kubelet.set(|b| b.delay = Duration::ZERO);

    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    configure(&ch, &plugin_data(closed, root.path(), spire_mode)).await.unwrap();
    let answers = Load::run(&ch, &all, 8, Duration::from_millis(500)).await;
    for e in check(&answers, &whole, "down") {
        assert!(e.contains("127.0.0.1") && e.to_lowercase().contains("connect"), "down: {e}");
    }
    configure(&ch, &plugin_data(kubelet.port(), root.path(), spire_mode)).await.unwrap();
    assert!(check(&Load::run(&ch, &all, 8, Duration::from_millis(300)).await, &whole, "back").is_empty());
    assert_flat(before, footprint(&plugin).await, "kubelet faults");
    shutdown(plugin, ch).await;
}

/// The token and the CA bundle are replaced on disk while attestations run (a projected token
/// and a rotated kubelet serving CA): after `reload_interval` every attestation succeeds again,
/// and the ones in between fail naming the credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rotated_while_attesting() {
    let sockets = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let creds = tempfile::tempdir().unwrap();
    let pods = node(root.path());
    let (ca1, ca2) = (Ca::new("kubelet-ca-1"), Ca::new("kubelet-ca-2"));
    let ca_path = creds.path().join("ca.crt");
    let token_path = creds.path().join("token");
    std::fs::write(&ca_path, ca1.pem()).unwrap();
    std::fs::write(&token_path, "token-1").unwrap();
    let kubelet = FakeKubelet::start(
        Transport::Tls { server: ca1.issue(&["localhost"], "localhost", None), client_ca: None },
        Behaviour { body: pod_list(&pods), token: Some("token-1".into()), ..Behaviour::default() },
    )
    .await;
    let plugin = Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn,attestor=info");
    let ch = plugin.channel().await;
    let data = format!(
        "kubelet_secure_port = {}\nnode_name = \"localhost\"\nkubelet_ca_path = \"{}\"\ntoken_path = \"{}\"\nreload_interval = \"200ms\"\npod_list_cache_ttl = \"0s\"\nmax_poll_attempts = 1\nproc_root = \"{}\"\nunix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n",
        kubelet.port(),
        ca_path.display(),
        token_path.display(),
        root.path().display()
    );
    configure(&ch, &data).await.unwrap();
    let whole = expected(&ch).await;
    let pids = pod_pids();
    let before = footprint(&plugin).await;

    // The token: the kubelet starts wanting the new one as the file changes.
    let load = Load::start(&ch, &pids, 8);
    tokio::time::sleep(Duration::from_millis(200)).await;
    kubelet.set(|b| b.token = Some("token-2".into()));
    std::fs::write(&token_path, "token-2").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = load.finish().await;
    for e in check(&answers, &whole, "token rotation") {
        assert!(e.contains("401"), "token rotation: {e}");
    }
    assert!(check(&Load::run(&ch, &pids, 8, Duration::from_millis(300)).await, &whole, "new token").is_empty());

    // The CA: the kubelet serves a certificate from a new CA, and the bundle file follows.
    let load = Load::start(&ch, &pids, 8);
    tokio::time::sleep(Duration::from_millis(200)).await;
    kubelet.set_certificate(ca2.issue(&["localhost"], "localhost", None));
    std::fs::write(&ca_path, ca2.pem()).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = load.finish().await;
    for e in check(&answers, &whole, "CA rotation") {
        assert!(e.to_lowercase().contains("certificate"), "CA rotation: {e}");
    }
    assert!(check(&Load::run(&ch, &pids, 8, Duration::from_millis(300)).await, &whole, "new CA").is_empty());
    assert_flat(before, footprint(&plugin).await, "credential rotation");
    shutdown(plugin, ch).await;
}

/// Two policy sets, each a complete answer of its own; the directory switches between them and
/// the plugin gets SIGHUP a hundred times while attestations run. Every answer is one set's,
/// never a mix, and none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_reloaded_a_hundred_times_while_attesting() {
    let sockets = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let policies = tempfile::tempdir().unwrap();
    let pods = node(root.path());
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    // Set A issues /a/<ns>; set B issues /b/<ns> and keeps pod labels on the host.
    let set_a = "@id(\"a\")\n@spiffe_id(\"spiffe://{trust_domain}/a/{k8s.namespace}\")\npermit (principal, action == Attest::Action::\"propose\", resource)\nwhen { principal has k8s };\n";
    let set_b = "@id(\"b\")\n@spiffe_id(\"spiffe://{trust_domain}/b/{k8s.namespace}\")\npermit (principal, action == Attest::Action::\"propose\", resource)\nwhen { principal has k8s };\n\n@id(\"hide-labels\")\nforbid (principal, action == Attest::Action::\"emit\", resource)\nwhen { resource.type == \"k8s\" && resource.key == \"pod-label\" };\n";
    let write = |text: &str| {
        let tmp = policies.path().join(".rules.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, policies.path().join("rules.cedar")).unwrap();
    };
    write(set_a);
    let plugin = Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn");
    let ch = plugin.channel().await;
    let policy = format!(
        "\"policy\" {{\n  \"dir\" = \"{}\"\n  \"spiffe_id_selectors\" = true\n  \"reload_interval\" = \"24h\"\n}}\n",
        policies.path().display()
    );
    configure(&ch, &plugin_data(kubelet.port(), root.path(), &policy)).await.unwrap();
    let pids = pod_pids();
    let whole_a = expected(&ch).await;
    write(set_b);
    Command::new("kill").args(["-HUP", &plugin.child.id().to_string()]).status().unwrap();
    let start = Instant::now();
    let mut whole_b = expected(&ch).await;
    while whole_b[&10_000] == whole_a[&10_000] && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        whole_b = expected(&ch).await;
    }
    assert!(whole_b[&10_000].contains("spiffe-id:spiffe://example.org/b/team"), "{:?}", whole_b[&10_000]);
    assert!(!whole_b[&10_000].iter().any(|s| s.starts_with("pod-label:")));
    let before = footprint(&plugin).await;

    let load = Load::start(&ch, &pids, 8);
    for n in 0..100 {
        write(if n % 2 == 0 { set_a } else { set_b });
        Command::new("kill").args(["-HUP", &plugin.child.id().to_string()]).status().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers = load.finish().await;
    let (mut a, mut b) = (0, 0);
    for (pid, answer) in &answers {
        let values = answer.as_ref().unwrap_or_else(|e| panic!("pid {pid}: {e:?}"));
        if *values == whole_a[pid] {
            a += 1;
        } else if *values == whole_b[pid] {
            b += 1;
        } else {
            panic!("pid {pid}: an answer of neither generation: {values:?}");
        }
    }
    assert!(a > 0 && b > 0, "both generations answered ({a} A, {b} B of {})", answers.len());
    assert!(plugin.child.id() > 0);
    assert_flat(before, footprint(&plugin).await, "100 reloads");
    shutdown(plugin, ch).await;
}

/// `Configure` a hundred times, alternating two configurations, while attestations run: every
/// answer is one configuration's complete set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_repeated_under_load() {
    let sockets = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let pods = node(root.path());
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let plugin = Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn");
    let ch = plugin.channel().await;
    let one = plugin_data(kubelet.port(), root.path(), "");
    let two = plugin_data(kubelet.port(), root.path(), "\"policy\" {\n  \"spiffe_id_selectors\" = true\n}\n");
    configure(&ch, &one).await.unwrap();
    let whole_one = expected(&ch).await;
    configure(&ch, &two).await.unwrap();
    let whole_two = expected(&ch).await;
    assert_ne!(whole_one[&10_000], whole_two[&10_000]);
    let before = footprint(&plugin).await;
    let pids = pod_pids();
    let load = Load::start(&ch, &pids, 8);
    for n in 0..100 {
        configure(&ch, if n % 2 == 0 { &one } else { &two }).await.unwrap();
    }
    let answers = load.finish().await;
    for (pid, answer) in &answers {
        let values = answer.as_ref().unwrap_or_else(|e| panic!("pid {pid}: {e:?}"));
        assert!(
            *values == whole_one[pid] || *values == whole_two[pid],
            "pid {pid}: an answer of neither configuration: {values:?}"
        );
    }
    assert_flat(before, footprint(&plugin).await, "100 Configures");
    shutdown(plugin, ch).await;
}
