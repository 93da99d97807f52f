//! Text a guest hands the host that ends up in errors, logs and gRPC statuses: bounded and
//! printable, whatever the guest sent. A module's own error message, its panic message and its
//! metadata are all guest-controlled: an 8 MiB error message would otherwise travel into the
//! status SPIRE logs, the audit record and every log line that quotes the error.

/// The most bytes of guest text kept in a message.
pub const MAX_GUEST_TEXT: usize = 512;

/// `text` with control characters escaped (`\n`, `\u{1b}`, …) and cut to [`MAX_GUEST_TEXT`]
/// bytes on a character boundary; a cut says how long the original was.
pub fn guest_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_GUEST_TEXT) + 32);
    for c in text.chars() {
        if out.len() >= MAX_GUEST_TEXT {
            out.push_str(&format!("… ({} bytes in all)", text.len()));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
