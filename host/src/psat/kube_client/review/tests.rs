use k8s_openapi::api::authentication::v1::TokenReviewStatus;
use proptest::prelude::*;

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn authenticated(audiences: Option<&[&str]>) -> TokenReviewStatus {
    TokenReviewStatus { authenticated: Some(true), audiences: audiences.map(strings), ..TokenReviewStatus::default() }
}

#[test]
fn an_error_text_fails_whatever_else_the_review_says() {
    let status = TokenReviewStatus {
        error: Some("[invalid bearer token, service account token has expired]".into()),
        ..authenticated(Some(&["aud1"]))
    };
    let err = check_review(Some(status), &strings(&["aud1"])).unwrap_err();
    assert_eq!(
        err.message,
        "token review API response contains an error: [invalid bearer token, service account token has expired]"
    );
}

#[test]
fn an_empty_error_text_is_no_error() {
    let status = TokenReviewStatus { error: Some(String::new()), ..authenticated(Some(&["aud1"])) };
    assert!(check_review(Some(status), &strings(&["aud1"])).is_ok());
}

#[test]
fn an_authenticated_review_must_grant_one_audience_asked() {
    let err = check_review(Some(authenticated(Some(&["aud3"]))), &strings(&["aud1", "aud2"])).unwrap_err();
    assert_eq!(
        err.message,
        r#"token review API did not validate audience: wanted one of ["aud1" "aud2"] but got ["aud3"]"#
    );
    let err = check_review(Some(authenticated(None)), &strings(&["aud1"])).unwrap_err();
    assert_eq!(err.message, r#"token review API did not validate audience: wanted one of ["aud1"] but got []"#);
    let ok = check_review(Some(authenticated(Some(&["aud2"]))), &strings(&["aud1", "aud2"])).unwrap();
    assert_eq!(ok.authenticated, Some(true));
}

#[test]
fn no_audience_asked_means_no_audience_check() {
    assert!(check_review(Some(authenticated(None)), &[]).is_ok());
}

#[test]
fn an_unauthenticated_review_without_error_is_returned_for_the_caller_to_refuse() {
    // SPIRE's helper passes it on; the attestation answers PermissionDenied.
    let status = TokenReviewStatus { authenticated: Some(false), ..TokenReviewStatus::default() };
    assert_eq!(check_review(Some(status), &strings(&["aud1"])).unwrap().authenticated, Some(false));
    assert_eq!(check_review(None, &strings(&["aud1"])).unwrap(), TokenReviewStatus::default());
}

#[test]
fn lists_are_quoted_as_go_quotes_them() {
    assert_eq!(go_quote_list(&[]), "[]");
    assert_eq!(
        go_quote_list(&strings(&["a\"b", "c\\d", "e\nf", "\u{1}", "é\u{85}"])),
        r#"["a\"b" "c\\d" "e\nf" "\x01" "é\u0085"]"#
    );
}

#[test]
fn outside_text_is_bounded() {
    let huge = "x".repeat(1 << 20);
    let status = TokenReviewStatus { error: Some(format!("{huge}\n")), ..TokenReviewStatus::default() };
    let err = check_review(Some(status), &[]).unwrap_err();
    assert!(err.message.len() < 2 * MAX_TEXT, "{}", err.message.len());
    assert!(err.message.ends_with("bytes in all)"));
    let many: Vec<String> = (0..100_000).map(|i| format!("aud{i}")).collect();
    let quoted = go_quote_list(&many);
    assert!(quoted.len() < 2 * MAX_TEXT && quoted.ends_with("(100000 items in all)"), "{quoted}");
    let long = go_quote_list(&[huge]);
    assert!(long.len() < 2 * MAX_TEXT && long.ends_with("(1048576 bytes in all)]"), "{}", long.len());
}

proptest! {
    /// The review is the API server's answer: any text, any lists, never a panic, and an error
    /// is always one of SPIRE's two messages, bounded.
    #[test]
    fn any_review_is_checked_without_panicking(
        error in proptest::option::of(".{0,300}"),
        authenticated in proptest::option::of(any::<bool>()),
        granted in proptest::option::of(proptest::collection::vec(".{0,40}", 0..6)),
        asked in proptest::collection::vec(".{0,40}", 0..6),
    ) {
        let status = TokenReviewStatus { error, authenticated, audiences: granted, ..TokenReviewStatus::default() };
        if let Err(e) = check_review(Some(status), &asked) {
            prop_assert!(
                e.message.starts_with("token review API response contains an error: ")
                    || e.message.starts_with("token review API did not validate audience: wanted one of [")
            );
            prop_assert!(e.message.len() < 4 * MAX_TEXT);
            prop_assert!(!e.message.chars().any(char::is_control));
        }
    }
}
