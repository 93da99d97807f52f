//! The real `attestor` binary against real processes, fake procfs trees and real modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/sigstore_synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sleeper, euid, guest, sha256, user_name};
use registry::{Auth, FakeRegistry, Layer};
use serde_json::Value;
use synth::{AttestOptions, SignOptions, Subject, Synthetic};

fn attestor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attestor")).args(args).env("ATTESTOR_LOG", "off").output().expect("run attestor")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "attestor failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Run, expect failure, return the single stderr line.
fn fails(args: &[&str]) -> String {
    let out = attestor(args);
    assert!(!out.status.success(), "expected failure, got: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when attestation fails: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("attestor: error: "), "{err}");
    err.trim_end().trim_start_matches("attestor: error: ").to_owned()
}

fn selectors(v: &Value) -> Vec<String> {
    v["selectors"].as_array().expect("selectors").iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn attests_a_real_process_with_the_embedded_default() {
    let child = Sleeper::start();
    let exe = child.exe();
    let pid = child.pid().to_string();
    let v = json(&attestor(&["attest", "--pid", &pid, "--output", "json"]));
    assert_eq!(v["pid"], child.pid());
    let sels = selectors(&v);
    let uid = euid();
    assert!(sels.contains(&format!("unix:uid:{uid}")), "{sels:?}");
    assert!(sels.contains(&format!("unix:path:{}", exe.display())), "{sels:?}");
    assert!(sels.contains(&format!("unix:sha256:{}", sha256(&exe))), "{sels:?}");
    let (id, rule) = match user_name(uid) {
        Some(name) => (format!("spiffe://example.org/unix/user/{name}"), "host-user"),
        None => (format!("spiffe://example.org/unix/uid/{uid}"), "host-uid"),
    };
    assert_eq!(v["spiffe_ids"][0]["id"], id.as_str());
    assert_eq!(v["spiffe_ids"][0]["policies"], serde_json::json!([rule]));
    assert_eq!(v["gate"]["decision"], "allow");
    assert!(v["policy_generation"].as_str().unwrap_or("").starts_with("sha256:"));

    let text = attestor(&["attest", "--pid", &pid]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("  {id}  [{rule}]")), "{text}");
}

/// A config with the two example modules and policies that use their facts.
fn module_config(dir: &Path, exe_sha: &str) -> PathBuf {
    let team = guest("team-owner");
    let allow = guest("exe-allowlist");
    write(
        dir,
        "policies/demo.cedar",
        r#"
@id("team-program")
@spiffe_id("spiffe://{trust_domain}/team/{fact:team.team}/{fact:allow.program}")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal.hasTag("allow.verdict") && principal.getTag("allow.verdict") == "allow" };

@id("only-approved-binaries")
forbid (principal, action == Attest::Action::"attest", resource)
when { principal.hasTag("allow.verdict") && principal.getTag("allow.verdict") == "deny" };

@id("hide-sha256")
forbid (principal, action == Attest::Action::"emit", resource)
when { resource.type == "unix" && resource.key == "sha256" };
"#,
    );
    write(
        dir,
        "attestor.hcl",
        &format!(
            r#"trust_domain = "demo.example.org"
module "team" {{
  path   = "{}"
  sha256 = "{}"
  config = "uid:{} = platform"
}}
module "allow" {{
  path   = "{}"
  sha256 = "{}"
  config = "{exe_sha} sleep"
}}
policy {{
  dir = "policies"
}}
"#,
            team.display(),
            sha256(&team),
            euid(),
            allow.display(),
            sha256(&allow)
        ),
    )
}

