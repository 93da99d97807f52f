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
mod tests {
    use super::*;

    #[test]
    fn cgroup_lines() {
        assert_eq!(cgroup_paths("").unwrap(), Vec::<String>::new());
        assert_eq!(cgroup_paths("0::/\n").unwrap(), ["/"]);
        assert_eq!(
            cgroup_paths("12:pids:/kubepods/x\n0::/a:b:c\n").unwrap(),
            ["/kubepods/x", "/a:b:c"],
            "further colons stay in the path"
        );
        assert_eq!(
            cgroup_paths("1:a:/x\n\n2:b:/y\n").unwrap_err().to_string(),
            "unable to obtain cgroups: invalid cgroup entry, contains 1 colon separated fields but expected at least 3: \"\""
        );
        assert_eq!(
            cgroup_paths("1:/x\n").unwrap_err().to_string(),
            "unable to obtain cgroups: invalid cgroup entry, contains 2 colon separated fields but expected at least 3: \"1:/x\""
        );
        assert!(cgroup_paths("nocolons").is_err());
    }

    #[test]
    fn mountinfo_lines() {
        let text = "\
22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
31 22 0:27 /kubepods/besteffort/podabc/0123 /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
40 1 0:40 / /dev/shm rw - tmpfs  rw
";
        assert_eq!(mountinfo_cgroup_roots(text).unwrap(), ["/kubepods/besteffort/podabc/0123"]);
        assert!(mountinfo_cgroup_roots("1 2 3 4 5 - ext4 /dev/x rw\n").is_err(), "five fields before the separator");
        assert!(mountinfo_cgroup_roots("1 2 3 / /x rw shared:1\n").is_err(), "no separator");
        assert!(mountinfo_cgroup_roots("1 2 3 / /x rw -\n").is_err(), "no filesystem type");
    }
}
