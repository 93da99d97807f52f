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

/// cgroup and mountinfo files are written by the kernel, but under a workload's control in
/// part (cgroup names, mount points in its namespace): no text makes the locator panic.
mod properties {
    use proptest::prelude::*;

    use super::super::super::{extract, legacy};
    use super::*;

    /// Lines in the shape of `/proc/<pid>/cgroup`, with Kubernetes-looking pieces.
    fn cgroup_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("kubepods".to_owned()),
            Just("kubepods.slice".to_owned()),
            "kubepods-(besteffort|burstable)-pod[0-9a-f_-]{0,40}\\.slice",
            "pod[0-9a-f-]{0,40}",
            "(cri-containerd|docker|crio)-[0-9a-f]{60,68}(\\.scope)?",
            "[0-9a-f]{64}",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[a-zé:._-]{0,10}",
        ];
        let path = prop::collection::vec(piece, 0..6).prop_map(|p| format!("/{}", p.join("/")));
        let line = (0..13_u8, "[a-z,=]{0,12}", path).prop_map(|(h, c, p)| format!("{h}:{c}:{p}"));
        prop::collection::vec(line, 0..6).prop_map(|l| l.join("\n"))
    }

    fn check(paths: &[String]) {
        if let Ok(location) = extract::combine(paths)
            && let Some(id) = location.container_id
        {
            assert_eq!(id.as_str().len(), 64, "{id:?}");
        }
        let _ = legacy::locate(paths);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn cgroup_files_never_panic(text in cgroup_text()) {
            if let Ok(paths) = cgroup_paths(&text) {
                check(&paths);
            }
        }

        #[test]
        fn any_cgroup_text_never_panics(text in any::<String>()) {
            if let Ok(paths) = cgroup_paths(&text) {
                check(&paths);
            }
        }

        #[test]
        fn any_mountinfo_text_never_panics(text in any::<String>(), fields in prop::collection::vec("[^ \n]{0,12}", 0..14)) {
            let _ = mountinfo_cgroup_roots(&text);
            let line = fields.join(" ");
            if let Ok(roots) = mountinfo_cgroup_roots(&line) {
                check(&roots);
            }
        }
    }
}
