//! attestor as SPIRE runs it, measured from HashiCorp's own go-plugin client
//! (`shared/tools/goplugin-bench`: `goplugin-host` dials the plugin as SPIRE's catalog does), and
//! go-plugin's own server answering fixed selectors (`trivial-plugin`) as the transport ceiling
//! of this machine in the same run. Attestor's rate is quoted as a ratio of that ceiling.
//!
//! The attested process is real: a `sleep` in a real Kubernetes-shaped cgroup (v2 if the
//! unified hierarchy is writable, else v1), found by the default configuration through the real
//! `/proc`, with a loopback kubelet on the read-only port listing it among 110 pods. Audit records
//! go to the log (the default), so the client parses them as SPIRE's agent would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use crate::fixtures::policy_set;
use crate::{guests_dir, iters};

/// The two go-plugin programs, found through `ATTESTOR_GOPLUGIN_HOST` (`cargo xtask bench`
/// builds them when `shared/tools/goplugin-bench` is present).
pub struct Tool {
    host: PathBuf,
    trivial: PathBuf,
}

impl Tool {
    pub fn from_env() -> Result<Self, String> {
        let host = std::env::var_os("ATTESTOR_GOPLUGIN_HOST")
            .map(PathBuf::from)
            .ok_or("ATTESTOR_GOPLUGIN_HOST is not set (cargo xtask bench sets it when it can build the tool)")?;
        let trivial = host.with_file_name("trivial-plugin");
        if !host.is_file() || !trivial.is_file() {
            return Err(format!("{} or trivial-plugin beside it is missing", host.display()));
        }
        Ok(Self { host, trivial })
    }
}

/// One goplugin-host run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    rate: f64,
    p50: String,
    p99: String,
    handshake: String,
    /// `(seconds since start, RSS KiB, open fds)` of the plugin process.
    samples: Vec<(f64, u64, usize)>,
}

/// What to run.
struct Job<'a> {
    plugin: &'a Path,
    args: &'a str,
    hcl: &'a Path,
    pid: u32,
    n: usize,
    k: usize,
    sample_every: Option<Duration>,
}

