use super::*;

#[test]
fn start_time_survives_odd_command_names() {
    let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
    assert_eq!(parse_start_time(stat), Some(987654));
    assert_eq!(parse_start_time("1 (x) S 1"), None);
    assert_eq!(parse_start_time("garbage"), None);
}

#[test]
fn missing_process_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = ProcDir::open(tmp.path(), Pid(42), false).unwrap_err();
    assert!(matches!(err, GatherError::NoSuchProcess { .. }), "{err}");
    assert!(err.to_string().starts_with("no process 42: "), "{err}");
}

#[test]
fn a_changed_start_time_is_pid_reuse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("9");
    std::fs::create_dir(&dir).unwrap();
    let stat = |start: u64| format!("9 (x) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 1 1\n");
    std::fs::write(dir.join("stat"), stat(100)).unwrap();
    let p = ProcDir::open(tmp.path(), Pid(9), false).unwrap();
    let before = p.start_time().unwrap();
    assert_eq!(before, Some(100));
    assert!(p.confirm_start_time(before).is_ok());
    std::fs::write(dir.join("stat"), stat(200)).unwrap();
    let err = p.confirm_start_time(before).unwrap_err();
    assert_eq!(
        err.to_string(),
        "process 9 was replaced by another process with the same PID while its facts were being read (start time 100 became 200)"
    );
    std::fs::remove_file(dir.join("stat")).unwrap();
    assert_eq!(
        p.confirm_start_time(before).unwrap_err().to_string(),
        "process 9 exited while its facts were being read"
    );
}

#[test]
fn a_recorded_proc_root_may_lack_stat_but_the_live_one_may_not() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("9")).unwrap();
    let p = ProcDir::open(tmp.path(), Pid(9), false).unwrap();
    assert!(p.fd.is_none());
    assert_eq!(p.start_time().unwrap(), None);
    assert_eq!(
        p.read("status").unwrap_err().to_string(),
        format!(
            "{}/9/status does not exist: a recorded proc root needs `<pid>/status` (and `<pid>/cgroup` for Kubernetes facts)",
            tmp.path().display()
        )
    );
    assert!(p.confirm_start_time(None).is_ok());
    std::fs::remove_dir(tmp.path().join("9")).unwrap();
    assert_eq!(p.start_time().unwrap_err().to_string(), "process 9 exited while its facts were being read");

    let me = ProcDir::open(Path::new("/proc"), Pid(std::process::id()), true).unwrap();
    assert!(me.fd.is_some(), "/proc is procfs");
    assert!(me.start_time().unwrap().is_some());
}

fn read_file(path: &Path) -> std::io::Result<String> {
    read_from(std::fs::File::open(path)?, false)
}

#[test]
fn read_file_reads_small_and_large_files_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    std::fs::write(&small, "Uid:\t0\n").unwrap();
    assert_eq!(read_file(&small).unwrap(), "Uid:\t0\n");
    let big = tmp.path().join("big");
    let text = "0123456789abcdef".repeat(1000);
    std::fs::write(&big, &text).unwrap();
    assert_eq!(read_file(&big).unwrap(), text, "past one buffer");
    std::fs::write(&small, [0xff, 0xfe]).unwrap();
    assert_eq!(read_file(&small).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    let status = read_file(Path::new("/proc/self/status")).unwrap();
    assert!(status.contains("\nUid:\t"), "{status}");
    assert_eq!(read_file(&tmp.path().join("none")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `stat` holds the command name, which the workload chooses (`)`, spaces, newlines).
        #[test]
        fn any_stat_text_is_a_start_time_or_none(comm in any::<String>(), rest in any::<String>(), start in any::<u64>()) {
            let _ = parse_start_time(&rest);
            let stat = format!("9 ({comm}) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 1 1\n");
            prop_assert_eq!(parse_start_time(&stat), Some(start));
        }
    }
}

/// A live process's files are read through its pinned directory, in one read each; a PID
/// that does not exist is "no such process"; a process that exits is "vanished" at the check.
#[test]
fn a_live_process_is_read_through_its_pinned_directory() {
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let dir = ProcDir::open(Path::new("/proc"), Pid(child.id()), true).unwrap();
    let start = dir.start_time().unwrap().expect("procfs has stat");
    assert!(dir.read("status").unwrap().contains("\nUid:\t"));
    assert!(dir.read_io("mountinfo", false).unwrap().lines().count() >= 1);
    assert!(dir.version("exe").unwrap().size > 0);
    assert!(dir.read_link("exe").unwrap().is_some());
    assert!(dir.confirm_start_time(Some(start)).is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(dir.confirm_start_time(Some(start)), Err(GatherError::Vanished { .. })));
    assert!(matches!(dir.read("status"), Err(GatherError::Vanished { .. })), "reads of the exited process fail");
    let err = ProcDir::open(Path::new("/proc"), Pid(u32::MAX - 1), true).unwrap_err();
    assert!(matches!(err, GatherError::NoSuchProcess { .. }), "{err}");
}

/// A file longer than one read (mountinfo on a busy host) is read whole even when a read stops
/// short at a record boundary.
#[test]
fn multi_record_files_are_read_to_the_end() {
    let me = ProcDir::open(Path::new("/proc"), Pid(std::process::id()), true).unwrap();
    let via_dir = me.read_io("mountinfo", false).unwrap();
    let direct = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(via_dir.lines().count(), direct.lines().count());
}
