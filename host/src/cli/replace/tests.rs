use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

#[test]
fn the_file_is_replaced_by_rename_with_its_permissions_and_no_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.cedar");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::metadata(&path).unwrap().ino();
    // A reader holding the old file keeps reading the old text: the new one is a new inode.
    let held = std::fs::File::open(&path).unwrap();
    replace_file(&path, "new").unwrap();
    let after = std::fs::metadata(&path).unwrap();
    assert_ne!(after.ino(), before, "renamed over, not written in place");
    assert_eq!(after.permissions().mode() & 0o777, 0o640);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(held.metadata().unwrap().len(), 3, "the old inode still holds the old text");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["rules.cedar"], "no temporary file left behind");
}

#[test]
fn a_missing_file_is_created_and_an_unwritable_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("links.json");
    replace_file(&path, "[]\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[]\n");
    let err = replace_file(Path::new("/nonexistent-dir/x.cedar"), "x").unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent-dir"), "{err:#}");
}
