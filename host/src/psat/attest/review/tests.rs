use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::UserInfo;
use proptest::prelude::*;

use super::*;

fn with_user(username: Option<&str>, extra: &[(&str, &[&str])]) -> TokenReviewStatus {
    let extra: BTreeMap<String, Vec<String>> =
        extra.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect();
    TokenReviewStatus {
        user: Some(UserInfo { username: username.map(str::to_owned), extra: Some(extra), ..UserInfo::default() }),
        ..TokenReviewStatus::default()
    }
}

#[test]
fn names_from_a_service_account_username() {
    let s = with_user(Some("system:serviceaccount:spire:spire-agent"), &[]);
    assert_eq!(names(&s).unwrap(), ("spire", "spire-agent"));
}

#[test]
fn username_errors_are_spires() {
    for (username, message) in [
        (None, "empty username"),
        (Some(""), "empty username"),
        (Some("system:serviceaccount::sa"), "missing namespace"),
        (Some("system:serviceaccount:ns:"), "missing service account name"),
        (Some("system:serviceaccount::"), "missing namespace"),
        (Some("a:b:c"), "unexpected username format: a:b:c"),
        (Some("system:node:ns:sa"), "unexpected username format: system:node:ns:sa"),
    ] {
        assert_eq!(names(&with_user(username, &[])).unwrap_err().to_string(), message, "{username:?}");
    }
    assert!(names(&TokenReviewStatus::default()).is_err(), "no user at all");
}

#[test]
fn a_long_username_is_bounded() {
    let long = format!("x\n{}", "y".repeat(10_000));
    let e = names(&with_user(Some(&long), &[])).unwrap_err().to_string();
    assert!(e.len() < 400 && !e.contains('\n'), "{e}");
}

#[test]
fn pod_name_and_uid() {
    let s = with_user(None, &[(POD_NAME_KEY, &["p"]), (POD_UID_KEY, &["u"])]);
    assert_eq!((pod_name(&s).unwrap(), pod_uid(&s).unwrap()), ("p", "u"));
    let s = with_user(None, &[(POD_NAME_KEY, &[]), (POD_UID_KEY, &["a", "b", "c"])]);
    assert_eq!(pod_name(&s).unwrap_err(), ReviewError::PodNameCount(0));
    assert_eq!(pod_uid(&s).unwrap_err().to_string(), "expected 1 UID but got: 3");
    let s = with_user(None, &[(POD_NAME_KEY, &[""]), (POD_UID_KEY, &[""])]);
    assert_eq!(pod_name(&s).unwrap_err(), ReviewError::EmptyPodName);
    assert_eq!(pod_uid(&s).unwrap_err(), ReviewError::EmptyPodUid);
    let s = TokenReviewStatus::default();
    assert_eq!(pod_name(&s).unwrap_err(), ReviewError::MissingPodName);
    assert_eq!(pod_uid(&s).unwrap_err(), ReviewError::MissingPodUid);
}

proptest! {
    #[test]
    fn any_username_never_panics(username in "\\PC{0,64}") {
        if let Ok((ns, sa)) = names(&with_user(Some(&username), &[])) {
            prop_assert_eq!(format!("system:serviceaccount:{ns}:{sa}"), username);
        }
    }
}
