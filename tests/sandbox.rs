//! The sandbox against real guest components: example modules answer, hostile modules are
//! stopped with a clear error, and the host keeps working afterwards.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use attestor::sandbox::{CallError, Limits, LoadError, ModuleSpec, Runtime, RuntimeSettings, Sandbox};
use attestor::selector::SelectorKind;
use attestor::workload::{FactKey, Workload, sample};
use common::{core_module, guest, sha256};

fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(RuntimeSettings::default()).expect("runtime"))
}

fn spec(name: &str, guest_name: &str, config: &str) -> ModuleSpec {
    let path = guest(guest_name);
    ModuleSpec {
        name: SelectorKind::new(name).unwrap(),
        sha256: Some(sha256(&path)),
        path,
        config: config.into(),
        limits: Limits::default(),
        optional: false,
    }
}

fn workload() -> Workload {
    let mut w = sample::process().user("alice").exe("/opt/ledger/bin/ledger").workload();
    w.selectors.push("unix:uid:1000".parse().unwrap());
    w
}

fn good(rt: &Arc<Runtime>) -> Sandbox {
    Sandbox::load(rt.clone(), vec![spec("team", "team-owner", "user:alice = payments")]).expect("team-owner loads")
}

/// The good module still answers on the same runtime.
fn assert_host_still_works(rt: &Arc<Runtime>) {
    let mut w = workload();
    good(rt).enrich(&mut w).expect("a good module still runs after a hostile one");
    assert!(w.selectors.iter().any(|s| s.to_string() == "team:payments"));
}

/// Load `guest_name` as module `name`, attest twice (same error both times: no poisoned
/// state), check the workload is untouched, and check the host still works.
fn hostile(name: &str, guest_name: &str, limits: Limits) -> CallError {
    let rt = runtime();
    let mut s = spec(name, guest_name, "");
    s.limits = limits;
    let sandbox = Sandbox::load(rt.clone(), vec![s]).expect("hostile module loads");
    let mut w = workload();
    let first = sandbox.enrich(&mut w).expect_err("hostile module must fail");
    assert_eq!(w, workload(), "a failed attestation leaves no partial selectors or facts");
    let second = sandbox.enrich(&mut w).expect_err("and fail again");
    assert_eq!(first, second);
    assert_host_still_works(&rt);
    first
}

#[test]
fn example_modules_answer() {
    let rt = runtime();
    let allow = format!("{} ledger\n", "ab".repeat(32));
    let sandbox = Sandbox::load(
        rt,
        vec![
            spec("team", "team-owner", "exe:/opt/ledger/ = payments\ndefault = unowned"),
            spec("allow", "exe-allowlist", &allow),
        ],
    )
    .unwrap();
    assert_eq!(sandbox.modules()[0].info().name, "team-owner");
    let mut w = workload();
    let runs = sandbox.enrich(&mut w).unwrap();
    let sels: Vec<String> = w.selectors.iter().map(ToString::to_string).collect();
    assert_eq!(sels, ["unix:uid:1000", "team:payments", "allow:allowed:ledger"]);
    assert_eq!(w.facts.get(&FactKey::new("team.team").unwrap()).map(String::as_str), Some("payments"));
    assert_eq!(w.facts.get(&FactKey::new("allow.verdict").unwrap()).map(String::as_str), Some("allow"));
    assert_eq!(w.facts.get(&FactKey::new("allow.program").unwrap()).map(String::as_str), Some("ledger"));
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.outcome.is_ok() && r.stats.fuel_used > 0));
    assert_eq!(runs[0].stats.logs[0].message, "pid 4242 belongs to team payments");
}

#[test]
fn module_input_errors_name_the_module() {
    let rt = runtime();
    let sandbox = Sandbox::load(rt, vec![spec("allow", "exe-allowlist", &format!("{} x", "cd".repeat(32)))]).unwrap();
    let mut w = workload();
    w.unix.exe_sha256 = None;
    let err = sandbox.enrich(&mut w).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module `allow` failed (invalid-input): the executable's SHA-256 was not gathered (unix.discover_workload_path is off, or the executable is not readable)"
    );
}

#[test]
fn endless_loop_exhausts_fuel() {
    let err = hostile("spin", "hostile-spin", Limits::default());
    assert_eq!(err.to_string(), "module `spin` exceeded its fuel budget (5000000)");
}

