//! `attestor policy …` and the audit log, driven through the real binary.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Sleeper;
use serde_json::Value;

fn attestor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attestor")).args(args).env("ATTESTOR_LOG", "off").output().expect("run attestor")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const IDENTITIES: &str = r#"// Payments apps get an ID from their app label.
@id("payments-app")
@spiffe_id("spiffe://{trust_domain}/payments/{label:app}")
@hint("app")
permit (
  principal in Attest::Namespace::"payments",
  action == Attest::Action::"propose",
  resource
)
when { principal has k8s && principal.k8s.pod.hasTag("app") };

@id("k8s-ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@fallback
permit (
  principal,
  action == Attest::Action::"propose",
  resource
)
when { principal has k8s };
"#;

const GUARDS: &str = r#"@id("prefix-ownership")
@reason("the SPIFFE ID path prefix is owned by other namespaces")
forbid (
  principal,
  action == Attest::Action::"issue",
  resource
)
when { resource has prefix && !(principal in resource.prefix.owners) };

@id("hide-annotations")
forbid (
  principal,
  action == Attest::Action::"emit",
  resource
)
when { resource.key == "pod-annotation" };
"#;

const QUARANTINE: &str = r#"@id("quarantine")
@reason("quarantined by the operator")
forbid (
  principal in ?principal,
  action == Attest::Action::"issue",
  resource
);
"#;

fn facts(ns: &str, app: &str) -> String {
    format!(
        r#"{{
  "unix": {{"pid": 41234, "uid": 1000, "euid": 1000, "gid": 1000, "egid": 1000}},
  "kubernetes": {{
    "pod": {{"uid": "2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab", "name": "{app}-7d9c8", "namespace": "{ns}",
             "service_account": "{app}", "labels": {{"app": "{app}"}},
             "annotations": {{"vault.example.com/token": "s.very-secret"}}}}
  }},
  "selectors": ["k8s:ns:{ns}", "k8s:sa:{app}", "k8s:pod-label:app:{app}",
                "k8s:pod-annotation:vault.example.com/token:s.very-secret"]
}}"#
    )
}

