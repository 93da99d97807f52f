use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::facts::sigstore::{
    BundleFormats, Credentials, DEFAULT_REKOR_URL, GenerationOne, GenerationTwo, OnFailure, SigstoreSettings, SpireKeys,
};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse_with_env(text, Path::new("/cfg"), &|_| None)
}

fn settings(text: &str) -> SigstoreSettings {
    match parse(text) {
        Ok(c) => c.sigstore.expect("a sigstore block"),
        Err(e) => panic!("{text}\n→ {e}"),
    }
}

/// The first problem's message and every problem's, one each.
fn err(text: &str) -> (String, Vec<String>) {
    let e = parse(text).unwrap_err();
    (e.to_string(), e.notes())
}

fn two(s: &SigstoreSettings) -> &GenerationTwo {
    match &s.spire {
        SpireKeys::Two(two) => two,
        SpireKeys::One(one) => panic!("generation 1: {one:?}"),
    }
}

fn one(s: &SigstoreSettings) -> &GenerationOne {
    match &s.spire {
        SpireKeys::One(one) => one,
        SpireKeys::Two(two) => panic!("generation 2: {two:?}"),
    }
}

/// `sigstore { <body> }` at the top level.
fn top(body: &str) -> String {
    format!("sigstore {{\n{body}\n}}\n")
}

/// `experimental { sigstore { <body> } }`.
fn exp(body: &str) -> String {
    format!("experimental {{\n  sigstore {{\n{body}\n  }}\n}}\n")
}

#[test]
fn no_block_no_verification() {
    assert_eq!(parse("").unwrap().sigstore, None);
    assert_eq!(parse("experimental {\n}\n").unwrap().sigstore, None);
}

#[test]
fn an_empty_block_is_generation_two_with_every_default() {
    for text in [top(""), exp(""), "sigstore = {}\n".to_owned()] {
        let s = settings(&text);
        assert_eq!(s, SigstoreSettings::generation_two(), "{text}");
        assert_eq!(two(&s).rekor_url, DEFAULT_REKOR_URL);
        assert_eq!(s.formats, BundleFormats { legacy: true, referrers: false });
        assert_eq!(s.on_failure, OnFailure::Deny);
    }
}

#[test]
fn generation_two_keys() {
    let body = r#"
        allowed_identities = {
          "https://token.actions.githubusercontent.com" = ["https://github.com/org/.*@refs/tags/v.*", "exact@example.com"]
          "https://accounts.google.com" = [".*"]
        }
        skipped_images = ["docker.io/library/nginx@sha256:aa", "ghcr.io/x@sha256:bb"]
        rekor_url = "https://rekor.example.com"
        ignore_sct = true
        ignore_tlog = true
        ignore_attestations = true
        registry_credentials = {
          "ghcr.io" = { username = "u", password = "p" }
          "localhost:5000" = { username = "u2", password = "p2" }
        }
    "#;
    for text in [top(body), exp(body)] {
        let s = settings(&text);
        let g = two(&s);
        assert_eq!(
            g.allowed_identities["https://token.actions.githubusercontent.com"],
            ["https://github.com/org/.*@refs/tags/v.*", "exact@example.com"]
        );
        assert_eq!(g.allowed_identities["https://accounts.google.com"], [".*"]);
        assert_eq!(
            g.skipped_images,
            BTreeSet::from(["docker.io/library/nginx@sha256:aa".into(), "ghcr.io/x@sha256:bb".into()])
        );
        assert_eq!(g.rekor_url, "https://rekor.example.com");
        assert!(g.ignore_sct && g.ignore_tlog && g.ignore_attestations);
        assert_eq!(
            s.registry.credentials,
            BTreeMap::from([
                ("ghcr.io".to_owned(), Credentials { username: "u".into(), password: "p".into() }),
                ("localhost:5000".to_owned(), Credentials { username: "u2".into(), password: "p2".into() }),
            ])
        );
    }
}

