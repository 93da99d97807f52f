//! Debian packages the test suite runs beyond the guest toolchain: `docker-registry` (CNCF
//! distribution 2.8), the real registry `tests/sigstore_real_registry.rs` pushes signatures to.
//!
//! Installed with apt when missing and running as root on Debian; otherwise a note says what to
//! install, and those tests report themselves ignored with the same reason (they never pass
//! without having run).

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// Where the package puts the registry binary (what the tests look for).
const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
/// The tests' override: another distribution binary, or a missing path to run without one.
const DOCKER_REGISTRY_ENV: &str = "ATTESTOR_DOCKER_REGISTRY";
const PACKAGE: &str = "docker-registry";

/// Make sure the real-registry tests can run: install `docker-registry` when it is missing and
/// apt can, else say what is missing. Never fails the run: those tests report the reason.
pub fn ensure_docker_registry() {
    if std::env::var_os(DOCKER_REGISTRY_ENV).is_some() || Path::new(DOCKER_REGISTRY).is_file() {
        return;
    }
    let why = if is_root() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("xtask: {DOCKER_REGISTRY} not found; installing Debian's {PACKAGE} with apt");
        match apt_install(&[PACKAGE]) {
            Ok(()) if Path::new(DOCKER_REGISTRY).is_file() => {
                // Debian enables the package's own service (port 5000, /etc/docker/registry);
                // under systemd it is started too. The tests start their own, on loopback.
                eprintln!(
                    "xtask: installed {PACKAGE}; the tests do not use its system service (on systemd hosts: \
                     `systemctl disable --now {PACKAGE}` stops it)"
                );
                return;
            }
            Ok(()) => format!("apt-get installed {PACKAGE} but {DOCKER_REGISTRY} is still missing"),
            Err(e) => format!("{e:#}"),
        }
    } else {
        "not running as root with apt-get".to_owned()
    };
    eprintln!(
        "xtask: note: {DOCKER_REGISTRY} is missing ({why}); the real-registry tests (sigstore_real_registry) \
         will be reported as ignored.\n       Install it with `apt-get install {PACKAGE}` (Debian/Ubuntu), or set \
         {DOCKER_REGISTRY_ENV} to a CNCF distribution (`registry`) binary."
    );
}

/// Whether this process runs as root (and so may install packages).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get install -y --no-install-recommends <packages>`, updating the package lists once if
/// the first attempt fails (they may be missing or stale on a fresh machine).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if install().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let _ = Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive").status();
    match install() {
        Ok(s) if s.success() => Ok(()),
        _ => bail!("apt-get install {} failed", packages.join(" ")),
    }
}
