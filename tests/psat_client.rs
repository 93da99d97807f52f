//! The real `k8s_psat` API-server client (`KubeClient`, on `kube`) against a loopback HTTPS
//! fake API server that answers as a real kube-apiserver does (spec §1.6): real ES256 tokens,
//! TokenReview's audience, expiry and bound-pod checks with its success cache, 403 for an
//! anonymous caller, 404 `Status` objects; SPIRE's messages; one client build per kubeconfig
//! version; time limits.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/apiserver.rs"]
mod apiserver;

use std::path::PathBuf;
use std::time::Duration;

use apiserver::{AgentToken, FakeApiServer, SERVER_AUDIENCE};
use attestor::psat::client::ApiClient;
use attestor::psat::kube_client::{KubeClient, KubeClients};

const CALLER: &str = "server-token-1";
const POD_UID: &str = "7f1c5e2a-0000-4000-8000-000000000001";

struct Setup {
    server: FakeApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    client: KubeClient,
}

async fn setup() -> Setup {
    let server = FakeApiServer::start(CALLER).await;
    server.put_pod("spire", "spire-agent-x1", POD_UID, "node-1");
    server.put_node("node-1", "node-uid-1");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig(&ca, CALLER)).unwrap();
    let client = KubeClient::new(kubeconfig.to_str().unwrap(), Duration::from_secs(5));
    Setup { server, dir, kubeconfig, client }
}