#[test]
fn endless_loop_with_huge_fuel_hits_the_time_limit() {
    let limits = Limits { fuel: u64::MAX / 4, timeout: Duration::from_millis(20), ..Limits::default() };
    let err = hostile("spin", "hostile-spin", limits);
    assert_eq!(err.to_string(), "module `spin` exceeded its time limit (20 ms)");
}

#[test]
fn memory_hog_hits_its_cap() {
    let err = hostile("hog", "hostile-hog", Limits::default());
    assert_eq!(err.to_string(), "module `hog` exceeded its memory cap (16 MiB)");
    let err = hostile("hog", "hostile-hog", Limits { memory_bytes: 4 << 20, ..Limits::default() });
    assert_eq!(err.to_string(), "module `hog` exceeded its memory cap (4 MiB)");
}

#[test]
fn panic_is_reported_with_its_message() {
    let err = hostile("panic", "hostile-panic", Limits::default());
    assert_eq!(
        err.to_string(),
        "module `panic` trapped: panicked: boom: hostile module refuses pid 4242 at hostile/panic/src/lib.rs:12:9"
    );
}

#[test]
fn log_flood_is_stopped() {
    let err = hostile("flood", "hostile-log-flood", Limits::default());
    assert_eq!(err.to_string(), "module `flood` exceeded its log budget (100 lines or 16384 bytes per call)");
}

#[test]
fn oversized_output_is_refused() {
    let err = hostile("big", "hostile-oversized", Limits::default());
    assert_eq!(err.to_string(), "module `big` returned 1000 selectors, over the cap of 64");
}

#[test]
fn stack_overflow_is_reported() {
    let err = hostile("deep", "hostile-stack-overflow", Limits::default());
    assert_eq!(err.to_string(), "module `deep` overflowed its stack");
}

