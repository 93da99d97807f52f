//! `attestor module build [DIR]`: build a module crate for wasm32 with whatever toolchain is
//! here, componentize it inside this binary, load it exactly as the host will, and print the
//! configuration block that pins it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::super::out;
use super::default_name;
use crate::sandbox::{LoadedModule, ModuleSpec};
use crate::selector::SelectorKind;

/// `module build` arguments.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The module crate's directory (default: the current one).
    pub dir: Option<PathBuf>,
    /// Where to write the component (default: `component/` in the crate's target directory).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Configuration string the load check passes to `validate-config`.
    #[arg(long, default_value = "")]
    pub module_config: String,
    /// Per-call limits (a module's `fuel`, `memory_mib` and `timeout` keys).
    #[command(flatten)]
    pub limits: super::LimitArgs,
}

pub(super) fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(attestor_guest_build::BuildError::NoManifest { dir }.into());
    }
    let toolchain = attestor_guest_build::toolchain::detect()?;
    eprintln!("attestor: building {} with {}", dir.display(), toolchain.describe());
    let built = attestor_guest_build::build(&toolchain, &manifest, &[], args.out_dir.as_deref())?;
    let limits = args.limits.limits()?;
    let runtime = super::runtime(&limits)?;
    for b in built {
        let path =
            std::fs::canonicalize(&b.component).with_context(|| format!("cannot resolve {}", b.component.display()))?;
        let name = default_name(&path);
        let spec = ModuleSpec {
            name: SelectorKind::new(name.clone())?,
            path: path.clone(),
            sha256: None,
            config: args.module_config.clone(),
            limits: limits.clone(),
            optional: false,
        };
        let m = LoadedModule::load(&runtime, spec)
            .with_context(|| format!("{} was built but does not load as attestor loads modules", path.display()))?;
        out!(
            "built {} ({} bytes): {} {}, loads as attestor loads it (exports {})",
            path.display(),
            m.size(),
            m.info().name,
            m.info().version,
            m.exports().join(", ")
        );
        out!();
        out!("module \"{name}\" {{\n  path   = \"{}\"\n  sha256 = \"{}\"\n}}", path.display(), m.digest());
    }
    Ok(ExitCode::SUCCESS)
}