#[test]
fn modules_and_policies_decide_the_id() {
    let child = Sleeper::start();
    let exe = child.exe();
    let tmp = tempfile::tempdir().unwrap();
    let config = module_config(tmp.path(), &sha256(&exe));
    let facts = tmp.path().join("facts.json");
    let pid = child.pid().to_string();
    let args = [
        "attest",
        "--pid",
        &pid,
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
        "--dump-facts",
        facts.to_str().unwrap(),
    ];
    let v = json(&attestor(&args));
    assert_eq!(
        v["spiffe_ids"],
        serde_json::json!([{"id": "spiffe://demo.example.org/team/platform/sleep", "policies": ["team-program"]}])
    );
    let sels = selectors(&v);
    assert!(sels.contains(&"team:platform".to_owned()) && sels.contains(&"allow:allowed:sleep".to_owned()), "{sels:?}");
    assert!(!sels.iter().any(|s| s.starts_with("unix:sha256:")), "{sels:?}");
    assert_eq!(v["suppressed_selectors"][0]["by"], serde_json::json!(["hide-sha256"]));
    assert_eq!(v["modules"][0]["name"], "team");
    assert!(v["modules"][0]["fuel_used"].as_u64().unwrap_or(0) > 0);

    // The dumped facts replay through `module run`.
    let team = guest("team-owner");
    let run = json(&attestor(&[
        "module",
        "run",
        team.to_str().unwrap(),
        "--facts",
        facts.to_str().unwrap(),
        "--module-config",
        &format!("uid:{} = replayed", euid()),
        "--name",
        "team",
        "--output",
        "json",
    ]));
    assert_eq!(run["selectors"], serde_json::json!(["team:replayed"]));
    assert!(run["fuel_used"].as_u64().unwrap_or(0) > 0);
    assert_eq!(run["logs"][0]["level"], "debug");

    // The limits given on the command line have the ranges of the module keys they stand for:
    // nothing is clamped, wrapped or silently turned into another value.
    let (team, facts) = (team.to_str().unwrap(), facts.to_str().unwrap());
    assert_eq!(
        fails(&["module", "run", team, "--facts", facts, "--timeout", "0s"]),
        "--timeout must be between 1ms and 1m0s, got \"0s\""
    );
    for (flag, value) in [("--memory-mib", "18446744073709551615"), ("--memory-mib", "0"), ("--fuel", "0")] {
        let out = attestor(&["module", "run", team, "--facts", facts, flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(flag) && err.contains("not in"), "{flag} {value}: {err}");
    }
}

#[test]
fn the_gate_refuses_an_unapproved_binary() {
    let child = Sleeper::start();
    let _ = child.exe();
    let tmp = tempfile::tempdir().unwrap();
    let config = module_config(tmp.path(), &"e".repeat(64));
    let pid = child.pid().to_string();
    let v = json(&attestor(&["attest", "--pid", &pid, "--config", config.to_str().unwrap(), "--output", "json"]));
    assert_eq!(v["gate"], serde_json::json!({"decision": "deny", "determining": ["only-approved-binaries"]}));
    assert_eq!(v["selectors"], serde_json::json!([]));
    assert_eq!(v["spiffe_ids"], serde_json::json!([]));
}

#[test]
fn a_trapping_module_fails_the_attestation() {
    let child = Sleeper::start();
    let tmp = tempfile::tempdir().unwrap();
    let panic = guest("hostile-panic");
    let config = write(
        tmp.path(),
        "a.hcl",
        &format!("module \"p\" {{\n path = \"{}\"\n sha256 = \"{}\"\n}}\n", panic.display(), sha256(&panic)),
    );
    let err = fails(&["attest", "--pid", &child.pid().to_string(), "--config", config.to_str().unwrap()]);
    assert!(err.starts_with("module `p` trapped: panicked: boom: hostile module refuses pid "), "{err}");
}

#[test]
fn config_errors_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pid = std::process::id().to_string();
    let team = guest("team-owner");
    let team_sha = sha256(&team);
    let cases: Vec<(String, String)> = vec![
        ("trust_domian = \"x\"\n".into(), "unknown configurations detected: trust_domian".into()),
        ("module \"m\" {\n path = \n}\n".into(), "unable to decode configuration: ".into()),
        (
            "module \"m\" {\n path = \"missing.wasm\"\n sha256 = \"".to_owned() + &team_sha + "\"\n}\n",
            format!(
                "module `m`: cannot read {}: No such file or directory (os error 2)",
                tmp.path().join("missing.wasm").display()
            ),
        ),
        (
            format!("module \"m\" {{\n path = \"{}\"\n sha256 = \"{}\"\n}}\n", team.display(), "1".repeat(64)),
            format!(
                "module `m`: {} has SHA-256 {team_sha}, but the config pins {}; refusing to load it",
                team.display(),
                "1".repeat(64)
            ),
        ),
        (
            "policy {\n dir = \"bad\"\n}\n".into(),
            "/bad/p.cedar:3: policy `typo`: attribute `unix.usr` on entity type `Attest::Workload` not found".into(),
        ),
        (
            "policy {\n dir = \"tmpl\"\n}\n".into(),
            "/tmpl/p.cedar:1: policy `r`: @spiffe_id: unknown template variable `{k8s.namespce}`".into(),
        ),
    ];
    write(
        tmp.path(),
        "bad/p.cedar",
        "@id(\"typo\")\nforbid (principal, action == Attest::Action::\"issue\", resource)\nwhen { principal.unix.usr == \"x\" };\n",
    );
    write(
        tmp.path(),
        "tmpl/p.cedar",
        "@id(\"r\")\n@spiffe_id(\"spiffe://{trust_domain}/{k8s.namespce}\")\npermit (principal, action == Attest::Action::\"propose\", resource);\n",
    );
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = write(tmp.path(), &format!("c{i}.hcl"), text);
        let err = fails(&["attest", "--pid", &pid, "--config", cfg.to_str().unwrap()]);
        assert!(err.contains(want.as_str()), "config {text:?}\n  got:  {err}\n  want: {want}");
    }
    let err = fails(&["attest", "--pid", &pid, "--config", "/nonexistent.hcl"]);
    assert_eq!(err, "cannot read config file /nonexistent.hcl: No such file or directory (os error 2)");
}

