//! Benchmarks that print figures (medians and p99 from one run; nothing is asserted):
//!
//! 1. one module call on a fresh Store (instantiate + `attest` + drop);
//! 2. one Cedar decision for a pod workload against 10, 100 and 1000 policies;
//! 3. one whole in-process attestation of a real host process (gather + module + decide).
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

mod fixtures;
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
        let p = Policies::from_files(&files, &td, None).expect("policies load");
        let d = p.decide(&w).expect("decide");
        assert!(!d.issued.is_empty());
        let s = measure(iters(if n == 1000 { 300 } else { 2000 }), || {
            p.decide(&w).expect("decide");
        });
        report(&format!("Cedar decision, {n} policies, {} selectors (memoised emit)", w.selectors.len()), &s);
    }
}

fn bench_whole_attestation() {
    let mut child = Command::new("sleep").arg("300").stdin(Stdio::null()).spawn().expect("sleep");
    std::thread::sleep(Duration::from_millis(50));
    let pid = Pid(child.id());
    let rt = Arc::new(Runtime::new(RuntimeSettings::default()).expect("runtime"));
    let config = Config::embedded_default().expect("config");
    let policies = Policies::load(&config.policy, &config.trust_domain).expect("policies");

    let plain = Attestor::from_parts(
        Gatherer::new("/proc", UnixConfig::default()),
        Sandbox::load(rt.clone(), vec![]).expect("sandbox"),
        Policies::load(&config.policy, &config.trust_domain).expect("policies"),
    );
    let s = measure(iters(2000), || {
        plain.attest_blocking(pid).expect("attest");
    });
    report("whole attestation of a host process (no module)", &s);

    let with_module = Attestor::from_parts(
        Gatherer::new("/proc", UnixConfig::default()),
        Sandbox::load(rt, vec![module_spec("team", "team-owner.wasm", "default = platform")]).expect("sandbox"),
        policies,
    );
    let s = measure(iters(2000), || {
        with_module.attest_blocking(pid).expect("attest");
    });
    report("whole attestation of a host process (+ team-owner module)", &s);
    let _ = child.kill();
    let _ = child.wait();
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
}
