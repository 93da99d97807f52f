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

/// SPIRE re-prints `plugin_data` with the HCL v1 printer: tabs, aligned `=`, keys quoted as the
/// operator (or a JSON config) wrote them, multi-line lists with trailing commas. A sigstore
/// block with maps of lists, maps of objects and maps of strings survives normalisation and
/// reads as written.
mod sigstore_blocks {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::super::normalize;
    use crate::config::Config;
    use crate::facts::sigstore::{Credentials, OnFailure, SigstoreSettings, SpireKeys};

    fn read(printed: &str) -> SigstoreSettings {
        let text = normalize(printed);
        match Config::parse_with_env(&text, Path::new("/etc/spire"), &|_| None) {
            Ok(c) => c.sigstore.expect("a sigstore block"),
            Err(e) => panic!("{text}\n→ {e}"),
        }
    }

    fn check_generation_two(s: &SigstoreSettings) {
        let SpireKeys::Two(two) = &s.spire else { panic!("generation 1: {:?}", s.spire) };
        assert_eq!(
            two.allowed_identities,
            BTreeMap::from([
                (
                    "https://token.actions.githubusercontent.com".to_owned(),
                    vec![
                        "https://github.com/org/.*".to_owned(),
                        "https://github.com/other/app@refs/heads/main".to_owned()
                    ]
                ),
                ("https://accounts.google.com".to_owned(), vec!["ops@example.com".to_owned()]),
            ])
        );
        assert_eq!(two.skipped_images, BTreeSet::from(["ghcr.io/org/debug@sha256:00".to_owned()]));
        assert!(two.ignore_attestations && !two.ignore_sct && !two.ignore_tlog);
        assert_eq!(
            s.registry.credentials,
            BTreeMap::from([
                ("ghcr.io".to_owned(), Credentials { username: "bot".into(), password: "s3cret".into() }),
                ("registry-1.docker.io".to_owned(), Credentials { username: "u".into(), password: "p".into() }),
            ])
        );
        assert_eq!(
            s.public_keys,
            BTreeMap::from([("release".to_owned(), Path::new("/etc/spire/keys/release.pem").to_owned())])
        );
        assert_eq!(s.registry.mirrors["docker.io"], "https://mirror.example.com");
        assert_eq!(s.on_failure, OnFailure::Fact);
    }

    /// An HCL config as an operator writes it (SPIRE's documentation's shape), as printed.
    #[test]
    fn an_hcl_block_as_spire_prints_it() {
        let printed = "node_name_env = \"MY_NODE_NAME\"\n\nsigstore {\n\tallowed_identities = {\n\t\t\"https://token.actions.githubusercontent.com\" = [\n\t\t\t\"https://github.com/org/.*\",\n\t\t\t\"https://github.com/other/app@refs/heads/main\",\n\t\t]\n\n\t\t\"https://accounts.google.com\" = [\"ops@example.com\"]\n\t}\n\n\tskipped_images      = [\"ghcr.io/org/debug@sha256:00\"]\n\tignore_attestations = true\n\n\tregistry_credentials = {\n\t\t\"ghcr.io\" = {\n\t\t\tusername = \"bot\"\n\t\t\tpassword = \"s3cret\"\n\t\t}\n\n\t\t\"registry-1.docker.io\" = {\n\t\t\tusername = \"u\"\n\n\t\t\tpassword = \"p\"\n\t\t}\n\t}\n\n\tpublic_keys = {\n\t\t\"release\" = \"keys/release.pem\"\n\t}\n\n\tregistry_mirrors = {\n\t\t\"docker.io\" = \"https://mirror.example.com\"\n\t}\n\n\ton_failure = \"fact\"\n}";
        check_generation_two(&read(printed));
    }

    /// A JSON config: HCL v1 keeps every key quoted and prints `=` for `:`.
    #[test]
    fn a_json_block_as_spire_prints_it() {
        let printed = "\"node_name_env\" = \"MY_NODE_NAME\"\n\n\"sigstore\" = {\n\t\"allowed_identities\" = {\n\t\t\"https://token.actions.githubusercontent.com\" = [\"https://github.com/org/.*\", \"https://github.com/other/app@refs/heads/main\"]\n\n\t\t\"https://accounts.google.com\" = [\"ops@example.com\"]\n\t}\n\n\t\"skipped_images\" = [\"ghcr.io/org/debug@sha256:00\"]\n\n\t\"ignore_attestations\" = true\n\n\t\"registry_credentials\" = {\n\t\t\"ghcr.io\" = {\n\t\t\t\"username\" = \"bot\"\n\n\t\t\t\"password\" = \"s3cret\"\n\t\t}\n\n\t\t\"registry-1.docker.io\" = {\n\t\t\t\"username\" = \"u\"\n\n\t\t\t\"password\" = \"p\"\n\t\t}\n\t}\n\n\t\"public_keys\" = {\n\t\t\"release\" = \"keys/release.pem\"\n\t}\n\n\t\"registry_mirrors\" = {\n\t\t\"docker.io\" = \"https://mirror.example.com\"\n\t}\n\n\t\"on_failure\" = \"fact\"\n}";
        check_generation_two(&read(printed));
    }

    /// SPIRE 1.6–1.10.1's generation 1, in `experimental`, quoted keys and all.
    #[test]
    fn a_generation_one_block_as_spire_prints_it() {
        let printed = "\"experimental\" {\n\t\"sigstore\" {\n\t\t\"rekor_url\"   = \"https://rekor.sigstore.dev/\"\n\t\t\"enforce_sct\" = false\n\n\t\t\"skip_signature_verification_image_list\" = [\"sha256:aa\"]\n\n\t\t\"allowed_subjects_list\" = {\n\t\t\t\"https://accounts.google.com\" = [\"ops@example.com\"]\n\t\t}\n\t}\n}";
        let s = read(printed);
        let SpireKeys::One(one) = &s.spire else { panic!("generation 2: {:?}", s.spire) };
        assert_eq!(one.rekor_url, "https://rekor.sigstore.dev/");
        assert!(!one.enforce_sct);
        assert_eq!(one.skip_images, BTreeSet::from(["sha256:aa".to_owned()]));
        assert_eq!(one.allowed_subjects["https://accounts.google.com"], BTreeSet::from(["ops@example.com".to_owned()]));
    }

    /// HCL v1 also takes a host as a block label without `=` (`"ghcr.io" { … }`); HCL2 has no
    /// quoted block types, so that form is refused with a syntax error rather than misread.
    #[test]
    fn a_registry_block_without_equals_is_a_syntax_error() {
        let printed = "sigstore {\n\tregistry_credentials {\n\t\t\"ghcr.io\" {\n\t\t\tusername = \"u\"\n\t\t\tpassword = \"p\"\n\t\t}\n\t}\n}";
        let text = normalize(printed);
        let e = Config::parse(&text, Path::new(".")).unwrap_err().to_string();
        assert!(e.starts_with("unable to decode configuration: "), "{e}");
    }
}
