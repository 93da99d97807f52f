use super::*;

#[test]
fn parses_and_prints() {
    let id: SpiffeId = "spiffe://example.org/ns/default/sa/web".parse().unwrap();
    assert_eq!(id.trust_domain().as_str(), "example.org");
    assert_eq!(id.path(), "/ns/default/sa/web");
    assert_eq!(id.segments().collect::<Vec<_>>(), ["ns", "default", "sa", "web"]);
    assert_eq!(id.to_string(), "spiffe://example.org/ns/default/sa/web");
    let bare: SpiffeId = "spiffe://example.org".parse().unwrap();
    assert_eq!(bare.path(), "");
}

#[test]
fn rejects_what_the_spec_rejects() {
    for bad in [
        "http://example.org/x",
        "spiffe://",
        "spiffe://Example.org/x",
        "spiffe://example.org/",
        "spiffe://example.org//x",
        "spiffe://example.org/a/../b",
        "spiffe://example.org/a b",
        "spiffe://example.org/x?y",
        "spiffe://user@example.org/x",
        "spiffe://example.org:443/x",
    ] {
        assert!(bad.parse::<SpiffeId>().is_err(), "{bad} should be rejected");
    }
    let long = format!("spiffe://example.org/{}", "a".repeat(2100));
    assert_eq!(long.parse::<SpiffeId>(), Err(InvalidSpiffeId::TooLong(long.len())));
}

#[test]
fn segments() {
    assert!(is_valid_path_segment("web-1.v2_x"));
    assert!(!is_valid_path_segment(".."));
    assert!(!is_valid_path_segment("a/b"));
    assert!(!is_valid_path_segment(""));
}
