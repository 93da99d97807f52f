//! The real `attestor` binary against real processes, fake procfs trees and real modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sleeper, euid, guest, sha256, user_name};
use serde_json::Value;

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