/// The plugin process goplugin-host started (its child).
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix(" kB")?.trim().parse().ok())
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn run(tool: &Tool, job: &Job<'_>) -> Result<Run, String> {
    let mut cmd = Command::new(&tool.host);
    cmd.arg("-plugin")
        .arg(job.plugin)
        .args(["-args", job.args, "-hcl"])
        .arg(job.hcl)
        .args(["-pid", &job.pid.to_string(), "-n", &job.n.to_string(), "-concurrency", &job.k.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", tool.host.display()))?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = job.sample_every.map(|every| {
        let (samples, done, host) = (Arc::clone(&samples), Arc::clone(&done), child.id());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut plugin = None;
            while !done.load(Ordering::Relaxed) {
                plugin = plugin.or_else(|| child_of(host));
                if let Some(p) = plugin
                    && let Some(rss) = rss_kib(p)
                {
                    samples.lock().unwrap().push((started.elapsed().as_secs_f64(), rss, fds(p)));
                }
                std::thread::sleep(every);
            }
        })
    });
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut result = Run::default();
    let mut failures = Vec::new();
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
        let detail = v["detail"].as_str().unwrap_or_default();
        if v["ok"] != true {
            failures.push(format!("{}: {detail}", v["step"]));
        }
        if v["step"] == "handshake+dispense" {
            result.handshake = detail.to_owned();
        }
        if v["step"] == "Attest" {
            for field in detail.split(' ') {
                match field.split_once('=') {
                    Some(("rate", r)) => result.rate = r.trim_end_matches("/s").parse().unwrap_or(0.0),
                    Some(("p50", p)) => result.p50 = p.to_owned(),
                    Some(("p99", p)) => result.p99 = p.to_owned(),
                    _ => {}
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    done.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    result.samples = std::mem::take(&mut *samples.lock().unwrap());
    if !status.success() || !failures.is_empty() {
        return Err(format!("goplugin-host failed: {}", failures.join("; ")));
    }
    Ok(result)
}

fn median(mut v: Vec<Run>) -> Run {
    v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    v[v.len() / 2].clone()
}

/// The node: a kubelet listing 109 synthetic pods and the real one, a real pod process.
struct Node {
    _tokio: tokio::runtime::Runtime,
    kubelet: common::kubelet::FakeKubelet,
    pod: common::cgroups::PodCgroup,
    dir: tempfile::TempDir,
}

impl Node {
    fn start(lifetime_secs: u64) -> Result<Self, String> {
        use common::kubelet::{Behaviour, FakeKubelet, Transport, pod, pod_list};
        let hierarchy = common::cgroups::find(true)
            .or_else(|v2| common::cgroups::find(false).map_err(|v1| format!("no real pod process: {v2}; {v1}")))?;
        let pod_cgroup = common::cgroups::PodCgroup::create_for(&hierarchy, lifetime_secs)?;
        let mut pods: Vec<serde_json::Value> = (0..109)
            .map(|i| {
                let uid = format!("{i:08x}-1b1a-4b1e-9c1e-1234567890ab");
                pod(&uid, &format!("ns-{}", i % 12), &format!("app-{i}"), "app", &format!("{i:064x}"))
            })
            .collect();
        pods.push(pod(common::cgroups::POD_UID, "real", "sleeper", "sleep", &common::cgroups::container_id()));
        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let kubelet = tokio.block_on(FakeKubelet::start(
            Transport::Plain,
            Behaviour { body: pod_list(&pods), ..Behaviour::default() },
        ));
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        Ok(Self { _tokio: tokio, kubelet, pod: pod_cgroup, dir })
    }

    /// A plugin_data file: the default configuration, the kubelet's read-only port, `extra`.
    fn hcl(&self, name: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("kubelet_read_only_port = {}\n{extra}", self.kubelet.port())).unwrap();
        path
    }

    /// Three modules and a 100-policy set (plus, with `clock`, a rule reading `context.now`, so
    /// that no outcome is reused and every attestation runs every module and policy).
    fn heavy(&self, clock: bool) -> PathBuf {
        let policies = self.dir.path().join(if clock { "policies-clock" } else { "policies" });
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(policies.join("bench.cedar"), policy_set(100)).unwrap();
        if clock {
            std::fs::write(
                policies.join("clock.cedar"),
                "@id(\"office-hours\") forbid (principal, action == Attest::Action::\"attest\", resource) when { context.now < datetime(\"2000-01-01T00:00:00Z\") };\n",
            )
            .unwrap();
        }
        let module = |name: &str, file: &str, config: &str| {
            let path = guests_dir().join(file);
            format!(
                "module \"{name}\" {{\n  path = \"{}\"\n  sha256 = \"{}\"\n  config = \"{config}\"\n}}\n",
                path.display(),
                common::sha256(&path)
            )
        };
        let extra = format!(
            "policy {{\n  dir = \"{}\"\n}}\n{}{}{}",
            policies.display(),
            module("team", "team-owner.wasm", "ns:real = platform\\ndefault = other"),
            module("owner", "team-owner.wasm", "user:root = ops\\ndefault = nobody"),
            module("allow", "exe-allowlist.wasm", &format!("{}  sleep", "0".repeat(64))),
        );
        self.hcl(if clock { "heavy-clock.hcl" } else { "heavy.hcl" }, &extra)
    }
}

fn fmt_run(r: &Run) -> String {
    format!("{:>7.0}/s  p50 {:>10}  p99 {:>10}", r.rate, r.p50, r.p99)
}

/// Attestor against the trivial server at 1, 8 and 64 streams; the heavy configurations; memory.
pub fn bench(tool: &Tool) {
    let node = match Node::start(3600) {
        Ok(n) => n,
        Err(e) => {
            println!("go-plugin client benchmarks not run: {e}");
            return;
        }
    };
    let plugin = PathBuf::from(env!("CARGO_BIN_EXE_attestor"));
    let plain = node.hcl("plain.hcl", "");
    let pid = node.pod.pid();
    println!(
        "go-plugin client (HashiCorp go-plugin, dialling as SPIRE does) → attestor vs go-plugin's own server; pid {pid} in a real pod cgroup, 110 pods, audit on"
    );
    for k in [1usize, 8, 64] {
        let n = iters(if k == 1 { 10_000 } else { 30_000 });
        let mut ours = Vec::new();
        let mut ceiling = Vec::new();
        for _ in 0..3 {
            let j =
                Job { plugin: &plugin, args: "plugin workload-attestor", hcl: &plain, pid, n, k, sample_every: None };
            match run(tool, &j) {
                Ok(r) => ours.push(r),
                Err(e) => return println!("attestor run failed: {e}"),
            }
            let t = Job { plugin: &tool.trivial, args: "", hcl: &plain, pid, n, k, sample_every: None };
            match run(tool, &t) {
                Ok(r) => ceiling.push(r),
                Err(e) => return println!("trivial-plugin run failed: {e}"),
            }
        }
        let (ours, ceiling) = (median(ours), median(ceiling));
        println!("  {k:>2} streams  attestor {}", fmt_run(&ours));
        println!("  {k:>2} streams  go-plugin server {}   ratio {:.2}", fmt_run(&ceiling), ours.rate / ceiling.rate);
    }
    for (label, hcl) in [("3 modules, 100 policies", node.heavy(false)), ("same, no outcome reuse", node.heavy(true))] {
        let n = iters(20_000);
        let j = Job { plugin: &plugin, args: "plugin workload-attestor", hcl: &hcl, pid, n, k: 8, sample_every: None };
        match run(tool, &j) {
            Ok(r) => println!("   8 streams  {label:<24} {}", fmt_run(&r)),
            Err(e) => println!("   8 streams  {label}: failed: {e}"),
        }
    }
    memory(tool, &plugin, &plain, pid);
    startup(&node);
}

/// Resident memory and open descriptors over 100,000 attestations at 64 streams.
fn memory(tool: &Tool, plugin: &Path, hcl: &Path, pid: u32) {
    let j = Job {
        plugin,
        args: "plugin workload-attestor",
        hcl,
        pid,
        n: iters(100_000),
        k: 64,
        sample_every: Some(Duration::from_millis(250)),
    };
    match run(tool, &j) {
        Ok(r) => {
            let peak = r.samples.iter().map(|s| s.1).max().unwrap_or(0);
            let last = r.samples.last().copied().unwrap_or_default();
            let first = r.samples.first().copied().unwrap_or_default();
            println!(
                "  memory over {} attestations at 64 streams: RSS peak {:.1} MiB, last {:.1} MiB; fds {} → {}",
                j.n,
                peak as f64 / 1024.0,
                last.1 as f64 / 1024.0,
                first.2,
                last.2
            );
        }
        Err(e) => println!("  memory run failed: {e}"),
    }
}

/// Start-up: spawn to the handshake line (no configuration yet), then `Configure` without and
/// with three modules (where modules are compiled).
fn startup(node: &Node) {
    let mut handshakes = Vec::new();
    for _ in 0..iters(10) {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let p = common::plugin::Plugin::start("workload-attestor", "WorkloadAttestor", dir.path());
        handshakes.push(t.elapsed());
        drop(p);
    }
    handshakes.sort();
    println!("  start-up to the handshake line: median {:.1} ms", handshakes[handshakes.len() / 2].as_secs_f64() * 1e3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (label, hcl) in [("no module", node.hcl("startup.hcl", "")), ("3 modules, 100 policies", node.heavy(false))] {
        let text = std::fs::read_to_string(&hcl).unwrap();
        let mut times = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let p = common::plugin::Plugin::start("workload-attestor", "WorkloadAttestor", dir.path());
            let t = Instant::now();
            rt.block_on(async {
                let ch = p.channel().await;
                common::plugin::configure(&ch, &text).await.expect("configure");
            });
            times.push(t.elapsed());
        }
        times.sort();
        println!("  first Configure, {label:<24} median {:.1} ms", times[2].as_secs_f64() * 1e3);
    }
}

/// Ten minutes at 8 streams: the RSS curve and open descriptors every 30 s.
pub fn soak(tool: &Tool) {
    let minutes: u64 = std::env::var("ATTESTOR_SOAK_MINUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let node = match Node::start(minutes * 60 + 600) {
        Ok(n) => n,
        Err(e) => return println!("soak not run: {e}"),
    };
    let plugin = PathBuf::from(env!("CARGO_BIN_EXE_attestor"));
    let hcl = node.hcl("soak.hcl", "");
    let pid = node.pod.pid();
    // Size the run from a shorter one, so that it lasts about `minutes` (the tool counts calls,
    // not time). A probe of 20,000 calls was dominated by warm-up and under-sized the run by a
    // third (4.26 M calls lasted 404 s); 100,000 takes about ten seconds.
    let probe =
        Job { plugin: &plugin, args: "plugin workload-attestor", hcl: &hcl, pid, n: 100_000, k: 8, sample_every: None };
    let rate = match run(tool, &probe) {
        Ok(r) => r.rate,
        Err(e) => return println!("soak probe failed: {e}"),
    };
    let n = (rate * 60.0 * minutes as f64) as usize;
    println!("soak: {n} attestations at 8 streams (~{minutes} min at {rate:.0}/s), RSS and fds every 30 s");
    let job = Job {
        plugin: &plugin,
        args: "plugin workload-attestor",
        hcl: &hcl,
        pid,
        n,
        k: 8,
        sample_every: Some(Duration::from_secs(30)),
    };
    match run(tool, &job) {
        Ok(r) => {
            for (t, rss, fds) in &r.samples {
                println!("  {:>6.0} s  RSS {:>6.1} MiB  fds {fds}", t, *rss as f64 / 1024.0);
            }
            println!("  overall {}", fmt_run(&r));
        }
        Err(e) => println!("soak failed: {e}"),
    }
}
