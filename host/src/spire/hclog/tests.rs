use super::*;

#[test]
fn lines_are_hclog_json() {
    let mut fields = Map::new();
    fields.insert("pid".into(), Value::from(42));
    fields.insert("@level".into(), Value::from("forged"));
    let text = line(&Level::WARN, "hello \"there\"\nsecond line", fields);
    assert!(!text.contains('\n'));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["@level"], "warn");
    assert_eq!(v["@message"], "hello \"there\"\nsecond line");
    assert_eq!(v["pid"], 42);
    let ts = v["@timestamp"].as_str().unwrap();
    // 2006-01-02T15:04:05.000000Z07:00
    assert_eq!(ts.len(), "2026-11-23T16:04:05.123456Z".len(), "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.');
}

/// An audit record's fields become the line's own fields, next to hclog's.
#[test]
fn audit_records_are_lifted_to_top_level_fields() {
    let record =
        r#"{"time":"2026-03-01T12:00:00Z","pid":7,"issued":["spiffe://example.org/x"],"workload":{"ns":"payments"}}"#;
    let text = audit_line(record).unwrap();
    assert!(!text.contains('\n'));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["@level"], "info");
    assert_eq!(v["@message"], "attestation");
    assert_eq!(v["@module"], "attestor.audit");
    assert_eq!(v["pid"], 7);
    assert_eq!(v["issued"][0], "spiffe://example.org/x");
    assert_eq!(v["workload"]["ns"], "payments");
    assert_eq!(v["@timestamp"].as_str().unwrap().len(), 27);
    assert!(audit_line("not json").is_none(), "only an object is lifted");
    assert!(serde_json::from_str::<Value>(&audit_line("{}").unwrap()).is_ok());
}
