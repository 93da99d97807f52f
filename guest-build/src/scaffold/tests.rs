use super::*;

#[test]
fn names_follow_the_selector_kind_rules() {
    for good in ["a", "my-module", "exe2", &"a".repeat(32)] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in ["", "My", "2x", "a_b", "a-", "a.b", "é", &"a".repeat(33)] {
        let err = check_name(bad).expect_err(bad).to_string();
        assert!(err.starts_with(&format!("module name {bad:?} is not usable")), "{err}");
    }
}

#[test]
fn type_names_are_camel_case() {
    assert_eq!(type_name("my-module"), "MyModule");
    assert_eq!(type_name("exe2"), "Exe2");
    assert_eq!(type_name("a--b"), "AB");
}

#[test]
fn every_template_placeholder_is_filled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write(dir.path(), "my-module", &Sdk::Path("/src/attestor/guests/sdk".into())).expect("written");
    assert_eq!(files.len(), TEMPLATES.len());
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        assert!(!text.contains("{{"), "{}: {text}", f.display());
    }
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).expect("manifest");
    assert!(manifest.contains("name = \"my-module\""), "{manifest}");
    assert!(manifest.contains("attestor-guest = { path = \"/src/attestor/guests/sdk\" }"), "{manifest}");
    assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
    let lib = std::fs::read_to_string(dir.path().join("src/lib.rs")).expect("lib");
    assert!(lib.contains("export_module!(MyModule);"), "{lib}");
    assert!(dir.path().join(".gitignore").is_file());
}

#[test]
fn a_git_sdk_is_pinned_when_a_rev_is_given() {
    let (_, line) = sdk_lines(&Sdk::Git { url: "https://example.org/a.git".into(), rev: Some("v0.1.0".into()) });
    assert_eq!(line, r#"attestor-guest = { git = "https://example.org/a.git", rev = "v0.1.0" }"#);
    let (_, line) = sdk_lines(&Sdk::Git { url: "file:///x".into(), rev: None });
    assert_eq!(line, r#"attestor-guest = { git = "file:///x" }"#);
}

#[test]
fn paths_are_toml_escaped() {
    assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    assert_eq!(toml_string("a\nb"), r#""a\u000Ab""#);
}

#[test]
fn a_non_empty_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keep.txt"), "mine").expect("write");
    let err = write(dir.path(), "m", &Sdk::Path("/sdk".into())).expect_err("refused").to_string();
    assert!(err.ends_with("exists and is not empty: `module new` writes only into a new or empty directory"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn a_bad_name_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("new");
    assert!(write(&target, "Bad", &Sdk::Path("/sdk".into())).is_err());
    assert!(!target.exists());
}
