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

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// SPIFFE IDs and trust domains come from templates and configuration: parsing never
        /// panics, and what parses prints back to itself.
        #[test]
        fn ids_parse_or_fail_and_round_trip(text in any::<String>(), shaped in "spiffe://[a-z0-9.-]{0,12}(/[a-zA-Z0-9._é%-]{0,6}){0,4}/?") {
            for t in [text, shaped] {
                if let Ok(id) = t.parse::<SpiffeId>() {
                    prop_assert_eq!(id.to_string(), t.as_str());
                    let _ = (id.path(), id.segments().count(), id.trust_domain());
                }
                let _ = TrustDomain::new(t.trim_start_matches("spiffe://").to_owned());
            }
        }
    }
}