/// A policy set with identities, guards, prefix data, a quarantine template, facts and fixtures.
fn policy_set(dir: &Path) {
    write(dir, "identities.cedar", IDENTITIES);
    write(dir, "guards.cedar", GUARDS);
    write(dir, "templates/quarantine.cedar", QUARANTINE);
    write(dir, "data/id-prefixes.json", r#"[{"prefix": "/payments", "owners": ["payments"]}]"#);
    write(dir, "tests/facts/ledger.json", &facts("payments", "ledger"));
    write(dir, "tests/facts/web.json", &facts("web", "frontend"));
    write(
        dir,
        "tests/ledger.yaml",
        r"name: ledger gets the app ID, not the fallback
facts: facts/ledger.json
expect:
  gate: allow
  issued: [spiffe://example.org/payments/ledger]
  default: spiffe://example.org/payments/ledger
  suppressed_selectors: ['k8s:pod-annotation:vault.example.com/token:s.very-secret']
  emitted_selectors: ['k8s:ns:payments']
  errors: 0
---
name: web gets its service account ID
facts: facts/web.json
expect:
  issued: [spiffe://example.org/ns/web/sa/frontend]
",
    );
}

#[test]
fn check_accepts_a_good_set_and_names_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = attestor(&["policy", "check", d]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(": ok: 4 policies (2 identity rules), 1 templates, 0 links, 1 ID prefixes; generation sha256:"),
        "{text}"
    );

    // Three different problems, each with file, line and policy id.
    write(
        dir.path(),
        "broken.cedar",
        r#"
@id("bad-forbid")
forbid (principal, action == Attest::Action::"propose", resource);

@id("typo")
forbid (principal, action == Attest::Action::"emit", resource)
when { resource.kee == "x" };

@id("payments-app")
forbid (principal, action == Attest::Action::"attest", resource);
"#,
    );
    let out = attestor(&["policy", "check", d]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let broken = dir.path().join("broken.cedar").display().to_string();
    assert!(
        text.contains(&format!("{broken}:2: policy `bad-forbid`: a `forbid` may not apply to `propose`")),
        "{text}"
    );
    let identities = dir.path().join("identities.cedar").display().to_string();
    assert!(text.contains(&format!("{identities}:2: policy `payments-app`: id already used at {broken}:9")), "{text}");
    assert!(text.ends_with("problems; the host would refuse this set\n"), "{text}");
    std::fs::remove_file(dir.path().join("broken.cedar")).unwrap();

    // Strict validation (reported once the structural problems are fixed).
    write(
        dir.path(),
        "typo.cedar",
        "@id(\"typo\")\nforbid (principal, action == Attest::Action::\"emit\", resource)\nwhen { resource.kee == \"x\" };\n",
    );
    let out = attestor(&["policy", "check", d]);
    assert_eq!(out.status.code(), Some(1));
    let typo = dir.path().join("typo.cedar").display().to_string();
    assert!(stdout(&out).starts_with(&format!("{typo}:3: policy `typo`: ")), "{}", stdout(&out));
    assert!(stdout(&out).contains("kee"), "{}", stdout(&out));
    std::fs::remove_file(dir.path().join("typo.cedar")).unwrap();

    // Warnings pass, unless denied.
    write(
        dir.path(),
        "warn.cedar",
        "@id(\"allow-emit\")\npermit (principal, action == Attest::Action::\"emit\", resource);\n",
    );
    let out = attestor(&["policy", "check", d]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(
            "policy `allow-emit`: warning: a `permit` on attest, issue, emit or attest_node (without @spiffe_id) has no effect"
        ),
        "{}",
        stdout(&out)
    );
    let out = attestor(&["policy", "check", d, "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("1 warning denied"), "{}", stdout(&out));
    // `validate` is another name for `check`.
    let again = attestor(&["policy", "validate", d, "--deny-warnings"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stdout(&again), stdout(&out));
}

#[test]
fn test_runs_fixtures_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = attestor(&["policy", "test", d]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("2 passed, 0 failed\n"), "{}", stdout(&out));

    // A fixture expecting the wrong thing fails with what was expected and what happened.
    write(
        dir.path(),
        "tests/wrong.yaml",
        r"name: web may not hold a payments ID
facts: facts/web.json
expect:
  issued: [spiffe://example.org/payments/frontend]
  denied: {spiffe://example.org/payments/frontend: [prefix-ownership]}
  errors: 1
",
    );
    let out = attestor(&["policy", "test", d]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL "), "{text}");
    assert!(
        text.contains(
            "issued: expected [spiffe://example.org/payments/frontend], got [spiffe://example.org/ns/web/sa/frontend]"
        ),
        "{text}"
    );
    assert!(text.contains("denied spiffe://example.org/payments/frontend: no identity rule proposed it"), "{text}");
    assert!(text.contains("errors: expected 1, got 0"), "{text}");
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");

    // A fixture file that is not a fixture is a failure naming the file, not a crash.
    write(dir.path(), "tests/wrong.yaml", "name: x\nfacts: facts/none.json\nexpect: {}\n");
    let out = attestor(&["policy", "test", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("cannot read facts"), "{}", stdout(&out));
    write(dir.path(), "tests/wrong.yaml", "name: x\nfacts: facts/web.json\nexpect: {isued: []}\n");
    let out = attestor(&["policy", "test", d]);
    assert!(stdout(&out).contains("unknown field `isued`"), "{}", stdout(&out));
    std::fs::remove_file(dir.path().join("tests/wrong.yaml")).unwrap();

    // A set that does not load fails every fixture.
    write(dir.path(), "bad.cedar", "permit(principal, action, resource);\n");
    let out = attestor(&["policy", "test", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("policy has no @id annotation"), "{}", stdout(&out));
}

#[test]
fn quarantine_is_linked_and_unlinked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = attestor(&[
        "policy",
        "link",
        "quarantine",
        "quarantine-payments",
        "--principal",
        "Attest::Namespace::\"payments\"",
        d,
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("links.json").is_file());

    let facts = dir.path().join("tests/facts/ledger.json");
    let explain = attestor(&["policy", "explain", d, "--facts", facts.to_str().unwrap()]);
    assert!(explain.status.success());
    let v: Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(v["issued"], serde_json::json!([]));
    let app = v["candidates"].as_array().unwrap().iter().find(|c| c["rule"] == "payments-app").unwrap();
    assert_eq!(app["decision"], "deny");
    assert_eq!(app["determining"], serde_json::json!(["quarantine-payments"]));
    assert_eq!(app["reasons"], serde_json::json!(["quarantined by the operator"]));
    let text = v["policies"]["quarantine-payments"]["text"].as_str().unwrap();
    assert!(text.starts_with("// template `quarantine` linked with"), "{text}");

    // Linking to an entity of the wrong type is refused and the file is left alone.
    let before = std::fs::read_to_string(dir.path().join("links.json")).unwrap();
    let out = attestor(&["policy", "link", "quarantine", "q-bad", "--principal", "Attest::Selector::\"x\"", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not written"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("links.json")).unwrap(), before);

    let out = attestor(&["policy", "unlink", "quarantine-payments", d]);
    assert!(out.status.success());
    let v: Value =
        serde_json::from_slice(&attestor(&["policy", "explain", d, "--facts", facts.to_str().unwrap()]).stdout)
            .unwrap();
    assert_eq!(v["issued"], serde_json::json!(["spiffe://example.org/payments/ledger"]));
    let out = attestor(&["policy", "unlink", "quarantine-payments", d]);
    assert!(!out.status.success());
}

#[test]
fn explain_prints_the_record_with_policy_text_and_the_fate_of_a_selector() {
    let dir = tempfile::tempdir().unwrap();
    policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let facts = dir.path().join("tests/facts/web.json");
    let out = attestor(&[
        "policy",
        "explain",
        d,
        "--facts",
        facts.to_str().unwrap(),
        "--selector",
        "k8s:pod-annotation:vault.example.com/token:s.very-secret",
        "--now",
        "2026-03-01T12:00:00Z",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["time"], "2026-03-01T12:00:00Z");
    assert!(v["policy_generation"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["workload"]["ns"], "web");
    assert_eq!(v["gate"]["decision"], "allow");
    assert_eq!(v["selector"]["decision"], "suppressed");
    assert_eq!(v["selector"]["by"], serde_json::json!(["hide-annotations"]));
    assert_eq!(v["selectors"]["gathered"], 4);
    assert_eq!(v["selectors"]["emitted"], 3);
    assert!(v["policies"]["hide-annotations"]["text"].as_str().unwrap().starts_with("@id(\"hide-annotations\")"));
    assert!(v["policies"]["k8s-ns-sa"]["at"].as_str().unwrap().ends_with("identities.cedar:12"));

    let out = attestor(&["policy", "explain", d, "--facts", "/nonexistent.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read facts file /nonexistent.json"));
    let out = attestor(&["policy", "explain", d, "--facts", facts.to_str().unwrap(), "--now", "yesterday"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--now \"yesterday\" is not RFC 3339"));
}

#[test]
fn fmt_formats_and_check_mode_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let messy =
        "@id(\"x\")   permit(principal,action==Attest::Action::\"propose\",resource) when {principal has k8s};\n";
    let f = write(dir.path(), "a.cedar", &format!("@spiffe_id(\"spiffe://{{trust_domain}}/x\")\n{messy}"));
    let d = dir.path().to_str().unwrap();
    let out = attestor(&["policy", "fmt", "--check", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("a.cedar: not formatted"), "{}", stdout(&out));
    let before = std::fs::read_to_string(&f).unwrap();
    assert!(before.contains("permit(principal,action"), "--check changed the file");

    let out = attestor(&["policy", "fmt", d]);
    assert!(out.status.success());
    let after = std::fs::read_to_string(&f).unwrap();
    assert!(
        after.contains("permit (\n  principal,\n  action == Attest::Action::\"propose\",\n  resource\n)"),
        "{after}"
    );
    assert!(attestor(&["policy", "fmt", "--check", d]).status.success());
    // Formatting keeps meaning: the set still loads with the same rule.
    assert!(attestor(&["policy", "check", d]).status.success());

    write(dir.path(), "b.cedar", "permit(principal,\n");
    let out = attestor(&["policy", "fmt", "--check", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("b.cedar: cannot format: line 1: unexpected end of input"), "{}", stdout(&out));
}

#[test]
fn dumped_facts_of_a_real_process_make_a_fixture() {
    let child = Sleeper::start();
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("tests/me.facts.json");
    std::fs::create_dir_all(facts.parent().unwrap()).unwrap();
    let pid = child.pid().to_string();
    let out = attestor(&["attest", "--pid", &pid, "--dump-facts", facts.to_str().unwrap(), "--output", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let live: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = live["spiffe_ids"][0]["id"].as_str().unwrap().to_owned();

    // The embedded default set, copied, decides the recorded facts as it decided the live process.
    write(dir.path(), "identities.cedar", include_str!("../policies/default/identities.cedar"));
    write(
        dir.path(),
        "tests/me.yaml",
        &format!("name: recorded process\nfacts: me.facts.json\nexpect:\n  issued: [{id}]\n  errors: 0\n"),
    );
    let out = attestor(&["policy", "test", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("1 passed, 0 failed\n"));
}

#[test]
fn every_attestation_leaves_one_audit_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let offline = repo().join("examples/offline");
    let config = write(
        dir.path(),
        "attestor.hcl",
        &format!(
            "trust_domain = \"demo.example.org\"\npod_list_file = \"{}\"\nunix {{\n passwd_file = \"/dev/null\"\n group_file = \"/dev/null\"\n}}\npolicy {{\n dir = \"{}\"\n}}\naudit {{\n path = \"{}\"\n}}\n",
            offline.join("pods.json").display(),
            offline.join("policies").display(),
            audit.display()
        ),
    );
    let proc_root = offline.join("proc");
    let args =
        ["attest", "--pid", "4242", "--proc-root", proc_root.to_str().unwrap(), "--config", config.to_str().unwrap()];
    assert!(attestor(&args).status.success());
    assert!(attestor(&args).status.success());
    // A failed attestation is recorded too.
    let gone =
        ["attest", "--pid", "999999", "--proc-root", proc_root.to_str().unwrap(), "--config", config.to_str().unwrap()];
    assert!(!attestor(&gone).status.success());

    let text = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    let r = &lines[0];
    assert_eq!(r["pid"], 4242);
    assert!(r["policy_generation"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(r["workload"]["ns"], "payments");
    assert!(r["workload"]["facts_digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(r["workload"].get("facts").is_none(), "full facts only in debug records");
    let ann = r["workload"]["annotations"].as_object().unwrap();
    assert!(ann.values().all(|v| v.as_str().unwrap().starts_with("sha256:")), "{ann:?}");
    assert!(!text.contains("2026-11-20T08:13:57.412Z"), "annotation values never appear: {text}");
    assert!(r["issued"].as_array().unwrap().len() == 1, "{r}");
    assert_eq!(lines[0]["policy_generation"], lines[1]["policy_generation"]);
    assert_eq!(lines[2]["pid"], 999_999);
    assert!(lines[2]["failed"].as_str().unwrap().contains("999999"), "{}", lines[2]);

    // An audit file that cannot be opened is a setup error naming the path.
    let bad = write(dir.path(), "bad.hcl", "audit {\n path = \"/nonexistent/dir/audit.jsonl\"\n}\n");
    let out = attestor(&["attest", "--pid", "1", "--config", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open audit log /nonexistent/dir/audit.jsonl"));
}

#[test]
fn schema_is_printed_for_the_cedar_cli() {
    let out = attestor(&["policy", "schema"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), include_str!("../policies/attestor.cedarschema"));
}

/// Every example policy set under `policies/examples/` loads without warnings, is formatted, and
/// passes its own fixtures.
#[test]
fn every_example_policy_set_checks_formats_and_passes_its_fixtures() {
    let root = repo().join("policies/examples");
    let mut sets: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    sets.sort();
    assert!(sets.len() >= 10, "expected the example sets, found {sets:?}");
    for set in &sets {
        let d = set.to_str().unwrap();
        let out = attestor(&["policy", "check", d, "--deny-warnings"]);
        assert!(out.status.success(), "{d}: {}", stdout(&out));
        let out = attestor(&["policy", "fmt", "--check", d]);
        assert!(out.status.success(), "{d}: {}", stdout(&out));
        let out = attestor(&["policy", "test", d]);
        let text = stdout(&out);
        assert!(out.status.success(), "{d}: {text}");
        let summary = text.lines().last().unwrap();
        let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
        assert!(passed >= 2 && summary.ends_with(" passed, 0 failed"), "{d}: {summary}");
    }
}

/// Every `.cedar` file the project ships (the embedded default set, the examples, the offline
/// demo, anything added later) is formatted: `policy fmt --check` over the whole checkout.
/// The default set once failed because the formatter glued its header comment to the first rule.
#[test]
fn every_shipped_cedar_file_is_formatted_and_the_default_set_checks() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with('.') && name != "target" {
                walk(&p, out);
            } else if name.ends_with(".cedar") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("policies/default/identities.cedar")), "{files:?}");
    assert!(files.len() >= 20, "expected every shipped policy file, found {}", files.len());
    let mut args = vec!["policy", "fmt", "--check"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = attestor(&args);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).ends_with(&format!("0 of {} files not formatted\n", files.len())), "{}", stdout(&out));
    let out = attestor(&["policy", "check", repo().join("policies/default").to_str().unwrap(), "--deny-warnings"]);
    assert!(out.status.success(), "{}", stdout(&out));
}

/// `fmt` and `link|unlink` replace files by rename (a reload never reads half a file), keeping
/// their permissions.
#[test]
fn fmt_and_link_replace_files_by_rename() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.cedar", "@id(\"x\")   permit(principal,action,resource);\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = std::fs::metadata(&f).unwrap().ino();
    assert!(attestor(&["policy", "fmt", dir.path().to_str().unwrap()]).status.success());
    let after = std::fs::metadata(&f).unwrap();
    assert_ne!(after.ino(), before, "fmt wrote in place");
    assert_eq!(after.permissions().mode() & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "a temporary file was left behind: {names:?}");

    let set = tempfile::tempdir().unwrap();
    policy_set(set.path());
    let d = set.path().to_str().unwrap();
    let links = set.path().join("links.json");
    let before = std::fs::metadata(&links).map(|m| m.ino()).ok();
    let out =
        attestor(&["policy", "link", "quarantine", "q-billing", "--principal", "Attest::Namespace::\"billing\"", d]);
    assert!(out.status.success(), "{}", stdout(&out));
    let after = std::fs::metadata(&links).unwrap().ino();
    assert_ne!(Some(after), before, "link wrote in place");
    let out = attestor(&["policy", "unlink", "q-billing", d]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_ne!(std::fs::metadata(&links).unwrap().ino(), after, "unlink wrote in place");
}

#[test]
fn diff_shows_what_a_change_would_do_to_every_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current");
    let next = dir.path().join("next");
    policy_set(&current);
    policy_set(&next);
    let c = current.to_str().unwrap();
    let out = attestor(&["policy", "diff", c, "--against", next.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("2 same, 0 differ\n"), "{}", stdout(&out));

    // The candidate drops the annotation filter and gives web a payments prefix too.
    std::fs::write(next.join("guards.cedar"), GUARDS.split("@id(\"hide-annotations\")").next().unwrap()).unwrap();
    std::fs::write(next.join("data/id-prefixes.json"), r#"[{"prefix": "/payments", "owners": ["payments", "web"]}]"#)
        .unwrap();
    let out = attestor(&["policy", "diff", c, "--against", next.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("selector k8s:pod-annotation:vault.example.com/token:s.very-secret: emitted by candidate, suppressed by current"),
        "{text}"
    );
    assert!(text.ends_with("0 same, 2 differ\n"), "{text}");

    // A candidate that does not load is an error naming it.
    std::fs::write(next.join("bad.cedar"), "permit (principal, action, resource);").unwrap();
    let out = attestor(&["policy", "diff", c, "--against", next.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy has no @id annotation"));
}

const NODE_GATE: &str = r#"@id("general-pool-only")
@reason("agents run only on the general pool")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal.node.hasTag("pool") && principal.node.getTag("pool") == "general" };
"#;

const NODE_RULE: &str = r#"@id("by-pool")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/pool/{node_label:pool}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("pool") };
"#;

/// An agent facts file: agent `n` of `spire/spire-agent` in cluster `prod`, on `node-<n>` in `pool`.
fn agent_facts(n: usize, pool: &str) -> String {
    format!(
        r#"{{"cluster": "prod", "namespace": "spire", "service_account": "spire-agent",
 "pod_name": "spire-agent-x{n}", "pod_uid": "7f1c5e2a-0000-4000-8000-00000000000{n}",
 "node_name": "node-{n}", "node_uid": "node-uid-{n}", "node_ip": "10.0.0.{n}",
 "node_labels": {{"pool": "{pool}"}}, "pod_labels": {{"app": "spire-agent"}},
 "owner": {{"kind": "DaemonSet", "name": "spire-agent", "uid": "ds-1"}}, "audiences": ["spire-server"]}}"#
    )
}

const NODE_FIXTURES: &str = r"name: a general pool agent is named by its pool
agent: facts/general.json
expect:
  node: allow
  node_by: [by-pool]
  agent_id: spiffe://example.org/spire/agent/k8s_psat/prod/pool/general/node-uid-1
  agent_rule: by-pool
  errors: 0
---
name: a gpu pool agent is refused
agent: facts/gpu.json
expect:
  node: deny
  node_by: [general-pool-only]
  agent_rule: none
";

/// A node policy set: a gate on the node's pool, a node identity rule, two agents and their
/// fixtures.
fn node_policy_set(dir: &Path) {
    write(dir, "gates.cedar", NODE_GATE);
    write(dir, "identities.cedar", NODE_RULE);
    write(dir, "tests/facts/general.json", &agent_facts(1, "general"));
    write(dir, "tests/facts/gpu.json", &agent_facts(2, "gpu"));
    write(dir, "tests/nodes.yaml", NODE_FIXTURES);
}

#[test]
fn test_runs_agent_fixtures_and_names_the_unmet_node_expectation() {
    let dir = tempfile::tempdir().unwrap();
    node_policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let nodes = dir.path().join("tests/nodes.yaml").display().to_string();
    let out = attestor(&["policy", "test", d]);
    assert_eq!(
        stdout(&out),
        format!(
            "ok   {nodes}: a general pool agent is named by its pool\nok   {nodes}: a gpu pool agent is refused\n2 passed, 0 failed\n"
        )
    );
    assert!(out.status.success());

    // Expecting the gpu agent in, under another rule's ID: each unmet expectation named.
    write(
        dir.path(),
        "tests/wrong.yaml",
        r"name: a gpu pool agent joins
agent: facts/gpu.json
expect:
  node: allow
  node_by: [by-pool]
  agent_id: spiffe://example.org/spire/agent/k8s_psat/prod/pool/gpu/node-uid-2
  agent_rule: by-pool
  errors: 0
",
    );
    let out = attestor(&["policy", "test", d]);
    assert_eq!(out.status.code(), Some(1));
    let wrong = dir.path().join("tests/wrong.yaml").display().to_string();
    let text = stdout(&out);
    assert!(
        text.ends_with(&format!(
            "FAIL {wrong}: a gpu pool agent joins
       node: expected allow, got deny (determining: [\"general-pool-only\"])
       node_by: expected [by-pool], got [general-pool-only]
       agent_id: expected spiffe://example.org/spire/agent/k8s_psat/prod/pool/gpu/node-uid-2, got none chosen (no node identity rule applied)
       agent_rule: expected by-pool, got none
2 passed, 1 failed
"
        )),
        "{text}"
    );

    // A fixture mixing an agent with a workload expectation is refused, naming it.
    write(dir.path(), "tests/wrong.yaml", "name: mixed\nagent: facts/gpu.json\nexpect:\n  gate: deny\n");
    let out = attestor(&["policy", "test", d]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAIL {wrong}: fixture \"mixed\": gate expect a workload decision; an `agent:` fixture expects node, node_by, agent_id, agent_rule and errors\n"
        )),
        "{text}"
    );
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");
}

#[test]
fn explain_prints_an_agents_node_record_with_the_determining_policy() {
    let dir = tempfile::tempdir().unwrap();
    node_policy_set(dir.path());
    let d = dir.path().to_str().unwrap();
    let gpu = dir.path().join("tests/facts/gpu.json");
    let out = attestor(&["policy", "explain", d, "--facts", gpu.to_str().unwrap(), "--now", "2026-03-01T12:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["time"], "2026-03-01T12:00:00Z");
    assert_eq!(v["event"], "node_attestation");
    assert!(v["policy_generation"].as_str().unwrap().starts_with("sha256:"), "{v}");
    assert_eq!(v["agent"]["node"], "node-2");
    assert_eq!(v["agent"]["facts"]["node_labels"], serde_json::json!({"pool": "gpu"}));
    let decision = &v["node_decision"];
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["determining"], serde_json::json!(["general-pool-only"]));
    assert_eq!(decision["reasons"], serde_json::json!(["agents run only on the general pool"]));
    assert!(v.get("agent_id").is_none() && v.get("failed").is_none(), "only the policies were asked: {v}");
    let policies = v["policies"].as_object().unwrap();
    assert_eq!(policies.keys().collect::<Vec<_>>(), ["general-pool-only"]);
    assert_eq!(policies["general-pool-only"]["text"], NODE_GATE.trim_end());
    assert!(policies["general-pool-only"]["at"].as_str().unwrap().ends_with("gates.cedar:1"), "{v}");

    // An admitted agent: the rule that named it, and its text.
    let general = dir.path().join("tests/facts/general.json");
    let out = attestor(&["policy", "explain", d, "--facts", general.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["node_decision"]["decision"], "allow_as");
    assert_eq!(
        v["node_decision"]["agent_id"],
        "spiffe://example.org/spire/agent/k8s_psat/prod/pool/general/node-uid-1"
    );
    assert_eq!(v["policies"]["by-pool"]["text"], NODE_RULE.trim_end());

    // An agent has no selectors to ask about.
    let out = attestor(&["policy", "explain", d, "--facts", general.to_str().unwrap(), "--selector", "k8s:ns:x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--selector is for workloads: an agent's node decision emits no selectors"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn diff_and_check_cover_node_policies() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current");
    let next = dir.path().join("next");
    node_policy_set(&current);
    node_policy_set(&next);
    let c = current.to_str().unwrap();

    let out = attestor(&["policy", "check", c]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            ": ok: 2 policies (0 identity rules, 1 node identity rule), 0 templates, 0 links, 0 ID prefixes; generation sha256:"
        ),
        "{}",
        stdout(&out)
    );

    let out = attestor(&["policy", "diff", c, "--against", next.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("2 same, 0 differ\n"), "{}", stdout(&out));

    // The candidate opens the gpu pool: that agent's verdict changes, the other's does not.
    std::fs::write(next.join("gates.cedar"), "").unwrap();
    let out = attestor(&["policy", "diff", c, "--against", next.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let nodes = current.join("tests/nodes.yaml").display().to_string();
    assert_eq!(
        stdout(&out),
        format!(
            "same {nodes}: a general pool agent is named by its pool
DIFF {nodes}: a gpu pool agent is refused
       node: current {{\"decision\":\"deny\"}}, candidate {{\"decision\":\"allow_as\",\"agent_id\":\"spiffe://example.org/spire/agent/k8s_psat/prod/pool/gpu/node-uid-2\",\"rule\":\"by-pool\"}}
       node_by: current [\"general-pool-only\"], candidate [\"by-pool\"]
1 same, 1 differ
"
        )
    );
}
