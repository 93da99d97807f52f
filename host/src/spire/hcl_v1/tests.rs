use super::*;

#[test]
fn quoted_body_keys_become_identifiers() {
    assert_eq!(
        normalize("\"node_name\" = \"n1\"\n\"max_poll_attempts\" = 5\n"),
        "node_name = \"n1\"\nmax_poll_attempts = 5\n"
    );
    assert_eq!(
        normalize("\"sigstore\" {\n  \"rekor_url\" = \"https://r\"\n}\n"),
        "sigstore {\n  rekor_url = \"https://r\"\n}\n"
    );
    assert_eq!(
        normalize("\"module\" \"team\" {\n  \"path\" = \"t.wasm\"\n}\n"),
        "module \"team\" {\n  path = \"t.wasm\"\n}\n"
    );
}

#[test]
fn values_strings_and_object_keys_are_left_alone() {
    let same = [
        "a = \"\\\"quoted\\\" = x\"\n",
        "clusters = {\n  \"demo\" = {\n    allow = [\"a\"]\n  }\n}\n",
        "# \"not\" = \"touched\"\nb = 1\n",
        "c = <<EOT\n\"x\" = 1\nEOT\n",
        "list = [\"a\", \"b\"]\n",
        "\"has space\" = 1\n",
    ];
    for s in same {
        assert_eq!(normalize(s), s);
    }
}

#[test]
fn the_result_parses() {
    let text = "\"kubelet_read_only_port\" = 10255\n\"experimental\" {\n  \"broker\" {\n    \"access_policy\" = \"enforced\"\n    \"brokers\" = [{\n      \"id\" = \"spiffe://e.org/b\"\n    }]\n  }\n}\n";
    let n = normalize(text);
    assert!(hcl::parse(&n).is_ok(), "{n}");
}

/// An unterminated string ending in a multi-byte character once made the normaliser slice
/// inside the character and panic (found by a hostile `Configure`).
#[test]
fn an_unterminated_string_ending_in_a_multibyte_character_is_left_to_the_parser() {
    assert_eq!(normalize("node_name = \"é"), "node_name = \"é");
    assert_eq!(normalize("\"é"), "\"é");
    assert_eq!(normalize("\"a\\é"), "\"a\\é");
    assert!(crate::config::Config::parse(&normalize("node_name = \"é"), std::path::Path::new(".")).is_err());
}

mod properties {
    use proptest::prelude::*;

    use super::super::normalize;

    /// HCL-ish text: the characters the normaliser treats specially, plus any character.
    fn hclish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("=".to_owned()),
            Just("\n".to_owned()),
            Just("<<EOT\n".to_owned()),
            Just("EOT".to_owned()),
            Just("/*".to_owned()),
            Just("*/".to_owned()),
            Just("//".to_owned()),
            Just("#".to_owned()),
            Just("é".to_owned()),
            Just("\"key\" = ".to_owned()),
            "[a-z_]{1,6}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_never_grows(text in hclish()) {
            let out = normalize(&text);
            prop_assert!(out.len() <= text.len());
        }

        #[test]
        fn any_string_is_safe(text in any::<String>()) {
            let _ = normalize(&text);
        }

        #[test]
        fn normalising_twice_changes_nothing_more(text in hclish()) {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once);
        }
    }
}
