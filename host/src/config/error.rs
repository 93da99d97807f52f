//! Configuration errors. All of them are the operator's to fix.

use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not HCL (SPIRE's wording).
    #[error("unable to decode configuration: {0}")]
    Syntax(String),
    /// Keys nobody reads (SPIRE's wording; nested keys are written `block.key`).
    #[error("unknown configurations detected: {}", .0.join(","))]
    UnknownKeys(Vec<String>),
    /// Several problems: the first is the error, the rest are notes (SPIRE's convention).
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Problems(Vec<ConfigError>),
    /// A rule between keys was broken; the text is SPIRE's where SPIRE has one.
    #[error("{0}")]
    Rule(String),
    /// A key has a value of the wrong type or out of range.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    /// Every problem's message, for `Validate` notes.
    pub fn notes(&self) -> Vec<String> {
        match self {
            Self::Problems(all) => all.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }

    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into() }
    }
}
