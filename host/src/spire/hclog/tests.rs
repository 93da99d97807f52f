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
