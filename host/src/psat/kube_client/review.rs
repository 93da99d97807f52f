//! SPIRE's checks of a TokenReview answer, and Go's `%q` of a string list, which its audience
//! message uses. The review's text comes from the API server: it is bounded here.

use k8s_openapi::api::authentication::v1::TokenReviewStatus;

use super::MAX_TEXT;
use crate::psat::client::ClientError;

/// SPIRE's helper checks of a review's `status` for the `audiences` asked: an error text fails
/// (`token review API response contains an error: …`, how a real API server reports a wrong
/// audience, an expired token or a replaced pod); an authenticated review must have granted one
/// of the audiences asked, when some were. A missing status reads as an empty one, as in Go.
pub fn check_review(status: Option<TokenReviewStatus>, audiences: &[String]) -> Result<TokenReviewStatus, ClientError> {
    let status = status.unwrap_or_default();
    if let Some(error) = status.error.as_deref().filter(|e| !e.is_empty()) {
        return Err(ClientError::new(format!(
            "token review API response contains an error: {}",
            crate::text::bounded(error, MAX_TEXT)
        )));
    }
    let granted = status.audiences.as_deref().unwrap_or_default();
    if status.authenticated == Some(true) && !audiences.is_empty() && !audiences.iter().any(|a| granted.contains(a)) {
        return Err(ClientError::new(format!(
            "token review API did not validate audience: wanted one of {} but got {}",
            go_quote_list(audiences),
            go_quote_list(granted)
        )));
    }
    Ok(status)
}

/// `list` as Go's `fmt` prints a `[]string` with `%q` (`["a" "b"]`), bounded.
pub fn go_quote_list(list: &[String]) -> String {
    let mut out = String::from("[");
    for (i, item) in list.iter().enumerate() {
        if out.len() > MAX_TEXT {
            out.push_str(&format!("… ({} items in all)", list.len()));
            return out;
        }
        if i > 0 {
            out.push(' ');
        }
        go_quote_into(&mut out, cut(item, MAX_TEXT));
        if item.len() > MAX_TEXT {
            out.push_str(&format!("… ({} bytes in all)", item.len()));
        }
    }
    out.push(']');
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary. Go's
/// quoting below escapes control characters itself, so `crate::text::bounded`, which escapes
/// them too, would escape them twice.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// `text` quoted as Go's `strconv.Quote` quotes it (for text whose characters are valid).
fn go_quote_into(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