fn audiences(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_valid_token_is_reviewed_as_a_real_api_server_reviews_it() {
    let s = setup().await;
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let status = s.client.validate_token(&token, &audiences(&["spire-server"])).await.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(status.audiences, Some(audiences(&["spire-server"])));
    let user = status.user.unwrap();
    assert_eq!(user.username.as_deref(), Some("system:serviceaccount:spire:spire-agent"));
    let extra = user.extra.unwrap();
    assert_eq!(extra["authentication.kubernetes.io/pod-name"], ["spire-agent-x1"]);
    assert_eq!(extra["authentication.kubernetes.io/pod-uid"], [POD_UID]);
    // What was sent: the token, the audiences, the caller's bearer token.
    let log = s.server.log();
    assert_eq!((log[0].method.as_str(), log[0].path.as_str()), ("POST", "/apis/authentication.k8s.io/v1/tokenreviews"));
    assert_eq!(log[0].authorization.as_deref(), Some("Bearer server-token-1"));
    let sent: serde_json::Value = serde_json::from_slice(&log[0].body).unwrap();
    assert_eq!(sent["spec"], serde_json::json!({"token": token, "audiences": ["spire-server"]}));
}

#[tokio::test]
async fn a_wrong_audience_is_the_api_servers_error_text() {
    let s = setup().await;
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let err = s.client.validate_token(&token, &audiences(&["other"])).await.unwrap_err();
    assert_eq!(
        err.message,
        r#"token review API response contains an error: [invalid bearer token, token audiences ["spire-server"] is invalid for the target audiences ["other"]]"#
    );
}

#[tokio::test]
async fn no_audience_asked_means_the_servers_own() {
    let s = setup().await;
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let err = s.client.validate_token(&token, &[]).await.unwrap_err();
    assert_eq!(
        err.message,
        format!(
            r#"token review API response contains an error: [invalid bearer token, token audiences ["spire-server"] is invalid for the target audiences ["{SERVER_AUDIENCE}"]]"#
        )
    );
    let sent: serde_json::Value = serde_json::from_slice(&s.server.log()[0].body).unwrap();
    assert!(sent["spec"].get("audiences").is_none(), "{sent}");
    let mut own = AgentToken::new("spire-agent-x1", POD_UID);
    own.audiences = audiences(&[SERVER_AUDIENCE]);
    let status = s.client.validate_token(&s.server.issue(&own), &[]).await.unwrap();
    assert_eq!(status.audiences, Some(audiences(&[SERVER_AUDIENCE])));
}

#[tokio::test]
async fn expired_and_forged_tokens_are_errors() {
    let s = setup().await;
    let mut expired = AgentToken::new("spire-agent-x1", POD_UID);
    expired.expires_in = -60;
    let err = s.client.validate_token(&s.server.issue(&expired), &audiences(&["spire-server"])).await.unwrap_err();
    assert_eq!(
        err.message,
        "token review API response contains an error: [invalid bearer token, service account token has expired]"
    );
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let forged = format!("{}{}", &token[..token.len() - 4], if token.ends_with("AAAA") { "BBBB" } else { "AAAA" });
    let err = s.client.validate_token(&forged, &audiences(&["spire-server"])).await.unwrap_err();
    assert!(err.message.starts_with("token review API response contains an error: [invalid bearer token"), "{err}");
}

#[tokio::test]
async fn a_replaced_pod_passes_while_the_success_is_cached_then_fails() {
    let s = setup().await;
    s.server.set(|b| b.success_cache = Duration::from_millis(600));
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let asked = audiences(&["spire-server"]);
    s.client.validate_token(&token, &asked).await.unwrap();
    s.server.put_pod("spire", "spire-agent-x1", "new-uid", "node-1");
    // Within the window the stale success comes back, naming the old pod UID: only the pod
    // GET (and the attestation's UID check) tells them apart.
    let stale = s.client.validate_token(&token, &asked).await.unwrap();
    assert_eq!(stale.user.unwrap().extra.unwrap()["authentication.kubernetes.io/pod-uid"], [POD_UID]);
    let pod = s.client.get_pod("spire", "spire-agent-x1").await.unwrap();
    assert_eq!(pod.metadata.uid.as_deref(), Some("new-uid"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let err = s.client.validate_token(&token, &asked).await.unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "token review API response contains an error: [invalid bearer token, Pod UID (new-uid) does not match claim ({POD_UID})]"
        )
    );
}

#[tokio::test]
async fn the_review_grants_the_audiences_asked_that_the_token_carries() {
    // (An authenticated review granting none of them, which an audience-unaware authenticator
    // answers and SPIRE's helper refuses, is covered by the unit tests of `check_review`.)
    let s = setup().await;
    let mut token = AgentToken::new("spire-agent-x1", POD_UID);
    token.audiences = audiences(&["spire-server", "aud2"]);
    let status = s.client.validate_token(&s.server.issue(&token), &audiences(&["aud2", "aud9"])).await.unwrap();
    assert_eq!(status.audiences, Some(audiences(&["aud2"])));
}

#[tokio::test]
async fn pods_and_nodes_are_read_and_missing_ones_are_spires_errors() {
    let s = setup().await;
    let pod = s.client.get_pod("spire", "spire-agent-x1").await.unwrap();
    assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("node-1"));
    assert_eq!(pod.status.unwrap().host_ip.as_deref(), Some("10.0.0.7"));
    let node = s.client.get_node("node-1").await.unwrap();
    assert_eq!(node.metadata.uid.as_deref(), Some("node-uid-1"));
    let err = s.client.get_pod("spire", "gone").await.unwrap_err();
    assert_eq!(err.message, r#"unable to query pods API: pods "gone" not found (404 NotFound)"#);
    let err = s.client.get_node("gone").await.unwrap_err();
    assert_eq!(err.message, r#"unable to query nodes API: nodes "gone" not found (404 NotFound)"#);
    let paths: Vec<String> = s.server.log().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /api/v1/namespaces/spire/pods/spire-agent-x1",
            "GET /api/v1/nodes/node-1",
            "GET /api/v1/namespaces/spire/pods/gone",
            "GET /api/v1/nodes/gone"
        ]
    );
}

#[tokio::test]
async fn an_anonymous_or_unknown_caller_is_refused_with_the_status() {
    let s = setup().await;
    let ca = s.dir.path().join("ca.pem");
    // No credentials: 403, as a real API server answers the anonymous user.
    let anonymous = s.server.kubeconfig(&ca, "x").replace("  user:\n    token: x\n", "  user: {}\n");
    std::fs::write(&s.kubeconfig, anonymous).unwrap();
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let err = s.client.validate_token(&token, &audiences(&["spire-server"])).await.unwrap_err();
    assert_eq!(
        err.message,
        r#"unable to query token review API: tokenreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope (403 Forbidden)"#
    );
    assert_eq!(s.server.log().last().unwrap().authorization, None);
    // A token the server does not know: 401.
    std::fs::write(&s.kubeconfig, s.server.kubeconfig(&ca, "stolen")).unwrap();
    let err = s.client.get_node("node-1").await.unwrap_err();
    assert_eq!(err.message, "unable to query nodes API: Unauthorized (401 Unauthorized)");
    // A known caller without RBAC for pods.
    std::fs::write(&s.kubeconfig, s.server.kubeconfig(&ca, CALLER)).unwrap();
    s.server.set(|b| {
        b.forbidden.insert("pods".into());
    });
    let err = s.client.get_pod("spire", "spire-agent-x1").await.unwrap_err();
    assert_eq!(
        err.message,
        r#"unable to query pods API: pods "spire-agent-x1" is forbidden: User "system:serviceaccount:spire:spire-server" cannot get resource "pods" in API group "" in the namespace "spire" (403 Forbidden)"#
    );
}

