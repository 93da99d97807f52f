//! The agent's payload, `{"cluster": "<name>", "token": "<projected token>"}`, read as Go's
//! `encoding/json` reads it into SPIRE's two-field struct: other fields are ignored, a `null`
//! field stays empty, a field name matches case-insensitively when no exact match is present,
//! and any other type is an error. Bytes from the agent, so the size is capped and every
//! failure is a typed error.

use serde_json::Value;

/// Largest payload read. A projected service account token is about 1 KiB (a few KiB with long
/// names and many audiences); the cap keeps a hostile agent from making the server parse
/// megabytes of JSON, up to gRPC's 4 MiB message limit, per attempt.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The longest parser message repeated in an error.
const MESSAGE_MAX: usize = 256;

/// SPIRE's `PSATAttestationData`: either field may be empty (the caller refuses that, with
/// SPIRE's messages).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttestationData {
    /// The cluster the agent says it runs in (a key of the server's `clusters`).
    pub cluster: String,
    /// The agent's projected service account token.
    pub token: String,
}

/// Why the payload is not SPIRE's JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Over [`MAX_PAYLOAD_BYTES`].
    #[error("payload is {0} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not JSON (the parser's message, bounded).
    #[error("{0}")]
    Json(String),
    /// JSON, but not an object (or `null`).
    #[error("json: cannot unmarshal {0} into Go value of type k8s.PSATAttestationData")]
    NotAnObject(&'static str),
    /// A field of the wrong type.
    #[error("json: cannot unmarshal {found} into Go struct field PSATAttestationData.{field} of type string")]
    FieldType {
        /// `cluster` or `token`.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
}

impl AttestationData {
    /// Read a payload; any bytes give a value or a [`PayloadError`], never a panic.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge(payload.len()));
        }
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| PayloadError::Json(crate::text::bounded(&e.to_string(), MESSAGE_MAX)))?;
        let map = match value {
            Value::Object(map) => map,
            // Go leaves the struct untouched for `null`.
            Value::Null => return Ok(Self::default()),
            other => return Err(PayloadError::NotAnObject(json_kind(&other))),
        };
        let mut data = Self::default();
        for (field, slot) in [("cluster", &mut data.cluster), ("token", &mut data.token)] {
            let found = map.get(field).or_else(|| map.iter().find(|(k, _)| go_fold_eq(k, field)).map(|(_, v)| v));
            match found {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => slot.clone_from(s),
                Some(other) => return Err(PayloadError::FieldType { field, found: json_kind(other) }),
            }
        }
        Ok(data)
    }
}

/// Go's case-insensitive field-name match (simple Unicode case folding) against an ASCII
/// lower-case `field`: besides ASCII case, `ſ` (U+017F) folds to `s` and the Kelvin sign
/// (U+212A) to `k`, the only non-ASCII characters that fold onto ASCII letters.
fn go_fold_eq(key: &str, field: &str) -> bool {
    let mut a = key.chars();
    let mut b = field.chars();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                let x = match x {
                    '\u{17f}' => 's',
                    '\u{212a}' => 'k',
                    other => other.to_ascii_lowercase(),
                };
                if x != y {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Go's name for a JSON value's type in unmarshal errors.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
