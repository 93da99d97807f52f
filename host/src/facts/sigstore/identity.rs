//! SPIRE's `allowed_identities` (generation 2): which certificate identities may sign.
//!
//! A map from OIDC issuer to subjects. SPIRE turns every (issuer, subject) pair into a cosign
//! identity, and a string containing any of `*+?^${}[]|()` becomes a regular expression (Go
//! RE2, matched **unanchored**, as `regexp.MatchString` does), separately for the issuer and the
//! subject; any other string is compared exactly (`.` alone does not make a regex, so
//! `https://accounts.google.com` is exact). cosign then accepts a certificate when one pair
//! matches: an empty string constrains nothing, and when there is no pair at all (an empty map,
//! or issuers with no subjects) every identity is accepted.
//!
//! Expressions are compiled with the `regex` crate when the configuration is read, so a bad
//! one is refused there and not at the first signature. Its syntax is RE2's, with one
//! difference worth knowing: `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in
//! Go, which changes nothing for the ASCII URLs and e-mail addresses certificates carry.

use std::collections::BTreeSet;

use regex::Regex;

/// The characters that make SPIRE treat a string as a regular expression.
const REGEX_CHARS: &[char] = &['*', '+', '?', '^', '$', '{', '}', '[', ']', '|', '(', ')'];

/// The longest regex source an error repeats.
const SHOWN: usize = 200;

/// Which (issuer, subject) identities are accepted. Built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct AllowedIdentities {
    pairs: Vec<(Matcher, Matcher)>,
}

/// One side of a pair: SPIRE's exact string or unanchored expression.
#[derive(Debug, Clone)]
enum Matcher {
    /// Matches this string only; the empty string matches anything (cosign's "no constraint").
    Exact(String),
    /// Matches when the expression matches somewhere in the value.
    Regex(Regex),
}

/// Why `allowed_identities` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// An issuer that SPIRE would treat as a regular expression does not compile.
    #[error("allowed_identities: issuer {pattern:?} is not a valid regular expression: {problem}")]
    Issuer {
        /// The issuer as configured (cut to a bounded length).
        pattern: String,
        /// What the regex parser said.
        problem: String,
    },
    /// A subject that SPIRE would treat as a regular expression does not compile.
    #[error(
        "allowed_identities: subject {pattern:?} of issuer {issuer:?} is not a valid regular expression: {problem}"
    )]
    Subject {
        /// The issuer it is listed under (cut to a bounded length).
        issuer: String,
        /// The subject as configured (cut to a bounded length).
        pattern: String,
        /// What the regex parser said.
        problem: String,
    },
}

impl AllowedIdentities {
    /// Accepts every identity (SPIRE's empty map).
    pub fn any() -> Self {
        Self::default()
    }

    /// From the configured map, issuer → subjects.
    pub fn new<I, S>(map: I) -> Result<Self, IdentityError>
    where
        I: IntoIterator<Item = (String, S)>,
        S: IntoIterator<Item = String>,
    {
        let mut pairs = Vec::new();
        for (issuer, subjects) in map {
            let issuer_matcher =
                Matcher::new(&issuer).map_err(|problem| IdentityError::Issuer { pattern: shown(&issuer), problem })?;
            for subject in subjects {
                let subject_matcher = Matcher::new(&subject).map_err(|problem| IdentityError::Subject {
                    issuer: shown(&issuer),
                    pattern: shown(&subject),
                    problem,
                })?;
                pairs.push((issuer_matcher.clone(), subject_matcher));
            }
        }
        Ok(Self { pairs })
    }

    /// Generation 1's `allowed_subjects_list`: every (issuer, subject) pair compared exactly,
    /// whatever characters it holds. No pair accepts every identity, as cosign does with no
    /// identity to check (generation 1 then keeps no signature when it makes selectors).
    pub fn exact<'a>(map: impl IntoIterator<Item = (&'a String, &'a BTreeSet<String>)>) -> Self {
        let pairs = map
            .into_iter()
            .flat_map(|(issuer, subjects)| {
                subjects.iter().map(move |subject| (Matcher::Exact(issuer.clone()), Matcher::Exact(subject.clone())))
            })
            .collect();
        Self { pairs }
    }

    /// Whether every identity is accepted (no pair was configured).
    pub fn accepts_any(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether a certificate with this OIDC issuer and subject (SAN) may sign.
    pub fn allows(&self, issuer: &str, subject: &str) -> bool {
        self.accepts_any() || self.pairs.iter().any(|(i, s)| i.matches(issuer) && s.matches(subject))
    }
}

impl Matcher {
    fn new(text: &str) -> Result<Self, String> {
        if text.contains(REGEX_CHARS) {
            // The parser's message repeats the whole pattern over several lines; its last line
            // says what is wrong, and the error names the pattern itself.
            Regex::new(text).map(Self::Regex).map_err(|e| {
                let message = e.to_string();
                crate::text::bounded(message.lines().last().unwrap_or_default().trim(), SHOWN)
            })
        } else {
            Ok(Self::Exact(text.to_owned()))
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(exact) => exact.is_empty() || exact == value,
            Self::Regex(regex) => regex.is_match(value),
        }
    }
}

/// A configured string, bounded and printable, for an error message.
fn shown(text: &str) -> String {
    crate::text::bounded(text, SHOWN)
}

#[cfg(test)]
mod tests;
