//! `attestor module new`: a standalone module crate, ready to test, build and pin.
//!
//! The crate is its own workspace (an empty `[workspace]` table), so it builds the same inside
//! or outside another repository. The SDK is not published on crates.io: the crate depends on
//! it by path (a checkout of attestor on this machine: what a module author who built attestor
//! from source has, and the only kind that builds offline) or by git (a URL and revision: what a
//! team sharing a module should commit, since a path means nothing on another machine).

use std::path::{Path, PathBuf};

use crate::BuildError;

/// Where the new crate finds the `attestor-guest` SDK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// A directory holding the SDK's `Cargo.toml` (`<attestor checkout>/guests/sdk`).
    Path(PathBuf),
    /// A git repository holding the SDK (attestor's own), at `rev` when given.
    Git {
        /// The repository URL.
        url: String,
        /// A commit, tag or branch; the default branch when absent.
        rev: Option<String>,
    },
}

/// The files of a new module, relative to its directory, with their text.
const TEMPLATES: &[(&str, &str)] = &[
    // Not named `Cargo.toml`: cargo reads every manifest of a git dependency's repository and
    // reports a template's `{{…}}` as "error: invalid key" to everyone depending on the SDK by git.
    ("Cargo.toml", include_str!("../templates/module/Cargo.toml.in")),
    ("src/lib.rs", include_str!("../templates/module/src/lib.rs")),
    ("src/tests.rs", include_str!("../templates/module/src/tests.rs")),
    ("cases/example.yaml", include_str!("../templates/module/cases/example.yaml")),
    ("cases/facts/host.json", include_str!("../templates/module/cases/facts/host.json")),
    ("cases/facts/pod.json", include_str!("../templates/module/cases/facts/pod.json")),
    ("README.md", include_str!("../templates/module/README.md")),
    // Stored without its dot so that git does not read it as this repository's own.
    (".gitignore", include_str!("../templates/module/gitignore")),
];

/// Whether `name` can name a module crate and its component: 1–32 characters (a selector
/// kind's length) of `a-z`, `0-9`
/// and `-`, starting with a letter, not ending with `-`. The host's own rules for module names
/// (reserved selector kinds) are checked by the caller.
pub fn check_name(name: &str) -> Result<(), BuildError> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BuildError::Scaffold(format!(
            "module name {name:?} is not usable: use 1-32 characters of a-z, 0-9 and `-`, starting with a letter \
             and not ending with `-` (it names the crate, the component file and the selector kind)"
        )))
    }
}

/// `my-module` → `MyModule`: the type the generated code implements `Module` for.
fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The dependency line (with its comment) for `sdk`.
fn sdk_lines(sdk: &Sdk) -> (String, String) {
    match sdk {
        Sdk::Path(dir) => (
            "# The SDK from an attestor checkout on this machine (it is not on crates.io). To share this\n\
             # crate, replace `path` with `git = \"<attestor's repository>\"` and a `rev`."
                .to_owned(),
            format!("attestor-guest = {{ path = {} }}", toml_string(&dir.display().to_string())),
        ),
        Sdk::Git { url, rev } => (
            "# The SDK from attestor's git repository (it is not on crates.io), pinned to one revision:\n\
             # Cargo.lock records the commit, so every build of this crate uses the same SDK."
                .to_owned(),
            match rev {
                Some(rev) => format!("attestor-guest = {{ git = {}, rev = {} }}", toml_string(url), toml_string(rev)),
                None => format!("attestor-guest = {{ git = {} }}", toml_string(url)),
            },
        ),
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Write a new module crate named `name` into `dir` (created; refused when it exists and is
/// not empty). The files written, in order.
pub fn write(dir: &Path, name: &str, sdk: &Sdk) -> Result<Vec<PathBuf>, BuildError> {
    check_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BuildError::Scaffold(format!(
            "{} exists and is not empty: `module new` writes only into a new or empty directory",
            dir.display()
        )));
    }
    let (sdk_comment, sdk_line) = sdk_lines(sdk);
    let ty = type_name(name);
    let mut written = Vec::with_capacity(TEMPLATES.len());
    for (rel, template) in TEMPLATES {
        let text = template
            .replace("{{sdk_comment}}", &sdk_comment)
            .replace("{{sdk_line}}", &sdk_line)
            .replace("{{type}}", &ty)
            .replace("{{name}}", name);
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&path, text).map_err(BuildError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
