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

/// The kubelet's answer is outside input (a kubelet that lies, a proxy in between): no body makes
/// the parser, the lazy pod decoder or the container match panic.
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::workload::ContainerId;

    /// Any JSON value, a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z0-9:/._-]{0,20}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{0,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Pod-shaped items whose fields may hold any value.
    fn pod_item() -> impl Strategy<Value = Value> {
        (json_value(), json_value(), json_value(), json_value(), "[0-9a-f]{64}").prop_map(
            |(labels, spec, status, cid, id)| {
                json!({
                    "metadata": {"uid": "u-1", "name": "p", "namespace": "n", "labels": labels},
                    "spec": spec,
                    "status": {
                        "containerStatuses": [{"name": "c", "containerID": format!("containerd://{id}"), "image": cid}],
                        "initContainerStatuses": status,
                    },
                })
            },
        )
    }

    fn exercise(list: &PodList) {
        let id = ContainerId::new("a".repeat(64)).unwrap();
        for pod in list.all().flatten() {
            let _ = pod.find_container(&id);
            let _ = pod.facts();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_bytes_are_a_list_or_an_error(body in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(list) = PodList::parse(&body, 1, Instant::now()) {
                exercise(&list);
            }
        }

        #[test]
        fn any_json_is_a_list_or_an_error(items in prop::collection::vec(json_value(), 0..5), top in json_value()) {
            let body = serde_json::to_vec(&json!({"items": items})).unwrap();
            if let Ok(list) = PodList::parse(&body, 1, Instant::now()) {
                exercise(&list);
            }
            let _ = PodList::parse(&serde_json::to_vec(&top).unwrap(), 1, Instant::now());
        }

        #[test]
        fn pod_shaped_items_decode_or_fail_cleanly(items in prop::collection::vec(pod_item(), 1..4)) {
            let body = serde_json::to_vec(&json!({"items": items})).unwrap();
            let list = PodList::parse(&body, 1, Instant::now()).unwrap();
            exercise(&list);
        }

        #[test]
        fn deep_nesting_is_an_error_not_a_stack_overflow(depth in 100_usize..5000) {
            let body = format!("{{\"items\": [{}{}]}}", "[".repeat(depth), "]".repeat(depth));
            let _ = PodList::parse(body.as_bytes(), 1, Instant::now());
        }
    }
}
