//! One `cargo build` for wasm32, read through its JSON messages: which `cdylib`s it produced and
//! where, whatever the crate's target directory (`CARGO_TARGET_DIR`, `.cargo/config.toml`, a
//! workspace above it).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::{BuildError, Toolchain};

/// A core module the build produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreModule {
    /// The library target's name with `_` as `-` (`my-module`): the component's file stem.
    pub name: String,
    /// The `.wasm` file cargo wrote.
    pub path: PathBuf,
}

/// The parts of a `compiler-artifact` message read here.
#[derive(serde::Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(serde::Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// The `cdylib` `.wasm` files named by cargo's JSON messages, in the order cargo reported them.
/// Lines that are not JSON messages (a build script's stray output) are skipped.
pub fn cdylibs(messages: &str) -> Vec<CoreModule> {
    let mut out: Vec<CoreModule> = Vec::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let Ok(msg) = serde_json::from_str::<Message>(line) else { continue };
        let Some(target) =
            msg.target.filter(|t| msg.reason == "compiler-artifact" && t.kind.iter().any(|k| k == "cdylib"))
        else {
            continue;
        };
        for path in msg.filenames.into_iter().filter(|f| f.extension().is_some_and(|e| e == "wasm")) {
            if !out.iter().any(|m| m.path == path) {
                out.push(CoreModule { name: target.name.replace('_', "-"), path });
            }
        }
    }
    out
}

/// Build `manifest` for wasm32 with `toolchain`; cargo's diagnostics go to this process's
/// stderr as it prints them. The core modules built (none is an error).
pub fn build(toolchain: &Toolchain, manifest: &Path, extra: &[&str]) -> Result<Vec<CoreModule>, BuildError> {
    let mut cmd = toolchain.build_command(manifest, extra);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BuildError::Spawn { program: program.clone(), source })?;
    let mut messages = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|source| BuildError::Spawn { program: program.clone(), source })?;
            messages.push_str(&line);
            messages.push('\n');
        }
    }
    let status = child.wait().map_err(|source| BuildError::Spawn { program, source })?;
    if !status.success() {
        return Err(BuildError::CargoFailed { manifest: manifest.to_owned(), status });
    }
    let built = cdylibs(&messages);
    if built.is_empty() {
        return Err(BuildError::NoModule { manifest: manifest.to_owned() });
    }
    Ok(built)
}

#[cfg(test)]
mod tests;
