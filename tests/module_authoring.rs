//! The module author's path through the real binary: `module new` into a temporary directory,
//! the generated crate's own native tests, `module build` with the toolchain the suite installs,
//! `module test` against the recorded facts it ships, and the component configured in
//! `attest --pid`, whose output carries the module's selectors. Then bad input: a crate that is
//! not a module, a component with a foreign import, a module that panics, no wasm toolchain.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Sleeper;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sdk() -> PathBuf {
    root().join("guests/sdk")
}

/// Where module builds go: the guests' own target directory, whose wasm32 standard library
/// (built from source with Debian's toolchain) is then reused, and which stays warm across runs.
fn build_target() -> PathBuf {
    common::guests_dir().join("../guests-build")
}

fn attestor(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attestor"))
        .args(args)
        .current_dir(dir)
        .env("ATTESTOR_LOG", "off")
        .env("CARGO_TARGET_DIR", build_target())
        .output()
        .expect("run attestor")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `module new NAME` in `parent`, with this checkout's SDK.
fn scaffold(parent: &Path, name: &str) -> PathBuf {
    let sdk = sdk();
    let out = attestor(&["module", "new", name, "--sdk-path", &sdk.to_string_lossy()], parent);
    let stdout = ok(&out);
    assert!(stdout.starts_with(&format!("created module `{name}` in {name} (SDK: path ")), "{stdout}");
    parent.join(name)
}

/// The `module { }` block `module build` printed: (path, sha256).
fn block(stdout: &str, name: &str) -> (String, String) {
    let rest =
        stdout.split(&format!("module \"{name}\" {{\n")).nth(1).unwrap_or_else(|| panic!("no block in {stdout}"));
    let field = |key: &str| {
        rest.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
    };
    (field("path"), field("sha256"))
}

#[test]
fn new_test_build_test_attest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let crate_dir = scaffold(tmp.path(), "demo-mod");
    for f in ["Cargo.toml", "src/lib.rs", "src/tests.rs", "README.md", ".gitignore", "cases/example.yaml"] {
        assert!(crate_dir.join(f).is_file(), "module new did not write {f}");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("manifest");
    assert!(
        manifest
            .contains(&format!("attestor-guest = {{ path = \"{}\" }}", sdk().canonicalize().expect("sdk").display()))
    );

    // Edit → test: the generated unit tests run natively on the SDK's test helpers.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let native = Command::new(cargo)
        .args(["test", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", common::guests_dir().join("../module-authoring-native"))
        .output()
        .expect("cargo test");
    let native_out = ok(&native);
    assert!(native_out.contains("5 passed; 0 failed"), "{native_out}");

    // Build: the component, checked, and its pinned block.
    let built = ok(&attestor(&["module", "build"], &crate_dir));
    assert!(
        built.contains("demo-mod 0.1.0, loads as attestor loads it (exports attestor:plugin/module@0.1.0)"),
        "{built}"
    );
    let (path, sha) = block(&built, "demo-mod");
    assert!(path.ends_with("/component/demo-mod.wasm"), "{path}");
    assert_eq!(sha, common::sha256(Path::new(&path)));

    // Test: the shipped cases against the component.
    let tested = ok(&attestor(&["module", "test", &path, "--facts", "cases"], &crate_dir));
    assert!(tested.contains("ok   cases/example.yaml: nginx in a pod is trusted"), "{tested}");
    assert!(tested.ends_with("3 passed, 0 failed\n"), "{tested}");

    // A case without `config:` gets `--module-config`.
    let more = crate_dir.join("more-cases");
    std::fs::create_dir(&more).expect("mkdir");
    std::fs::write(
        more.join("default-config.yaml"),
        "facts: ../cases/facts/host.json\nexpect: {selectors: [exe:sleep, trusted], facts: {program: sleep, trusted: \"true\"}}\n",
    )
    .expect("case");
    let tested =
        ok(&attestor(&["module", "test", &path, "--facts", "more-cases", "--module-config", "sleep"], &crate_dir));
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");

    // `--out-dir` puts the component elsewhere; `--module-config` is what the load check validates.
    let out_dir = tmp.path().join("dist");
    let again = ok(&attestor(&["module", "build", "--out-dir", &out_dir.to_string_lossy()], &crate_dir));
    let (moved, moved_sha) = block(&again, "demo-mod");
    assert_eq!(Path::new(&moved), out_dir.canonicalize().expect("dist").join("demo-mod.wasm"));
    assert_eq!(moved_sha, sha, "the same crate builds the same component");
    let refused = attestor(&["module", "build", "--module-config", "/usr/sbin/nginx"], &crate_dir);
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(err.contains("demo-mod.wasm was built but does not load as attestor loads modules"), "{err}");
    assert!(err.contains("give the program's file name, not a path"), "{err}");

    // Pin → configure → attest a real process: the module's selectors are among the output.
    let config = crate_dir.join("attestor.hcl");
    std::fs::write(
        &config,
        format!(
            "trust_domain = \"example.org\"\nmodule \"demo-mod\" {{\n  path   = \"{path}\"\n  sha256 = \"{sha}\"\n  config = \"sleep\"\n}}\n"
        ),
    )
    .expect("config");
    let sleeper = Sleeper::start();
    sleeper.exe();
    let attested = ok(&attestor(
        &["attest", "--pid", &sleeper.pid().to_string(), "--config", &config.to_string_lossy(), "--output", "json"],
        &crate_dir,
    ));
    let json: serde_json::Value = serde_json::from_str(&attested).expect("json");
    let selectors: Vec<&str> =
        json["selectors"].as_array().expect("selectors").iter().filter_map(|s| s.as_str()).collect();
    assert!(selectors.contains(&"demo-mod:exe:sleep"), "{selectors:?}");
    assert!(selectors.contains(&"demo-mod:trusted"), "{selectors:?}");
}

#[test]
fn module_new_refuses_what_it_cannot_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = attestor(&["module", "new", "unix", "--sdk-path", &sdk().to_string_lossy()], tmp.path());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("module name \"unix\" is a selector kind attestor's own sources use"));
    let out = attestor(&["module", "new", "Bad_Name"], tmp.path());
    assert!(text(&out.stderr).contains("module name \"Bad_Name\" is not usable"), "{}", text(&out.stderr));
    let out = attestor(&["module", "new", "m", "--sdk-path", "/nonexistent"], tmp.path());
    assert!(text(&out.stderr).contains("--sdk-path /nonexistent: no SDK there"), "{}", text(&out.stderr));
    std::fs::create_dir(tmp.path().join("taken")).expect("mkdir");
    std::fs::write(tmp.path().join("taken/x"), "").expect("write");
    let out = attestor(&["module", "new", "m", "--dir", "taken", "--sdk-path", &sdk().to_string_lossy()], tmp.path());
    assert!(text(&out.stderr).contains("taken exists and is not empty"), "{}", text(&out.stderr));
    let out = attestor(&["module", "new", "m", "--sdk-git", "file:///nowhere", "--sdk-rev", "v1"], tmp.path());
    ok(&out);
    let manifest = std::fs::read_to_string(tmp.path().join("m/Cargo.toml")).expect("manifest");
    assert!(manifest.contains(r#"attestor-guest = { git = "file:///nowhere", rev = "v1" }"#), "{manifest}");
}

/// A crate directory with `Cargo.toml` and `src/lib.rs`.
fn plain_crate(dir: &Path, name: &str, crate_type: &str, lib: &str) {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[lib]\ncrate-type = [\"{crate_type}\"]\n\n[profile.release]\npanic = \"abort\"\n"
        ),
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.rs"), lib).expect("lib");
}

#[test]
fn a_crate_that_is_not_a_module_is_refused_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rlib = tmp.path().join("rlib-only");
    plain_crate(&rlib, "rlib-only", "rlib", "pub fn f() {}\n");
    let out = attestor(&["module", "build", "rlib-only"], tmp.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("rlib-only/Cargo.toml builds no cdylib: a module crate has `[lib] crate-type = [\"cdylib\"]`"),
        "{err}"
    );

    let bare = tmp.path().join("bare-cdylib");
    plain_crate(&bare, "bare-cdylib", "cdylib", "#[no_mangle]\npub extern \"C\" fn f() -> i32 { 7 }\n");
    let out = attestor(&["module", "build", "bare-cdylib"], tmp.path());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bare_cdylib.wasm is not a module: it carries no component type"), "{err}");

    let out = attestor(&["module", "build", "nothing-here"], tmp.path());
    assert!(text(&out.stderr).contains("nothing-here holds no Cargo.toml"), "{}", text(&out.stderr));
}

#[test]
fn a_component_with_a_foreign_import_is_refused_by_build_and_test() {
    // The hostile guest's crate imports a WASI interface: it builds, but does not load.
    let out = attestor(&["module", "build", &root().join("guests/hostile/wasi-import").to_string_lossy()], &root());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("hostile-wasi-import.wasm was built but does not load as attestor loads modules"), "{err}");
    assert!(err.contains("wasi:"), "{err}");
    // `module test` refuses it before any case runs.
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = attestor(
        &[
            "module",
            "test",
            &common::guest("hostile-wasi-import").to_string_lossy(),
            "--facts",
            &tmp.path().to_string_lossy(),
        ],
        &root(),
    );
    assert!(!out.status.success());
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("wasi:"), "{}", text(&out.stderr));
}

