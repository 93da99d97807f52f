//! The legacy locator (`use_new_container_locator = false`): SPIRE's older pair of patterns.

use super::{LocateError, Location};
use crate::workload::{ContainerId, PodUid};

fn is_punct(c: u8) -> bool {
    c.is_ascii_punctuation()
}

/// Pattern A: punct, `pod`, UID (8-4-4-4-12 hex, each separator an optional punct char), punct,
/// then any number of (non-punct run + punct), then exactly 64 hex at the very end.
fn pattern_a(path: &str) -> Option<(String, String)> {
    let b = path.as_bytes();
    if b.len() < 64 {
        return None;
    }
    let id_start = b.len() - 64;
    // Bytes first: only 64 ASCII hex digits make `id_start` a character boundary to slice at.
    if !b[id_start..].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let id = &path[id_start..];
    // Try every `pod` preceded by punctuation; the rest must reach the id through the allowed shape.
    let mut from = 0;
    while let Some(rel) = path[from..].find("pod") {
        let p = from + rel;
        from = p + 1;
        if p == 0 || !is_punct(b[p - 1]) {
            continue;
        }
        let mut i = p + 3;
        let mut uid = String::new();
        let mut ok = true;
        for (n, len) in [8usize, 4, 4, 4, 12].iter().enumerate() {
            if n > 0 && b.get(i).is_some_and(|c| is_punct(*c)) {
                uid.push('-');
                i += 1;
            }
            match b.get(i..i + len) {
                Some(g) if g.iter().all(u8::is_ascii_hexdigit) => {
                    uid.push_str(&path[i..i + len]);
                    i += len;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok || !b.get(i).is_some_and(|c| is_punct(*c)) {
            continue;
        }
        i += 1;
        // (non-punct+ punct)* then the id at the end.
        let mut j = i;
        let mut shape_ok = true;
        while j < id_start {
            let run_start = j;
            while j < id_start && !is_punct(b[j]) {
                j += 1;
            }
            if j == run_start || j >= id_start {
                shape_ok = false;
                break;
            }
            j += 1;
        }
        if shape_ok && j == id_start {
            // Separators were canonicalised to `-` while reading the UID.
            return Some((uid, id.to_owned()));
        }
    }
    None
}

/// Pattern B (CRI-O without pod UID): no `pod<uid>` anywhere, ends with `crio`, punct, 64 hex.
fn pattern_b(path: &str) -> Option<String> {
    let b = path.as_bytes();
    if b.len() < 69 {
        return None;
    }
    // Bytes first: ASCII at both cut points makes them character boundaries.
    let ok = b[b.len() - 64..].iter().all(u8::is_ascii_hexdigit)
        && is_punct(b[b.len() - 65])
        && path[..b.len() - 65].ends_with("crio");
    ok.then(|| path[b.len() - 64..].to_owned())
}

/// Whether the path contains the `pod<uid>` shape of pattern A anywhere.
fn has_pod_uid(path: &str) -> bool {
    let b = path.as_bytes();
    path.match_indices("pod").any(|(p, _)| {
        let mut i = p + 3;
        for (n, len) in [8usize, 4, 4, 4, 12].iter().enumerate() {
            if n > 0 && b.get(i).is_some_and(|c| is_punct(*c)) {
                i += 1;
            }
            match b.get(i..i + len) {
                Some(g) if g.iter().all(u8::is_ascii_hexdigit) => i += len,
                _ => return false,
            }
        }
        true
    })
}

/// Locate with the legacy patterns. Non-matching entries are ignored.
pub(crate) fn locate(paths: &[String]) -> Result<Location, LocateError> {
    let mut found: Option<(String, String)> = None;
    for raw in paths {
        let path = raw.strip_suffix(".scope").unwrap_or(raw);
        let a = pattern_a(path);
        let b = if has_pod_uid(path) { None } else { pattern_b(path) };
        let (pod, id) = match (a, b) {
            (Some(a), None) => a,
            (None, Some(id)) => (String::new(), id),
            // Neither, or both (the match must be exclusive).
            _ => continue,
        };
        match &found {
            None => found = Some((pod, id)),
            Some((_, fid)) if *fid != id => return Err(LocateError::LegacyMultipleContainers(fid.clone(), id)),
            Some((fp, _)) if *fp != pod => return Err(LocateError::LegacyMultiplePods(fp.clone(), pod)),
            Some(_) => {}
        }
    }
    Ok(match found {
        None => Location::default(),
        Some((pod, id)) => {
            Location { pod_uid: (!pod.is_empty()).then_some(PodUid(pod)), container_id: ContainerId::new(id).ok() }
        }
    })
}

#[cfg(test)]
mod tests;
