//! A guest toolchain for `cargo xtask`: the library's detection (`attestor_guest_build::toolchain`,
//! the same `attestor module build` runs), and when it finds none while running as root on
//! Debian, Debian's `rustc-web cargo-web rust-web-src lld-19` installed with apt, then detection
//! again. `attestor module build` never installs anything; xtask sets up the machine it tests on.

use anyhow::Result;
use attestor_guest_build::Toolchain;
use attestor_guest_build::toolchain::{self, DEBIAN_PACKAGES};

/// Pick (or install) a toolchain.
pub fn detect() -> Result<Toolchain> {
    match toolchain::detect() {
        Ok(tc) => Ok(tc),
        Err(missing) if crate::packages::is_root() && std::path::Path::new("/usr/bin/apt-get").exists() => {
            eprintln!("xtask: {missing}\nxtask: installing Debian's {} with apt", DEBIAN_PACKAGES.join(" "));
            crate::packages::apt_install(DEBIAN_PACKAGES)?;
            Ok(toolchain::detect()?)
        }
        Err(missing) => Err(missing.into()),
    }
}
