use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::runtime::utils::Backoff;
use serde_json::json;

use super::watch::Exponential;
use super::{ApiServer, ClusterError, describe, strip_namespace, strip_node, strip_pod};
use crate::fault::Fault;

/// A pod as a real API server sends it: managed fields, volumes, environment, probes, status
/// conditions.
fn full_pod() -> serde_json::Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": "api-7d9f", "namespace": "web", "uid": "uid-1", "resourceVersion": "42",
            "generateName": "api-", "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": "api"}, "annotations": {"team": "payments"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d", "uid": "rs-1", "controller": true}],
            "finalizers": ["example.com/x"],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]
        },
        "spec": {
            "nodeName": "node-1", "serviceAccountName": "api", "hostNetwork": true,
            "volumes": [{"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
            "containers": [{"name": "app", "image": "example/api:1", "env": [{"name": "A", "value": "b"}],
                            "args": ["--serve"], "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                            "volumeMounts": [{"name": "token", "mountPath": "/var/run/token"}]}],
            "initContainers": [{"name": "init", "image": "example/init:1", "command": ["sh"]}],
            "tolerations": [{"key": "k", "operator": "Exists"}]
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.7", "podIP": "10.1.0.9",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "example/api:1", "imageID": "example/api@sha256:aa",
                                   "ready": true, "restartCount": 3, "containerID": "containerd://c1",
                                   "state": {"running": {"startedAt": "2024-01-01T00:00:01Z"}}}],
            "initContainerStatuses": [{"name": "init", "image": "example/init:1", "imageID": "example/init@sha256:bb",
                                       "ready": false, "restartCount": 0}]
        }
    })
}

#[test]
fn a_pod_keeps_what_the_registrar_reads() {
    let mut pod: Pod = serde_json::from_value(full_pod()).unwrap();
    strip_pod(&mut pod);
    assert_eq!(
        serde_json::to_value(&pod).unwrap(),
        json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {
                "name": "api-7d9f", "namespace": "web", "uid": "uid-1", "resourceVersion": "42",
                "labels": {"app": "api"}, "annotations": {"team": "payments"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d", "uid": "rs-1", "controller": true}]
            },
            "spec": {
                "nodeName": "node-1", "serviceAccountName": "api", "hostNetwork": true,
                "containers": [{"name": "app", "image": "example/api:1"}],
                "initContainers": [{"name": "init", "image": "example/init:1"}]
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [{"name": "app", "image": "example/api:1", "imageID": "example/api@sha256:aa",
                                       "ready": false, "restartCount": 0}],
                "initContainerStatuses": [{"name": "init", "image": "example/init:1", "imageID": "example/init@sha256:bb",
                                           "ready": false, "restartCount": 0}]
            }
        })
    );
}

#[test]
fn a_pod_without_spec_or_status_stays_without() {
    let mut pod = Pod::default();
    pod.metadata.name = Some("p".into());
    strip_pod(&mut pod);
    assert_eq!(
        serde_json::to_value(&pod).unwrap(),
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}})
    );
}

#[test]
fn a_namespace_keeps_its_labels_and_a_node_its_labels_and_addresses() {
    let mut namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "web", "uid": "ns-1", "resourceVersion": "7", "labels": {"team": "a"},
                     "annotations": {"x": "y"}, "managedFields": [{"manager": "kubectl"}]},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}
    }))
    .unwrap();
    strip_namespace(&mut namespace);
    assert_eq!(
        serde_json::to_value(&namespace).unwrap(),
        json!({"kind": "Namespace", "apiVersion": "v1",
               "metadata": {"name": "web", "uid": "ns-1", "resourceVersion": "7", "labels": {"team": "a"}}})
    );
    let mut node: Node = serde_json::from_value(json!({
        "metadata": {"name": "node-1", "uid": "n-1", "resourceVersion": "8", "labels": {"pool": "general"},
                     "annotations": {"x": "y"}},
        "spec": {"podCIDR": "10.1.0.0/24", "providerID": "gce://p/z/node-1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
                   "images": [{"names": ["example/api:1"], "sizeBytes": 1000}],
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    strip_node(&mut node);
    assert_eq!(
        serde_json::to_value(&node).unwrap(),
        json!({"kind": "Node", "apiVersion": "v1",
               "metadata": {"name": "node-1", "uid": "n-1", "resourceVersion": "8", "labels": {"pool": "general"}},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.7"}]}})
    );
}

#[test]
fn delays_double_up_to_the_limit_shortened_by_at_most_a_quarter_and_reset() {
    let mut backoff = Exponential::new(Duration::from_millis(100), Duration::from_millis(800));
    let full = [100, 200, 400, 800, 800, 800];
    for want in full {
        let got = backoff.next().unwrap();
        let want = Duration::from_millis(want);
        assert!(got <= want && got >= want * 3 / 4, "{got:?} for {want:?}");
    }
    backoff.reset();
    let got = backoff.next().unwrap();
    assert!(got <= Duration::from_millis(100) && got >= Duration::from_millis(75), "{got:?} after reset");
}

#[tokio::test]
async fn a_kubeconfig_that_does_not_exist_is_the_operators_and_named() {
    let path = Path::new("/nonexistent/registrar/kubeconfig");
    let e = ApiServer::connect(Some(path)).await.unwrap_err();
    assert_eq!(e.fault(), Fault::Config);
    assert_eq!(e.to_string(), "kubeconfig /nonexistent/registrar/kubeconfig: No such file or directory (os error 2)");
}

#[tokio::test]
async fn a_kubeconfig_that_is_not_yaml_is_the_operators() {
    let dir = std::env::temp_dir().join(format!("registrar-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, "clusters: [unclosed\n").unwrap();
    let e = ApiServer::connect(Some(&path)).await.unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.fault(), Fault::Config);
    let text = e.to_string();
    assert!(text.starts_with(&format!("kubeconfig {}: failed to parse kubeconfig YAML", path.display())), "{text}");
}

fn list_error(code: u16) -> ClusterError {
    ClusterError::List { server: "the API server at https://10.0.0.1".into(), resource: "pods", code, why: "x".into() }
}

#[test]
fn a_refused_caller_is_the_operators_other_answers_the_api_servers() {
    assert_eq!(list_error(401).fault(), Fault::Config);
    assert_eq!(list_error(403).fault(), Fault::Config);
    assert_eq!(list_error(500).fault(), Fault::Kubelet);
    assert_eq!(list_error(0).fault(), Fault::Kubelet);
    assert_eq!(ClusterError::InCluster { why: "no token".into() }.to_string(), "in-cluster service account: no token");
    assert_eq!(list_error(500).to_string(), "listing pods from the API server at https://10.0.0.1: x");
}

#[test]
fn refusals_read_as_the_status_then_code_and_reason_bounded() {
    let status = |message: &str, reason: &str, code: u16| {
        kube::Error::Api(kube::core::Status::failure(message, reason).with_code(code).boxed())
    };
    assert_eq!(
        describe(&status("pods is forbidden: User \"x\" cannot list", "Forbidden", 403)),
        "pods is forbidden: User \"x\" cannot list (403 Forbidden)"
    );
    assert_eq!(describe(&status("", "", 500)), "no message (500)");
    assert_eq!(describe(&status("a\nb", "", 0)), "a\\nb");
    let long = "x".repeat(5000);
    assert_eq!(describe(&status(&long, "", 0)), format!("{}… (5000 bytes in all)", "x".repeat(1024)));
}
