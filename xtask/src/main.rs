//! `cargo xtask`: build the Wasm guests with whatever toolchain works here, run the demo, the
//! full test suite and the benchmarks. Each command does its own set-up.

mod fuzz;
mod packages;
mod python;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  guests   build every guest module into <target>/guests/*.wasm (components)
  demo     attest a real local process with two Wasm modules and Cedar deciding its SPIFFE ID
  demo sigstore
           verify a real cosign v3 signature offline: served from a loopback registry
           (Debian's docker-registry when installed), checked by `attestor image verify`
  test     everything CI runs: guests, fmt, clippy, all tests (installs Debian's
           docker-registry for the real-registry tests when missing and apt can)
  bench    build guests and print the benchmark figures (`bench soak`: ten minutes under load)
  fuzz [TARGET…] [--seconds N]
           build the libFuzzer targets in fuzz/ (coverage-instrumented) and run each for N
           seconds (60), seeded from the project's own examples
  componentize CORE.wasm OUT.wasm
           turn a core module built with wit-bindgen into a component
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("guests") => guests().map(|dir| println!("guest components in {}", dir.display())),
        Some("demo") => match args.get(1).map(String::as_str) {
            None => demo(),
            Some("sigstore") => sigstore_demo(),
            Some(other) => Err(anyhow::anyhow!("unknown demo `{other}` (known: sigstore)\n\n{USAGE}")),
        },
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("componentize") => match (args.get(1), args.get(2)) {
            (Some(core), Some(out)) => {
                attestor_guest_build::component::componentize_file(Path::new(core), Path::new(out)).map_err(Into::into)
            }
            _ => Err(anyhow::anyhow!("usage: cargo xtask componentize CORE.wasm OUT.wasm")),
        },
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root.
fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process it starts. Read it at run time: when
    // several checkouts share one CARGO_TARGET_DIR (CI's clean checkout beside a working copy),
    // the xtask binary cargo starts may have been compiled in the other checkout.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// The host workspace's target directory.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { root().join(d) }
        }
        _ => root().join("target"),
    }
}

/// Where guest components land.
fn guests_dir() -> PathBuf {
    target_dir().join("guests")
}

/// The cargo that runs this xtask.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Build every guest and turn each core module into a component, with the library
/// `attestor module build` uses.
fn guests() -> Result<PathBuf> {
    let tc = toolchain::detect()?;
    eprintln!("xtask: building guests with {}", tc.describe());
    let build_dir = target_dir().join("guests-build");
    let out = guests_dir();
    let manifest = root().join("guests/Cargo.toml");
    let target = build_dir.to_string_lossy();
    let built = attestor_guest_build::build(&tc, &manifest, &["--workspace", "--target-dir", &target], Some(&out))?;
    eprintln!("xtask: {} guest components in {}", built.len(), out.display());
    Ok(out)
}

/// The release `attestor` binary, built.
fn attestor_binary() -> Result<PathBuf> {
    run(cargo().args(["build", "--release", "-p", "attestor", "--bin", "attestor"]))?;
    Ok(target_dir().join("release/attestor"))
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Attest a real process: a `sleep` child, with the team-owner and exe-allowlist modules and a
/// policy set that turns their facts into a SPIFFE ID.
fn demo() -> Result<()> {
    let guests = guests()?;
    let attestor = attestor_binary()?;
    let dir = target_dir().join("demo");
    std::fs::create_dir_all(dir.join("policies")).context("cannot create the demo directory")?;

    let mut child = Command::new("sleep").arg("60").stdin(Stdio::null()).spawn().context("cannot start `sleep`")?;
    let pid = child.id();
    let result = (|| -> Result<()> {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).context("cannot read the child's executable")?;
        let exe_sha = sha256_file(&exe)?;
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))?
            .lines()
            .find_map(|l| l.strip_prefix("Uid:").and_then(|v| v.split_whitespace().nth(1)).map(str::to_owned))
            .unwrap_or_else(|| "0".into());
        let team = guests.join("team-owner.wasm");
        let allow = guests.join("exe-allowlist.wasm");
        let config = format!(
            r#"# Demo: two Wasm modules feed facts to Cedar, which decides the SPIFFE ID.
trust_domain = "demo.example.org"

module "team" {{
  path   = "{team}"
  sha256 = "{team_sha}"
  config = <<EOT
uid:{uid} = platform
default   = unowned
EOT
}}

module "allow" {{
  path   = "{allow}"
  sha256 = "{allow_sha}"
  config = "{exe_sha} sleep"
}}

policy {{
  dir = "policies"
}}
"#,
            team = team.display(),
            team_sha = sha256_file(&team)?,
            allow = allow.display(),
            allow_sha = sha256_file(&allow)?,
        );
        std::fs::write(dir.join("demo.hcl"), config)?;
        std::fs::write(dir.join("policies/demo.cedar"), DEMO_POLICY)?;
        println!("demo: attesting pid {pid} ({}), config {}\n", exe.display(), dir.join("demo.hcl").display());
        run(Command::new(&attestor).args(["attest", "--pid", &pid.to_string(), "--config"]).arg(dir.join("demo.hcl")))?;
        let me = std::process::id();
        println!("\ndemo: now pid {me} (this xtask, not on the allow-list): the gate refuses it\n");
        run(Command::new(&attestor).args(["attest", "--pid", &me.to_string(), "--config"]).arg(dir.join("demo.hcl")))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

const DEMO_POLICY: &str = r#"// Demo policies: the team module's fact names the identity; the allow-list module's verdict
// gates the workload.

// Approved binaries get an identity under their owning team.
@id("team-program")
@spiffe_id("spiffe://{trust_domain}/team/{fact:team.team}/{fact:allow.program}")
@hint("team")
@reason("approved executable, named by the allow-list, under the team that owns the process")
permit (
  principal is Attest::Workload,
  action == Attest::Action::"propose",
  resource
)
when { principal.hasTag("allow.verdict") && principal.getTag("allow.verdict") == "allow" };

// Anything not on the allow-list is refused outright.
@id("only-approved-binaries")
@reason("the executable is not on the allow-list")
forbid (
  principal,
  action == Attest::Action::"attest",
  resource
)
when { principal.hasTag("allow.verdict") && principal.getTag("allow.verdict") == "deny" };

// Executable digests are for policies, not for registration entries.
@id("hide-sha256-selectors")
@reason("digests stay on the host; policies already used them")
forbid (
  principal,
  action == Attest::Action::"emit",
  resource
)
when { resource.type == "unix" && resource.key == "sha256" };
"#;

/// Verify the real kubewarden cosign v3 signature offline (host/examples/sigstore_demo.rs):
/// a loopback registry serves it, the `attestor` binary checks it under three configurations.
fn sigstore_demo() -> Result<()> {
    // One debug build of the binary and the example: the example needs the test-only
    // dependencies (the fake registry's TLS, oci-client's pushes), and in release the library
    // would be compiled once more with their features; in debug it is the one the tests build,
    // and the demo's three runs of the binary take 1.3–1.8 s (measured, 2 cores).
    run(cargo().args(["build", "-p", "attestor", "--bin", "attestor", "--example", "sigstore_demo"]))?;
    let debug = target_dir().join("debug");
    run(Command::new(debug.join("examples/sigstore_demo"))
        .env("ATTESTOR_BIN", debug.join("attestor"))
        .env("ATTESTOR_DEMO_DIR", target_dir().join("demo-sigstore")))
}

/// Everything CI runs.
fn test() -> Result<()> {
    let guests = guests()?;
    packages::ensure_docker_registry();
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args(["fmt", "--manifest-path", "guests/Cargo.toml", "--all", "--", "--check"]))?;
    run(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--all", "--", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // Guests are linted natively (nothing is linked, so the host target is fine for clippy).
    run(cargo()
        .args([
            "clippy",
            "--manifest-path",
            "guests/Cargo.toml",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .env("CARGO_TARGET_DIR", target_dir().join("guests-native")))?;
    // The SDK's and the example modules' own unit tests run natively too.
    run(cargo()
        .args(["test", "--manifest-path", "guests/Cargo.toml", "--workspace"])
        .env("CARGO_TARGET_DIR", target_dir().join("guests-native")))?;
    let mut tests = cargo();
    tests.args(["test", "--workspace"]).env("ATTESTOR_GUESTS_DIR", &guests);
    if let Some(componentize_py) = python::ensure_componentize_py(&target_dir()) {
        tests.env(python::ENV, componentize_py);
    }
    run(&mut tests)?;
    println!("xtask: all checks passed");
    Ok(())
}

/// Build guests and run the benchmark binary; with go-plugin's client and trivial server when
/// the `goplugin-bench` tool beside the checkout can be built (`../shared/tools/goplugin-bench`,
/// or the directory `ATTESTOR_GOPLUGIN_BENCH` names), so attestor's rate is quoted as a ratio of
/// the transport's.
fn bench(extra: &[String]) -> Result<()> {
    let guests = guests()?;
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "attestor", "--bench", "attestor", "--"]).args(extra).env("ATTESTOR_GUESTS_DIR", &guests);
    match goplugin_host() {
        Ok(host) => {
            cmd.env("ATTESTOR_GOPLUGIN_HOST", host);
        }
        Err(why) => eprintln!("xtask: go-plugin client benchmarks will not run: {why:#}"),
    }
    run(&mut cmd)
}

/// Build (or find built) the go-plugin client; its path.
fn goplugin_host() -> Result<PathBuf> {
    let tool = std::env::var_os("ATTESTOR_GOPLUGIN_BENCH")
        .map_or_else(|| root().join("../shared/tools/goplugin-bench"), PathBuf::from);
    let build = tool.join("build");
    if !build.is_file() {
        bail!("{} not found", build.display());
    }
    eprintln!("xtask: building go-plugin's client and trivial server ({})", build.display());
    let out = Command::new(&build)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", build.display()))?;
    if !out.status.success() {
        bail!("{} failed with {}", build.display(), out.status);
    }
    let path = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_owned();
    let host = PathBuf::from(path);
    if !host.is_file() {
        bail!("{} printed no path to goplugin-host", build.display());
    }
    Ok(host)
}
