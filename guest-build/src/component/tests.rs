use std::path::Path;

use super::*;

/// The smallest core module: magic and version, no sections.
const EMPTY_CORE: &[u8] = b"\0asm\x01\0\0\0";

#[test]
fn a_file_that_is_not_wasm_is_refused_by_name() {
    let err = componentize(b"#!/bin/sh\n", Path::new("x.wasm")).expect_err("not wasm");
    assert_eq!(err.to_string(), "x.wasm is not a module: not a WebAssembly file");
}

#[test]
fn a_core_module_without_component_type_names_the_sdk() {
    let err = componentize(EMPTY_CORE, Path::new("plain.wasm")).expect_err("no component type");
    let msg = err.to_string();
    assert!(msg.starts_with("plain.wasm is not a module: it carries no component type"), "{msg}");
    assert!(msg.contains("`export_module!`"), "{msg}");
}

#[test]
fn componentize_file_writes_nothing_when_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, EMPTY_CORE).expect("write");
    let dest = dir.path().join("out/component.wasm");
    assert!(componentize_file(&core, &dest).is_err());
    assert!(!dest.exists());
}

#[test]
fn a_missing_core_file_is_named() {
    let err = componentize_file(Path::new("/nonexistent/core.wasm"), Path::new("/tmp/x.wasm")).expect_err("missing");
    assert!(err.to_string().starts_with("/nonexistent/core.wasm: "), "{err}");
}
