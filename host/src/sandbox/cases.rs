//! `attestor module test`: a component run against recorded facts, its answer compared with the
//! author's expectation.
//!
//! A case file is YAML, one case per document (`---` between them):
//!
//! ```yaml
//! name: nginx in a pod is trusted
//! facts: facts/pod.json        # as `attestor attest --dump-facts` writes it, relative to this file (or inline)
//! config: nginx envoy          # the module's configuration string (default: the command's --module-config)
//! expect:
//!   selectors: [exe:nginx, trusted]      # every value the module answers, without the host's `<name>:`, any order
//!   facts: {program: nginx}              # every fact, without the host's `<name>.`
//! ---
//! name: a path is refused
//! facts: facts/host.json
//! config: /usr/sbin/nginx
//! expect:
//!   error: invalid-config                # or invalid-input, internal, trap, out-of-fuel, …
//!   message: file name                   # a part of the error's text (optional)
//! ```
//!
//! The module is loaded once per distinct configuration, exactly as the host loads it (so
//! `validate-config` refusing a configuration is the case's `invalid-config`), and called in a
//! fresh instance per case, as in production.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CallError, LoadError, ModuleOutput};
use crate::workload::Workload;

/// One case: facts, configuration and what the module must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The case's name (`name:`, else `case <n>`).
    pub name: String,
    /// The facts.
    pub workload: Workload,
    /// The configuration string, when the case gives one.
    pub config: Option<String>,
    /// What the module must answer.
    pub expect: Expect,
}

/// What a case expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An answer with exactly these selector values and facts (unprefixed).
    Answer {
        /// Selector values, compared as a multiset.
        selectors: Vec<String>,
        /// Facts, compared exactly.
        facts: BTreeMap<String, String>,
    },
    /// An error of this kind, whose text contains `message` when given.
    Error {
        /// The kind: one of [`ERROR_KINDS`].
        kind: String,
        /// A part of the error's text.
        message: Option<String>,
    },
}

/// The error kinds a case may expect.
pub const ERROR_KINDS: &[&str] = &[
    "invalid-config",
    "invalid-input",
    "internal",
    "trap",
    "stack-overflow",
    "out-of-fuel",
    "out-of-memory",
    "timeout",
    "log-flood",
    "bad-output",
    "instantiate",
    "load",
];

/// A case file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a case file.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    name: Option<String>,
    facts: serde_yaml_ng::Value,
    #[serde(default)]
    config: Option<String>,
    expect: RawExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    selectors: Option<Vec<String>>,
    #[serde(default)]
    facts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Read every case in the YAML file at `path`.
pub fn read(path: &Path) -> Result<Vec<Case>, CaseError> {
    let text = std::fs::read_to_string(path).map_err(|source| CaseError::Read { path: path.to_owned(), source })?;
    parse(&text, path)
}

/// The cases in `text`, the contents of the file at `path` (which names them in errors and
/// against which `facts:` files are found).
pub fn parse(text: &str, path: &Path) -> Result<Vec<Case>, CaseError> {
    let invalid = |message: String| CaseError::Invalid { path: path.to_owned(), message };
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(invalid("no cases in this file".to_owned()));
    }
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let raw = RawCase::deserialize(doc).map_err(|e| invalid(e.to_string()))?;
        let name = raw.name.unwrap_or_else(|| format!("case {}", i + 1));
        let workload = workload_of(raw.facts, &name, path)?;
        let expect = match (raw.expect.error, raw.expect.selectors, raw.expect.facts, raw.expect.message) {
            (Some(kind), None, None, message) => {
                if !ERROR_KINDS.contains(&kind.as_str()) {
                    return Err(invalid(format!(
                        "case {name:?}: unknown error kind {kind:?} (one of {})",
                        ERROR_KINDS.join(", ")
                    )));
                }
                Expect::Error { kind, message }
            }
            (Some(_), _, _, _) => {
                return Err(invalid(format!("case {name:?}: expect an `error` or `selectors` and `facts`, not both")));
            }
            (None, _, _, Some(_)) => {
                return Err(invalid(format!("case {name:?}: `message` goes with `error`")));
            }
            (None, selectors, facts, None) => {
                if selectors.is_none() && facts.is_none() {
                    return Err(invalid(format!(
                        "case {name:?}: `expect` needs `selectors` and `facts` (either may be empty), or `error`"
                    )));
                }
                Expect::Answer { selectors: selectors.unwrap_or_default(), facts: facts.unwrap_or_default() }
            }
        };
        out.push(Case { name, workload, config: raw.config, expect });
    }
    if out.is_empty() {
        return Err(invalid("no cases in this file".to_owned()));
    }
    Ok(out)
}

