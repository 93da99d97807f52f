//! Reading `/proc/<pid>/cgroup` and `/proc/<pid>/mountinfo` into cgroup paths.

use super::LocateError;

/// The path of every line of a cgroup file (`hierarchy:controllers:path`). Paths keep any further
/// colons. A line with fewer than three fields, even an empty line in the middle, fails the whole
/// file; a final newline does not.
pub fn cgroup_paths(text: &str) -> Result<Vec<String>, LocateError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let fields: Vec<&str> = line.splitn(3, ':').collect();
            match fields.as_slice() {
                [_, _, path] => Ok((*path).to_owned()),
                _ => Err(LocateError::Cgroups(format!(
                    "invalid cgroup entry, contains {} colon separated fields but expected at least 3: {line:?}",
                    fields.len()
                ))),
            }
        })
        .collect()
}

/// The roots of the `cgroup`/`cgroup2` mounts in a mountinfo file, except `/`.
///
/// Lines split on single spaces (an empty mount source, as tmpfs has, stays an empty field);
/// a lone `-` must follow at least six fields and be followed by a non-empty filesystem type.
pub fn mountinfo_cgroup_roots(text: &str) -> Result<Vec<String>, String> {
    let mut roots = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 7 {
            return Err(format!("too few fields in line {line:?}"));
        }
        // Optional fields sit between the sixth field and the separator.
        let sep =
            6 + fields[6..].iter().position(|f| *f == "-").ok_or_else(|| format!("no separator in line {line:?}"))?;
        let fs_type = fields.get(sep + 1).copied().unwrap_or("");
        if fs_type.is_empty() {
            return Err(format!("no filesystem type in line {line:?}"));
        }
        let root = fields[3];
        if (fs_type == "cgroup" || fs_type == "cgroup2") && root != "/" {
            roots.push(root.to_owned());
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests;
