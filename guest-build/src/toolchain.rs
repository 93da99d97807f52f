//! Finding a toolchain that can build `wasm32-unknown-unknown` modules, in order of preference:
//!
//! 1. the active toolchain (`rustc` on `PATH`, or `$RUSTC`; rustup's when rustup is installed),
//!    if its prebuilt `wasm32-unknown-unknown` standard library is installed
//!    (`rustup target add wasm32-unknown-unknown`);
//! 2. the build-std recipe: a stable `rustc` with its standard library's sources and a
//!    `wasm-ld`, building std from source (`-Zbuild-std`, allowed on a stable compiler by
//!    `RUSTC_BOOTSTRAP=1`). Debian ships exactly that as `rustc-web cargo-web rust-web-src
//!    lld-19`, installed under `/usr`; `ATTESTOR_BUILD_STD_PREFIX` names another prefix.
//!
//! Nothing is installed here: `cargo xtask` installs Debian's packages when it runs as root,
//! `attestor module build` says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BuildError;

/// The target every module is built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Debian's packages for the build-std recipe.
pub const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-19"];
/// Where the build-std recipe looks when `ATTESTOR_BUILD_STD_PREFIX` is unset.
const DEFAULT_PREFIX: &str = "/usr";
/// The variable naming another prefix for the build-std recipe (`<prefix>/bin/rustc`, …).
pub const PREFIX_ENV: &str = "ATTESTOR_BUILD_STD_PREFIX";
/// Flags every module is built with. A 128 KiB shadow stack instead of rustc's 1 MiB keeps every
/// page a call touches in the low part of memory, which the host resets cheaply between calls.
const GUEST_RUSTFLAGS: &str = "-C link-arg=-zstack-size=131072";

/// A way to build modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// The active toolchain, with the wasm32 target's standard library installed.
    Prebuilt {
        /// The cargo to run (`$CARGO`, else `cargo` on `PATH`).
        cargo: PathBuf,
    },
    /// A rustc with its std sources, std built from source, linked by `linker`.
    BuildStd {
        /// `<prefix>/bin/rustc`.
        rustc: PathBuf,
        /// `<prefix>/bin/cargo`.
        cargo: PathBuf,
        /// `wasm-ld-19` or `wasm-ld`.
        linker: PathBuf,
    },
}

impl Toolchain {
    /// One line for the user: which toolchain builds.
    pub fn describe(&self) -> String {
        match self {
            Self::Prebuilt { .. } => format!("the active toolchain's {WASM_TARGET} target"),
            Self::BuildStd { rustc, linker, .. } => {
                format!("{} with -Zbuild-std, linked by {}", rustc.display(), linker.display())
            }
        }
    }

    /// `cargo build --release --target wasm32-unknown-unknown` for `manifest`, its messages as
    /// JSON on stdout (diagnostics rendered on stderr). `extra` goes after the fixed arguments
    /// (`--workspace`, `--target-dir …`).
    pub fn build_command(&self, manifest: &Path, extra: &[&str]) -> Command {
        let cargo = match self {
            Self::Prebuilt { cargo } | Self::BuildStd { cargo, .. } => cargo,
        };
        let mut cmd = Command::new(cargo);
        // From the crate's directory, so its own `.cargo/config.toml` and `rust-toolchain.toml`
        // count; the manifest made absolute first, or a relative one would be read from there.
        let manifest = std::path::absolute(manifest).unwrap_or_else(|_| manifest.to_owned());
        if let Some(dir) = manifest.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmd.current_dir(dir);
        }
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--release", "--target", WASM_TARGET, "--message-format=json-render-diagnostics"])
            .args(extra)
            .env("RUSTFLAGS", GUEST_RUSTFLAGS)
            // A host build's flags (coverage, sanitizers, target-cpu) make no sense for wasm.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER");
        if let Self::BuildStd { rustc, linker, .. } = self {
            cmd.arg("-Zbuild-std=std,panic_abort")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTC", rustc)
                .env_remove("RUSTUP_TOOLCHAIN")
                .env("RUSTFLAGS", format!("{GUEST_RUSTFLAGS} -C linker={}", linker.display()));
        }
        cmd
    }
}

/// Pick a toolchain, or say what was tried and what to install.
pub fn detect() -> Result<Toolchain, BuildError> {
    let mut tried = Vec::new();
    match prebuilt() {
        Ok(tc) => return Ok(tc),
        Err(why) => tried.push(why),
    }
    let prefix = std::env::var_os(PREFIX_ENV).map_or_else(|| PathBuf::from(DEFAULT_PREFIX), PathBuf::from);
    match build_std_at(&prefix) {
        Ok(tc) => return Ok(tc),
        Err(why) => tried.push(why),
    }
    Err(BuildError::NoToolchain { tried: tried.join("; "), packages: DEBIAN_PACKAGES.join(" ") })
}

/// The active rustc, if its prebuilt std for wasm32 is installed.
fn prebuilt() -> Result<Toolchain, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let shown = PathBuf::from(&rustc).display().to_string();
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown}` does not know {WASM_TARGET}"));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let has_std = std::fs::read_dir(&dir)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")));
    if !has_std {
        return Err(format!("`{shown}` has no {WASM_TARGET} standard library in {}", dir.display()));
    }
    Ok(Toolchain::Prebuilt { cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from) })
}

/// A rustc under `prefix` with its std sources, its cargo and a wasm linker.
fn build_std_at(prefix: &Path) -> Result<Toolchain, String> {
    let rustc = prefix.join("bin/rustc");
    let cargo = prefix.join("bin/cargo");
    let sysroot =
        Command::new(&rustc).args(["--print", "sysroot"]).output().map_err(|e| format!("{}: {e}", rustc.display()))?;
    if !sysroot.status.success() {
        return Err(format!("{} --print sysroot failed", rustc.display()));
    }
    if !cargo.is_file() {
        return Err(format!("{} is missing", cargo.display()));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let std_src = sysroot.join("lib/rustlib/src/rust/library/std");
    if !std_src.is_dir() {
        return Err(format!("{} has no std sources ({} is missing)", rustc.display(), std_src.display()));
    }
    let linkers = [prefix.join("bin/wasm-ld-19"), prefix.join("bin/wasm-ld")];
    let Some(linker) = linkers.iter().find(|p| p.is_file()).cloned() else {
        return Err(format!("no wasm linker ({} or {})", linkers[0].display(), linkers[1].display()));
    };
    Ok(Toolchain::BuildStd { rustc, cargo, linker })
}

#[cfg(test)]
mod tests;