#[test]
fn wasi_import_is_refused_at_load_and_named() {
    let rt = runtime();
    let err = Sandbox::load(rt.clone(), vec![spec("clock", "hostile-wasi-import", "")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module `clock` imports `wasi:clocks/wall-clock@0.2.0`, which attestor does not provide; a module may import only `attestor:plugin/host@0.1` and `attestor:plugin/types@0.1` (build it for wasm32-unknown-unknown, not a WASI target)"
    );
    assert_host_still_works(&rt);
}

#[test]
fn failing_validate_config_refuses_the_module() {
    let rt = runtime();
    let err = Sandbox::load(rt.clone(), vec![spec("strict", "hostile-bad-config", "x=1")]).unwrap_err();
    assert_eq!(err.to_string(), "module `strict` rejected its configuration: `threshold` is required (got \"x=1\")");
    for (config, why) in [
        ("ns:x", "line 1: missing `= <team>`: \"ns:x\""),
        (
            "# rules\nfoo:x = y",
            "line 2: unknown matcher; use ns:, sa:, label:, user:, uid:, exe: or default: \"foo:x = y\"",
        ),
        ("uid:abc = t", "line 1: `uid:` takes a number: \"uid:abc = t\""),
        (
            "ns:a = bad team",
            "line 1: team names are 1-63 characters of letters, digits, `-`, `_`, `.`: \"ns:a = bad team\"",
        ),
        ("label:team = x", "line 1: `label:<key>` takes the team from the label; drop `= <team>`: \"label:team = x\""),
        ("sa:nons = x", "line 1: `sa:` takes `<namespace>/<service account>`: \"sa:nons = x\""),
        ("", "no rules: give at least one `<matcher> = <team>` line"),
    ] {
        let err = Sandbox::load(rt.clone(), vec![spec("team", "team-owner", config)]).unwrap_err();
        assert_eq!(err.to_string(), format!("module `team` rejected its configuration: {why}"), "config {config:?}");
    }
    for (config, why) in [
        ("abc ledger", "line 1: \"abc\" is not a lower-case hex SHA-256"),
        ("x", "line 1: expected `<sha256> <name>`, got \"x\""),
        ("# nothing", "empty allow-list: add `<sha256> <name>` lines"),
    ] {
        let err = Sandbox::load(rt.clone(), vec![spec("allow", "exe-allowlist", config)]).unwrap_err();
        assert_eq!(err.to_string(), format!("module `allow` rejected its configuration: {why}"), "config {config:?}");
    }
    assert_host_still_works(&rt);
}

#[test]
fn optional_module_failure_drops_only_its_output() {
    let rt = runtime();
    let mut panicky = spec("panic", "hostile-panic", "");
    panicky.optional = true;
    let sandbox = Sandbox::load(rt, vec![panicky, spec("team", "team-owner", "user:alice = payments")]).unwrap();
    let mut w = workload();
    let runs = sandbox.enrich(&mut w).unwrap();
    assert!(runs[0].outcome.is_err());
    assert_eq!(runs[1].outcome, Ok((1, 1)));
    assert!(w.selectors.iter().any(|s| s.to_string() == "team:payments"));
    assert!(!w.selectors.iter().any(|s| s.kind().as_str() == "panic"));
}

#[test]
fn a_failing_required_module_fails_the_whole_set() {
    let rt = runtime();
    let sandbox = Sandbox::load(
        rt,
        vec![spec("team", "team-owner", "user:alice = payments"), spec("panic", "hostile-panic", "")],
    )
    .unwrap();
    let mut w = workload();
    assert!(sandbox.enrich(&mut w).is_err());
    assert_eq!(w, workload(), "the good module's output must not leak when another required module fails");
}

#[test]
fn digest_pin_mismatch_names_both_digests() {
    let mut s = spec("team", "team-owner", "user:alice = x");
    let actual = s.sha256.clone().unwrap();
    let wrong = "0".repeat(64);
    s.sha256 = Some(wrong.clone());
    let err = Sandbox::load(runtime(), vec![s]).unwrap_err();
    assert!(matches!(err, LoadError::DigestMismatch { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "module `team`: {} has SHA-256 {actual}, but the config pins {wrong}; refusing to load it",
            guest("team-owner").display()
        )
    );
}

#[test]
fn unusable_files_are_refused_with_reasons() {
    let rt = runtime();
    let mut missing = spec("team", "team-owner", "");
    missing.path = "/nonexistent/team.wasm".into();
    let err = Sandbox::load(rt.clone(), vec![missing]).unwrap_err().to_string();
    assert_eq!(err, "module `team`: cannot read /nonexistent/team.wasm: No such file or directory (os error 2)");

    let core = core_module("team-owner");
    let s = ModuleSpec { path: core.clone(), sha256: Some(sha256(&core)), ..spec("team", "team-owner", "") };
    let err = Sandbox::load(rt.clone(), vec![s]).unwrap_err().to_string();
    assert!(err.contains("is a core WebAssembly module, not a component"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let s = ModuleSpec { path: junk.clone(), sha256: Some(sha256(&junk)), ..spec("junk", "team-owner", "") };
    let err = Sandbox::load(rt.clone(), vec![s]).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("module `junk`: {} is not a valid WebAssembly component: ", junk.display())),
        "{err}"
    );

    let mut greedy = spec("team", "team-owner", "");
    greedy.limits.memory_bytes = 1 << 30;
    let err = Sandbox::load(rt.clone(), vec![greedy]).unwrap_err().to_string();
    assert_eq!(
        err,
        "module `team`: memory cap of 1073741824 bytes is above the sandbox ceiling of 67108864 bytes (sandbox.max_memory_mib)"
    );
    assert_host_still_works(&rt);
}

#[test]
fn many_threads_share_few_slots() {
    let rt = Arc::new(Runtime::new(RuntimeSettings { max_concurrent_calls: 2, ..RuntimeSettings::default() }).unwrap());
    let sandbox = Arc::new(good(&rt));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let sandbox = Arc::clone(&sandbox);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let mut w = workload();
                    sandbox.enrich(&mut w).expect("every call gets a slot eventually");
                    assert_eq!(w.selectors.len(), 2);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

/// A running attestor picks up changed policies, and refuses a module file that no longer
/// matches its pin, keeping the modules it has.
#[test]
fn reload_swaps_policies_and_refuses_a_module_that_broke_its_pin() {
    use attestor::config::Config;
    use attestor::facts::kubernetes::SourceMode;
    use attestor::generation::Reloaded;
    use attestor::generation::SetupError;
    use attestor::pipeline::Attestor;

    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("team.wasm");
    std::fs::copy(guest("team-owner"), &module).unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let rule = |path: &str| {
        format!(
            "@id(\"uid\")\n@spiffe_id(\"spiffe://{{trust_domain}}/{path}/{{unix.uid}}\")\npermit (principal, action == Attest::Action::\"propose\", resource);\n"
        )
    };
    std::fs::write(policies.join("ids.cedar"), rule("v1")).unwrap();
    let config = Config::parse(
        &format!(
            "module \"team\" {{\n path = \"team.wasm\"\n sha256 = \"{}\"\n config = \"default = platform\"\n}}\npolicy {{\n dir = \"policies\"\n}}\n",
            sha256(&module)
        ),
        dir.path(),
    )
    .unwrap();
    let a = Attestor::new(&config, runtime(), "/proc", SourceMode::Disabled).unwrap();
    let id = |a: &Attestor| a.enrich_and_decide(workload()).unwrap().decision().issued[0].id.to_string();
    assert_eq!(id(&a), "spiffe://example.org/v1/1000");
    assert_eq!(a.reload(false).unwrap(), Reloaded::Unchanged);

    std::fs::write(policies.join("ids.cedar"), rule("v2")).unwrap();
    let before = a.policies().generation().to_owned();
    match a.reload(false).unwrap() {
        Reloaded::Swapped { from, to } => assert!(from == before && to != before),
        Reloaded::Unchanged => panic!("a changed policy file must swap"),
    }
    assert_eq!(id(&a), "spiffe://example.org/v2/1000");

    // Someone replaces the module file: the new generation is refused, naming both digests,
    // and the loaded module keeps running.
    std::fs::copy(guest("exe-allowlist"), &module).unwrap();
    std::fs::write(policies.join("ids.cedar"), rule("v3")).unwrap();
    let err = a.reload(false).unwrap_err();
    assert!(matches!(err, SetupError::Module(_)), "{err}");
    assert!(err.to_string().contains(&sha256(&module)), "{err}");
    assert_eq!(id(&a), "spiffe://example.org/v2/1000", "nothing of a refused generation is used");
    let run = a.enrich_and_decide(workload()).unwrap();
    assert_eq!(run.modules()[0].name, "team");
    assert!(run.modules()[0].error.is_none());
    // Refused once; the same files are not rebuilt again until something changes.
    assert_eq!(a.reload(false).unwrap(), Reloaded::Unchanged);
    // Restoring the pinned file lets the waiting policy change through.
    std::fs::copy(guest("team-owner"), &module).unwrap();
    assert!(matches!(a.reload(true).unwrap(), Reloaded::Swapped { .. }));
    assert_eq!(id(&a), "spiffe://example.org/v3/1000");
}

/// Values a hostile component can hand back through the WIT interface: each is refused with an
/// error that names it, bounded in size and free of control characters, nothing it returned
/// reaches the workload, and the host keeps working. (The WIT types have no recursion: there is
/// no nesting deeper than the records themselves to abuse.)
#[test]
fn hostile_wit_values_are_refused_with_bounded_errors() {
    let rt = runtime();
    let cases: [(&str, u64, &str); 7] = [
        ("huge-selector", 64, "returned 8388608 bytes of selectors and facts, over the cap of 65536"),
        ("many-selectors", 64, "returned 1000000 selectors, over the cap of 64"),
        ("invalid-utf8", 16, "returned a value the component model refuses: invalid utf-8 sequence"),
        ("huge-fact-key", 16, "returned 1048577 bytes of selectors and facts, over the cap of 65536"),
        ("huge-error", 64, "failed (internal): eeee"),
        ("control-error", 16, "failed (internal): line one\\nline two\\r\\n\\u{1b}[31mred"),
        // Escaped once and quoted as it is (it read `"a\\nb…"` when escaped twice).
        ("control-selector", 16, r#"returned selector "a\nb\u{1b}[31m": contains control characters"#),
    ];
    for (mode, memory_mib, want) in cases {
        let mut s = spec("abuse", "hostile-wit-abuse", mode);
        // A generous budget: the module gets to build and return its values.
        s.limits.memory_bytes = memory_mib << 20;
        s.limits.fuel = 2_000_000_000;
        s.limits.timeout = Duration::from_secs(10);
        let sandbox = Sandbox::load(rt.clone(), vec![s]).expect("loads");
        let mut w = workload();
        let err = sandbox.enrich(&mut w).expect_err("refused").to_string();
        assert!(err.to_lowercase().contains(&want.to_lowercase()), "{mode}: {err}");
        assert!(err.len() < 1024, "{mode}: an error of {} bytes", err.len());
        assert!(!err.chars().any(char::is_control), "{mode}: control characters in {err:?}");
        assert_eq!(w, workload(), "{mode}: nothing reached the workload");
    }
    assert_host_still_works(&rt);
}
