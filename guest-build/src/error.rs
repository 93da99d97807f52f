//! `BuildError`: why a module could not be built, scaffolded or componentized. Each variant
//! says who must act: the machine (no toolchain), the crate's author, or the file system.

use std::path::PathBuf;

/// Why a build, a scaffold or a componentization failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The machine: no toolchain here can build `wasm32-unknown-unknown`.
    #[error(
        "no toolchain can build wasm32-unknown-unknown modules here (tried: {tried}). Install one: \
         `rustup target add wasm32-unknown-unknown` (rustup's prebuilt target), or on Debian/Ubuntu \
         `apt-get install {packages}` (Rust with its std sources, plus the wasm linker)"
    )]
    NoToolchain {
        /// What was looked for and why each failed.
        tried: String,
        /// Debian's packages for the build-std recipe.
        packages: String,
    },
    /// The machine: cargo could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The author: the crate does not compile (cargo printed why above).
    #[error("cargo build failed for {manifest} ({status}); its errors are printed above")]
    CargoFailed {
        /// The manifest built.
        manifest: PathBuf,
        /// cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// The author: no `Cargo.toml` where a crate was expected.
    #[error("{dir} holds no Cargo.toml: give the directory of a module crate (`attestor module new` makes one)")]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// The author: the build produced no `cdylib`, so there is no module to componentize.
    #[error(
        "{manifest} builds no cdylib: a module crate has `[lib] crate-type = [\"cdylib\"]` and calls \
         `attestor_guest::export_module!` (`attestor module new` writes one)"
    )]
    NoModule {
        /// The manifest built.
        manifest: PathBuf,
    },
    /// The author: the core module carries no component type, or one that does not encode.
    #[error("{path} is not a module: {reason}")]
    NotAModule {
        /// The core module.
        path: PathBuf,
        /// What wit-component said.
        reason: String,
    },
    /// The author (of `module new`'s arguments): a name or directory that cannot be used.
    #[error("{0}")]
    Scaffold(String),
    /// The file system.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
