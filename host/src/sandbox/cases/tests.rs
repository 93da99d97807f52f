use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use super::*;

const INLINE: &str = "{unix: {pid: 1, uid: 0, euid: 0, gid: 0, egid: 0, supplementary_gids: []}}";

fn one(text: &str) -> Result<Vec<Case>, CaseError> {
    parse(text, Path::new("cases/x.yaml"))
}

fn msg(text: &str) -> String {
    one(text).expect_err("invalid").to_string()
}

#[test]
fn an_answer_case_with_inline_facts() {
    let cases = one(&format!(
        "name: root\nfacts: {INLINE}\nconfig: a b\nexpect:\n  selectors: [exe:x, trusted]\n  facts: {{program: x}}\n"
    ))
    .expect("parsed");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].name, "root");
    assert_eq!(cases[0].config.as_deref(), Some("a b"));
    assert_eq!(cases[0].workload.unix.pid.0, 1);
    assert_eq!(
        cases[0].expect,
        Expect::Answer {
            selectors: vec!["exe:x".into(), "trusted".into()],
            facts: BTreeMap::from([("program".into(), "x".into())])
        }
    );
}

#[test]
fn documents_are_cases_and_unnamed_ones_are_numbered() {
    let text = format!(
        "facts: {INLINE}\nexpect: {{selectors: []}}\n---\nfacts: {INLINE}\nexpect: {{error: trap, message: boom}}\n"
    );
    let cases = one(&text).expect("parsed");
    assert_eq!(cases[0].name, "case 1");
    assert_eq!(cases[1].name, "case 2");
    assert_eq!(cases[1].expect, Expect::Error { kind: "trap".into(), message: Some("boom".into()) });
}

#[test]
fn facts_files_are_found_beside_the_case_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("facts")).expect("mkdir");
    std::fs::write(
        dir.path().join("facts/a.json"),
        r#"{"unix": {"pid": 7, "uid": 1, "euid": 1, "gid": 1, "egid": 1, "supplementary_gids": []}}"#,
    )
    .expect("write");
    let case = dir.path().join("c.yaml");
    std::fs::write(&case, "facts: facts/a.json\nexpect: {selectors: []}\n").expect("write");
    assert_eq!(read(&case).expect("read")[0].workload.unix.pid.0, 7);
    std::fs::write(&case, "facts: facts/missing.json\nexpect: {selectors: []}\n").expect("write");
    let err = read(&case).expect_err("missing").to_string();
    assert!(err.contains("case \"case 1\": cannot read facts ") && err.contains("facts/missing.json"), "{err}");
}

#[test]
fn bad_case_files_say_what_is_wrong() {
    assert!(
        msg(&format!("facts: {INLINE}\nexpect: {{error: exploded}}\n")).contains("unknown error kind \"exploded\"")
    );
    assert!(
        msg(&format!("facts: {INLINE}\nexpect: {{error: trap, selectors: []}}\n"))
            .contains("expect an `error` or `selectors` and `facts`, not both")
    );
    assert!(msg(&format!("facts: {INLINE}\nexpect: {{message: x}}\n")).contains("`message` goes with `error`"));
    assert!(msg(&format!("facts: {INLINE}\nexpect: {{}}\n")).contains("`expect` needs `selectors` and `facts`"));
    assert!(msg(&format!("facts: {INLINE}\nexpect: {{selectors: []}}\nextra: 1\n")).contains("unknown field `extra`"));
    assert!(msg("facts: {unix: {}}\nexpect: {selectors: []}\n").contains("inline facts are not a workload"));
    assert_eq!(msg(""), "cases/x.yaml: no cases in this file");
    assert_eq!(msg("# only a comment\n\n"), "cases/x.yaml: no cases in this file");
}

#[test]
fn answers_compare_as_multisets_and_exact_facts() {
    let expect =
        Expect::Answer { selectors: vec!["b".into(), "a".into()], facts: BTreeMap::from([("k".into(), "v".into())]) };
    let same =
        Answer::Output { selectors: vec!["a".into(), "b".into()], facts: BTreeMap::from([("k".into(), "v".into())]) };
    assert!(compare(&expect, &same).is_empty());
    let other = Answer::Output { selectors: vec!["a".into()], facts: BTreeMap::new() };
    assert_eq!(
        compare(&expect, &other),
        vec![
            r#"selectors: expected ["a", "b"], got ["a"]"#.to_owned(),
            r#"facts: expected {"k": "v"}, got {}"#.to_owned()
        ]
    );
    let failed = Answer::Failed { kind: "trap", message: "module `m` trapped: boom".into() };
    assert_eq!(compare(&expect, &failed), vec!["expected an answer, got trap: module `m` trapped: boom".to_owned()]);
}

#[test]
fn errors_compare_by_kind_then_message() {
    let failed = Answer::Failed { kind: "invalid-config", message: "bad path".into() };
    let want =
        |kind: &str, message: Option<&str>| Expect::Error { kind: kind.into(), message: message.map(Into::into) };
    assert!(compare(&want("invalid-config", None), &failed).is_empty());
    assert!(compare(&want("invalid-config", Some("path")), &failed).is_empty());
    assert_eq!(
        compare(&want("invalid-config", Some("nope")), &failed),
        vec![r#"the invalid-config message does not contain "nope": bad path"#.to_owned()]
    );
    assert_eq!(compare(&want("trap", None), &failed), vec!["expected trap, got invalid-config: bad path".to_owned()]);
    let answered = Answer::Output { selectors: vec!["x".into()], facts: BTreeMap::new() };
    assert_eq!(
        compare(&want("trap", None), &answered),
        vec![r#"expected trap, got an answer: selectors ["x"], facts {}"#.to_owned()]
    );
}

#[test]
fn find_lists_yaml_files_in_order_or_takes_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["b.yaml", "a.yml", "facts.json", "notes.txt"] {
        std::fs::write(dir.path().join(f), "").expect("write");
    }
    let found = find(dir.path()).expect("found");
    let names: Vec<_> = found.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["a.yml", "b.yaml"]);
    assert_eq!(find(&dir.path().join("b.yaml")).expect("file"), vec![dir.path().join("b.yaml")]);
    assert!(find(&dir.path().join("missing")).expect_err("missing").to_string().starts_with("cannot read "));
}

proptest! {
    /// A case file is outside input: whatever its text, parsing answers, never panics.
    #[test]
    fn parsing_any_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse(&text, Path::new("/nonexistent/x.yaml"));
    }

    /// Nor does any case-shaped document.
    #[test]
    fn parsing_case_shaped_text_never_panics(
        name in "[a-z ]{0,10}",
        kind in "[a-z-]{0,14}",
        sel in proptest::collection::vec("[a-z:]{0,6}", 0..4),
    ) {
        let text = format!("name: {name}\nfacts: {INLINE}\nexpect: {{error: {kind}}}\n---\nfacts: {INLINE}\nexpect: {{selectors: {sel:?}}}\n");
        let _ = parse(&text, Path::new("x.yaml"));
    }
}
