//! Benchmarks that print figures (medians and p99 from one run; nothing is asserted):
//!
//! 1. one module call on a fresh Store (instantiate + `attest` + drop);
//! 2. one Cedar decision for a pod workload against 10, 100 and 1000 policies;
//! 3. one whole in-process attestation of a real host process (gather + module + decide);
//! 4. Kubernetes attestations against a fake kubelet, the plugin over its socket, go-plugin's
//!    client, Sigstore (`sigstore.rs`: one verification, first and cached attestations, one
//!    verification per shared image), `k8s_psat` (`psat.rs`: server attestation against a
//!    loopback API server, warm and first; the agent's token read and payload), and the
//!    registrar (`registrar.rs`: 10,000 pods on 500 nodes under 50 policies, the wanted entries
//!    per mode, converging against the loopback Entry API server, one pod changed).
//!
//! Run with `cargo xtask bench` (builds the guests first). `ATTESTOR_BENCH_ITERS` scales the
//! iteration counts.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attestor::TrustDomain;
use attestor::config::Config;
use attestor::facts::{Gatherer, UnixConfig};
use attestor::pipeline::Attestor;
use attestor::policy::{Policies, PolicyFile};
use attestor::sandbox::{Limits, LoadedModule, ModuleSpec, Runtime, RuntimeSettings, Sandbox, wit_workload};
use attestor::selector::SelectorKind;
use attestor::workload::Pid;
use sha2::{Digest, Sha256};

#[path = "../../tests/common/apiserver.rs"]
mod apiserver;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/entry_server.rs"]
mod entry_server;
mod fixtures;
mod goplugin;
mod psat;
mod registrar;
#[path = "../../tests/common/registry.rs"]
mod registry;
mod sigstore;
#[path = "../../tests/common/sigstore_synth.rs"]
mod synth;
use fixtures::{pod_workload, policy_set};

