use std::time::Duration;

use kube::core::Status;

use super::*;

#[tokio::test]
async fn empty_names_are_refused_before_any_client_is_built() {
    let client = KubeClient::new("/nonexistent/kubeconfig", Duration::from_secs(1));
    assert_eq!(client.get_pod("", "p").await.unwrap_err().message, "empty namespace");
    assert_eq!(client.get_pod("ns", "").await.unwrap_err().message, "empty pod name");
    assert_eq!(client.get_node("").await.unwrap_err().message, "empty node name");
    assert_eq!(client.builds(), 0);
}

#[tokio::test]
async fn a_client_that_cannot_be_built_is_built_again_only_when_its_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let client = KubeClient::new(path.to_str().unwrap(), Duration::from_secs(1));
    for _ in 0..3 {
        let err = client.get_node("n").await.unwrap_err();
        assert!(err.message.starts_with("unable to get clientset: unable to create client config: "), "{err}");
    }
    assert_eq!(client.builds(), 1);
    std::fs::write(&path, "apiVersion: v1\nkind: Config\n").unwrap();
    let err = client.validate_token("t", &[]).await.unwrap_err();
    assert!(err.message.starts_with("unable to get clientset: "), "{err}");
    assert_eq!(client.builds(), 2);
}

#[test]
fn an_api_servers_refusal_is_its_message_and_its_code() {
    let status =
        Status::failure("pods \"p\" is forbidden: User \"system:anonymous\" cannot get", "Forbidden").with_code(403);
    let text = describe(&kube::Error::Api(status.boxed()));
    assert_eq!(text, "pods \"p\" is forbidden: User \"system:anonymous\" cannot get (403 Forbidden)");
    let bare = describe(&kube::Error::Api(Status::failure("", "").boxed()));
    assert_eq!(bare, "no message");
    let long = describe(&kube::Error::Api(Status::failure(&"x\n".repeat(10_000), "R").with_code(500).boxed()));
    assert!(long.len() < 2 * MAX_TEXT && long.ends_with("(500 R)"), "{long}");
}