/// A `facts:` value: a file (JSON or YAML) relative to the case file, or the facts inline.
fn workload_of(value: serde_yaml_ng::Value, name: &str, path: &Path) -> Result<Workload, CaseError> {
    crate::workload::read_recorded(value, path, "a workload")
        .map_err(|message| CaseError::Invalid { path: path.to_owned(), message: format!("case {name:?}: {message}") })
}

/// Every `*.yaml` / `*.yml` file directly in `dir`, in name order; `dir` itself when it is a file.
pub fn find(dir: &Path) -> Result<Vec<PathBuf>, CaseError> {
    if dir.is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| CaseError::Read { path: dir.to_owned(), source })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The kind of a load failure, as a case names it.
pub fn load_error_kind(e: &LoadError) -> &'static str {
    match e {
        LoadError::ConfigRejected { .. } => "invalid-config",
        LoadError::Call(c) => call_error_kind(c),
        _ => "load",
    }
}

/// The kind of a call failure, as a case names it.
pub fn call_error_kind(e: &CallError) -> &'static str {
    match e {
        CallError::OutOfFuel { .. } => "out-of-fuel",
        CallError::Timeout { .. } => "timeout",
        CallError::OutOfMemory { .. } => "out-of-memory",
        CallError::StackOverflow { .. } => "stack-overflow",
        CallError::LogFlood { .. } => "log-flood",
        CallError::Trap { .. } => "trap",
        CallError::Refused { kind, .. } => kind,
        CallError::BadOutput { .. } => "bad-output",
        CallError::Instantiate { .. } => "instantiate",
    }
}

/// What the module did with a case: its answer with the host's prefixes taken off, or the
/// error's kind and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Selector values and facts, unprefixed.
    Output {
        /// Selector values.
        selectors: Vec<String>,
        /// Facts.
        facts: BTreeMap<String, String>,
    },
    /// An error.
    Failed {
        /// One of [`ERROR_KINDS`].
        kind: &'static str,
        /// Its text.
        message: String,
    },
}

impl Answer {
    /// The module's output without the host's `<name>:` and `<name>.` prefixes.
    pub fn of_output(module: &str, out: &ModuleOutput) -> Self {
        let selectors = out.selectors.iter().map(|s| s.value().to_owned()).collect();
        let prefix = format!("{module}.");
        let facts = out
            .facts
            .iter()
            .map(|(k, v)| (k.as_str().strip_prefix(&prefix).unwrap_or(k.as_str()).to_owned(), v.clone()))
            .collect();
        Self::Output { selectors, facts }
    }
}

/// Where `answer` departs from `expect`: one line per difference, none when the case passes.
pub fn compare(expect: &Expect, answer: &Answer) -> Vec<String> {
    match (expect, answer) {
        (Expect::Answer { selectors, facts }, Answer::Output { selectors: got, facts: got_facts }) => {
            let mut problems = Vec::new();
            let (mut want, mut have) = (selectors.clone(), got.clone());
            want.sort();
            have.sort();
            if want != have {
                problems.push(format!("selectors: expected {want:?}, got {have:?}"));
            }
            if facts != got_facts {
                problems.push(format!("facts: expected {facts:?}, got {got_facts:?}"));
            }
            problems
        }
        (Expect::Answer { .. }, Answer::Failed { kind, message }) => {
            vec![format!("expected an answer, got {kind}: {message}")]
        }
        (Expect::Error { kind, .. }, Answer::Output { selectors, facts }) => {
            vec![format!("expected {kind}, got an answer: selectors {selectors:?}, facts {facts:?}")]
        }
        (Expect::Error { kind, message }, Answer::Failed { kind: got, message: text }) => {
            let mut problems = Vec::new();
            if kind != got {
                problems.push(format!("expected {kind}, got {got}: {text}"));
            } else if let Some(part) = message
                && !text.contains(part.as_str())
            {
                problems.push(format!("the {got} message does not contain {part:?}: {text}"));
            }
            problems
        }
    }
}

#[cfg(test)]
mod tests;
