//! Policy errors. Loading errors are the policy author's (or operator's) to fix and point at a
//! file, a line and a policy id; deciding errors are the host's.

use std::fmt;
use std::path::PathBuf;

/// Where in the policy files something is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File as shown in messages.
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A policy set that cannot be used. Nothing is decided with a set that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The policy directory holds no `.cedar` file.
    #[error("policy directory {dir} contains no .cedar files")]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// The schema does not parse (a host bug for the embedded schema).
    #[error("policy schema: {0}")]
    Schema(String),
    /// Cedar syntax error.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// Cedar's message.
        message: String,
    },
    /// A policy without `@id`.
    #[error("{at}: policy has no @id annotation; every policy needs a stable id, e.g. @id(\"ns-sa-identity\")")]
    MissingId {
        /// Where.
        at: Location,
    },
    /// Two policies with one id.
    #[error("{at}: policy `{id}`: id already used at {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The second use.
        at: Location,
        /// The first use.
        first: Location,
    },
    /// A policy that fails validation, the lint, or template checks.
    #[error("{at}: policy `{id}`: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// The policy id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// Several problems (`policy check` prints one per line).
    #[error("{} problems in the policy set: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<PolicyError>),
}

/// A decision that could not be computed: a host fault, never a policy outcome. The
/// attestation fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy evaluation failed: {0}")]
pub struct DecideError(pub String);
