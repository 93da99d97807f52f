use super::*;
use crate::workload::sample;

const STATUS: &str = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1001\t1000\t1000\nGid:\t100\t101\t100\t100\nFDSize:\t64\nGroups:\t4 24 27 \nNStgid:\t5\n";

#[test]
fn status_ids() {
    let ids = parse_status(STATUS).unwrap();
    assert_eq!(
        ids,
        StatusIds {
            uid: Uid(1000),
            euid: Uid(1001),
            gid: Gid(100),
            egid: Gid(101),
            groups: vec![Gid(4), Gid(24), Gid(27)]
        }
    );
    assert_eq!(parse_status("Uid:\t1\t1\t1\t1\n").unwrap_err(), "no Gid line");
    assert_eq!(parse_status("Uid:\tx\nGid:\t1 1\n").unwrap_err(), "malformed Uid line");
    let empty_groups = parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n").unwrap();
    assert!(empty_groups.groups.is_empty());
}

fn facts() -> UnixFacts {
    sample::process()
        .pid(7)
        .uids(1000, 1001)
        .gids(100, 101)
        .supplementary_group(4, "adm")
        .supplementary_group(27, "sudo")
        .user("bob")
        .exe("/usr/bin/sleep")
        .facts()
}

#[test]
fn selectors_follow_spire_order_and_use_effective_ids() {
    let got: Vec<String> = unix_selectors(&facts(), &UnixConfig::default()).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "unix:uid:1001",
            "unix:user:bob",
            "unix:gid:101",
            "unix:supplementary_gid:4",
            "unix:supplementary_group:adm",
            "unix:supplementary_gid:27",
            "unix:supplementary_group:sudo",
            "unix:path:/usr/bin/sleep",
            &format!("unix:sha256:{}", "ab".repeat(32)),
        ]
    );
}

#[test]
fn path_selectors_follow_the_switch() {
    let config = UnixConfig { discover_workload_path: false, ..UnixConfig::default() };
    let got = unix_selectors(&facts(), &config);
    assert!(got.iter().all(|s| s.key() != "path" && s.key() != "sha256"));
}

/// `status` is procfs text, but a recorded proc root is any directory: no text panics.
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_status_text_is_ids_or_an_error(text in any::<String>(), uid in any::<u32>(), groups in prop::collection::vec(any::<u32>(), 0..8)) {
            let _ = parse_status(&text);
            let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
            let shaped = format!("Name:\tx\nUid:\t{uid}\t{uid}\t0\t0\nGid:\t1\t2\t3\t4\nGroups:\t{}\n{text}", groups.join(" "));
            let _ = parse_status(&shaped);
        }
    }
}
