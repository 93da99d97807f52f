//! Tests only: the real Sigstore vectors in `testdata/` (a copy of the project's shared test
//! data, with its `PROVENANCE.md`), and the pinned production trusted root they verify against.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::TrustRoot;

/// A path inside `testdata/`.
pub(super) fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/facts/sigstore/testdata").join(path)
}

/// A file's bytes.
pub(super) fn read(path: &str) -> Vec<u8> {
    std::fs::read(data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A text file.
pub(super) fn text(path: &str) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON file.
pub(super) fn json(path: &str) -> Value {
    serde_json::from_slice(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `trusted_root/production.json`, parsed once.
pub(super) fn production_root() -> &'static TrustRoot {
    static ROOT: OnceLock<TrustRoot> = OnceLock::new();
    ROOT.get_or_init(|| TrustRoot::from_file(&data("trusted_root/production.json")).unwrap_or_else(|e| panic!("{e}")))
}
