//! The default locator: container id and pod UID from each cgroup path, then SPIRE's rules for
//! combining the entries of one file.

use super::{LocateError, Location};
use crate::workload::{ContainerId, PodUid};

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The leftmost run of exactly 64 hex characters bounded by non-word characters or the segment
/// edges: its byte offset in the segment.
fn container_id_in(segment: &str) -> Option<usize> {
    let b = segment.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_word(b[i]) {
            i += 1;
        }
        if i - start == 64 && b[start..i].iter().all(u8::is_ascii_hexdigit) {
            return Some(start);
        }
    }
    None
}

/// `pod` at a word boundary, then 8-4-4-4-12 hex groups each joined by exactly one `-` or `_`,
/// then a word boundary. Returns the UID with `_` turned into `-`, letter case kept.
fn pod_uid_in(text: &str) -> Option<String> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text[from..].find("pod") {
        let start = from + rel;
        from = start + 1;
        if start > 0 && is_word(b[start - 1]) {
            continue;
        }
        let mut i = start + 3;
        let mut uid = String::with_capacity(36);
        let mut ok = true;
        for (n, len) in GROUPS.iter().enumerate() {
            if n > 0 {
                match b.get(i) {
                    Some(b'-' | b'_') => {
                        uid.push('-');
                        i += 1;
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            let group = b.get(i..i + len);
            match group {
                Some(g) if g.iter().all(u8::is_ascii_hexdigit) => {
                    uid.push_str(&text[i..i + len]);
                    i += len;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && b.get(i).is_none_or(|c| !is_word(*c)) {
            return Some(uid);
        }
    }
    None
}

/// What one cgroup path says: a container id, and a pod UID only alongside one.
pub(crate) fn entry(path: &str) -> (Option<PodUid>, Option<ContainerId>) {
    let segments: Vec<&str> = path.split('/').collect();
    let Some((idx, offset)) = segments.iter().enumerate().rev().find_map(|(i, s)| container_id_in(s).map(|o| (i, o)))
    else {
        return (None, None);
    };
    let id = &segments[idx][offset..offset + 64];
    let Ok(container) = ContainerId::new(id) else { return (None, None) };
    let pod = std::iter::once(&segments[idx][..offset])
        .chain(segments[..idx].iter().rev().copied())
        .find_map(pod_uid_in)
        .map(PodUid);
    (pod, Some(container))
}

/// Combine the entries of one file, in order, by SPIRE's rules.
pub(crate) fn combine(paths: &[String]) -> Result<Location, LocateError> {
    let mut held: (Option<PodUid>, Option<ContainerId>) = (None, None);
    for path in paths {
        let (pod, container) = entry(path);
        match (&held.0, &pod) {
            // An entry without a pod UID cannot contradict one that has it.
            (Some(_), None) => continue,
            // The first entry with a pod UID overrides container-only entries.
            (None, Some(_)) => {
                held = (pod, container);
                continue;
            }
            (Some(a), Some(b)) if a != b => return Err(LocateError::MultiplePods(a.0.clone(), b.0.clone())),
            _ => {}
        }
        if let Some(c) = &held.1
            && Some(c) != container.as_ref()
        {
            let other = container.as_ref().map_or(String::new(), ToString::to_string);
            return Err(LocateError::MultipleContainers(c.to_string(), other));
        }
        held = (pod, container);
    }
    Ok(Location { pod_uid: held.0, container_id: held.1 })
}

#[cfg(test)]
mod tests;