#[tokio::test]
async fn the_client_is_built_once_and_again_only_when_the_kubeconfig_changes() {
    let s = setup().await;
    for _ in 0..5 {
        s.client.get_node("node-1").await.unwrap();
    }
    assert_eq!(s.client.builds(), 1);
    // The server's credentials rotate: the new kubeconfig is used at the next call.
    s.server.set(|b| {
        b.callers.insert("server-token-2".into(), "system:serviceaccount:spire:spire-server".into());
    });
    let ca = s.dir.path().join("ca.pem");
    std::fs::write(&s.kubeconfig, s.server.kubeconfig(&ca, "server-token-2")).unwrap();
    s.client.get_node("node-1").await.unwrap();
    s.client.get_node("node-1").await.unwrap();
    assert_eq!(s.client.builds(), 2);
    let auth: Vec<Option<String>> = s.server.log().iter().map(|r| r.authorization.clone()).collect();
    assert_eq!(auth.last().unwrap().as_deref(), Some("Bearer server-token-2"));
    assert_eq!(auth[4].as_deref(), Some("Bearer server-token-1"));
    // A change to the CA file it names rebuilds too.
    std::fs::write(&ca, format!("{}\n", s.server.ca_pem())).unwrap();
    s.client.get_node("node-1").await.unwrap();
    assert_eq!(s.client.builds(), 3);
    // Broken, then fixed.
    std::fs::write(&s.kubeconfig, "not: [a kubeconfig").unwrap();
    let err = s.client.get_node("node-1").await.unwrap_err();
    assert!(err.message.starts_with("unable to get clientset: unable to create client config: "), "{err}");
    std::fs::write(&s.kubeconfig, s.server.kubeconfig(&ca, CALLER)).unwrap();
    s.client.get_node("node-1").await.unwrap();
    assert_eq!(s.client.builds(), 5);
}

#[tokio::test]
async fn clusters_share_nothing_and_keep_their_clients_across_reconfiguration() {
    let s = setup().await;
    let path = s.kubeconfig.to_str().unwrap();
    let clients = KubeClients::new([("a", path), ("b", path)], Duration::from_secs(5));
    clients.get("a").unwrap().get_node("node-1").await.unwrap();
    clients.get("b").unwrap().get_node("node-1").await.unwrap();
    let next = clients.reconfigured([("a", path)], Duration::from_secs(5));
    next.get("a").unwrap().get_node("node-1").await.unwrap();
    assert_eq!(next.get("a").unwrap().builds(), 1);
    assert!(next.get("b").is_none());
}

#[tokio::test]
async fn every_call_is_bounded_by_the_time_limit() {
    let s = setup().await;
    let client = KubeClient::new(s.kubeconfig.to_str().unwrap(), Duration::from_millis(300));
    s.server.set(|b| b.delay = Duration::from_secs(5));
    let started = std::time::Instant::now();
    let token = s.server.issue(&AgentToken::new("spire-agent-x1", POD_UID));
    let err = client.validate_token(&token, &audiences(&["spire-server"])).await.unwrap_err();
    assert!(err.message.starts_with("unable to query token review API: "), "{err}");
    let err = client.get_pod("spire", "spire-agent-x1").await.unwrap_err();
    assert!(err.message.starts_with("unable to query pods API: "), "{err}");
    let err = client.get_node("node-1").await.unwrap_err();
    assert!(err.message.starts_with("unable to query nodes API: "), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_unreachable_server_is_spires_query_error() {
    let s = setup().await;
    let ca = s.dir.path().join("ca.pem");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = s.server.kubeconfig(&ca, CALLER).replace(&s.server.url(), &format!("https://127.0.0.1:{port}"));
    std::fs::write(&s.kubeconfig, config).unwrap();
    let err = s.client.get_node("node-1").await.unwrap_err();
    assert!(err.message.starts_with("unable to query nodes API: "), "{err}");
}
