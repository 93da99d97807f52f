//! Outside text in our messages: what a guest, a registry, a certificate or a bundle sent ends up
//! in errors, logs, gRPC statuses and audit records only bounded and printable. An 8 MiB error
//! message would otherwise travel into every line that quotes it, and control characters could
//! forge log lines.

/// `text` with control characters escaped (`\n`, `\u{1b}`, …) and cut to `max_bytes` bytes on a
/// character boundary; a cut says how long the original was.
pub fn bounded(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes) + 32);
    for c in text.chars() {
        if out.len() >= max_bytes {
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

/// An error and its causes on one line, a cause already quoted by its parent not repeated
/// (reqwest's and hyper's top-level messages alone hide the reason: "error sending request").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests;
