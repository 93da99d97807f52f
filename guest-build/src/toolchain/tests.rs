use std::path::{Path, PathBuf};

use super::*;

fn build_std() -> Toolchain {
    Toolchain::BuildStd { rustc: "/p/bin/rustc".into(), cargo: "/p/bin/cargo".into(), linker: "/p/bin/wasm-ld".into() }
}

#[test]
fn a_relative_manifest_is_made_absolute_and_cargo_runs_beside_it() {
    let cmd = build_std().build_command(Path::new("my-module/Cargo.toml"), &[]);
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(cmd.get_current_dir(), Some(cwd.join("my-module").as_path()));
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let at = args.iter().position(|a| a == "--manifest-path").expect("--manifest-path");
    assert_eq!(PathBuf::from(&args[at + 1]), cwd.join("my-module/Cargo.toml"));
}

#[test]
fn build_std_builds_std_with_the_named_rustc_and_linker() {
    let cmd = build_std().build_command(Path::new("/m/Cargo.toml"), &["--workspace"]);
    assert_eq!(cmd.get_program(), "/p/bin/cargo");
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    for want in ["--release", "--target", WASM_TARGET, "--workspace", "-Zbuild-std=std,panic_abort"] {
        assert!(args.iter().any(|a| a == want), "{want} missing from {args:?}");
    }
    let env: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
        .collect();
    assert!(env.contains(&("RUSTC_BOOTSTRAP".into(), Some("1".into()))));
    assert!(env.contains(&("RUSTC".into(), Some("/p/bin/rustc".into()))));
    assert!(
        env.contains(&("RUSTFLAGS".into(), Some("-C link-arg=-zstack-size=131072 -C linker=/p/bin/wasm-ld".into())))
    );
}

#[test]
fn a_prefix_without_a_toolchain_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let why = build_std_at(dir.path()).expect_err("nothing there");
    assert!(why.starts_with(&format!("{}: ", dir.path().join("bin/rustc").display())), "{why}");
}