#[test]
fn a_module_that_panics_fails_its_case_with_the_panic_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inline = "{unix: {pid: 99, uid: 0, euid: 0, gid: 0, egid: 0, supplementary_gids: []}}";
    std::fs::write(
        tmp.path().join("cases.yaml"),
        format!(
            "name: expects an answer\nfacts: {inline}\nexpect: {{selectors: []}}\n---\n\
             name: expects the trap\nfacts: {inline}\nexpect: {{error: trap, message: 'boom: hostile module refuses pid 99'}}\n"
        ),
    )
    .expect("cases");
    let out = attestor(
        &[
            "module",
            "test",
            &common::guest("hostile-panic").to_string_lossy(),
            "--facts",
            &tmp.path().to_string_lossy(),
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAIL ") && stdout.contains("cases.yaml: expects an answer"), "{stdout}");
    assert!(stdout.contains("expected an answer, got trap: module `hostile-panic` trapped"), "{stdout}");
    assert!(stdout.contains("boom: hostile module refuses pid 99"), "{stdout}");
    assert!(stdout.contains("cases.yaml: expects the trap"), "{stdout}");
    assert!(stdout.ends_with("1 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn a_build_without_any_wasm_toolchain_names_what_to_install() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let crate_dir = scaffold(tmp.path(), "no-tools");
    let empty_path = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty_path).expect("mkdir");
    let out = Command::new(env!("CARGO_BIN_EXE_attestor"))
        .args(["module", "build"])
        .current_dir(&crate_dir)
        .env("PATH", &empty_path)
        .env("ATTESTOR_BUILD_STD_PREFIX", tmp.path().join("no-prefix"))
        .env_remove("RUSTC")
        .env_remove("CARGO")
        .output()
        .expect("run attestor");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no toolchain can build wasm32-unknown-unknown modules here (tried: `rustc`: "), "{err}");
    assert!(err.contains("rustup target add wasm32-unknown-unknown"), "{err}");
    assert!(err.contains("apt-get install rustc-web cargo-web rust-web-src lld-19"), "{err}");
    assert!(!crate_dir.join("target").exists(), "nothing is built");
}

#[test]
fn a_git_sdk_dependency_resolves_cleanly() {
    // The SDK by git, from this checkout's own repository at its HEAD: cargo fetches the
    // repository, finds `attestor-guest` among its manifests, and reports nothing else.
    let head = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(root()).output().expect("git");
    assert!(head.status.success(), "this test needs the checkout to be a git repository: {}", text(&head.stderr));
    let rev = text(&head.stdout).trim().to_owned();
    let url = format!("file://{}", root().canonicalize().expect("root").display());
    let tmp = tempfile::tempdir().expect("tempdir");
    ok(&attestor(&["module", "new", "git-sdk", "--sdk-git", &url, "--sdk-rev", &rev], tmp.path()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let meta = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(tmp.path().join("git-sdk"))
        .output()
        .expect("cargo metadata");
    let stdout = ok(&meta);
    let stderr = text(&meta.stderr);
    assert!(!stderr.contains("error"), "cargo complained about the repository's manifests:\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("metadata");
    let sdk = json["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "attestor-guest")
        .expect("attestor-guest resolved");
    let source = sdk["source"].as_str().expect("source");
    assert!(source.starts_with(&format!("git+{url}?rev={rev}#")), "{source}");
}

#[test]
fn developer_commands_take_a_modules_limits() {
    // A cap above the sandbox's default 64 MiB ceiling raises the ceiling for the command.
    let tmp = tempfile::tempdir().expect("tempdir");
    let facts = tmp.path().join("facts.json");
    std::fs::write(
        &facts,
        r#"{"unix": {"pid": 5, "uid": 0, "euid": 0, "gid": 0, "egid": 0, "supplementary_gids": []}}"#,
    )
    .expect("facts");
    let hog = common::guest("hostile-hog");
    let out = attestor(
        &["module", "run", &hog.to_string_lossy(), "--facts", &facts.to_string_lossy(), "--memory-mib", "128"],
        &root(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("module `hostile-hog` exceeded its memory cap (128 MiB)"),
        "{}",
        text(&out.stderr)
    );

    // `module test --fuel`: the case expecting the fuel error passes.
    std::fs::write(
        tmp.path().join("fuel.yaml"),
        "facts: facts.json\nexpect: {error: out-of-fuel, message: 'fuel budget (1)'}\n",
    )
    .expect("case");
    let team = common::guest("team-owner");
    let out = attestor(
        &[
            "module",
            "test",
            &team.to_string_lossy(),
            "--facts",
            &tmp.path().to_string_lossy(),
            "--module-config",
            "default = x",
            "--fuel",
            "1",
        ],
        &root(),
    );
    assert_eq!(text(&out.stdout).lines().last(), Some("1 passed, 0 failed"), "{}", text(&out.stdout));
}
