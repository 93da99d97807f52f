//! # attestor-guest-build: build attestor Wasm modules
//!
//! One implementation, used by `attestor module new|build` and by `cargo xtask guests`:
//!
//! * [`toolchain`]: find a toolchain that builds `wasm32-unknown-unknown` (rustup's target, or a
//!   stable rustc building std from source, as Debian's `rustc-web` packages allow), or say what
//!   to install;
//! * [`cargo`]: one `cargo build` for wasm32, its `cdylib`s read from cargo's JSON messages;
//! * [`component`]: core module → component with `wit-component`, inside the process;
//! * [`scaffold`]: a new standalone module crate.
//!
//! Loading the component as the host will is the host's job (`attestor module build` does it
//! after [`build`]): this crate does not depend on wasmtime, so `cargo xtask` stays light.

pub mod cargo;
pub mod component;
mod error;
pub mod scaffold;
pub mod toolchain;

use std::path::{Path, PathBuf};

pub use error::BuildError;
pub use toolchain::Toolchain;

/// A module built and componentized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The library target's name with `_` as `-`: the component's file stem.
    pub name: String,
    /// The core module cargo wrote.
    pub core: PathBuf,
    /// The component written from it.
    pub component: PathBuf,
}

/// Build the crate or workspace of `manifest` for wasm32 with `toolchain` and componentize every
/// `cdylib` it produced into `out_dir/<name>.wasm`; without `out_dir`, into `component/` beside
/// cargo's `wasm32-unknown-unknown` directory (`target/component/<name>.wasm` for a crate with
/// the default target directory). `extra` is passed to `cargo build`.
pub fn build(
    toolchain: &Toolchain,
    manifest: &Path,
    extra: &[&str],
    out_dir: Option<&Path>,
) -> Result<Vec<Built>, BuildError> {
    let cores = cargo::build(toolchain, manifest, extra)?;
    let mut built = Vec::with_capacity(cores.len());
    for core in cores {
        let dir = match out_dir {
            Some(d) => d.to_owned(),
            // <target>/wasm32-unknown-unknown/release/<name>.wasm → <target>/component/
            None => core.path.ancestors().nth(3).map_or_else(|| PathBuf::from("component"), |t| t.join("component")),
        };
        let component = dir.join(format!("{}.wasm", core.name));
        component::componentize_file(&core.path, &component)?;
        built.push(Built { name: core.name, core: core.path, component });
    }
    Ok(built)
}
