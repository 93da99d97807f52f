//! Selectors: the `type:value` strings SPIRE matches registration entries against.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The source of a selector, the part before the first `:` (`k8s`, `unix`, a module's name).
///
/// Kinds are short lower-case words so that a selector string always splits unambiguously at its
/// first colon, and so that a module name can never masquerade as a different kind by embedding
/// a colon.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SelectorKind(String);

impl SelectorKind {
    /// Kinds that attestor's own fact sources emit; modules may not take these names.
    pub const RESERVED: &'static [&'static str] =
        &["k8s", "unix", "spiffe-id", "sigstore", "k8s_psat", "attestor", "host"];

    /// Validate a kind: 1 to 32 characters, a lower-case letter first, then lower-case letters,
    /// digits, `-` or `_`.
    pub fn new(kind: impl Into<String>) -> Result<Self, InvalidSelector> {
        let kind = kind.into();
        let mut chars = kind.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !first_ok || !rest_ok || kind.len() > 32 {
            return Err(InvalidSelector::Kind(kind));
        }
        Ok(Self(kind))
    }

    /// The kind as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the kind belongs to one of attestor's built-in sources.
    pub fn is_reserved(&self) -> bool {
        Self::RESERVED.contains(&self.0.as_str())
    }
}

impl fmt::Display for SelectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SelectorKind {
    type Error = InvalidSelector;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<SelectorKind> for String {
    fn from(k: SelectorKind) -> Self {
        k.0
    }
}

/// One selector: a kind and a value, written `kind:value`.
///
/// The value is kept byte for byte as the source produced it (SPIRE does not escape values, and
/// neither do we: `k8s:pod-image:nginx:1.25.4` is one selector whose value contains a colon).
///
/// ```
/// use attestor::Selector;
///
/// let s: Selector = "k8s:pod-image:nginx:1.25.4".parse()?;
/// assert_eq!(s.kind().as_str(), "k8s");
/// assert_eq!(s.value(), "pod-image:nginx:1.25.4"); // what SPIRE receives
/// assert_eq!((s.key(), s.key_value()), ("pod-image", "nginx:1.25.4"));
/// assert!("no-kind".parse::<Selector>().is_err());
/// # Ok::<(), attestor::selector::InvalidSelector>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Selector {
    kind: SelectorKind,
    value: String,
}

impl Selector {
    /// A selector of the given kind.
    pub fn new(kind: SelectorKind, value: impl Into<String>) -> Self {
        Self { kind, value: value.into() }
    }

    /// The kind (`k8s` in `k8s:ns:default`).
    pub fn kind(&self) -> &SelectorKind {
        &self.kind
    }

    /// The value (`ns:default` in `k8s:ns:default`): what a SPIRE plugin returns on the wire.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value's own key, the part before its first colon (`ns`), or the whole value.
    pub fn key(&self) -> &str {
        self.value.split_once(':').map_or(self.value.as_str(), |(k, _)| k)
    }

    /// What follows the value's key (`default`), or the empty string.
    pub fn key_value(&self) -> &str {
        self.value.split_once(':').map_or("", |(_, v)| v)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl FromStr for Selector {
    type Err = InvalidSelector;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = s.split_once(':').ok_or_else(|| InvalidSelector::NoKind(s.to_owned()))?;
        Ok(Self::new(SelectorKind::new(kind)?, value))
    }
}

impl TryFrom<String> for Selector {
    type Error = InvalidSelector;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> Self {
        s.to_string()
    }
}

/// A string that is not a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSelector {
    /// No `:` separates kind and value.
    #[error("selector {0:?} has no `kind:` prefix")]
    NoKind(String),
    /// The kind has characters outside `[a-z0-9_-]` or does not start with a letter.
    #[error("selector kind {0:?} must be 1-32 characters: a lower-case letter, then a-z, 0-9, `-` or `_`")]
    Kind(String),
}

#[cfg(test)]
mod tests;
