//! The payload SPIRE's `k8s_psat` agent sends, byte for byte: `{"cluster":"…","token":"…"}` as Go's
//! `encoding/json` writes that struct.

/// The attestation payload for `cluster` and the token file's bytes, exactly as SPIRE's agent
/// marshals it.
///
/// Go's encoder is not serde_json's: it escapes `<`, `>` and `&` (HTML safety), U+2028 and
/// U+2029, and writes one U+FFFD per byte that is not part of valid UTF-8 (SPIRE turns the file's
/// bytes into a Go string unchecked). A token is a JWT and never needs any of this, but a token
/// file with a trailing newline, or a cluster name with `&` in it, must still give the server
/// the same bytes SPIRE's agent would.
pub fn encode(cluster: &str, token: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cluster.len() + token.len() + 24);
    out.extend_from_slice(b"{\"cluster\":");
    go_string(cluster.as_bytes(), &mut out);
    out.extend_from_slice(b",\"token\":");
    go_string(token, &mut out);
    out.push(b'}');
    out
}

/// One JSON string as Go's `encoding/json` writes it (HTML escaping on, as `json.Marshal` has it).
fn go_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            go_char(c, out);
        }
        // Go decodes invalid input one byte at a time: each byte becomes one U+FFFD.
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

fn go_char(c: char, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
            let n = u32::from(c);
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((n >> shift) & 0xf) as usize]);
            }
        }
        other => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
