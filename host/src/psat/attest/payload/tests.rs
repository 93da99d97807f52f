use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> Result<AttestationData, PayloadError> {
    AttestationData::parse(text.as_bytes())
}

#[test]
fn spire_agent_payload() {
    let d = parse(r#"{"cluster":"FOO","token":"a.b.c"}"#).unwrap();
    assert_eq!(d, AttestationData { cluster: "FOO".into(), token: "a.b.c".into() });
}

#[test]
fn other_fields_and_nulls_leave_defaults() {
    assert_eq!(parse(r#"{"x": {"y": [1]}}"#).unwrap(), AttestationData::default());
    assert_eq!(parse(r#"{"cluster": null, "token": null}"#).unwrap(), AttestationData::default());
    assert_eq!(parse("null").unwrap(), AttestationData::default());
}

#[test]
fn field_names_fold_as_go_folds_them() {
    let d = parse(r#"{"CLUSTER": "c", "ToKeN": "t"}"#).unwrap();
    assert_eq!((d.cluster.as_str(), d.token.as_str()), ("c", "t"));
    // U+017F (long s) folds to `s`, U+212A (Kelvin sign) to `k`.
    let d = parse("{\"clu\u{17f}ter\": \"c\", \"to\u{212a}en\": \"t\"}").unwrap();
    assert_eq!((d.cluster.as_str(), d.token.as_str()), ("c", "t"));
    // An exact match wins over a folded one.
    let d = parse(r#"{"Cluster": "folded", "cluster": "exact"}"#).unwrap();
    assert_eq!(d.cluster, "exact");
    assert_eq!(parse(r#"{"clusters": "c"}"#).unwrap().cluster, "");
}

#[test]
fn duplicate_fields_last_wins() {
    assert_eq!(parse(r#"{"cluster": "a", "cluster": "b"}"#).unwrap().cluster, "b");
}

#[test]
fn wrong_types_are_named_as_go_names_them() {
    for (text, message) in [
        (
            r#"{"cluster": 1}"#,
            "json: cannot unmarshal number into Go struct field PSATAttestationData.cluster of type string",
        ),
        (
            r#"{"token": true}"#,
            "json: cannot unmarshal bool into Go struct field PSATAttestationData.token of type string",
        ),
        (
            r#"{"token": {}}"#,
            "json: cannot unmarshal object into Go struct field PSATAttestationData.token of type string",
        ),
        ("[]", "json: cannot unmarshal array into Go value of type k8s.PSATAttestationData"),
        ("\"s\"", "json: cannot unmarshal string into Go value of type k8s.PSATAttestationData"),
        ("7", "json: cannot unmarshal number into Go value of type k8s.PSATAttestationData"),
    ] {
        assert_eq!(parse(text).unwrap_err().to_string(), message, "{text}");
    }
}

#[test]
fn not_json() {
    for text in ["", "{", "{} {}", "{\"cluster\": \"\\ud800\"}", "nul"] {
        assert!(matches!(parse(text), Err(PayloadError::Json(_))), "{text}");
    }
    let deep = "[".repeat(10_000);
    assert!(matches!(parse(&deep), Err(PayloadError::Json(_))), "recursion is limited, not a crash");
}

#[test]
fn size_is_capped() {
    let big = format!(r#"{{"cluster": "c", "token": "{}"}}"#, "t".repeat(MAX_PAYLOAD_BYTES));
    assert_eq!(parse(&big).unwrap_err(), PayloadError::TooLarge(big.len()));
    let fits = format!(r#"{{"cluster":"c","token":"{}"}}"#, "t".repeat(MAX_PAYLOAD_BYTES - 30));
    assert!(fits.len() <= MAX_PAYLOAD_BYTES);
    assert!(parse(&fits).is_ok());
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Err(e) = AttestationData::parse(&bytes) {
            prop_assert!(e.to_string().len() < 512, "bounded: {e}");
        }
    }

    #[test]
    fn any_json_object_never_panics(key in "\\PC{0,12}", value in "\\PC{0,24}", number in any::<i64>()) {
        let text = serde_json::json!({ key.clone(): value, "token": number }).to_string();
        let _ = AttestationData::parse(text.as_bytes());
    }

    #[test]
    fn strings_round_trip(cluster in "\\PC{0,40}", token in "\\PC{0,80}") {
        let text = serde_json::json!({ "cluster": cluster, "token": token }).to_string();
        let d = AttestationData::parse(text.as_bytes()).unwrap();
        prop_assert_eq!((d.cluster, d.token), (cluster, token));
    }
}
