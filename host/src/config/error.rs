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
    /// Several problems, all reported: the first one's message comes first (SPIRE's error), the
    /// others follow it (SPIRE's notes).
    #[error("{}", problems_message(.0))]
    Problems(Vec<ConfigError>),
    /// A problem in a config file, named.
    #[error("config file {}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<ConfigError>,
    },
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
    /// Always the operator's.
    pub fn fault(&self) -> crate::fault::Fault {
        crate::fault::Fault::Config
    }

    /// Every problem's message, one each, for `Validate` notes.
    pub fn notes(&self) -> Vec<String> {
        match self {
            Self::Problems(all) => all.iter().map(ToString::to_string).collect(),
            Self::InFile { error, .. } => error.notes(),
            other => vec![other.to_string()],
        }
    }

    /// Name the file this problem is in.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        Self::InFile { path: path.to_owned(), error: Box::new(self) }
    }

    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into() }
    }
}

fn problems_message(all: &[ConfigError]) -> String {
    match all {
        [] => String::new(),
        [one] => one.to_string(),
        [first, rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
            format!("{first} (and {} more: {})", rest.len(), rest.join("; "))
        }
    }
}

/// Problems found while reading one config: every one is kept, in the order found, so the
/// operator sees them all at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigError>);

impl Problems {
    /// Record a problem.
    pub(crate) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// The value, or `None` after recording why there is none.
    pub(crate) fn take<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }

    /// An optional value: absent, or unusable (recorded), are both `None`.
    pub(crate) fn opt<T>(&mut self, r: Result<Option<T>, ConfigError>) -> Option<T> {
        self.take(r).flatten()
    }

    /// How many were recorded.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Everything recorded.
    pub(crate) fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}
