//! componentize-py, for the test that builds `docs/writing-modules.md`'s Python module
//! (`tests/module_python.rs`): installed from PyPI into a virtual environment under the target
//! directory, pinned, when python3 can make one. Never fails the run: without it that test
//! reports itself ignored, with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version the guide's sketch was written and tested against.
const VERSION: &str = "0.25.1";
/// The tests' variable: the `componentize-py` binary to use.
pub const ENV: &str = "ATTESTOR_COMPONENTIZE_PY";

/// The `componentize-py` binary, installed into `<target>/componentize-py` when missing; or
/// `None` after a note saying why not.
pub fn ensure_componentize_py(target: &Path) -> Option<PathBuf> {
    if let Some(given) = std::env::var_os(ENV) {
        return Some(PathBuf::from(given));
    }
    let venv = target.join(format!("componentize-py-{VERSION}"));
    let bin = venv.join("bin/componentize-py");
    if bin.is_file() {
        return Some(bin);
    }
    eprintln!("xtask: installing componentize-py {VERSION} from PyPI into {}", venv.display());
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
    let installed = made.is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", &format!("componentize-py=={VERSION}")])
            .status()
            .is_ok_and(|s| s.success());
    if installed && bin.is_file() {
        return Some(bin);
    }
    eprintln!(
        "xtask: note: componentize-py could not be installed (python3 -m venv and pip from PyPI); the test that \
         builds the guide's Python module (module_python) will be reported as ignored.\n       Install it with \
         `pip install componentize-py=={VERSION}`, or set {ENV} to its binary."
    );
    None
}