fn iters(base: usize) -> usize {
    let scale: f64 = std::env::var("ATTESTOR_BENCH_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((base as f64) * scale).max(10.0) as usize
}

struct Stats {
    median: Duration,
    p99: Duration,
    n: usize,
}

fn measure(n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..(n / 10).max(1) {
        f();
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    Stats { median: samples[n / 2], p99: samples[(n * 99 / 100).min(n - 1)], n }
}

fn report(name: &str, s: &Stats) {
    println!(
        "{name:<58} median {:>9.1} µs   p99 {:>9.1} µs   ({} runs)",
        s.median.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.n
    );
}

fn guests_dir() -> PathBuf {
    std::env::var_os("ATTESTOR_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests"))
}

fn module_spec(name: &str, file: &str, config: &str) -> ModuleSpec {
    let path = guests_dir().join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask bench`)", path.display()));
    ModuleSpec {
        name: SelectorKind::new(name).expect("name"),
        sha256: Some(hex::encode(Sha256::digest(&bytes))),
        path,
        config: config.into(),
        limits: Limits::default(),
        optional: false,
    }
}

fn bench_module_call() {
    let rt = Runtime::new(RuntimeSettings::default()).expect("runtime");
    let m = LoadedModule::load(&rt, module_spec("team", "team-owner.wasm", "ns:ns-7 = payments\ndefault = other"))
        .expect("load");
    let input = wit_workload(&pod_workload());
    let s = measure(iters(5000), || {
        let (r, _) = m.attest(&rt, &input);
        r.expect("module answers");
    });
    report(&format!("module call, fresh Store (team-owner, {:?} allocator)", rt.allocator()), &s);
}

fn bench_decisions() {
    let td = TrustDomain::new("example.org").expect("td");
    let w = pod_workload();
    for n in [10, 100, 1000] {
        let files = vec![PolicyFile { name: "bench.cedar".into(), text: policy_set(n) }];
        let p = Policies::from_files(&files, &attestor::policy::PolicySettings::default(), &td).expect("policies load");
        let d = p.decide(&w).expect("decide");
        assert!(!d.issued.is_empty());
        // Every pass each time; the emit memo is warm after the first call, as it is on a node.
        let s = measure(iters(if n == 1000 { 300 } else { 2000 }), || {
            p.decide_at(&w, std::time::SystemTime::now()).expect("decide");
        });
        report(
            &format!("Cedar decision, {n} policies, {} selectors (all passes, memoised emit)", w.selectors.len()),
            &s,
        );
        let s = measure(iters(if n == 1000 { 10 } else { 100 }), || {
            Policies::from_files(&files, &attestor::policy::PolicySettings::default(), &td).expect("policies load");
        });
        report(&format!("policy generation build (parse, lint, strict validation, slicing), {n} policies"), &s);
    }
}

fn bench_whole_attestation() {
    let mut child = Command::new("sleep").arg("300").stdin(Stdio::null()).spawn().expect("sleep");
    std::thread::sleep(Duration::from_millis(50));
    let pid = Pid(child.id());
    let rt = Arc::new(Runtime::new(RuntimeSettings::default()).expect("runtime"));
    let config = Config::embedded_default().expect("config");
    let policies = Policies::load(&config.policy, &config.trust_domain).expect("policies");

    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let plain = Attestor::from_parts(
        Gatherer::new("/proc", UnixConfig::default(), None),
        Sandbox::load(rt.clone(), vec![]).expect("sandbox"),
        Policies::load(&config.policy, &config.trust_domain).expect("policies"),
    );
    let plain = Arc::new(plain);
    let s = measure(iters(2000), || {
        tokio.block_on(plain.attest(pid)).expect("attest");
    });
    report("whole attestation of a host process, outcome reused (no module)", &s);
    let facts = tokio.block_on(plain.gatherer().gather(pid)).expect("gather");
    let s = measure(iters(2000), || {
        plain.enrich_and_decide(facts.clone()).expect("decide");
    });
    report("policies for new facts of a host process (no module)", &s);

    let with_module = Attestor::from_parts(
        Gatherer::new("/proc", UnixConfig::default(), None),
        Sandbox::load(rt, vec![module_spec("team", "team-owner.wasm", "default = platform")]).expect("sandbox"),
        policies,
    );
    let with_module = Arc::new(with_module);
    let s = measure(iters(2000), || {
        tokio.block_on(with_module.attest(pid)).expect("attest");
    });
    report("whole attestation of a host process, outcome reused (+ team-owner)", &s);
    let s = measure(iters(2000), || {
        with_module.enrich_and_decide(facts.clone()).expect("decide");
    });
    report("module and policies for new facts of a host process (+ team-owner)", &s);
    let _ = child.kill();
    let _ = child.wait();
}

/// A node at the default pod limit: 110 pods over 12 namespaces, one container each, and a
/// recorded process (PID 10000 + i) in each container's cgroup under `proc_root`.
fn full_node(proc_root: &std::path::Path) -> Vec<serde_json::Value> {
    (0..110)
        .map(|i| {
            let uid = format!("{i:08x}-1b1a-4b1e-9c1e-1234567890ab");
            let cid = format!("{i:064x}");
            let cgroup = format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{cid}.scope\n", uid.replace('-', "_"));
            common::fake_proc(proc_root, 10_000 + i, 5, Some(common::STATUS_1000), None, Some(&cgroup));
            common::kubelet::pod(&uid, &format!("ns-{}", i % 12), &format!("app-{i}"), "app", &cid)
        })
        .collect()
}

/// 110 pods (the default max pods per node), one recorded process each, a kubelet on loopback
/// with TLS and a bearer token. Attestor's pod-list cache against SPIRE's re-fetch per call.
fn bench_kubernetes() {
    use common::kubelet::{Behaviour, Ca, FakeKubelet, Transport, pod_list};
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("bench-ca");
    let ca_path = tmp.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "bench-token").unwrap();
    let proc_root = tmp.path().join("proc");
    let pods = full_node(&proc_root);
    let body = pod_list(&pods);
    let kubelet = tokio.block_on(FakeKubelet::start(
        Transport::Tls { server: ca.issue(&["localhost"], "localhost", None), client_ca: None },
        Behaviour { body: body.clone(), token: Some("bench-token".into()), ..Behaviour::default() },
    ));
    println!("kubelet pod list: 110 pods, {} KiB, HTTPS with bearer token on loopback", body.len() / 1024);
    let mut rates = Vec::new();
    for (label, extra) in [
        ("attestor (pod-list cache)", ""),
        ("re-fetch per call (SPIRE)", "pod_list_cache_ttl = \"0s\"\npoll_retry_interval = \"1ns\"\n"),
    ] {
        let text = format!(
            "kubelet_secure_port = {}\nnode_name = \"localhost\"\nkubelet_ca_path = \"{}\"\ntoken_path = \"{}\"\n{extra}unix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n",
            kubelet.port(),
            ca_path.display(),
            token.display()
        );
        let config = Config::parse_with_env(&text, tmp.path(), &|_| None).unwrap();
        let rt = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
        let a = tokio.block_on(async {
            Arc::new(Attestor::new(&config, rt, &proc_root, attestor::facts::kubernetes::SourceMode::Enabled).unwrap())
        });
        // Warm up: every pod seen once.
        for i in 0..110 {
            tokio.block_on(a.attest(Pid(10_000 + i))).unwrap();
        }
        let before = kubelet.requests();
        let n = iters(2000);
        let mut i = 0;
        let s = measure(n, || {
            tokio.block_on(a.attest(Pid(10_000 + (i % 110)))).unwrap();
            i += 1;
        });
        let measured = i - n.div_ceil(10).max(1) as u32;
        let requests = kubelet.requests() - before;
        let per_sec = 1.0 / (s.median.as_secs_f64());
        report(&format!("k8s attestation, {label}"), &s);
        println!(
            "{:<58} {:.0} attestations/s (1/median), {:.3} kubelet requests per attestation",
            "",
            per_sec,
            requests as f64 / (n + n.div_ceil(10).max(1)) as f64
        );
        let _ = measured;
        // Throughput with 16 attestations in flight.
        let t = Instant::now();
        let total = iters(2000);
        tokio.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for k in 0..16u32 {
                let a = a.clone();
                set.spawn(async move {
                    for j in 0..(total as u32 / 16) {
                        a.attest(Pid(10_000 + ((k * 7 + j) % 110))).await.unwrap();
                    }
                });
            }
            while set.join_next().await.is_some() {}
        });
        let concurrent = (total / 16 * 16) as f64 / t.elapsed().as_secs_f64();
        println!("{:<58} {:.0} attestations/s with 16 in flight", "", concurrent);
        rates.push(concurrent);
    }
    if let [cached, refetch] = rates[..] {
        println!("{:<58} ratio cached / re-fetch: {:.1}x", "k8s throughput (16 in flight)", cached / refetch);
    }
}

/// Attest over the plugin's unix socket (the real binary, launched as SPIRE does), warm pod
/// cache, 1, 8 and 64 concurrent streams from one client connection.
fn bench_plugin() {
    use attestor::spire::proto::spire::plugin::agent::workloadattestor::v1::{
        AttestRequest, workload_attestor_client::WorkloadAttestorClient,
    };
    use attestor::spire::proto::spire::service::common::config::v1::{
        ConfigureRequest, CoreConfiguration, config_client::ConfigClient,
    };
    use common::kubelet::{Behaviour, FakeKubelet, Transport, pod_list};
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let proc_root = tmp.path().join("proc");
    let pods = full_node(&proc_root);
    let kubelet = tokio
        .block_on(FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }));
    // The default log level, as an agent runs it.
    let plugin = common::plugin::Plugin::start_logging(
        "workload-attestor",
        "WorkloadAttestor",
        tmp.path(),
        "warn,attestor=info",
    );
    let channel = tokio.block_on(plugin.channel());
    let hcl = format!(
        "kubelet_read_only_port = {}\nproc_root = \"{}\"\nunix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n",
        kubelet.port(),
        proc_root.display()
    );
    tokio
        .block_on(ConfigClient::new(channel.clone()).configure(ConfigureRequest {
            core_configuration: Some(CoreConfiguration { trust_domain: "example.org".into() }),
            hcl_configuration: hcl,
        }))
        .unwrap();
    let client = WorkloadAttestorClient::new(channel);
    for i in 0..110 {
        tokio.block_on(client.clone().attest(AttestRequest { pid: 10_000 + i })).unwrap();
    }
    for streams in [1usize, 8, 64] {
        let total = iters(4000);
        let per = total.div_ceil(streams);
        let started = Instant::now();
        let mut samples: Vec<Duration> = tokio.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for s in 0..streams {
                let mut c = client.clone();
                set.spawn(async move {
                    let mut v = Vec::with_capacity(per);
                    for j in 0..per {
                        let pid = 10_000 + ((s * 31 + j) % 110) as i32;
                        let t = Instant::now();
                        c.attest(AttestRequest { pid }).await.unwrap();
                        v.push(t.elapsed());
                    }
                    v
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.extend(r.unwrap());
            }
            all
        });
        let elapsed = started.elapsed();
        samples.sort();
        let n = samples.len();
        let s = Stats { median: samples[n / 2], p99: samples[(n * 99 / 100).min(n - 1)], n };
        report(&format!("plugin Attest over the unix socket, {streams} streams"), &s);
        println!("{:<58} {:.0} attestations/s", "", n as f64 / elapsed.as_secs_f64());
    }
    println!("{:<58} {} kubelet requests in all", "", kubelet.requests());
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks benchmarks by substring.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let want = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    println!("attestor benchmarks (medians and p99 of one run; lower is better)");
    if want("module") {
        bench_module_call();
    }
    if want("decision") {
        bench_decisions();
    }
    if want("attestation") {
        bench_whole_attestation();
    }
    if want("kubelet") {
        bench_kubernetes();
    }
    if want("plugin") {
        bench_plugin();
    }
    if want("sigstore") {
        sigstore::bench();
    }
    if want("psat") {
        psat::bench();
    }
    if want("registrar") {
        registrar::bench();
    }
    if want("goplugin") {
        match goplugin::Tool::from_env() {
            Ok(tool) => goplugin::bench(&tool),
            Err(why) => println!("go-plugin client benchmarks not run: {why}"),
        }
    }
    // Ten minutes: only when asked for by name (`cargo xtask bench soak`).
    if filter.iter().any(|f| f == "soak") {
        match goplugin::Tool::from_env() {
            Ok(tool) => goplugin::soak(&tool),
            Err(why) => println!("soak not run: {why}"),
        }
    }
}
