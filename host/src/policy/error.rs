//! Policy errors. Loading errors are the policy author's (or operator's) to fix and point at a
//! file, a line and a policy id; deciding errors are the host's.

use std::fmt;
use std::path::PathBuf;

use crate::fault::Fault;

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
    /// The embedded schema or baseline policies do not parse (a host bug).
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
    /// The parsed policies could not be put together into one set (an add or a template link
    /// Cedar refused).
    #[error("cannot assemble the policy set: {0}")]
    Assemble(#[source] Box<cedar_policy::PolicySetError>),
    /// Several problems (`policy check` prints one per line).
    #[error("{} problems in the policy set: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<PolicyError>),
}

/// A decision that could not be computed: a host fault, never a policy outcome (a policy
/// that errors counts as denying). The attestation fails closed.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The workload's facts could not be made into Cedar entities or a Cedar context.
    #[error("policy evaluation failed: the facts cannot be given to Cedar: {0}")]
    Facts(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Cedar refused a request (principal, action, resource, context) against the schema.
    #[error("policy evaluation failed: the request does not fit the schema: {0}")]
    Request(#[source] Box<cedar_policy::RequestValidationError>),
    /// A pass has no slice of policies (an invariant of loading broken).
    #[error("policy evaluation failed: no policy slice for the {0:?} pass")]
    NoSlice(super::Pass),
}

impl DecideError {
    /// Facts Cedar cannot hold, from any of Cedar's construction errors.
    pub(crate) fn facts(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Facts(Box::new(e))
    }

    /// Always the host's: policies that error deny instead of failing.
    pub fn fault(&self) -> Fault {
        Fault::Host
    }
}

impl PolicyError {
    /// Who must act: the operator for paths, the host for the embedded schema and baseline,
    /// the policy author for everything else.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Read { .. } | Self::Empty { .. } => Fault::Config,
            Self::Schema(_) => Fault::Host,
            _ => Fault::Policy,
        }
    }
}
