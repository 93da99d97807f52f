//! `attestor module new NAME`: a standalone module crate (`attestor_guest_build::scaffold`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use attestor_guest_build::scaffold::{self, Sdk};

use super::super::out;
use crate::selector::SelectorKind;

/// `module new` arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The module's name: the crate's, the component file's and the selector kind its
    /// configuration block will usually give it (`a-z`, `0-9`, `-`).
    pub name: String,
    /// Where to write the crate (a new or empty directory); default `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Depend on the SDK at this path (an attestor checkout's `guests/sdk`). Default: the SDK
    /// of the checkout this binary was built from, when it is still there.
    #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
    pub sdk_path: Option<PathBuf>,
    /// Depend on the SDK in this git repository (attestor's) instead: what a shared module
    /// should commit, since a path means nothing on another machine.
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
    /// The commit, tag or branch of `--sdk-git` (recommended: the crate then builds the same
    /// SDK everywhere).
    #[arg(long, value_name = "REV", requires = "sdk_git")]
    pub sdk_rev: Option<String>,
}

/// The SDK of the checkout this binary was compiled in.
fn built_in_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/sdk")
}

/// An SDK directory, made absolute, checked to hold `attestor-guest`.
fn sdk_dir(dir: &Path, whence: &str) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "{whence} {}: no SDK there (cannot read {}); pass --sdk-path to an attestor checkout's guests/sdk, \
             or --sdk-git URL --sdk-rev REV",
            dir.display(),
            manifest.display()
        )
    })?;
    if !text.lines().any(|l| l.trim() == "name = \"attestor-guest\"") {
        bail!("{whence} {}: {} is not the attestor-guest SDK's", dir.display(), manifest.display());
    }
    std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

pub(super) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    scaffold::check_name(&args.name)?;
    let kind = SelectorKind::new(args.name.clone())?;
    if kind.is_reserved() {
        bail!("module name {:?} is a selector kind attestor's own sources use; choose another", args.name);
    }
    let sdk = match (args.sdk_path, args.sdk_git) {
        (Some(dir), _) => Sdk::Path(sdk_dir(&dir, "--sdk-path")?),
        (None, Some(url)) => Sdk::Git { url, rev: args.sdk_rev },
        (None, None) => Sdk::Path(sdk_dir(&built_in_sdk(), "the SDK this attestor was built with,")?),
    };
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    scaffold::write(&dir, &args.name, &sdk)?;
    let shown = match &sdk {
        Sdk::Path(p) => format!("path {}", p.display()),
        Sdk::Git { url, rev: Some(rev) } => format!("git {url} at {rev}"),
        Sdk::Git { url, rev: None } => format!("git {url}, default branch (pin it with --sdk-rev)"),
    };
    out!("created module `{}` in {} (SDK: {shown})", args.name, dir.display());
    out!("next:");
    out!("  cd {}", dir.display());
    out!("  cargo test                  # the module's logic, natively");
    out!("  attestor module build       # the component, checked, and its config block");
    out!("  attestor module test target/component/{}.wasm --facts cases", args.name);
    Ok(ExitCode::SUCCESS)
}
