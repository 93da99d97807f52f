//! Policy files: where they come from, and how to point at a line in them.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::PolicyError;

/// The default policy set, compiled into the binary.
const DEFAULT_SET: &[(&str, &str)] =
    &[("<embedded>/default/identities.cedar", include_str!("../../../policies/default/identities.cedar"))];

/// One policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFile {
    /// Path as shown in messages.
    pub name: String,
    /// Its text.
    pub text: String,
}

impl PolicyFile {
    /// `(line, column)`, both 1-based, of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        // An offset inside a character counts as that character's start.
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let upto = &self.text[..end];
        let line = upto.matches('\n').count() + 1;
        let col = upto.rfind('\n').map_or(upto.len(), |nl| upto.len() - nl - 1) + 1;
        (line, col)
    }

    /// Byte offset where each top-level statement (policy or template) starts, in source order:
    /// its first annotation or its effect keyword. Cedar names unnamed policies `policy0`,
    /// `policy1`… in the same order, which is how a policy is traced back to its line.
    pub fn statement_offsets(&self) -> Vec<usize> {
        let bytes = self.text.as_bytes();
        let mut starts = Vec::new();
        let mut i = 0;
        let mut at_start = true;
        while i < bytes.len() {
            match bytes[i] {
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                b if b.is_ascii_whitespace() => {}
                b';' => at_start = true,
                b => {
                    if at_start {
                        starts.push(i);
                        at_start = false;
                    }
                    if b == b'"' {
                        i += 1;
                        while i < bytes.len() && bytes[i] != b'"' {
                            i += if bytes[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                }
            }
            i += 1;
        }
        starts
    }
}

/// The embedded default set.
pub fn default_files() -> Vec<PolicyFile> {
    DEFAULT_SET.iter().map(|(name, text)| PolicyFile { name: (*name).to_owned(), text: (*text).to_owned() }).collect()
}

/// Whether a file is part of a policy generation: Cedar files, template links and ID prefix
/// ownership. Anything else in the directory (fixtures, facts, READMEs) is not.
pub fn is_policy_input(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.extension().is_some_and(|e| e == "cedar") || name.ends_with("links.json") || name.ends_with("id-prefixes.json")
}

/// Every policy input under `dir` (`*.cedar`, `*links.json`, `*id-prefixes.json`), recursively,
/// in path order.
pub fn read_dir(dir: &Path) -> Result<Vec<PolicyFile>, PolicyError> {
    let paths = files_under(dir, &is_policy_input).map_err(|e| PolicyError::Read { path: e.path, source: e.source })?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read { path: path.clone(), source })?;
        files.push(PolicyFile { name: path.display().to_string(), text });
    }
    if !files.iter().any(|f| f.name.ends_with(".cedar")) {
        return Err(PolicyError::Empty { dir: dir.to_owned() });
    }
    Ok(files)
}

/// A directory that could not be listed.
#[derive(Debug)]
pub struct Unlistable {
    /// The directory.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Every file under `dir` that `keep` accepts, recursively, in path order: the one walker for
/// policy directories, fixture directories and `policy fmt`. Hidden directories are not
/// entered: a ConfigMap volume holds each file twice, `x.cedar` (a symlink) and
/// `..<timestamp>/x.cedar` behind `..data`, and each must be read once.
pub fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>, Unlistable> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let unlistable = |source| Unlistable { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(unlistable)? {
            let entry = entry.map_err(unlistable)?;
            let path = entry.path();
            if path.is_dir() {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    pending.push(path);
                }
            } else if keep(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a file's name starts with a dot.
pub fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The generation hash: one digest over every input that can change a decision.
pub fn generation(files: &[PolicyFile], extra: &[&str]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    for e in extra {
        h.update(e.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests;
