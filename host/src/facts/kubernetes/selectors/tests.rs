use super::*;
use crate::workload::ContainerId;

/// Shaped like SPIRE's `pod_list.json` blog pod (§4.5).
pub(crate) const BLOG_POD: &str = r#"{
      "metadata": {
        "name": "blog-24ck7", "namespace": "default", "uid": "2c48913c-b29f-11e7-9350-020968147796",
        "labels": {"k8s-app": "blog", "version": "v0"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController", "name": "blog", "uid": "2c401175-b29f-11e7-9350-020968147796", "controller": true}]
      },
      "spec": {"serviceAccountName": "default", "nodeName": "k8s-node-1", "containers": [{"name": "blog"}, {"name": "ghostunnel"}]},
      "status": {
        "phase": "Running",
        "containerStatuses": [
          {"name": "blog", "image": "gcr.io/example/blog:latest", "imageID": "docker-pullable://gcr.io/example/blog@sha256:0b4e5", "containerID": "docker://9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961"},
          {"name": "ghostunnel", "image": "ghostunnel/ghostunnel:latest", "imageID": "docker-pullable://ghostunnel/ghostunnel@sha256:b2fc", "containerID": "docker://6c2f2d0a8f3ac8b0f1c4f5dfe4c3bd2a2a9e6b58f12a1e4e5f4b1d2c3e4f5a6b"}
        ]
      }
    }"#;

#[test]
fn blog_pod_selectors_match_spire() {
    let pod: Pod = serde_json::from_str(BLOG_POD).unwrap();
    let id = ContainerId::new("9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961").unwrap();
    let found = pod.find_container(&id).unwrap();
    let mut got = pod_values(&pod);
    assert_eq!(got.len(), 15, "15 pod selectors");
    got.extend(container_values(found.status));
    let mut got: Vec<String> = k8s_selectors(got).iter().map(ToString::to_string).collect();
    got.sort();
    let mut want = vec![
        "k8s:sa:default",
        "k8s:ns:default",
        "k8s:node-name:k8s-node-1",
        "k8s:pod-uid:2c48913c-b29f-11e7-9350-020968147796",
        "k8s:pod-name:blog-24ck7",
        "k8s:pod-image-count:2",
        "k8s:pod-init-image-count:0",
        "k8s:pod-image:gcr.io/example/blog:latest",
        "k8s:pod-image:docker-pullable://gcr.io/example/blog@sha256:0b4e5",
        "k8s:pod-image:ghostunnel/ghostunnel:latest",
        "k8s:pod-image:docker-pullable://ghostunnel/ghostunnel@sha256:b2fc",
        "k8s:pod-label:k8s-app:blog",
        "k8s:pod-label:version:v0",
        "k8s:pod-owner:ReplicationController:blog",
        "k8s:pod-owner-uid:ReplicationController:2c401175-b29f-11e7-9350-020968147796",
        "k8s:container-name:blog",
        "k8s:container-image:gcr.io/example/blog:latest",
        "k8s:container-image:docker-pullable://gcr.io/example/blog@sha256:0b4e5",
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn empty_values_and_dedup() {
    let pod: Pod = serde_json::from_str(
        r#"{"metadata":{"name":"p","namespace":"n","uid":"u","labels":{"empty":""},
                "ownerReferences":[{"kind":"RS","name":"a","uid":"1"},{"kind":"RS","name":"a","uid":"1"}]},
               "spec":{},
               "status":{"containerStatuses":[
                  {"name":"a","image":"img:1","imageID":"","containerID":"containerd://x"},
                  {"name":"b","image":"img:1","imageID":""}],
                 "initContainerStatuses":[{"name":"i","image":"sha256:ab","imageID":"sha256:ab"}]}}"#,
    )
    .unwrap();
    let got = pod_values(&pod);
    assert!(got.contains(&"sa:".to_owned()), "absent serviceAccountName gives an empty value");
    assert!(got.contains(&"node-name:".to_owned()));
    assert_eq!(
        got.iter().filter(|v| v.starts_with("pod-image:")).collect::<Vec<_>>(),
        ["pod-image:img:1", "pod-image:"]
    );
    assert_eq!(got.iter().filter(|v| v.starts_with("pod-init-image:")).count(), 1);
    assert!(got.contains(&"pod-image-count:2".to_owned()), "waiting containers count; no de-duplication");
    assert!(got.contains(&"pod-label:empty:".to_owned()));
    assert_eq!(got.iter().filter(|v| v.starts_with("pod-owner:")).count(), 2, "duplicate owners are kept");
    let same =
        ContainerStatus { name: "c".into(), container_id: String::new(), image: "x".into(), image_id: "x".into() };
    assert_eq!(container_values(&same), ["container-name:c", "container-image:x"]);
}

#[test]
fn init_containers_match_ephemeral_do_not() {
    let id = "a".repeat(64);
    let pod: Pod = serde_json::from_str(&format!(
        r#"{{"status":{{"initContainerStatuses":[{{"name":"init","containerID":"cri-o://{id}"}}],
                "ephemeralContainerStatuses":[{{"name":"debug","containerID":"containerd://{}"}}]}}}}"#,
        "b".repeat(64)
    ))
    .unwrap();
    let found = pod.find_container(&ContainerId::new(id).unwrap()).unwrap();
    assert!(found.init);
    assert_eq!(found.status.name, "init");
    assert!(pod.find_container(&ContainerId::new("b".repeat(64)).unwrap()).is_none());
    let upper = ContainerId::new("A".repeat(64)).unwrap();
    assert!(pod.find_container(&upper).is_none(), "case-sensitive");
}
