use super::*;

fn file(name: &str, text: &str) -> PolicyFile {
    PolicyFile { name: name.into(), text: text.into() }
}

#[test]
fn prefixes_match_by_segment() {
    let mut t = PrefixTable::default();
    t.add_file(&file(
        "p.json",
        r#"[{"prefix": "/payments", "owners": ["payments"]}, {"prefix": "/payments/batch", "owners": ["batch"]}]"#,
    ))
    .unwrap();
    assert_eq!(t.longest("/payments").map(|(p, _)| p), Some("/payments"));
    assert_eq!(t.longest("/payments/ledger").map(|(p, _)| p), Some("/payments"));
    assert_eq!(t.longest("/payments/batch/x").map(|(p, _)| p), Some("/payments/batch"));
    assert_eq!(t.longest("/paymentsx/ledger"), None);
    assert_eq!(t.longest("/billing"), None);
    let err = t.add_file(&file("q.json", "[{\"prefix\": \"payments\", \"owners\": [\"x\"]}]")).unwrap_err().to_string();
    assert!(err.starts_with("q.json:1: policy `payments`: a prefix is a SPIFFE ID path"), "{err}");
}

#[test]
fn links_parse() {
    let l = links(&file("links.json", "[\n {\"template_id\": \"quarantine\", \"link_id\": \"q-web\", \"args\": {\"?principal\": \"Attest::Namespace::\\\"web\\\"\"}}\n]")).unwrap();
    assert_eq!(l[0].link_id, "q-web");
    assert_eq!(l[0].at.line, 2);
    assert!(
        links(&file("links.json", r#"[{"template_id": "t", "link_id": "x", "args": {"?who": "A::\"b\""}}]"#)).is_err()
    );
}