#[test]
fn missing_processes_are_named() {
    assert_eq!(fails(&["attest", "--pid", "4000000000"]), "no process 4000000000: /proc/4000000000 does not exist");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    assert_eq!(
        fails(&["attest", "--pid", "77", "--proc-root", root]),
        format!("no process 77: {root}/77 does not exist")
    );
}

/// A fake procfs tree for one process.
fn fake_proc(root: &Path, pid: u32, status: Option<&str>, exe: Option<&Path>) {
    common::fake_proc(root, pid, 424242, status, exe, None);
}

#[test]
fn reads_facts_under_a_fake_proc_root() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = write(tmp.path(), "bin/ledger", "not really a binary\n");
    let status = "Name:\tledger\nUid:\t1001\t1002\t1001\t1001\nGid:\t2001\t2002\t2001\t2001\nGroups:\t4 4242\n";
    fake_proc(tmp.path(), 31337, Some(status), Some(&exe));
    let root = tmp.path().to_str().unwrap();
    let facts = tmp.path().join("facts.json");
    let v = json(&attestor(&[
        "attest",
        "--pid",
        "31337",
        "--proc-root",
        root,
        "--output",
        "json",
        "--dump-facts",
        facts.to_str().unwrap(),
    ]));
    let sels = selectors(&v);
    assert!(sels.starts_with(&["unix:uid:1002".to_owned()]), "{sels:?}");
    assert!(sels.contains(&"unix:gid:2002".to_owned()), "{sels:?}");
    assert!(sels.contains(&"unix:supplementary_gid:4242".to_owned()), "{sels:?}");
    assert!(sels.contains(&format!("unix:path:{}", exe.display())), "{sels:?}");
    assert!(sels.contains(&format!("unix:sha256:{}", sha256(&exe))), "{sels:?}");
    let dumped: Value = serde_json::from_str(&std::fs::read_to_string(&facts).unwrap()).unwrap();
    assert_eq!(dumped["unix"]["uid"], 1001);
    assert_eq!(dumped["unix"]["euid"], 1002);
    assert_eq!(dumped["unix"]["start_time"], 424242);
    assert_eq!(dumped["facts"]["host.name"], "fake-node");
}

