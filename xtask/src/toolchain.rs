//! Finding a toolchain that can build `wasm32-unknown-unknown` guests.
//!
//! In order of preference:
//! 1. the active rustup toolchain, if its `wasm32-unknown-unknown` standard library is installed;
//! 2. Debian's `rustc-web` + `cargo-web` + `rust-web-src` + `lld-19`, building the standard library
//!    from source (`-Zbuild-std`, allowed on a stable compiler by `RUSTC_BOOTSTRAP=1`);
//! 3. when running as root on Debian with those packages missing, installing them with apt;
//! 4. otherwise, an error that says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Flags every guest is built with.
const GUEST_RUSTFLAGS: &str = "-C link-arg=-zstack-size=131072";
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-19"];

/// A way to build guests.
pub enum Toolchain {
    /// rustup's toolchain with the wasm32 target installed.
    Rustup,
    /// Debian's Rust with std built from source, linked by `linker`.
    Debian { linker: PathBuf },
}

impl Toolchain {
    pub fn describe(&self) -> String {
        match self {
            Self::Rustup => format!("the active toolchain's {WASM_TARGET} target"),
            Self::Debian { linker } => {
                format!("Debian's rustc-web (/usr/bin/rustc) with -Zbuild-std, linked by {}", linker.display())
            }
        }
    }

    /// `cargo build --release --target wasm32-unknown-unknown` for the guest workspace.
    pub fn build_command(&self, guests: &Path, target_dir: &Path) -> Command {
        let mut cmd = match self {
            Self::Rustup => Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())),
            Self::Debian { .. } => Command::new("/usr/bin/cargo"),
        };
        cmd.current_dir(guests)
            .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
            // A 128 KiB shadow stack instead of rustc's 1 MiB keeps every page a call touches
            // in the low part of memory, which the host resets cheaply between calls.
            .env("RUSTFLAGS", GUEST_RUSTFLAGS)
            .env("CARGO_TARGET_DIR", target_dir)
            // The host build's flags (coverage, sanitizers, target-cpu) make no sense for wasm.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER");
        if let Self::Debian { linker } = self {
            cmd.arg("-Zbuild-std=std,panic_abort")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTC", "/usr/bin/rustc")
                .env_remove("RUSTUP_TOOLCHAIN")
                .env("RUSTFLAGS", format!("{GUEST_RUSTFLAGS} -C linker={}", linker.display()));
        }
        cmd
    }
}

/// Pick (or install) a toolchain.
pub fn detect() -> Result<Toolchain> {
    if rustup_has_wasm_target() {
        return Ok(Toolchain::Rustup);
    }
    if let Some(tc) = debian_toolchain() {
        return Ok(tc);
    }
    if crate::packages::is_root() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: no wasm32 toolchain found; installing Debian's {} with apt", DEBIAN_PACKAGES.join(" "));
        install_debian_packages()?;
        if let Some(tc) = debian_toolchain() {
            return Ok(tc);
        }
    }
    bail!(
        "no toolchain can build {WASM_TARGET} guests here.\n\
         Install one of:\n  \
         * rustup's target:   rustup target add {WASM_TARGET}\n  \
         * on Debian/Ubuntu:  apt-get install {} (Rust with std sources, plus the wasm linker)",
        DEBIAN_PACKAGES.join(" ")
    )
}

/// Whether the active rustc has a prebuilt std for wasm32.
fn rustup_has_wasm_target() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "target-libdir", "--target", WASM_TARGET]).output() else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::read_dir(dir)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
}

/// Debian's rustc-web, if it is installed with its std sources and a wasm linker.
fn debian_toolchain() -> Option<Toolchain> {
    let sysroot = Command::new("/usr/bin/rustc").args(["--print", "sysroot"]).output().ok()?;
    if !sysroot.status.success() || !Path::new("/usr/bin/cargo").exists() {
        return None;
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib/src/rust/library/std").is_dir() {
        return None;
    }
    ["/usr/bin/wasm-ld-19", "/usr/bin/wasm-ld"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .map(|linker| Toolchain::Debian { linker })
}

fn install_debian_packages() -> Result<()> {
    crate::packages::apt_install(DEBIAN_PACKAGES)
}
