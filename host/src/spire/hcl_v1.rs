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

/// Where a comment (`#`, `//` or `/* */`) that starts at `i` ends, if one starts there.
fn comment_end(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    match (b[i], b.get(i + 1)) {
        (b'#', _) | (b'/', Some(b'/')) => Some(text[i..].find('\n').map_or(b.len(), |n| i + n)),
        (b'/', Some(b'*')) => Some(text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2)),
        _ => None,
    }
}

/// Where the heredoc that starts at `i` ends: through the line holding only the delimiter.
fn heredoc_end(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
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
    end
}

/// One pass over the text: what has been written, and where in the structure it stands.
struct Normalizer<'a> {
    text: &'a str,
    out: String,
    stack: Vec<Ctx>,
    statement_start: bool,
    /// The last significant byte outside strings and comments, to tell `= {` from `name {`.
    last: u8,
}

/// Normalise HCL v1 text to HCL2 where they differ in ways SPIRE's printer produces.
pub fn normalize(text: &str) -> String {
    let b = text.as_bytes();
    let mut n = Normalizer {
        text,
        out: String::with_capacity(text.len()),
        stack: vec![Ctx::Body],
        statement_start: true,
        last: b'\n',
    };
    let mut i = 0;
    while i < b.len() {
        i = if let Some(end) = comment_end(text, i) {
            n.out.push_str(&text[i..end]);
            end
        } else if b[i] == b'<' && b.get(i + 1) == Some(&b'<') {
            let end = heredoc_end(text, i);
            n.value(&text[i..end]);
            end
        } else if b[i] == b'"' {
            n.string(i)
        } else {
            n.structure(i)
        };
    }
    n.out
}

impl Normalizer<'_> {
    /// Write a string or heredoc: a value, which ends any statement start.
    fn value(&mut self, written: &str) {
        self.out.push_str(written);
        self.last = b'"';
        self.statement_start = false;
    }

    /// Write the string that starts at `start`, unquoted when it is a body key; where it ends.
    fn string(&mut self, start: usize) -> usize {
        let text = self.text;
        let b = text.as_bytes();
        let close = closing_quote(b, start + 1);
        // An unterminated string runs to the end of the text; HCL reports it later.
        let (inner_end, end) = close.map_or((b.len(), b.len()), |c| (c, c + 1));
        let quoted = &text[start..end];
        let inner = &text[start + 1..inner_end];
        let in_body = self.stack.last() == Some(&Ctx::Body);
        // A key is a string at the start of a body statement, followed by `=`, `{` or a
        // block label.
        let next = text[end..].trim_start_matches([' ', '\t']).as_bytes().first().copied();
        if in_body && self.statement_start && matches!(next, Some(b'=' | b'{' | b'"')) && is_identifier(inner) {
            self.value(inner);
        } else {
            self.value(quoted);
        }
        end
    }

    /// Track brackets and statement starts through the character at `i`, and copy it; where
    /// the next one starts.
    fn structure(&mut self, i: usize) -> usize {
        let c = self.text.as_bytes()[i];
        match c {
            b'{' => {
                let expr =
                    matches!(self.last, b'=' | b'[' | b',' | b'(' | b':') || self.stack.last() == Some(&Ctx::Expr);
                self.stack.push(if expr { Ctx::Expr } else { Ctx::Body });
                self.statement_start = true;
            }
            b'[' => {
                self.stack.push(Ctx::Expr);
            }
            b'}' | b']' => {
                if self.stack.len() > 1 {
                    self.stack.pop();
                }
                self.statement_start = false;
            }
            b'\n' | b';' => self.statement_start = true,
            b',' if self.stack.last() == Some(&Ctx::Body) => self.statement_start = true,
            c if c.is_ascii_whitespace() => {}
            _ => self.statement_start = false,
        }
        if !c.is_ascii_whitespace() {
            self.last = c;
        }
        // Copy one UTF-8 character.
        let len = self.text[i..].chars().next().map_or(1, char::len_utf8);
        self.out.push_str(&self.text[i..i + len]);
        i + len
    }
}

#[cfg(test)]
mod tests;
