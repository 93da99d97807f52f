//! A linear pre-check of configuration text, before HCL's parser sees it.
//!
//! hcl-rs's parser backtracks exponentially on some malformed input: found by fuzzing, 127 bytes
//! of `a/b/c[d/e/f[g…` with the index brackets never closed took 6.5 s at 22 levels and doubled
//! with each level, from a `Configure` body. The blow-up needs brackets left open, so brackets are
//! matched here first, outside strings, heredocs and comments, in one pass; an unbalanced text is
//! refused naming the bracket and where it is. Text and nesting are bounded too.

use super::ConfigError;

/// The longest configuration read, in bytes.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// The deepest nesting of brackets and braces.
pub const MAX_DEPTH: usize = 64;

/// Check `text` for balanced brackets, its size and its depth.
pub(crate) fn check(text: &str) -> Result<(), ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(syntax(format!("the configuration is {} bytes, over the limit of {MAX_CONFIG_BYTES}", text.len())));
    }
    let b = text.as_bytes();
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
            }
            b'"' => i = string_end(text, i)?,
            b'<' if b.get(i + 1) == Some(&b'<') => i = heredoc_end(text, i)?,
            c @ (b'(' | b'[' | b'{') => {
                open.push((c, i));
                if open.len() > MAX_DEPTH {
                    return Err(at(text, i, format!("nested more than {MAX_DEPTH} levels deep")));
                }
                i += 1;
            }
            c @ (b')' | b']' | b'}') => {
                let want = match c {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                match open.pop() {
                    Some((o, _)) if o == want => {}
                    Some((o, at_open)) => {
                        return Err(at(
                            text,
                            i,
                            format!("`{}` closes `{}` opened at {}", c as char, o as char, position(text, at_open)),
                        ));
                    }
                    None => return Err(at(text, i, format!("`{}` closes nothing", c as char))),
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    match open.pop() {
        Some((o, at_open)) => Err(at(text, at_open, format!("`{}` is never closed", o as char))),
        None => Ok(()),
    }
}

fn syntax(message: String) -> ConfigError {
    ConfigError::Syntax(message)
}

fn at(text: &str, offset: usize, message: String) -> ConfigError {
    syntax(format!("{}: {message}", position(text, offset)))
}

/// `line L, column C` (1-based; columns in characters).
fn position(text: &str, offset: usize) -> String {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|c| **c == b'\n').count() + 1;
    let start = before.iter().rposition(|c| *c == b'\n').map_or(0, |n| n + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    format!("line {line}, column {column}")
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..].iter().position(|c| *c == b'\n').map_or(b.len(), |n| from + n)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|n| from + n)
}

/// Just past the `"` that closes the string opened at `open` (escapes skipped). A string left
/// open at the end of its line, interpolation (`${`) and directives (`%{`) are refused here:
/// values are literals, and hcl-rs's template parser, too, backtracks without bound on
/// unterminated directives (found by fuzzing: a minute on 1,234 bytes).
fn string_end(text: &str, open: usize) -> Result<usize, ConfigError> {
    let b = text.as_bytes();
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            b'\n' => break,
            b'$' | b'%' => i = template_mark(text, i)?,
            _ => i += 1,
        }
    }
    Err(at(text, open, "a string is never closed (on its line)".into()))
}

/// Past a `$` or `%` in literal text; an error if it opens interpolation or a directive (a
/// doubled `$${` / `%%{` is the literal text `${` / `%{`).
fn template_mark(text: &str, i: usize) -> Result<usize, ConfigError> {
    let b = text.as_bytes();
    let c = b[i];
    if b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&b'{') {
        return Ok(i + 3);
    }
    if b.get(i + 1) == Some(&b'{') {
        let what = if c == b'$' { "interpolation (`${…}`)" } else { "a template directive (`%{…}`)" };
        return Err(at(text, i, format!("{what} is not allowed: configuration values are literals")));
    }
    Ok(i + 1)
}

/// Just past a heredoc starting at `<<` at `from`: its marker line, its body, and the line that
/// holds only the marker (or the end of the text). Its body is literal text, as a string's.
fn heredoc_end(text: &str, from: usize) -> Result<usize, ConfigError> {
    let b = text.as_bytes();
    let first = line_end(b, from);
    let marker = text.get(from + 2..first).unwrap_or_default().trim().trim_start_matches('-').trim();
    if marker.is_empty() {
        return Ok(from + 2);
    }
    let mut pos = first;
    while pos < b.len() {
        let next = line_end(b, pos + 1);
        let line = text.get(pos + 1..next).unwrap_or_default();
        if line.trim() == marker {
            return Ok(next);
        }
        let mut j = pos + 1;
        while j < next {
            j = if matches!(b[j], b'$' | b'%') { template_mark(text, j)? } else { j + 1 };
        }
        pos = next;
    }
    Ok(b.len())
}

#[cfg(test)]
mod tests;
