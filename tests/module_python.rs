//! The Python module of `docs/writing-modules.md`, built as the guide says with componentize-py
//! and checked by the real binary: it loads (so it imports only attestor's interfaces), and passes the
//! cases `attestor module new` ships with its Rust template. The code is read from the guide
//! itself, so the guide's sketch cannot drift from what works.
//!
//! Its own harness: without componentize-py (`cargo xtask test` installs it from PyPI; or set
//! `ATTESTOR_COMPONENTIZE_PY`) the test is reported as ignored, with the reason.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Arguments, Failed, Trial};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn componentize_py() -> Result<PathBuf, String> {
    let bin = std::env::var_os("ATTESTOR_COMPONENTIZE_PY").map(PathBuf::from).ok_or_else(|| {
        "componentize-py not available: ATTESTOR_COMPONENTIZE_PY is unset (`cargo xtask test` installs \
         componentize-py from PyPI and sets it)"
            .to_owned()
    })?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("ATTESTOR_COMPONENTIZE_PY names {}, which is missing", bin.display()))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn checked(what: &str, out: std::io::Result<Output>) -> Result<String, Failed> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(
            format!("{what}: {}\nstdout:\n{}\nstderr:\n{}", out.status, text(&out.stdout), text(&out.stderr)).into()
        );
    }
    Ok(text(&out.stdout))
}

/// The guide's `app.py`: the first ```python block after the line naming it.
fn app_py() -> String {
    let guide = std::fs::read_to_string(root().join("docs/writing-modules.md")).unwrap();
    let from = guide.find("`app.py`").expect("the guide names app.py");
    let rest = &guide[from..];
    let start = rest.find("```python\n").expect("a python block after app.py") + "```python\n".len();
    let len = rest[start..].find("\n```").expect("the block ends");
    rest[start..start + len + 1].to_owned()
}

fn the_guides_python_module_builds_loads_and_passes_the_template_cases(bin: &Path) -> Result<(), Failed> {
    let attestor = env!("CARGO_BIN_EXE_attestor");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("wit")).unwrap();
    let wit = checked("attestor module wit", Command::new(attestor).args(["module", "wit"]).output())?;
    std::fs::write(dir.join("wit/attestor.wit"), wit).unwrap();
    std::fs::write(dir.join("app.py"), app_py()).unwrap();
    // The guide's two commands.
    checked(
        "componentize-py bindings",
        Command::new(bin).args(["-d", "wit", "-w", "attestor-module", "bindings", "."]).current_dir(dir).output(),
    )?;
    checked(
        "componentize-py componentize",
        Command::new(bin)
            .args([
                "-d",
                "wit",
                "-w",
                "attestor-module",
                "componentize",
                "--stub-wasi",
                "app",
                "-o",
                "my-module-py.wasm",
            ])
            .current_dir(dir)
            .output(),
    )?;
    let cases = root().join("guest-build/templates/module/cases");
    let tested = checked(
        "attestor module test",
        Command::new(attestor)
            .args(["module", "test", "my-module-py.wasm", "--facts"])
            .arg(&cases)
            .env("ATTESTOR_LOG", "off")
            .current_dir(dir)
            .output(),
    )?;
    // Loading is what checks the imports (only attestor's) and the export; each case is a call.
    assert!(tested.ends_with("3 passed, 0 failed\n"), "{tested}");
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let name = "the_guides_python_module_builds_loads_and_passes_the_template_cases";
    let trial = match componentize_py() {
        Ok(bin) => Trial::test(name, move || the_guides_python_module_builds_loads_and_passes_the_template_cases(&bin)),
        Err(why) => {
            eprintln!("note: module_python is ignored on this machine: {why}");
            Trial::test(name, move || Err(Failed::from(why))).with_ignored_flag(true)
        }
    };
    libtest_mimic::run(&args, vec![trial]).exit();
}