#[test]
fn a_recorded_proc_root_needs_only_the_files_the_design_names() {
    // `cgroup`, `mountinfo` and `status` only: no `stat` (so no PID-reuse guard, which only a
    // live procfs can support) and no `exe` (so no path or digest selectors).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("808");
    std::fs::create_dir(&dir).unwrap();
    write(
        &dir,
        "status",
        "Name:\tweb\nUid:\t3999999\t3999999\t3999999\t3999999\nGid:\t3999998\t3999998\t3999998\t3999998\nGroups:\t\n",
    );
    write(&dir, "cgroup", "0::/user.slice\n");
    write(&dir, "mountinfo", "");
    let v =
        json(&attestor(&["attest", "--pid", "808", "--proc-root", tmp.path().to_str().unwrap(), "--output", "json"]));
    assert_eq!(selectors(&v), ["unix:uid:3999999", "unix:gid:3999998"]);
    assert_eq!(v["pid"], 808);

    // Without `status` there are no unix facts, and the error says which file is missing.
    std::fs::remove_file(dir.join("status")).unwrap();
    let err = fails(&["attest", "--pid", "808", "--proc-root", tmp.path().to_str().unwrap()]);
    assert_eq!(
        err,
        format!(
            "{}/808/status does not exist: a recorded proc root needs `<pid>/status` (and `<pid>/cgroup` for Kubernetes facts)",
            tmp.path().display()
        )
    );
}

#[test]
fn module_inspect_shows_the_pin() {
    let team = guest("team-owner");
    let v = json(&attestor(&[
        "module",
        "inspect",
        team.to_str().unwrap(),
        "--module-config",
        "uid:0 = x",
        "--output",
        "json",
    ]));
    assert_eq!(v["sha256"], sha256(&team).as_str());
    assert_eq!(v["imports"], serde_json::json!(["attestor:plugin/host@0.1.0", "attestor:plugin/types@0.1.0"]));
    assert_eq!(v["exports"], serde_json::json!(["attestor:plugin/module@0.1.0"]));
    assert_eq!(v["metadata"]["name"], "team-owner");
    let wasi = guest("hostile-wasi-import");
    let err = fails(&["module", "inspect", wasi.to_str().unwrap()]);
    assert!(err.contains("imports `wasi:clocks/wall-clock@0.2.0`"), "{err}");
}

#[test]
fn the_offline_demo_shows_kubernetes_selectors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/offline");
    let proc_root = root.join("proc");
    let config = root.join("attestor.hcl");
    let v = json(&attestor(&[
        "attest",
        "--pid",
        "4242",
        "--proc-root",
        proc_root.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(v["spiffe_ids"][0]["id"], "spiffe://demo.example.org/demo/payments/ledger");
    let sels = selectors(&v);
    for want in [
        "k8s:ns:payments",
        "k8s:sa:ledger",
        "k8s:container-name:ledger",
        "k8s:pod-init-image-count:1",
        "unix:uid:10001",
    ] {
        assert!(sels.contains(&want.to_owned()), "{want} not in {sels:?}");
    }
    assert_eq!(v["suppressed_selectors"][0]["selector"], "k8s:pod-label:internal.example.com/cost-center:cc-1234");
}

/// The allocator is built to commit memory on demand (`.cargo/config.toml`): with mimalloc's
/// default (eager commit of its first arena) the plugin's resident memory doubled under load.
#[test]
fn the_allocator_commits_memory_on_demand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestor"))
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("option 'arena_eager_commit': 0"), "mimalloc options: {err}");
}

