use proptest::prelude::*;

use super::*;

#[test]
fn bearer_challenges_as_registries_send_them() {
    let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#;
    assert_eq!(
        parse_challenge(hub).unwrap(),
        Challenge::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: Some("registry.docker.io".into()),
            scope: Some("repository:library/nginx:pull".into()),
        }
    );
    let spaced = r#"bearer  realm = "https://r/t" , error="insufficient_scope", scope=repository:a:pull"#;
    assert_eq!(
        parse_challenge(spaced).unwrap(),
        Challenge::Bearer { realm: "https://r/t".into(), service: None, scope: Some("repository:a:pull".into()) }
    );
    let escaped = r#"Bearer realm="https://r/\"t\\""#;
    assert!(
        matches!(parse_challenge(escaped).unwrap(), Challenge::Bearer { realm, .. } if realm == r#"https://r/"t\"#)
    );
}

#[test]
fn basic_challenges_need_no_parameters() {
    assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#).unwrap(), Challenge::Basic);
    assert_eq!(parse_challenge("BASIC").unwrap(), Challenge::Basic);
}

#[test]
fn unusable_challenges_say_why() {
    for (header, problem) in [
        ("", "unsupported scheme"),
        ("Negotiate abc", "unsupported scheme"),
        ("Bearer service=\"x\"", "without a realm"),
        ("Bearer realm=\"\"", "without a realm"),
        ("Bearer realm=\"https://x", "unterminated"),
        ("Bearer realm", "without `=`"),
        ("Bearer realm=\"a\" service=\"b\"", "not separated"),
    ] {
        let err = parse_challenge(header).unwrap_err();
        assert!(err.contains(problem), "{header:?}: {err}");
    }
}

#[test]
fn token_answers() {
    let t = parse_token(br#"{"token":"abc","expires_in":300}"#).unwrap();
    assert_eq!(t, Token { token: "abc".into(), lifetime: Duration::from_secs(300) });
    let t = parse_token(br#"{"access_token":"xyz"}"#).unwrap();
    assert_eq!(t, Token { token: "xyz".into(), lifetime: DEFAULT_EXPIRY });
    let t = parse_token(br#"{"token":"","access_token":"xyz","expires_in":99999999}"#).unwrap();
    assert_eq!(t, Token { token: "xyz".into(), lifetime: MAX_EXPIRY });
    assert!(parse_token(b"{}").unwrap_err().contains("no token"));
    assert!(parse_token(br#"{"token":"a b"}"#).unwrap_err().contains("header"));
    assert!(parse_token(b"<html>").unwrap_err().contains("not the expected JSON"));
}

#[test]
fn the_cache_forgets_expired_entries() {
    let cache = AuthCache::default();
    let value = reqwest::header::HeaderValue::from_static("Bearer a");
    cache.put("r", "repo", value.clone(), Duration::from_secs(60));
    cache.put("r", "gone", value.clone(), Duration::ZERO);
    assert_eq!(cache.get("r", "repo"), Some(value));
    assert_eq!(cache.get("r", "gone"), None);
    assert_eq!(cache.get("other", "repo"), None);
}

proptest! {
    /// Any header text: a challenge or a typed refusal, never a panic; a Bearer challenge
    /// always has a realm.
    #[test]
    fn challenges_never_panic(header in r#"(Bearer|Basic|bearer)? ?([a-z]{1,6}=("[^"]{0,10}"|[a-z:/]{0,10}),? ?){0,4}|.{0,80}"#) {
        if let Ok(Challenge::Bearer { realm, .. }) = parse_challenge(&header) {
            prop_assert!(!realm.is_empty());
        }
    }

    /// Any body: a usable token or a typed refusal.
    #[test]
    fn token_answers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..100), json in r#"\{"(token|access_token)":"[ -~]{0,10}"(,"expires_in":[0-9]{1,22})?\}"#) {
        for bytes in [body.as_slice(), json.as_bytes()] {
            if let Ok(token) = parse_token(bytes) {
                prop_assert!(!token.token.is_empty() && token.lifetime <= MAX_EXPIRY);
            }
        }
    }
}
