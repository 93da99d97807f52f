//! `cargo xtask fuzz`: libFuzzer on every parser of outside input, with the stable toolchain.
//!
//! `cargo fuzz` would want a nightly compiler for its sanitizer flags; coverage instrumentation
//! alone (`-C passes=sancov-module` and LLVM's sanitizer-coverage options) is stable, and
//! `libfuzzer-sys` builds libFuzzer itself from C++ with the machine's compiler. Panics are the
//! crashes looked for (the host never uses `unsafe`), so no address sanitizer is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{root, target_dir};

/// Every target, with the project files that seed its corpus.
const TARGETS: &[(&str, &[&str])] = &[
    ("config", &["examples/attestor.hcl", "examples/offline/attestor.hcl"]),
    ("hcl_v1", &["examples/attestor.hcl", "examples/offline/attestor.hcl"]),
    ("cgroup", &["examples/offline/proc/4242/cgroup"]),
    ("mountinfo", &[]),
    ("pod_list", &["examples/offline/pods.json"]),
    ("duration", &[]),
    ("template", &[]),
    ("fixture", &["policies/examples"]),
    ("policy_offsets", &["policies/default/identities.cedar"]),
    ("image_reference", &[]),
    ("sigstore_bundle", &["host/src/facts/sigstore/testdata/cosign-v3"]),
];

/// Seeds that no project file carries.
fn extra_seeds(target: &str) -> &'static [&'static str] {
    match target {
        "mountinfo" => &[
            "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n36 24 0:31 /kubepods.slice/kubepods-pod1.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope /sys/fs/cgroup/x rw - cgroup cgroup rw,pids\n",
        ],
        "duration" => &["500ms", "1h30m", "-1.5s", "9223372036854775807ns", "0"],
        "image_reference" => &[
            "docker.io/library/nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "127.0.0.1:5000/team/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ],
        "template" => &[
            "spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}",
            "spiffe://{trust_domain}/{label:app}/{fact:team.name}",
        ],
        "cgroup" => &[
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2c6b4f9e_1b1a_4b1e_9c1e_1234567890ab.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n",
            "11:pids:/kubepods/besteffort/pod2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        ],
        _ => &[],
    }
}

/// Coverage instrumentation for libFuzzer, as cargo-fuzz sets it (minus the sanitizer).
const RUSTFLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60_u64;
    let mut wanted = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let n = it.next().context("--seconds needs a number")?;
                seconds = n.parse().with_context(|| format!("--seconds {n:?} is not a number"))?;
            }
            name if TARGETS.iter().any(|(t, _)| *t == name) => wanted.push(name.to_owned()),
            other => bail!(
                "unknown fuzz target {other:?}; targets: {}",
                TARGETS.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let dir = target_dir().join("fuzz");
    // An explicit --target keeps RUSTFLAGS off build scripts and proc macros, which would not
    // link against libFuzzer's coverage hooks.
    let host = host_triple()?;
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(root().join("fuzz"))
        .args(["build", "--release", "--bins", "--target", &host])
        .env("CARGO_TARGET_DIR", &dir)
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    crate::run(&mut build)?;
    let mut crashed = Vec::new();
    for (target, sources) in TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == target) {
            continue;
        }
        let corpus = dir.join("corpus").join(target);
        let artifacts = dir.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
        std::fs::create_dir_all(&artifacts).with_context(|| format!("cannot create {}", artifacts.display()))?;
        seed(&corpus, target, sources)?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let status = Command::new(dir.join(&host).join("release").join(target))
            .arg(&corpus)
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(["-rss_limit_mb=4096", "-timeout=20", "-print_final_stats=1"])
            .status()
            .with_context(|| format!("cannot run the {target} fuzzer"))?;
        if !status.success() {
            crashed.push(format!("{target} (inputs in {})", artifacts.display()));
        }
    }
    if !crashed.is_empty() {
        bail!("fuzzers found crashes: {}", crashed.join(", "));
    }
    eprintln!("xtask: no crashes");
    Ok(())
}

/// The triple rustc builds for by default.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output().context("cannot run rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("host: ")).map(str::to_owned).context("rustc -vV printed no host triple")
}

/// Copy seed files (a directory: every file under it) into the corpus.
fn seed(corpus: &Path, target: &str, sources: &[&str]) -> Result<()> {
    let mut files: Vec<PathBuf> = Vec::new();
    for s in sources {
        collect(&root().join(s), &mut files);
    }
    for (n, f) in files.iter().enumerate() {
        let dest = corpus.join(format!("seed-file-{n}"));
        std::fs::copy(f, &dest).with_context(|| format!("cannot copy {} to {}", f.display(), dest.display()))?;
    }
    for (n, text) in extra_seeds(target).iter().enumerate() {
        let dest = corpus.join(format!("seed-{n}"));
        std::fs::write(&dest, text).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    Ok(())
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            collect(&e.path(), out);
        }
    }
}
