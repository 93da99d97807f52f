//! SPIFFE IDs and trust domains, validated as the SPIFFE ID specification requires.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest SPIFFE ID the specification allows, in bytes.
const MAX_ID_LEN: usize = 2048;

/// A SPIFFE trust domain name such as `example.org`.
///
/// Only lower-case letters, digits, `.`, `-` and `_` are allowed, so two spellings of one trust
/// domain can never compare unequal.
///
/// ```
/// use attestor::TrustDomain;
///
/// assert_eq!(TrustDomain::new("example.org")?.as_str(), "example.org");
/// assert!(TrustDomain::new("Example.org").is_err(), "upper case would make two spellings");
/// # Ok::<(), attestor::spiffe_id::InvalidSpiffeId>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Validate a trust domain name (without `spiffe://`).
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidSpiffeId> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidSpiffeId::EmptyTrustDomain);
        }
        if let Some(c) =
            name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')))
        {
            return Err(InvalidSpiffeId::TrustDomainChar { name, c });
        }
        Ok(Self(name))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = InvalidSpiffeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for TrustDomain {
    type Error = InvalidSpiffeId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<TrustDomain> for String {
    fn from(t: TrustDomain) -> Self {
        t.0
    }
}

/// A SPIFFE ID: `spiffe://<trust domain><path>`.
///
/// ```
/// use attestor::SpiffeId;
///
/// let id: SpiffeId = "spiffe://example.org/ns/payments/sa/ledger".parse()?;
/// assert_eq!(id.trust_domain().as_str(), "example.org");
/// assert_eq!(id.path(), "/ns/payments/sa/ledger");
/// assert!("spiffe://example.org/a//b".parse::<SpiffeId>().is_err(), "empty segment");
/// # Ok::<(), attestor::spiffe_id::InvalidSpiffeId>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    path: String,
}

impl SpiffeId {
    /// The trust domain part.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path, empty or starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path's segments (without the empty one before the first `/`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').skip(1)
    }
}

/// Whether `segment` may appear between two `/` of a SPIFFE ID path.
pub fn is_valid_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl FromStr for SpiffeId {
    type Err = InvalidSpiffeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_ID_LEN {
            return Err(InvalidSpiffeId::TooLong(s.len()));
        }
        let rest = s.strip_prefix("spiffe://").ok_or(InvalidSpiffeId::Scheme)?;
        let (td, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let trust_domain = TrustDomain::new(td)?;
        if !path.is_empty() {
            for segment in path.split('/').skip(1) {
                if !is_valid_path_segment(segment) {
                    return Err(InvalidSpiffeId::Segment(segment.to_owned()));
                }
            }
        }
        Ok(Self { trust_domain, path: path.to_owned() })
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.trust_domain, self.path)
    }
}

impl TryFrom<String> for SpiffeId {
    type Error = InvalidSpiffeId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SpiffeId> for String {
    fn from(id: SpiffeId) -> Self {
        id.to_string()
    }
}

/// Why a string is not a SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpiffeId {
    /// It does not start with `spiffe://`.
    #[error("a SPIFFE ID starts with `spiffe://`")]
    Scheme,
    /// Nothing between `spiffe://` and the path.
    #[error("the trust domain is empty")]
    EmptyTrustDomain,
    /// A character outside `[a-z0-9._-]` in the trust domain.
    #[error("trust domain {name:?} contains {c:?}; only a-z, 0-9, `.`, `-` and `_` are allowed")]
    TrustDomainChar {
        /// The trust domain as given.
        name: String,
        /// The first offending character.
        c: char,
    },
    /// An empty, `.`, `..` or otherwise invalid path segment.
    #[error(
        "path segment {0:?} is not allowed: segments are non-empty, not `.` or `..`, and use only A-Z, a-z, 0-9, `.`, `-`, `_`"
    )]
    Segment(String),
    /// Longer than the specification's 2048 bytes.
    #[error("SPIFFE ID is {0} bytes, over the 2048-byte limit")]
    TooLong(usize),
}

#[cfg(test)]
mod tests;
