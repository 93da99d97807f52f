//! Free-form string facts, keyed `<source>.<key>`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A fact's key: `<source>.<key>`, for example `host.name` or `team-owner.team`.
///
/// The source prefix is what keeps one module's facts from overwriting another's or the host's:
/// the sandbox always writes a module's facts under the module's own name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FactKey(String);

impl FactKey {
    /// Longest key accepted, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validate a full key (`source.key`).
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidFactKey> {
        let key = key.into();
        let (source, rest) = key.split_once('.').ok_or_else(|| InvalidFactKey(key.clone()))?;
        if key.len() > Self::MAX_LEN || !is_word(source) || !rest.split('.').all(is_word) {
            return Err(InvalidFactKey(key));
        }
        Ok(Self(key))
    }

    /// Join a source and a key.
    pub fn join(source: &str, key: &str) -> Result<Self, InvalidFactKey> {
        Self::new(format!("{source}.{key}"))
    }

    /// The key as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The source: the part before the first `.` (`host` of `host.name`, a module's name).
    pub fn source(&self) -> &str {
        self.0.split_once('.').map_or(self.0.as_str(), |(source, _)| source)
    }
}

/// A word of a fact key: lower-case letters, digits, `-` and `_`, starting with a letter or digit.
fn is_word(w: &str) -> bool {
    let mut chars = w.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl fmt::Display for FactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FactKey {
    type Error = InvalidFactKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<FactKey> for String {
    fn from(k: FactKey) -> Self {
        k.0
    }
}

/// A string that is not a fact key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fact key {0:?} must be `source.key`: dot-separated words of a-z, 0-9, `-`, `_`, at most 128 bytes")]
pub struct InvalidFactKey(pub String);

/// The free-form facts of one workload, ordered by key so output is stable.
pub type Facts = BTreeMap<FactKey, String>;

#[cfg(test)]
mod tests;
