use super::*;

#[test]
fn splits_at_the_first_colon_only() {
    let s: Selector = "k8s:pod-image:nginx:1.25.4".parse().unwrap();
    assert_eq!(s.kind().as_str(), "k8s");
    assert_eq!(s.value(), "pod-image:nginx:1.25.4");
    assert_eq!(s.key(), "pod-image");
    assert_eq!(s.key_value(), "nginx:1.25.4");
    assert_eq!(s.to_string(), "k8s:pod-image:nginx:1.25.4");
}

#[test]
fn empty_values_survive() {
    let s: Selector = "k8s:sa:".parse().unwrap();
    assert_eq!(s.value(), "sa:");
    assert_eq!(s.key_value(), "");
    assert_eq!(s.to_string(), "k8s:sa:");
}

#[test]
fn rejects_bad_kinds() {
    assert_eq!("nokind".parse::<Selector>(), Err(InvalidSelector::NoKind("nokind".into())));
    assert!(matches!("K8S:ns:x".parse::<Selector>(), Err(InvalidSelector::Kind(_))));
    assert!(matches!(":ns:x".parse::<Selector>(), Err(InvalidSelector::Kind(_))));
    assert!(SelectorKind::new("1abc").is_err());
    assert!(SelectorKind::new("team-owner").is_ok());
    assert!(SelectorKind::new("k8s").unwrap().is_reserved());
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Selectors arrive from modules and fixtures: parsing never panics, and what parses
        /// prints back to itself.
        #[test]
        fn selectors_parse_or_fail_and_round_trip(text in any::<String>(), shaped in "[a-z0-9_-]{0,8}:[ -~]{0,24}") {
            for t in [text, shaped] {
                if let Ok(s) = t.parse::<Selector>() {
                    prop_assert_eq!(s.to_string(), t.as_str());
                    let _ = (s.key(), s.key_value());
                }
            }
        }
    }
}