/// `unix.workload_size_limit`: a binary larger than the limit fails the attestation naming
/// both sizes; `-1` never hashes (no `unix:sha256`); `0` hashes any size.
#[test]
fn workload_size_limit_bounds_hashing() {
    let child = Sleeper::start();
    let pid = child.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = |limit: i64| {
        let path = dir.path().join(format!("limit{limit}.hcl"));
        std::fs::write(&path, format!("k8s_source = \"disabled\"\nunix {{\n  workload_size_limit = {limit}\n}}\n"))
            .unwrap();
        path.display().to_string()
    };
    let err = fails(&["attest", "--pid", &pid, "--config", &config(1)]);
    assert!(err.contains("bytes, over unix.workload_size_limit (1 bytes)") && err.contains("sleep"), "{err}");
    let none = selectors(&json(&attestor(&["attest", "--pid", &pid, "--output", "json", "--config", &config(-1)])));
    assert!(!none.iter().any(|s| s.starts_with("unix:sha256:")), "{none:?}");
    assert!(none.iter().any(|s| s.starts_with("unix:path:")), "{none:?}");
    let any = selectors(&json(&attestor(&["attest", "--pid", &pid, "--output", "json", "--config", &config(0)])));
    assert!(any.iter().any(|s| s.starts_with("unix:sha256:")), "{any:?}");
}

/// A panic (a bug; injected here with a debug-build switch) is one line on stderr like any other
/// error, with where it happened, and a failing exit status.
#[test]
fn a_panic_is_one_line_on_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_attestor"))
        .args(["attest", "--pid", "1"])
        .env("ATTESTOR_TEST_PANIC", "cli-attest")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "attestor: error: internal error (a bug: please report it): ATTESTOR_TEST_PANIC=cli-attest at "
        ),
        "{err}"
    );
}

const WORKFLOW: &str = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const REPO: &str = "team/app";

fn image_digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// A fake HTTPS registry (served by its own runtime while the binary runs), a synthetic
/// Sigstore deployment, and a directory holding the trusted root, the registry's CA and configs.
struct Signatures {
    dir: tempfile::TempDir,
    registry: FakeRegistry,
    synthetic: Synthetic,
    _runtime: tokio::runtime::Runtime,
}

impl Signatures {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let registry = runtime.block_on(FakeRegistry::start(Auth::Anonymous));
        let synthetic = Synthetic::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("trusted_root.json"), synthetic.trusted_root_json()).unwrap();
        std::fs::write(dir.path().join("registry-ca.pem"), registry.ca_pem()).unwrap();
        Self { dir, registry, synthetic, _runtime: runtime }
    }

    /// A config whose `sigstore` block trusts the synthetic root, the registry's CA and the
    /// example workflow, with `extra` lines in the block.
    fn config(&self, name: &str, extra: &str) -> String {
        let text = format!(
            "sigstore {{\n  allowed_identities = {{\n    \"{ACTIONS}\" = [\"^https://github.com/example/\"]\n  }}\n  trusted_root = \"trusted_root.json\"\n  registry_ca_path = \"registry-ca.pem\"\n  {extra}\n}}\n"
        );
        write(self.dir.path(), name, &text).display().to_string()
    }

    fn image(&self, digest: &str) -> String {
        format!("{}/{REPO}@{digest}", self.registry.host())
    }

    /// A keyless `.sig` layer for `signed` (the digest its payload names) stored under
    /// `under`'s `.sig` tag, signed by `subject`.
    fn sign(&self, signed: &str, under: &str, subject: &str) {
        let options = self.options(signed, subject);
        let sig = self.synthetic.legacy_signature(&options);
        self.registry.put_legacy_signatures(REPO, under, vec![Layer::simple_signing(sig.payload, sig.annotations)]);
    }

    /// A provenance `.att` layer for `digest`, signed by the example workflow.
    fn attest(&self, digest: &str) {
        let options = AttestOptions::new(self.options(digest, WORKFLOW), PROVENANCE);
        let att = self.synthetic.legacy_attestation(&options);
        self.registry.put_legacy_attestations(REPO, digest, vec![Layer::dsse(att.payload, att.annotations)]);
    }

    fn options(&self, digest: &str, subject: &str) -> SignOptions {
        let mut options = SignOptions::keyless(digest, Subject::Uri(subject.into()), ACTIONS);
        options.docker_reference = format!("{}/{REPO}", self.registry.host());
        options
    }
}

