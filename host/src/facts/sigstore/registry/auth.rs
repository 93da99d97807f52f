//! Registry authentication, the parsing half: a 401's `WWW-Authenticate` challenge, a token
//! endpoint's answer, and the cache of what to send next time (per registry and repository,
//! as tokens are scoped to a repository).
//!
//! The flow itself (anonymous first, one retry after answering the challenge) is in
//! `registry.rs`; everything here is pure and tested on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest challenge or token answer read; a real one is well under 1 KiB (a Docker Hub
/// token answer is ~2 KiB with both `token` and `access_token`).
pub(super) const MAX_TOKEN_ANSWER: usize = 64 << 10;
/// How long a token without `expires_in` is used: the distribution token spec's default.
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);
/// The longest a token is kept whatever it says, so a hostile `expires_in` cannot pin one.
const MAX_EXPIRY: Duration = Duration::from_secs(3600);

/// What a 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    /// Get a token from `realm` (with `service` and `scope` as query parameters).
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter, if given.
        service: Option<String>,
        /// The `scope` parameter, if given.
        scope: Option<String>,
    },
    /// Send HTTP Basic credentials.
    Basic,
}

/// Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1: a scheme, then comma-separated
/// `name=value` or `name="quoted value"` parameters). Only the first challenge is read;
/// parameters other than `realm`, `service` and `scope` are ignored.
pub(super) fn parse_challenge(header: &str) -> Result<Challenge, String> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Ok(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(format!("unsupported scheme {:?}", crate::text::bounded(scheme, 40)));
    }
    let params = parse_params(rest)?;
    let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let realm = get("realm").filter(|r| !r.is_empty()).ok_or("Bearer challenge without a realm")?;
    Ok(Challenge::Bearer { realm, service: get("service"), scope: get("scope") })
}

/// `name=value, name="quoted \" value", …` → pairs, in order.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or("a parameter without `=`")?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace() || c == ',' || c == '"') {
            return Err(format!("malformed parameter name {:?}", crate::text::bounded(&name, 40)));
        }
        let after = after.trim_start();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim_end().to_owned(), &after[end..])
            }
        };
        params.push((name, value));
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err("parameters not separated by commas".to_owned()),
        }
    }
    Ok(params)
}

/// The body of a quoted string (after its opening quote) and what follows its closing quote.
fn unquote(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("unterminated quoted string".to_owned())
}

/// A token endpoint's answer: the token and how long it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    /// The bearer token (printable ASCII, usable in a header).
    pub(super) token: String,
    /// Its lifetime, from `expires_in` (default 60 s, at most an hour).
    pub(super) lifetime: Duration,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Parses `{"token": …, "access_token": …, "expires_in": …}` (either token field; `token`
/// wins, as in the distribution token spec).
pub(super) fn parse_token(body: &[u8]) -> Result<Token, String> {
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|e| format!("token answer is not the expected JSON: {}", crate::text::bounded(&e.to_string(), 120)))?;
    let token = answer.token.filter(|t| !t.is_empty()).or(answer.access_token).unwrap_or_default();
    if token.is_empty() {
        return Err("token answer holds no token".to_owned());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("token holds characters a header cannot carry".to_owned());
    }
    let lifetime = match answer.expires_in {
        None | Some(0) => DEFAULT_EXPIRY,
        Some(s) => Duration::from_secs(s).min(MAX_EXPIRY),
    };
    Ok(Token { token, lifetime })
}

/// The `Authorization` value to send first, per (registry, repository), until it expires.
#[derive(Default)]
pub(super) struct AuthCache {
    entries: Mutex<HashMap<(String, String), (reqwest::header::HeaderValue, Instant)>>,
}

/// The most entries kept: one per repository a node pulls from is far fewer.
const MAX_ENTRIES: usize = 4096;

impl AuthCache {
    /// What to send for `repository` on `registry`, if something unexpired is known.
    pub(super) fn get(&self, registry: &str, repository: &str) -> Option<reqwest::header::HeaderValue> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (registry.to_owned(), repository.to_owned());
        entries.get(&key).filter(|(_, until)| Instant::now() < *until).map(|(value, _)| value.clone())
    }

    /// Remember `value` for `lifetime`. When full, expired entries go first, then everything
    /// (a cache miss costs one 401 and one token request).
    pub(super) fn put(
        &self,
        registry: &str,
        repository: &str,
        value: reqwest::header::HeaderValue,
        lifetime: Duration,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((registry.to_owned(), repository.to_owned()), (value, Instant::now() + lifetime));
    }
}

#[cfg(test)]
mod tests;