#[test]
fn an_issuer_without_subjects_is_refused_since_spire_would_accept_anyone() {
    let (first, _) = err(&top(r#"allowed_identities = { "https://accounts.google.com" = [] }"#));
    assert!(first.contains("sigstore.allowed_identities"), "{first}");
    assert!(first.contains("issuer \"https://accounts.google.com\" lists no subjects"), "{first}");
}

#[test]
fn a_bad_identity_expression_is_refused_with_its_text() {
    let (first, _) = err(&top(r#"allowed_identities = { "https://issuer" = ["repo/(unclosed"] }"#));
    assert!(
        first.starts_with(
            "config key `sigstore.allowed_identities`: subject \"repo/(unclosed\" of issuer \"https://issuer\" is not a valid regular expression: "
        ),
        "{first}"
    );
    let (first, _) = err(&exp(r#"allowed_identities = { "https://[bad" = ["a"] }"#));
    assert!(
        first.starts_with(
            "config key `experimental.sigstore.allowed_identities`: issuer \"https://[bad\" is not a valid regular expression: "
        ),
        "{first}"
    );
    let (first, _) = err(&top(r#"allowed_identities = { "https://issuer" = "a" }"#));
    assert_eq!(first, "config key `sigstore.allowed_identities`: expected lists of strings");
    let (first, _) = err(&top(r#"allowed_identities = ["a"]"#));
    assert_eq!(first, "config key `sigstore.allowed_identities`: expected a map, got a list");
}

#[test]
fn generation_two_rekor_url() {
    assert_eq!(two(&settings(&top("rekor_url = \"\""))).rekor_url, DEFAULT_REKOR_URL, "empty is the default");
    let cases = [
        ("http://rekor.example.com", "must be an https URL, got scheme \"http\""),
        ("rekor.example.com", "\"rekor.example.com\" is not a URL: relative URL without a base"),
        ("https://rekor.example.com/?x=1", "must have no query"),
        ("https://", "\"https://\" is not a URL: empty host"),
    ];
    for (url, want) in cases {
        let (first, _) = err(&top(&format!("rekor_url = {url:?}")));
        assert!(first.starts_with("config key `sigstore.rekor_url`: "), "{first}");
        assert!(first.contains(want), "{url}: {first}");
    }
}

#[test]
fn registry_credentials_need_both_halves() {
    let (first, notes) = err(&top(r#"registry_credentials = {
             "ghcr.io" = { username = "u" }
             "quay.io" = { password = "p", token = "t" }
             "docker.io" = { username = "", password = "" }
           }"#));
    assert!(first.starts_with("config key `sigstore.registry_credentials.ghcr.io`: password missing for registry \"ghcr.io\": SPIRE would warn and use its default keychain, which attestor does not have; give both username and password, or remove the entry"), "{first}");
    assert!(
        notes.iter().any(|n| {
            n.starts_with(
        "config key `sigstore.registry_credentials.docker.io`: username and password missing for registry \"docker.io\""
    )
        }),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n == "unknown configurations detected: token"), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.starts_with(
            "config key `sigstore.registry_credentials.quay.io`: username missing for registry \"quay.io\""
        )),
        "{notes:?}"
    );
    let (first, _) = err(&top(r#"registry_credentials = { "https://ghcr.io" = { username = "u", password = "p" } }"#));
    assert!(first.contains("\"https://ghcr.io\" is not a registry host"), "{first}");
    let (first, _) = err(&top(r#"registry_credentials = { "ghcr.io" = "u:p" }"#));
    assert_eq!(first, "config key `sigstore.registry_credentials.ghcr.io`: expected a block");
}

#[test]
fn generation_one_keys() {
    let s = settings(&exp(r#"rekor_url = "https://rekor.sigstore.dev/"
           enforce_sct = false
           skip_signature_verification_image_list = ["sha256:aa"]
           allowed_subjects_list = { "https://accounts.google.com" = ["a@b", "c(d)"] }"#));
    assert_eq!(
        one(&s),
        &GenerationOne {
            rekor_url: "https://rekor.sigstore.dev/".into(),
            enforce_sct: false,
            skip_images: BTreeSet::from(["sha256:aa".into()]),
            allowed_subjects: BTreeMap::from([(
                "https://accounts.google.com".into(),
                BTreeSet::from(["a@b".into(), "c(d)".into()])
            )]),
        }
    );
    let s = settings(&exp("rekor_url = \"https://r.example/\"\nenforce_sct = true"));
    assert!(one(&s).enforce_sct);
    let s = settings(&exp("rekor_url = \"https://r.example/\"\nallowed_subjects_list = {}"));
    assert!(one(&s).enforce_sct, "enforce_sct defaults to true");
    assert!(one(&s).allowed_subjects.is_empty());
    // attestor's keys go with generation 1 too.
    let s = settings(&exp("rekor_url = \"https://r.example/\"\nenforce_sct = true\non_failure = \"fact\""));
    assert_eq!(s.on_failure, OnFailure::Fact);
}

#[test]
fn generation_one_rekor_url_with_spire_messages() {
    let key = "config key `experimental.sigstore.rekor_url`: ";
    let cases = [
        ("", "is required in generation 1's experimental.sigstore (SPIRE 1.6.0–1.10.1)".to_owned()),
        ("rekor_url = \"\"", "rekor URL is empty".to_owned()),
        ("rekor_url = \"abc://invalid.scheme.com\"", "invalid rekor URL Scheme \"abc\"".to_owned()),
        ("rekor_url = \"http://rekor.example.com/\"", "invalid rekor URL Scheme \"http\"".to_owned()),
        ("rekor_url = \"https://\"", "host is required on rekor URL".to_owned()),
        ("rekor_url = \"path-no-host\"", "host is required on rekor URL".to_owned()),
        ("rekor_url = \"abc:opaque\"", "host is required on rekor URL".to_owned()),
        ("rekor_url = \"//no.scheme.com/path\"", "invalid rekor URL Scheme \"\"".to_owned()),
        (
            "rekor_url = \"https://in valid/\"",
            "failed parsing rekor URI: parse \"https://in valid/\": invalid international domain name".to_owned(),
        ),
    ];
    for (line, want) in cases {
        let (first, _) = err(&exp(&format!("{line}\nenforce_sct = true")));
        assert_eq!(first, format!("{key}{want}"), "{line}");
    }
}

#[test]
fn generation_one_keys_at_the_top_level_are_refused() {
    let (first, _) = err(&top("rekor_url = \"https://r/\"\nenforce_sct = true\nallowed_subjects_list = {}"));
    assert_eq!(
        first,
        "sigstore: enforce_sct, allowed_subjects_list belong to SPIRE ≤ 1.10.1's experimental.sigstore (generation 1); \
         the top-level sigstore block is SPIRE 1.15's generation 2: use allowed_identities, skipped_images and \
         ignore_sct instead, or move the block into experimental"
    );
}

#[test]
fn mixed_generations_are_refused_naming_the_keys() {
    let (first, notes) = err(&exp(
        "rekor_url = \"https://r/\"\nenforce_sct = true\nskip_signature_verification_image_list = []\nignore_tlog = true\nskipped_images = []",
    ));
    assert_eq!(
        first,
        "experimental.sigstore: generation 1 keys (enforce_sct, skip_signature_verification_image_list, read by \
         SPIRE 1.6.0–1.10.1) are mixed with generation 2 keys (skipped_images, ignore_tlog, read by SPIRE 1.10.2 \
         and later); keep one generation's keys"
    );
    assert_eq!(notes.len(), 1, "the keys of both generations are read, not reported unknown: {notes:?}");
}

#[test]
fn both_places_at_once_are_refused() {
    let text = format!("{}{}", top(""), exp(""));
    let (first, notes) = err(&text);
    assert_eq!(
        first,
        "sigstore is given twice: at the top level (SPIRE 1.15) and in experimental (SPIRE 1.6–1.14); keep one block"
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(err("sigstore {}\nsigstore {}\n").0.contains("block given 2 times"));
}

#[test]
fn attestor_keys() {
    let s = settings(&top(r#"trusted_root = "roots/trusted_root.json"
           public_keys = { "release" = "keys/release.pem", "suse-2024" = "/etc/keys/suse.pem" }
           bundle_formats = ["referrers", "legacy"]
           registry_mirrors = { "docker.io" = "https://mirror.example.com/v2-proxy", "ghcr.io" = "https://ghcr-mirror.example.com" }
           registry_ca_path = "ca.pem"
           on_failure = "fact"
           cache_ttl = "10m"
           cache_max_entries = 100
           registry_timeout = "2s""#));
    assert_eq!(s.trusted_root.as_deref(), Some(Path::new("/cfg/roots/trusted_root.json")));
    assert_eq!(
        s.public_keys,
        BTreeMap::from([
            ("release".to_owned(), "/cfg/keys/release.pem".into()),
            ("suse-2024".to_owned(), "/etc/keys/suse.pem".into())
        ])
    );
    assert_eq!(s.formats, BundleFormats { legacy: true, referrers: true });
    assert_eq!(s.registry.mirrors["docker.io"], "https://mirror.example.com/v2-proxy");
    assert_eq!(s.registry.mirrors["ghcr.io"], "https://ghcr-mirror.example.com");
    assert_eq!(s.registry.ca_path.as_deref(), Some(Path::new("/cfg/ca.pem")));
    assert_eq!(s.on_failure, OnFailure::Fact);
    assert_eq!(s.cache_ttl, Duration::from_secs(600));
    assert_eq!(s.cache_max_entries, 100);
    assert_eq!(s.registry.timeout, Duration::from_secs(2));
    assert_eq!(
        settings(&top("bundle_formats = [\"referrers\"]")).formats,
        BundleFormats { legacy: false, referrers: true }
    );
    assert_eq!(settings(&top("on_failure = \"deny\"")).on_failure, OnFailure::Deny);
    // The size caps keep their defaults: no key sets them.
    assert_eq!(s.registry.max_manifest_bytes, 4 << 20);
}

#[test]
fn attestor_key_errors() {
    let cases = [
        (
            "trusted_root = \"\"",
            "config key `sigstore.trusted_root`: must name a file (remove the key for the default)",
        ),
        ("trusted_root = 5", "config key `sigstore.trusted_root`: expected a string, got a number"),
        ("registry_ca_path = \"\"", "config key `sigstore.registry_ca_path`: must name a file"),
        (
            "public_keys = { \"my key\" = \"k.pem\" }",
            "config key `sigstore.public_keys.my key`: a key name must be non-empty, without spaces or control characters, got \"my key\"",
        ),
        ("public_keys = { \"\" = \"k.pem\" }", "config key `sigstore.public_keys.`: a key name must be non-empty"),
        ("public_keys = { \"k\" = \"\" }", "config key `sigstore.public_keys.k`: must name a file"),
        ("public_keys = { \"k\" = 1 }", "config key `sigstore.public_keys.k`: expected a string, got a number"),
        ("public_keys = \"k.pem\"", "config key `sigstore.public_keys`: expected a block, got a string"),
        (
            "bundle_formats = []",
            "config key `sigstore.bundle_formats`: must name at least one of \"legacy\" and \"referrers\"",
        ),
        (
            "bundle_formats = [\"oci\"]",
            "config key `sigstore.bundle_formats`: must be \"legacy\" or \"referrers\", got \"oci\"",
        ),
        (
            "bundle_formats = [\"legacy\", \"legacy\"]",
            "config key `sigstore.bundle_formats`: \"legacy\" is listed twice",
        ),
        (
            "bundle_formats = \"legacy\"",
            "config key `sigstore.bundle_formats`: expected a list of strings, got a string",
        ),
        (
            "registry_mirrors = { \"docker.io\" = \"http://m.example\" }",
            "config key `sigstore.registry_mirrors.docker.io`: must be an https URL, got scheme \"http\"",
        ),
        (
            "registry_mirrors = { \"docker.io\" = \"https://m.example/?a=b\" }",
            "config key `sigstore.registry_mirrors.docker.io`: \"https://m.example/?a=b\" must have no query",
        ),
        (
            "registry_mirrors = { \"docker.io\" = \"https://m.example/#top\" }",
            "config key `sigstore.registry_mirrors.docker.io`: \"https://m.example/#top\" must have no query (`?…`) nor fragment",
        ),
        (
            "registry_mirrors = { \"docker.io\" = \"mirror\" }",
            "config key `sigstore.registry_mirrors.docker.io`: \"mirror\" is not a URL",
        ),
        (
            "registry_mirrors = { \"docker.io/library\" = \"https://m.example\" }",
            "config key `sigstore.registry_mirrors.docker.io/library`: \"docker.io/library\" is not a registry host",
        ),
        (
            "on_failure = \"allow\"",
            "config key `sigstore.on_failure`: must be \"deny\" (SPIRE's behaviour) or \"fact\", got \"allow\"",
        ),
        ("cache_ttl = \"0s\"", "config key `sigstore.cache_ttl`: must be between 1s and 24h0m0s, got \"0s\""),
        ("cache_ttl = \"48h\"", "config key `sigstore.cache_ttl`: must be between 1s and 24h0m0s, got \"48h\""),
        ("cache_ttl = \"soon\"", "config key `sigstore.cache_ttl`: time: invalid duration \"soon\""),
        ("cache_max_entries = 0", "config key `sigstore.cache_max_entries`: must be between 1 and 1000000, got 0"),
        (
            "cache_max_entries = 1000001",
            "config key `sigstore.cache_max_entries`: must be between 1 and 1000000, got 1000001",
        ),
        (
            "registry_timeout = \"10ms\"",
            "config key `sigstore.registry_timeout`: must be between 100ms and 5m0s, got \"10ms\"",
        ),
        (
            "registry_timeout = \"1h\"",
            "config key `sigstore.registry_timeout`: must be between 100ms and 5m0s, got \"1h\"",
        ),
        ("ignore_sct = \"yes\"", "config key `sigstore.ignore_sct`: expected true or false, got a string"),
        (
            "skipped_images = \"sha256:aa\"",
            "config key `sigstore.skipped_images`: expected a list of strings, got a string",
        ),
    ];
    for (line, want) in cases {
        let (first, _) = err(&top(line));
        assert!(first.starts_with(want), "{line}:\n got {first}\nwant {want}");
    }
    assert_eq!(settings(&top("cache_max_entries = 1000000")).cache_max_entries, 1_000_000);
    assert_eq!(settings(&top("cache_ttl = \"24h\"")).cache_ttl, Duration::from_secs(24 * 3600));
}

#[test]
fn unknown_keys_are_reported_as_spire_does() {
    let (first, _) = err(&top("typo = 1\nrekor = \"x\""));
    assert_eq!(first, "unknown configurations detected: rekor,typo");
    let (first, _) = err(&exp("ignore_sctt = true"));
    assert_eq!(first, "unknown configurations detected: ignore_sctt");
    // A generation-1 block has no generation-2 keys to hide a typo behind.
    let (first, _) = err(&exp("rekor_url = \"https://r/\"\nenforce_sct = true\nallowed_subjects = {}"));
    assert_eq!(first, "unknown configurations detected: allowed_subjects");
}

#[test]
fn the_kubernetes_source_is_needed() {
    let (_, notes) = err(&format!("k8s_source = \"disabled\"\n{}", top("")));
    assert_eq!(
        notes,
        ["sigstore: Sigstore verifies the found container's imageID from the kubelet's pod list, and k8s_source = \
          \"disabled\" turns the Kubernetes source off: remove the block, or enable the source"]
    );
    let (_, notes) = err(&format!("disable_kubelet_client = true\n{}", exp("")));
    assert_eq!(
        notes,
        ["experimental.sigstore: Sigstore verifies the found container's imageID from the kubelet's pod list, and \
          disable_kubelet_client = true means there is none: remove the block, or enable the kubelet client"]
    );
    // A recorded pod list carries imageIDs as the kubelet's does.
    assert!(parse(&format!("pod_list_file = \"pods.json\"\nk8s_source = \"enabled\"\n{}", top(""))).is_ok());
    assert!(parse(&format!("k8s_source = \"auto\"\n{}", top(""))).is_ok());
    // Generation 1 verified images only for container selectors; generation 2 does not care.
    assert!(parse(&format!("disable_container_selectors = true\n{}", exp(""))).is_ok());
    let (first, _) =
        err(&format!("disable_container_selectors = true\n{}", exp("rekor_url = \"https://r/\"\nenforce_sct = true")));
    assert!(first.starts_with("experimental.sigstore: generation 1 (SPIRE ≤ 1.10.1) verifies images only when container selectors are enabled"), "{first}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let (_, notes) = err(&top(
        "rekor_url = \"http://r\"\nbundle_formats = []\non_failure = \"x\"\ncache_ttl = \"0s\"\ntypo = 1\nregistry_credentials = { \"ghcr.io\" = { username = \"u\" } }",
    ));
    assert_eq!(notes.len(), 6, "{notes:#?}");
    for key in ["rekor_url", "bundle_formats", "on_failure", "cache_ttl", "registry_credentials.ghcr.io"] {
        assert!(notes.iter().any(|n| n.contains(&format!("`sigstore.{key}`"))), "{key}: {notes:#?}");
    }
    assert!(notes.iter().any(|n| n == "unknown configurations detected: typo"), "{notes:#?}");
}

#[test]
fn credentials_are_not_printed() {
    let s = settings(&top(r#"registry_credentials = { "ghcr.io" = { username = "u", password = "hunter2" } }"#));
    assert!(!format!("{s:?}").contains("hunter2"));
}

/// Whatever the block holds, reading it never panics and every problem is a message.
mod properties {
    use proptest::prelude::*;

    use super::*;

    const KEYS: &[&str] = &[
        "allowed_identities",
        "skipped_images",
        "rekor_url",
        "ignore_sct",
        "ignore_tlog",
        "ignore_attestations",
        "registry_credentials",
        "enforce_sct",
        "skip_signature_verification_image_list",
        "allowed_subjects_list",
        "trusted_root",
        "public_keys",
        "bundle_formats",
        "registry_mirrors",
        "registry_ca_path",
        "on_failure",
        "cache_ttl",
        "cache_max_entries",
        "registry_timeout",
        "username",
        "password",
        "sigstore",
    ];

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("true".to_owned()),
            Just("\"legacy\"".to_owned()),
            Just("\"https://r.example/\"".to_owned()),
            Just("\"(\"".to_owned()),
            "\"-?[0-9]{1,12}(ns|ms|s|m|h)?\"",
            "\"[a-z:/.?#()*\\[ ]{0,16}\"",
            any::<String>().prop_map(|s| format!("{s:?}")),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((prop::sample::select(KEYS), "[a-z.:/]{0,8}", inner), 0..4).prop_map(|v| {
                    let entries: Vec<String> = v
                        .into_iter()
                        .map(
                            |(k, name, v)| {
                                if name.is_empty() { format!("{k} = {v}") } else { format!("{name:?} = {v}") }
                            },
                        )
                        .collect();
                    format!("{{ {} }}", entries.join(", "))
                }),
            ]
        })
    }

    fn block_body() -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(KEYS), value()), 0..8)
            .prop_map(|v| v.into_iter().map(|(k, v)| format!("{k} = {v}\n")).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_block_is_settings_or_named_errors(body in block_body(), experimental in any::<bool>(), k8s in 0..3_u8) {
            let block = if experimental { exp(&body) } else { top(&body) };
            let prefix = ["", "k8s_source = \"disabled\"\n", "disable_container_selectors = true\n"][usize::from(k8s)];
            match parse(&format!("{prefix}{block}")) {
                Ok(c) => prop_assert!(c.sigstore.is_some()),
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert!(e.notes().iter().all(|n| !n.is_empty()));
                }
            }
        }
    }
}