/// `image verify` with these arguments: exit code, stdout, stderr.
fn verify(args: &[&str]) -> (Option<i32>, String, String) {
    let out = attestor(&[&["image", "verify"], args].concat());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A usage or configuration error: exit 2, nothing on stdout, one `attestor: error:` line.
fn usage_error(args: &[&str]) -> String {
    let (code, out, err) = verify(args);
    assert_eq!(code, Some(2), "{args:?}: stdout {out:?}, stderr {err:?}");
    assert!(out.is_empty(), "{args:?}: nothing on stdout: {out:?}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line on stderr: {err:?}");
    assert!(err.starts_with("attestor: error: "), "{err}");
    err.trim_end().trim_start_matches("attestor: error: ").to_owned()
}

#[test]
fn image_verify_shows_each_signature_its_signer_and_the_verdict() {
    let s = Signatures::start();
    let d = image_digest(1);
    s.sign(&d, &d, WORKFLOW);
    s.attest(&d);
    let config = s.config("a.hcl", "");
    let image = s.image(&d);
    let hex = d.trim_start_matches("sha256:");

    let (code, out, err) = verify(&[&image, "--config", &config]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("image: {image}"), "{out}");
    assert_eq!(lines[1], format!("signature at tag sha256-{hex}.sig layer 0:"), "{out}");
    assert_eq!(lines[2], format!("  subject: {WORKFLOW}"), "{out}");
    assert_eq!(lines[3], format!("  issuer: {ACTIONS}"), "{out}");
    assert!(lines.iter().any(|l| l.strip_prefix("  log_index: ").is_some_and(|v| v.parse::<u64>().is_ok())), "{out}");
    assert!(out.contains(&format!("attestation at tag sha256-{hex}.att layer 0:\n")), "{out}");
    assert!(out.contains(&format!("  predicate_type: {PROVENANCE}\n")), "{out}");
    assert_eq!(out.matches("\n  verified\n").count(), 2, "{out}");
    assert_eq!(lines.last(), Some(&"verdict: verified"), "{out}");

    let (code, out, err) = verify(&[&image, "--config", &config, "--output", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).expect("stdout is one JSON object");
    assert_eq!(v["image"], image.as_str());
    assert_eq!(v["resolved"], image.as_str());
    assert_eq!(v["verified"], true);
    assert!(v["error"].is_null(), "{v}");
    let found = v["found"].as_array().unwrap();
    assert_eq!(found.len(), 2, "{v}");
    let sig = &found[0];
    assert_eq!(sig["kind"], "signature");
    assert_eq!(sig["location"], format!("tag sha256-{hex}.sig layer 0"));
    assert_eq!(sig["verified"], true);
    assert_eq!(sig["signer"]["subject"], WORKFLOW);
    assert_eq!(sig["signer"]["issuer"], ACTIONS);
    assert!(sig["signer"]["log_index"].is_u64(), "{sig}");
    assert!(sig["signer"]["integrated_time"].is_i64(), "{sig}");
    assert!(sig["signer"]["log_id"].is_string(), "{sig}");
    assert!(sig["signer"]["key"].is_null(), "keyless: {sig}");
    assert_eq!(found[1]["kind"], "attestation");
    assert_eq!(found[1]["signer"]["predicate_type"], PROVENANCE);
}

#[test]
fn image_verify_refusals_exit_1_and_say_why() {
    let s = Signatures::start();
    let config = s.config("a.hcl", "ignore_attestations = true");

    // Nothing found.
    let unsigned = s.image(&image_digest(2));
    let (code, out, err) = verify(&[&unsigned, "--config", &config]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("found: nothing\n"), "{out}");
    assert!(out.ends_with("verdict: not verified: no signatures found\n"), "{out}");
    let (code, out, _) = verify(&[&unsigned, "--config", &config, "--output", "json"]);
    assert_eq!(code, Some(1));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&v["verified"], &v["error"], &v["found"]),
        (&Value::from(false), &Value::from("no signatures found"), &serde_json::json!([]))
    );

    // A valid signature by someone allowed_identities does not name.
    let other = "https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main";
    let d = image_digest(4);
    s.sign(&d, &d, other);
    let (code, out, err) = verify(&[&s.image(&d), "--config", &config]);
    assert_eq!(code, Some(1), "{out}{err}");
    let refused = format!("  refused: signer \"{other}\" (OIDC issuer \"{ACTIONS}\") is not in allowed_identities\n");
    assert!(out.contains(&refused), "{out}");
    assert!(out.contains("verdict: not verified: no matching signatures: tag sha256-"), "{out}");

    // A valid layer of image 1 copied under image 3's `.sig` tag: the signed payload names 1.
    let (one, three) = (image_digest(1), image_digest(3));
    s.sign(&one, &three, WORKFLOW);
    let (code, out, err) = verify(&[&s.image(&three), "--config", &config, "--output", "json"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let sig = &v["found"][0];
    assert_eq!(sig["verified"], false, "{v}");
    assert_eq!(
        sig["error"],
        format!(
            "the signature is for image {one}, not for {three}: a signature layer copied from another image is refused"
        )
    );
    assert!(v["error"].as_str().unwrap().starts_with("no matching signatures: tag sha256-"), "{v}");

    // A registry that cannot be reached: not verified, and the verdict names the registry.
    let (code, out, err) = verify(&[&format!("127.0.0.1:1/{REPO}@{}", image_digest(1)), "--config", &config]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("found: nothing\n"), "{out}");
    assert!(
        out.contains("verdict: not verified: registry 127.0.0.1:1: ") && out.contains("cannot reach the registry"),
        "{out}"
    );
}

#[test]
fn image_verify_usage_and_configuration_errors_exit_2() {
    let s = Signatures::start();
    let image = s.image(&image_digest(1));

    // The trusted root is missing: the file is named.
    let config = s.config("a.hcl", "");
    std::fs::rename(s.dir.path().join("trusted_root.json"), s.dir.path().join("moved.json")).unwrap();
    let root = s.dir.path().join("trusted_root.json");
    let err = usage_error(&[&image, "--config", &config]);
    assert!(err.starts_with("error initializing sigstore verifier: "), "{err}");
    assert!(err.contains(&root.display().to_string()) && err.contains("No such file or directory"), "{err}");

    // Half of a registry's credentials: the key is named.
    let half = s.config("half.hcl", "registry_credentials = {\n    \"ghcr.io\" = { username = \"bot\" }\n  }");
    let err = usage_error(&[&image, "--config", &half]);
    assert!(err.contains("registry_credentials") && err.contains("password missing for registry \"ghcr.io\""), "{err}");

    // The config file itself is missing.
    let err = usage_error(&[&image, "--config", "/nonexistent.hcl"]);
    assert_eq!(err, "cannot read config file /nonexistent.hcl: No such file or directory (os error 2)");

    // No image at all: clap's usage error.
    let (code, out, err) = verify(&[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.is_empty());
    assert!(err.contains("required") && err.contains("<IMAGE>"), "{err}");
}

/// design.md: "exit 0 when at least one signature verifies". A verified signature without the
/// attestation generation 2 requires exits 0, while the verdict line says what the attestor
/// would decide: not verified.
#[test]
fn image_verify_exits_0_on_a_verified_signature_even_when_the_verdict_is_not_verified() {
    let s = Signatures::start();
    let d = image_digest(5);
    s.sign(&d, &d, WORKFLOW);
    let (code, out, err) = verify(&[&s.image(&d), "--config", &s.config("a.hcl", "")]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("\n  verified\n"), "{out}");
    assert!(out.ends_with("verdict: not verified: no matching attestations: no attestations found\n"), "{out}");
}

/// docs/sigstore.md §5: an `imageID` that is not a digest reference is an image that does not
/// verify (exit 1, the reason in the verdict), and no registry is asked.
#[test]
fn image_verify_says_why_a_reference_is_not_an_image_by_digest() {
    let s = Signatures::start();
    let config = s.config("a.hcl", "");
    let hex = "ab".repeat(32);
    let host = s.registry.host();
    for (reference, why) in [
        (
            format!("docker-pullable://{host}/{REPO}@sha256:{hex}"),
            "starts with a runtime prefix (`docker-pullable://`…), not an image reference",
        ),
        (format!("{host}/{REPO}:v1"), "names a tag, not a digest: a tag can move, so it is never verified"),
        (format!("sha256:{hex}"), "is a bare digest: it names no repository to find signatures in"),
        (format!("{host}/{REPO}@sha512:{hex}{hex}"), "has a digest that is not sha256"),
        (
            format!("{host}/{REPO}@sha256:{}", &hex[1..]),
            "has a malformed sha256 digest (expected 64 lowercase hex digits)",
        ),
    ] {
        let (code, out, err) = verify(&[&reference, "--config", &config]);
        assert_eq!(code, Some(1), "{reference}: {out}{err}");
        assert!(err.is_empty(), "{reference}: {err}");
        assert_eq!(
            out,
            format!("image: {reference}\nfound: nothing\nverdict: not verified: imageID \"{reference}\" {why}\n")
        );
        let (code, out, _) = verify(&[&reference, "--config", &config, "--output", "json"]);
        assert_eq!(code, Some(1));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["image"], reference.as_str());
        assert!(v["resolved"].is_null(), "{v}");
        assert_eq!(v["verified"], false);
        assert_eq!(v["error"], format!("imageID \"{reference}\" {why}"));
    }
    assert_eq!(s.registry.requests(), 0, "no registry is asked");
}

/// An HTTP CONNECT proxy on loopback that tunnels every request to `127.0.0.1:<the port asked
/// for>`, whatever the host, and records what it was asked.
struct ConnectProxy {
    port: u16,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> Self {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap() <= 2 {
                            break;
                        }
                    }
                    log.lock().unwrap().push(target.clone());
                    let port = target.rsplit(':').next().unwrap_or_default();
                    let upstream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
                    let mut client = client;
                    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
                    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
                    let mut down_write = client.try_clone().unwrap();
                    std::thread::spawn(move || std::io::copy(&mut up_read, &mut down_write));
                    let _ = std::io::copy(&mut reader, &mut up_write);
                });
            }
        });
        Self { port, asked }
    }
}

