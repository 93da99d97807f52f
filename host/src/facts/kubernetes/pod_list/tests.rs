use super::*;

fn parse(s: &str) -> Result<PodList, KubeletError> {
    PodList::parse(s.as_bytes(), 1, Instant::now())
}

#[test]
fn shape_errors_use_spire_wording() {
    assert!(parse("{").unwrap_err().to_string().starts_with("unable to parse kubelet response: "));
    assert_eq!(parse("[]").unwrap_err().to_string(), "invalid kubelet response: expected an object");
    assert_eq!(parse("{}").unwrap_err().to_string(), "invalid kubelet response: expected an items array");
    assert_eq!(parse(r#"{"items": {}}"#).unwrap_err().to_string(), "invalid kubelet response: expected an items array");
    assert!(parse(r#"{"items": null}"#).unwrap().is_empty());
    assert!(parse(r#"{"kind": "List", "items": []}"#).unwrap().is_empty(), "kind is not checked");
}

#[test]
fn indexes_by_uid_and_decodes_lazily() {
    let l = parse(
        r#"{"items": [
            {"metadata": {"uid": "a", "name": "first"}},
            {"metadata": {"name": "no-uid"}},
            {"metadata": "not an object"},
            {"metadata": {"uid": "a", "name": "second"}},
            {"metadata": {"uid": "bad", "labels": [1]}}
        ]}"#,
    )
    .unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l.pod("a").unwrap().unwrap().metadata.name, "second", "the last item with a UID wins");
    let err = l.pod("bad").unwrap().unwrap_err();
    assert!(err.to_string().starts_with("unable to decode pod info from kubelet response: "), "{err}");
    assert!(l.pod("missing").is_none());
}
