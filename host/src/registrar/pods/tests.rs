//! Pod objects become the facts an attestation would see; pods without processes or a node are
//! skipped with their reason.

use std::collections::BTreeMap;

use super::*;

pub(crate) fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_running_pod_gives_its_facts_and_every_container() {
    let p = pod(serde_json::json!({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                     "labels": {"app": "web"}, "annotations": {"team": "a"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d", "uid": "rs-1"}]},
        "spec": {"serviceAccountName": "web", "nodeName": "node-1", "hostNetwork": true,
                 "containers": [{"name": "app", "image": "ghcr.io/shop/web:1.2"}, {"name": "proxy", "image": "envoy:1.30"}],
                 "initContainers": [{"name": "migrate", "image": "ghcr.io/shop/migrate:1"}]},
        "status": {"phase": "Running",
                   "containerStatuses": [{"name": "app", "image": "ghcr.io/shop/web:1.2", "imageID": "ghcr.io/shop/web@sha256:ab",
                                          "ready": true, "restartCount": 0}]}
    }));
    let ns_labels = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
    let v = view(&p, &ns_labels).unwrap();
    let f = &v.facts.pod;
    assert_eq!((f.uid.0.as_str(), f.name.as_str(), f.namespace.as_str()), ("u-1", "web-1", "shop"));
    assert_eq!((f.service_account.as_str(), f.node_name.as_str(), f.host_network), ("web", "node-1", true));
    assert_eq!(f.labels["app"], "web");
    assert_eq!(f.annotations["team"], "a");
    assert_eq!(f.owners[0].kind, "ReplicaSet");
    assert_eq!(v.facts.namespace_labels, ns_labels);
    assert!(v.facts.container.is_none());
    let names: Vec<(&str, &str, &str, bool)> =
        v.containers.iter().map(|c| (c.name.as_str(), c.image.name.as_str(), c.image.id.as_str(), c.init)).collect();
    assert_eq!(
        names,
        [
            ("app", "ghcr.io/shop/web:1.2", "ghcr.io/shop/web@sha256:ab", false),
            ("proxy", "envoy:1.30", "", false),
            ("migrate", "ghcr.io/shop/migrate:1", "", true),
        ]
    );
}

#[test]
fn pods_without_processes_or_a_node_are_skipped() {
    let base = |phase: &str, node: Option<&str>, deleting: bool| {
        let mut v = serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": phase}
        });
        if let Some(node) = node {
            v["spec"]["nodeName"] = node.into();
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z".into();
        }
        pod(v)
    };
    let none = BTreeMap::new();
    assert_eq!(view(&base("Pending", None, false), &none), Err(Skipped::Unscheduled));
    assert_eq!(view(&base("Succeeded", Some("n1"), false), &none), Err(Skipped::Finished));
    assert_eq!(view(&base("Failed", Some("n1"), false), &none), Err(Skipped::Finished));
    assert_eq!(view(&base("Running", Some("n1"), true), &none), Err(Skipped::Terminating));
    assert!(view(&base("Pending", Some("n1"), false), &none).is_ok(), "scheduled, starting: its processes will ask");
    assert_eq!(view(&pod(serde_json::json!({"metadata": {"name": "p"}})), &none), Err(Skipped::Incomplete));
}