#[test]
fn image_verify_reaches_a_registry_through_https_proxy_except_for_no_proxy_hosts() {
    let s = Signatures::start();
    let d = image_digest(7);
    s.sign(&d, &d, WORKFLOW);
    let config = s.config("proxied.hcl", "ignore_attestations = true");
    let host = format!("{}:{}", registry::PROXIED_NAME, s.registry.port());
    let image = format!("{host}/{REPO}@{d}");
    let proxy = ConnectProxy::start();
    let run = |no_proxy: &str| {
        Command::new(env!("CARGO_BIN_EXE_attestor"))
            .args(["image", "verify", &image, "--config", &config])
            .env("ATTESTOR_LOG", "off")
            .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port))
            .env("NO_PROXY", no_proxy)
            .env_remove("https_proxy")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    };
    let out = run("");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(proxy.asked.lock().unwrap().iter().all(|t| *t == host), "{:?}", proxy.asked);
    let tunnels = proxy.asked.lock().unwrap().len();
    assert!(tunnels >= 1);
    // Exempt: the name is resolved directly, and it resolves nowhere.
    let out = run(registry::PROXIED_NAME);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("registry {host}")));
    assert_eq!(proxy.asked.lock().unwrap().len(), tunnels, "NO_PROXY hosts bypass the proxy");
}

/// A reader that has gone (`attestor … | head`) ends a command quietly with status 141, as a
/// Unix tool killed by SIGPIPE does, never with a panic's "internal error" and backtrace.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/node-attestation");
    let facts = format!("{examples}/tests/facts/gpu.json");
    for args in [
        vec!["policy", "schema"],
        vec!["policy", "explain", examples, "--facts", &facts],
        vec!["policy", "test", examples],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_attestor"))
            .args(&args)
            .env("ATTESTOR_LOG", "off")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

/// `attestor module wit` prints the WIT package the host was built with, byte for byte.
#[test]
fn module_wit_prints_the_package_the_host_binds() {
    let out = attestor(&["module", "wit"]);
    assert!(out.status.success());
    let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/attestor.wit")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), wit);
    assert!(wit.contains("package attestor:plugin@0.1.0;"));
}
