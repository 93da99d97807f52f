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
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into() }
    }
}
