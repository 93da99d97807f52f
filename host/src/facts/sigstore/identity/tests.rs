use super::*;

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const GOOGLE: &str = "https://accounts.google.com";
const WORKFLOW: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";

fn allowed(pairs: &[(&str, &[&str])]) -> AllowedIdentities {
    AllowedIdentities::new(
        pairs.iter().map(|(issuer, subjects)| (issuer.to_string(), subjects.iter().map(|s| s.to_string()))),
    )
    .unwrap()
}

#[test]
fn exact_strings_match_only_themselves() {
    let a = allowed(&[(GITHUB, &[WORKFLOW])]);
    assert!(a.allows(GITHUB, WORKFLOW));
    assert!(!a.allows(GITHUB, &format!("{WORKFLOW}x")));
    assert!(!a.allows(GITHUB, &WORKFLOW[1..]));
    assert!(!a.allows(GOOGLE, WORKFLOW));
    assert!(!a.accepts_any());
}

#[test]
fn a_dot_alone_does_not_make_a_regex() {
    // `.` would match any character in a regex; SPIRE compares these exactly.
    let a = allowed(&[(GOOGLE, &["alice@example.com"])]);
    assert!(a.allows(GOOGLE, "alice@example.com"));
    assert!(!a.allows(GOOGLE, "alice@exampleXcom"));
    assert!(!a.allows("https://accountsXgoogle.com", "alice@example.com"));
}

#[test]
fn regexes_match_unanchored() {
    // `+` makes it a regex; Go's MatchString finds it anywhere in the subject.
    let a = allowed(&[(GITHUB, &[r"acme/app/\.github/workflows/release\.yml@refs/tags/v[0-9]+"])]);
    assert!(a.allows(GITHUB, WORKFLOW));
    assert!(a.allows(GITHUB, "https://evil.example/acme/app/.github/workflows/release.yml@refs/tags/v9-evil"));
    assert!(!a.allows(GITHUB, "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main"));
    // Anchors are the author's to write, and then hold.
    let anchored = allowed(&[(GITHUB, &[r"^https://github\.com/acme/app/.*@refs/tags/v[0-9.]+$"])]);
    assert!(anchored.allows(GITHUB, WORKFLOW));
    assert!(!anchored.allows(GITHUB, &format!("x{WORKFLOW}")));
    assert!(!anchored.allows(GITHUB, &format!("{WORKFLOW}-rc")));
}

#[test]
fn every_metacharacter_makes_a_regex() {
    for (pattern, value) in [
        ("a*", "b"),
        ("a+", "xa"),
        ("ab?", "a"),
        ("^a", "a"),
        ("a$", "a"),
        ("a{1}", "a"),
        ("[a]", "a"),
        ("a|b", "b"),
        ("(a)", "a"),
    ] {
        let a = allowed(&[(GITHUB, &[pattern])]);
        assert!(a.allows(GITHUB, value), "{pattern} should be a regex matching {value}");
    }
}

#[test]
fn issuer_and_subject_are_matched_separately() {
    // A regex issuer with an exact subject, and an exact issuer with a regex subject.
    let a = allowed(&[(r"^https://token\.actions\.githubusercontent\.com$", &[WORKFLOW]), (GOOGLE, &[".*@acme.com$"])]);
    assert!(a.allows(GITHUB, WORKFLOW));
    assert!(!a.allows(GITHUB, "bob@acme.com"), "the Google subjects are not GitHub's");
    assert!(a.allows(GOOGLE, "bob@acme.com"));
    assert!(!a.allows(GOOGLE, WORKFLOW), "GitHub's subject is not Google's");
    assert!(!a.allows("https://token.actions.githubusercontent.com.evil", WORKFLOW));
}

#[test]
fn the_empty_map_accepts_any_identity() {
    assert!(AllowedIdentities::any().allows(GITHUB, WORKFLOW));
    let empty = allowed(&[]);
    assert!(empty.accepts_any());
    assert!(empty.allows("", ""));
    // Issuers without subjects make no cosign identity either.
    let no_subjects = allowed(&[(GITHUB, &[])]);
    assert!(no_subjects.accepts_any());
    assert!(no_subjects.allows(GOOGLE, "anyone"));
}

#[test]
fn an_empty_string_constrains_nothing() {
    // cosign skips an empty issuer or subject ("no constraint on this identity").
    let a = allowed(&[("", &["alice@example.com"]), (GOOGLE, &[""])]);
    assert!(a.allows(GITHUB, "alice@example.com"));
    assert!(a.allows(GOOGLE, "anyone@example.com"));
    assert!(!a.allows(GITHUB, "anyone@example.com"));
}

#[test]
fn bad_regexes_are_refused_with_where_they_are() {
    let err = AllowedIdentities::new([("https://(unclosed".to_string(), vec![WORKFLOW.to_string()])]).unwrap_err();
    assert!(matches!(&err, IdentityError::Issuer { pattern, .. } if pattern == "https://(unclosed"), "{err}");
    let err = AllowedIdentities::new([(GITHUB.to_string(), vec!["[a-".to_string()])]).unwrap_err();
    assert!(matches!(&err, IdentityError::Subject { issuer, pattern, .. } if issuer == GITHUB && pattern == "[a-"));
    assert!(err.to_string().contains("is not a valid regular expression"), "{err}");
    let long = format!("({}", "a".repeat(10_000));
    let err = AllowedIdentities::new([(long, Vec::<String>::new())]).unwrap_err();
    assert!(err.to_string().len() < 2_000);
}

#[test]
fn generation_one_pairs_are_exact_whatever_they_hold() {
    let subjects: BTreeSet<String> =
        ["https://github.com/a/b/.github/workflows/x.yml@refs/heads/main".to_owned()].into();
    let map = [("https://token.actions.githubusercontent.com".to_owned(), subjects)];
    let allowed = AllowedIdentities::exact(map.iter().map(|(i, s)| (i, s)));
    assert!(!allowed.accepts_any());
    assert!(allowed.allows(
        "https://token.actions.githubusercontent.com",
        "https://github.com/a/b/.github/workflows/x.yml@refs/heads/main"
    ));
    // `.` and `@` would be regex-free anyway; `x.yml` must not match `xAyml`.
    assert!(!allowed.allows(
        "https://token.actions.githubusercontent.com",
        "https://github.com/a/b/.github/workflows/xAyml@refs/heads/main"
    ));
    let regexy: BTreeSet<String> = ["a+b".to_owned()].into();
    let map = [("i".to_owned(), regexy)];
    let allowed = AllowedIdentities::exact(map.iter().map(|(i, s)| (i, s)));
    assert!(allowed.allows("i", "a+b"));
    assert!(!allowed.allows("i", "aab"), "generation 1 never treats a subject as a regex");
    assert!(AllowedIdentities::exact(std::iter::empty()).accepts_any());
}
