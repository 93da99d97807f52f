//! SPIRE hands `plugin_data` over re-printed by the HCL v1 printer. HCL v1 accepts quoted keys
//! at body level (`"node_name" = "n1"`, `"sigstore" { … }`), which HCL2 parsers refuse; this
//! turns such keys into bare identifiers when they are valid ones and leaves everything else,
//! strings, comments and heredocs included, exactly as it was.

/// Whether `s` is an HCL identifier.
fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_alphabetic() || f == '_') && c.all(|x| x.is_alphanumeric() || x == '_' || x == '-')
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A body (the file, a block): statements start with a key.
    Body,
    /// An expression (object or list value).
    Expr,
}

/// Index of the `"` that closes a string whose text starts at `from`, skipping escapes. Only
/// ASCII bytes are compared, so the index is always on a character boundary.
fn closing_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Normalise HCL v1 text to HCL2 where they differ in ways SPIRE's printer produces.
pub fn normalize(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut stack = vec![Ctx::Body];
    let mut statement_start = true;
    // The last significant byte outside strings and comments, to tell `= {` from `name {`.
    let mut last = b'\n';
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                out.push_str(&text[i..end]);
                i = end;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                out.push_str(&text[i..end]);
                i = end;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                out.push_str(&text[i..end]);
                i = end;
                continue;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => {
                // Heredoc: copy through the line holding only the delimiter.
                let line_end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                let marker = text[i + 2..line_end].trim().trim_start_matches('-').to_owned();
                let mut end = line_end;
                let mut pos = line_end;
                while pos < b.len() {
                    let next = text[pos + 1..].find('\n').map_or(b.len(), |n| pos + 1 + n);
                    if text[(pos + 1).min(b.len())..next].trim() == marker {
                        end = next;
                        break;
                    }
                    pos = next;
                    end = next;
                }
                out.push_str(&text[i..end]);
                i = end;
                last = b'"';
                statement_start = false;
                continue;
            }
            b'"' => {
                let start = i;
                let close = closing_quote(b, start + 1);
                // An unterminated string runs to the end of the text; HCL reports it later.
                let (inner_end, end) = close.map_or((b.len(), b.len()), |c| (c, c + 1));
                let quoted = &text[start..end];
                let inner = &text[start + 1..inner_end];
                let in_body = stack.last() == Some(&Ctx::Body);
                // A key is a string at the start of a body statement, followed by `=`, `{` or a
                // block label.
                let next = text[end..].trim_start_matches([' ', '\t']).as_bytes().first().copied();
                if in_body && statement_start && matches!(next, Some(b'=' | b'{' | b'"')) && is_identifier(inner) {
                    out.push_str(inner);
                } else {
                    out.push_str(quoted);
                }
                i = end;
                last = b'"';
                statement_start = false;
                continue;
            }
            b'{' => {
                stack.push(if matches!(last, b'=' | b'[' | b',' | b'(' | b':') || stack.last() == Some(&Ctx::Expr) {
                    Ctx::Expr
                } else {
                    Ctx::Body
                });
                statement_start = true;
            }
            b'[' => {
                stack.push(Ctx::Expr);
            }
            b'}' | b']' => {
                if stack.len() > 1 {
                    stack.pop();
                }
                statement_start = false;
            }
            b'\n' | b';' => statement_start = true,
            b',' if stack.last() == Some(&Ctx::Body) => statement_start = true,
            c if c.is_ascii_whitespace() => {}
            _ => statement_start = false,
        }
        if !c.is_ascii_whitespace() {
            last = c;
        }
        // Copy one UTF-8 character.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

#[cfg(test)]
mod tests;
