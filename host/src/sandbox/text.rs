//! Text a guest hands the host that ends up in errors, logs and gRPC statuses: bounded and
//! printable, whatever the guest sent. A module's own error message, its panic message and its
//! metadata are all guest-controlled: an 8 MiB error message would otherwise travel into the
//! status SPIRE logs, the audit record and every log line that quotes the error.

/// The most bytes of guest text kept in a message.
pub const MAX_GUEST_TEXT: usize = 512;

/// `text` made bounded (to [`MAX_GUEST_TEXT`] bytes) and printable; see [`crate::text::bounded`].
pub fn guest_text(text: &str) -> String {
    crate::text::bounded(text, MAX_GUEST_TEXT)
}

#[cfg(test)]
mod tests;
