use super::*;

#[test]
fn container_id_urls() {
    assert_eq!(url_host("containerd://abc"), Ok(Some("abc")));
    assert_eq!(url_host("cri-o://abc"), Ok(Some("abc")));
    assert_eq!(url_host("docker://abc/extra"), Ok(Some("abc")));
    assert_eq!(url_host("abc"), Ok(None), "no scheme: empty host");
    assert_eq!(url_host("1bad://abc"), Err(()));
    assert_eq!(url_host("docker://a b"), Err(()));
}

#[test]
fn nulls_and_absences_read_as_empty() {
    let pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"p","labels":null,"ownerReferences":null},"spec":null,"status":{"containerStatuses":null}}"#,
        )
        .unwrap();
    assert_eq!(pod.metadata.name, "p");
    assert!(pod.metadata.labels.is_empty() && pod.status.container_statuses.is_empty());
    assert!(serde_json::from_str::<Pod>(r#"{"metadata":{"labels":["not","a","map"]}}"#).is_err());
}
