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
