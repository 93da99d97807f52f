use super::*;

#[test]
fn first_entry_wins_and_junk_is_skipped() {
    let map = parse(
        "root:x:0:0:root:/root:/bin/sh\n# c\n\nbad\ntoor:x:0:0::/:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nx:x:notanumber:\n",
    );
    assert_eq!(map.get(&0).map(AsRef::as_ref), Some("root"));
    assert_eq!(map.get(&1000).map(AsRef::as_ref), Some("bob"));
    assert_eq!(map.len(), 2);
}

#[test]
fn group_ids_by_name_read_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let group = dir.path().join("group");
    std::fs::write(&group, "# c\nwheel:x:10:root\nspire:x:1234:\nspire:x:99:\nbad\nx:x:nan:\n").unwrap();
    assert_eq!(group_id(&group, "spire"), Some(1234), "the first line naming it wins");
    assert_eq!(group_id(&group, "wheel"), Some(10));
    assert_eq!(group_id(&group, "x"), None, "a line without a numeric id names nothing");
    assert_eq!(group_id(&group, "nobody"), None);
    assert_eq!(group_id(&dir.path().join("missing"), "spire"), None);
}

#[test]
fn tables_follow_the_file_version() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let group = dir.path().join("group");
    std::fs::write(&passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
    let db = UserDb::new(&passwd, &group);
    let t = db.tables();
    assert_eq!(t.user_name(Uid(1000)).as_deref(), Some("alice"));
    assert_eq!(t.group_name(Gid(1000)), None, "a missing file names nobody");
    // Rewritten within the same second (same size): a version younger than a second is never
    // trusted, so the new name is seen at once.
    std::fs::write(&passwd, "carol:x:1000:1000::/home/alice:/bin/sh\n").unwrap();
    assert_eq!(db.tables().user_name(Uid(1000)).as_deref(), Some("carol"));
    // A file that appears is seen within a second.
    std::fs::write(&group, "staff:x:1000:\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let t = db.tables();
    assert_eq!(t.group_name(Gid(1000)).as_deref(), Some("staff"));
    assert_eq!(t.user_name(Uid(1000)).as_deref(), Some("carol"));
    // A settled version is parsed once and shared.
    let (a, b) = (db.passwd.names(), db.passwd.names());
    assert!(Arc::ptr_eq(&a, &b), "parsed once");
    std::fs::remove_file(&passwd).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(db.tables().user_name(Uid(1000)), None, "a removed file names nobody, within a second");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_passwd_text_parses(text in any::<String>()) {
            for name in parse(&text).values() {
                prop_assert!(!name.is_empty() && !name.contains(':') && !name.contains('\n'));
            }
        }

        /// Looking a group up by name reads the same lines as the id table: the id found names
        /// that group, unless an earlier line took the id.
        #[test]
        fn group_lookups_agree_with_the_table(text in "([a-z#]{0,4}:x?:[0-9a-z]{0,3}:?\n?){0,6}", name in "[a-z]{1,3}") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("group");
            std::fs::write(&path, &text).unwrap();
            if let Some(id) = group_id(&path, &name) {
                prop_assert!(parse(&text).contains_key(&id));
            }
        }
    }
}
