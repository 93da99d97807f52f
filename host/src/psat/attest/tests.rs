//! SPIRE's `k8s_psat` server test cases (spec §1.7) against an in-memory API server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::authentication::v1::{TokenReviewStatus, UserInfo};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

use super::*;
use crate::fault::Fault;
use crate::psat::client::Answer;

/// The API server's state, shared by every cluster's fake client.
#[derive(Debug, Default)]
struct ApiState {
    /// Token → the review's status.
    statuses: BTreeMap<String, TokenReviewStatus>,
    /// `(namespace, name)` → pod.
    pods: BTreeMap<(String, String), Pod>,
    /// Name → node.
    nodes: BTreeMap<String, Node>,
    /// Every question asked, in order.
    asked: Vec<String>,
}

/// One cluster's client: asserts the audiences it is sent are the cluster's.
#[derive(Debug)]
struct FakeClient {
    state: Arc<Mutex<ApiState>>,
    audiences: Vec<String>,
}

impl ApiClient for FakeClient {
    fn validate_token<'a>(&'a self, token: &'a str, audiences: &'a [String]) -> Answer<'a, TokenReviewStatus> {
        assert_eq!(audiences, self.audiences.as_slice(), "audiences sent with the TokenReview");
        let mut state = self.state.lock().unwrap();
        state.asked.push(format!("review {token}"));
        let answer = state.statuses.get(token).cloned().ok_or_else(|| {
            ClientError::new("unable to query token review API: tokenreviews.authentication.k8s.io \"\" not found")
        });
        Box::pin(async move { answer })
    }

    fn get_pod<'a>(&'a self, namespace: &'a str, name: &'a str) -> Answer<'a, Pod> {
        let mut state = self.state.lock().unwrap();
        state.asked.push(format!("pod {namespace}/{name}"));
        let answer = state
            .pods
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ClientError::new(format!("unable to query pods API: pods \"{name}\" not found")));
        Box::pin(async move { answer })
    }

    fn get_node<'a>(&'a self, name: &'a str) -> Answer<'a, Node> {
        let mut state = self.state.lock().unwrap();
        state.asked.push(format!("node {name}"));
        let answer = state
            .nodes
            .get(name)
            .cloned()
            .ok_or_else(|| ClientError::new(format!("unable to query nodes API: nodes \"{name}\" not found")));
        Box::pin(async move { answer })
    }
}

/// SPIRE's test configuration: FOO (label keys, default audience), BAR (audience `AUDIENCE`),
/// and POD (pod-UID agent IDs).
fn settings() -> PsatSettings {
    let mut foo = ClusterSettings::allowing(["NS1:SA1"]);
    foo.allowed_pod_label_keys = BTreeSet::from(["PODLABEL-A".to_owned()]);
    foo.allowed_node_label_keys = BTreeSet::from(["NODELABEL-B".to_owned()]);
    let mut bar = ClusterSettings::allowing(["NS2:SA2"]);
    bar.audience = vec!["AUDIENCE".to_owned()];
    let mut pod = ClusterSettings::allowing(["NS1:SA1"]);
    pod.use_pod_uid_for_agent_id = true;
    pod.audience = Vec::new();
    PsatSettings { clusters: BTreeMap::from([("FOO".into(), foo), ("BAR".into(), bar), ("POD".into(), pod)]) }
}

struct Harness {
    state: Arc<Mutex<ApiState>>,
    server: PsatServer,
}

impl Harness {
    fn new() -> Self {
        Self::with(settings())
    }

    fn with(settings: PsatSettings) -> Self {
        let state = Arc::new(Mutex::new(ApiState::default()));
        let shared = Arc::clone(&state);
        let clients: ClientLookup = Arc::new(move |_name, cluster| {
            Ok(Arc::new(FakeClient { state: Arc::clone(&shared), audiences: cluster.audience.clone() })
                as Arc<dyn ApiClient>)
        });
        let server = PsatServer::new(settings, TrustDomain::new("example.org").unwrap(), clients);
        Self { state, server }
    }

    fn token(&self, token: &str, status: TokenReviewStatus) {
        self.state.lock().unwrap().statuses.insert(token.to_owned(), status);
    }

    fn pod(&self, pod: Pod) {
        let key = (pod.metadata.namespace.clone().unwrap(), pod.metadata.name.clone().unwrap());
        self.state.lock().unwrap().pods.insert(key, pod);
    }

    fn node(&self, node: Node) {
        let name = node.metadata.name.clone().unwrap();
        self.state.lock().unwrap().nodes.insert(name, node);
    }

    fn asked(&self) -> Vec<String> {
        self.state.lock().unwrap().asked.clone()
    }

    fn attest(&self, payload: &[u8]) -> Result<Attested, PsatError> {
        run(attest(Some(&self.server), Some(payload)))
    }

    /// Token `TOKEN` for NS1/SA1 in pod PODNAME (UID PODUID), its pod on NODENAME, and the node.
    fn happy(&self) {
        self.token(
            "TOKEN",
            status(true, "system:serviceaccount:NS1:SA1", Some("PODNAME"), Some("PODUID"), &["spire-server"]),
        );
        self.pod(pod("NS1", "PODNAME", "PODUID", "NODENAME", "172.16.0.1"));
        self.node(node("NODENAME", "NODEUID"));
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn payload(cluster: &str, token: &str) -> Vec<u8> {
    serde_json::json!({ "cluster": cluster, "token": token }).to_string().into_bytes()
}

fn status(
    authenticated: bool,
    username: &str,
    pod: Option<&str>,
    uid: Option<&str>,
    audiences: &[&str],
) -> TokenReviewStatus {
    let mut extra = BTreeMap::new();
    if let Some(pod) = pod {
        extra.insert(POD_NAME_KEY.to_owned(), vec![pod.to_owned()]);
    }
    if let Some(uid) = uid {
        extra.insert(POD_UID_KEY.to_owned(), vec![uid.to_owned()]);
    }
    TokenReviewStatus {
        authenticated: Some(authenticated),
        audiences: Some(audiences.iter().map(|a| (*a).to_owned()).collect()),
        error: None,
        user: Some(UserInfo { username: Some(username.to_owned()), extra: Some(extra), groups: None, uid: None }),
    }
}

fn pod(namespace: &str, name: &str, uid: &str, node: &str, host_ip: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            uid: Some(uid.to_owned()),
            labels: Some(BTreeMap::from([("PODLABEL-A".into(), "A".into()), ("PODLABEL-B".into(), "B".into())])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec { node_name: Some(node.to_owned()), ..PodSpec::default() }),
        status: Some(PodStatus { host_ip: Some(host_ip.to_owned()), ..PodStatus::default() }),
    }
}

fn node(name: &str, uid: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            uid: Some(uid.to_owned()).filter(|u| !u.is_empty()),
            labels: Some(BTreeMap::from([("NODELABEL-A".into(), "A".into()), ("NODELABEL-B".into(), "B".into())])),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

#[track_caller]
fn refused(result: Result<Attested, PsatError>, code: Code, message: &str, fault: Fault) {
    let e = result.unwrap_err();
    assert_eq!((e.code(), e.to_string().as_str(), e.fault()), (code, message, fault));
}

#[test]
fn not_configured() {
    let e = run(attest(None, Some(b"{"))).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str(), e.fault()),
        (Code::FailedPrecondition, "not configured", Fault::Config)
    );
}

#[test]
fn no_clusters_refuses_every_cluster() {
    let h = Harness::with(PsatSettings::default());
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::InvalidArgument,
        r#"not configured for cluster "FOO""#,
        Fault::Config,
    );
}

#[test]
fn missing_payload() {
    let h = Harness::new();
    let e = run(attest(Some(&h.server), None)).unwrap_err();
    assert_eq!((e.code(), e.to_string().as_str()), (Code::InvalidArgument, "missing attestation payload"));
}

#[test]
fn malformed_payload() {
    let h = Harness::new();
    for bad in [&b"{"[..], b"", b"[]", b"\"x\"", br#"{"cluster": 1, "token": "t"}"#, b"{} x"] {
        let e = h.attest(bad).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(e.fault(), Fault::Workload);
        assert!(e.to_string().starts_with("failed to unmarshal data payload: "), "{e}");
    }
    let e = h.attest(br#"{"cluster": ["FOO"]}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to unmarshal data payload: json: cannot unmarshal array into Go struct field PSATAttestationData.cluster of type string"
    );
    assert!(h.asked().is_empty());
}

#[test]
fn oversized_payload() {
    let h = Harness::new();
    let big = payload("FOO", &"x".repeat(MAX_PAYLOAD_BYTES));
    let e = h.attest(&big).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.to_string().contains("over the 65536-byte limit"), "{e}");
}

#[test]
fn missing_cluster_or_token() {
    let h = Harness::new();
    let missing_cluster = "missing cluster in attestation data";
    refused(h.attest(&payload("", "TOKEN")), Code::InvalidArgument, missing_cluster, Fault::Workload);
    refused(h.attest(br#"{"token": "TOKEN"}"#), Code::InvalidArgument, missing_cluster, Fault::Workload);
    refused(h.attest(b"null"), Code::InvalidArgument, missing_cluster, Fault::Workload);
    let missing_token = "missing token in attestation data";
    refused(h.attest(&payload("FOO", "")), Code::InvalidArgument, missing_token, Fault::Workload);
    refused(h.attest(br#"{"cluster": "FOO", "token": null}"#), Code::InvalidArgument, missing_token, Fault::Workload);
}

#[test]
fn unknown_cluster() {
    let h = Harness::new();
    refused(
        h.attest(&payload("CLUSTER", "blah")),
        Code::InvalidArgument,
        r#"not configured for cluster "CLUSTER""#,
        Fault::Config,
    );
    let e = h.attest(&payload(&format!("{}\n", "c".repeat(10_000)), "t")).unwrap_err().to_string();
    assert!(e.len() < 400 && e.contains("bytes in all") && !e.contains('\n'), "outside text bounded: {e}");
}

#[test]
fn review_failure() {
    let h = Harness::new();
    refused(
        h.attest(&payload("FOO", "UNKNOWN")),
        Code::Internal,
        r#"unable to validate token with TokenReview API for cluster "FOO": unable to query token review API: tokenreviews.authentication.k8s.io "" not found"#,
        Fault::Kubelet,
    );
}

#[test]
fn client_lookup_failure_is_a_review_failure() {
    let clients: ClientLookup = Arc::new(|_, _| Err(ClientError::new("unable to get clientset: no kubeconfig")));
    let server = PsatServer::new(settings(), TrustDomain::new("example.org").unwrap(), clients);
    let e = run(attest(Some(&server), Some(&payload("FOO", "TOKEN")))).unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert_eq!(
        e.to_string(),
        r#"unable to validate token with TokenReview API for cluster "FOO": unable to get clientset: no kubeconfig"#
    );
}

#[test]
fn not_authenticated() {
    let h = Harness::new();
    h.token(
        "TOKEN",
        status(false, "system:serviceaccount:NS1:SA1", Some("PODNAME"), Some("PODUID"), &["spire-server"]),
    );
    let message = r#"token not authenticated according to TokenReview API for cluster "FOO""#;
    refused(h.attest(&payload("FOO", "TOKEN")), Code::PermissionDenied, message, Fault::Workload);
    h.token("TOKEN", TokenReviewStatus::default());
    refused(h.attest(&payload("FOO", "TOKEN")), Code::PermissionDenied, message, Fault::Workload);
}

#[test]
fn bad_username() {
    let h = Harness::new();
    let cases = [
        ("system:serviceaccount::SA1", "missing namespace"),
        ("system:serviceaccount:NS1:", "missing service account name"),
        ("", "empty username"),
        ("system:serviceaccount:NS1", "unexpected username format: system:serviceaccount:NS1"),
        ("system:serviceaccount:NS1:SA1:x", "unexpected username format: system:serviceaccount:NS1:SA1:x"),
        ("oidc:alice:NS1:SA1", "unexpected username format: oidc:alice:NS1:SA1"),
    ];
    for (username, reason) in cases {
        h.token("TOKEN", status(true, username, Some("PODNAME"), Some("PODUID"), &["spire-server"]));
        let message = format!(r#"fail to parse username from token review status for cluster "FOO": {reason}"#);
        refused(h.attest(&payload("FOO", "TOKEN")), Code::Internal, &message, Fault::Workload);
    }
}

#[test]
fn service_account_not_allowed() {
    let h = Harness::new();
    h.token(
        "TOKEN",
        status(true, "system:serviceaccount:NS1:SERVICEACCOUNTNAME", Some("P"), Some("U"), &["spire-server"]),
    );
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::PermissionDenied,
        r#""NS1:SERVICEACCOUNTNAME" is not an allowed service account for cluster "FOO""#,
        Fault::Workload,
    );
    // NS2:SA2 is BAR's, not FOO's.
    h.token("TOKEN", status(true, "system:serviceaccount:NS2:SA2", Some("P"), Some("U"), &["spire-server"]));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::PermissionDenied,
        r#""NS2:SA2" is not an allowed service account for cluster "FOO""#,
        Fault::Workload,
    );
}

#[test]
fn missing_pod_name_or_uid() {
    let h = Harness::new();
    let user = "system:serviceaccount:NS1:SA1";
    let aud = &["spire-server"];
    let name_prefix = r#"fail to get pod name from token review status for cluster "FOO": "#;
    let uid_prefix = r#"fail to get pod UID from token review status for cluster "FOO": "#;
    h.token("TOKEN", status(true, user, None, Some("PODUID"), aud));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{name_prefix}missing pod name"),
        Fault::Workload,
    );
    h.token("TOKEN", status(true, user, Some(""), Some("PODUID"), aud));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{name_prefix}pod name is empty"),
        Fault::Workload,
    );
    let mut two = status(true, user, Some("A"), Some("PODUID"), aud);
    two.user.as_mut().unwrap().extra.as_mut().unwrap().insert(POD_NAME_KEY.into(), vec!["A".into(), "B".into()]);
    h.token("TOKEN", two);
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{name_prefix}expected 1 name but got: 2"),
        Fault::Workload,
    );
    h.token("TOKEN", status(true, user, Some("PODNAME"), None, aud));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{uid_prefix}missing pod UID"),
        Fault::Workload,
    );
    h.token("TOKEN", status(true, user, Some("PODNAME"), Some(""), aud));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{uid_prefix}pod UID is empty"),
        Fault::Workload,
    );
    let mut none = status(true, user, Some("PODNAME"), Some("U"), aud);
    none.user.as_mut().unwrap().extra.as_mut().unwrap().insert(POD_UID_KEY.into(), Vec::new());
    h.token("TOKEN", none);
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        &format!("{uid_prefix}expected 1 UID but got: 0"),
        Fault::Workload,
    );
    assert!(h.asked().iter().all(|q| q.starts_with("review")), "no pod or node asked for: {:?}", h.asked());
}

#[test]
fn pod_get_fails() {
    let h = Harness::new();
    h.token("TOKEN", status(true, "system:serviceaccount:NS1:SA1", Some("PODNAME"), Some("PODUID"), &["spire-server"]));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        r#"fail to get pod from k8s API server for cluster "FOO": unable to query pods API: pods "PODNAME" not found"#,
        Fault::Kubelet,
    );
}

#[test]
fn node_get_fails() {
    let h = Harness::new();
    h.token("TOKEN", status(true, "system:serviceaccount:NS1:SA1", Some("PODNAME"), Some("PODUID"), &["spire-server"]));
    h.pod(pod("NS1", "PODNAME", "PODUID", "NODENAME", "172.16.0.1"));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        r#"fail to get node from k8s API server for cluster "FOO": unable to query nodes API: nodes "NODENAME" not found"#,
        Fault::Kubelet,
    );
}

#[test]
fn empty_node_uid() {
    let h = Harness::new();
    h.happy();
    h.node(node("NODENAME", ""));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::Internal,
        r#"node UID is empty for cluster "FOO""#,
        Fault::Kubelet,
    );
}

#[test]
fn pod_uid_mismatch() {
    let h = Harness::new();
    h.happy();
    // The pod was deleted and re-created under the same name; the API server still accepts
    // the old pod's token for a few seconds.
    h.pod(pod("NS1", "PODNAME", "NEW-PODUID", "NODENAME", "172.16.0.1"));
    refused(
        h.attest(&payload("FOO", "TOKEN")),
        Code::PermissionDenied,
        r#"pod UID mismatch for pod "PODNAME" in cluster "FOO": token bound to pod UID "PODUID""#,
        Fault::Workload,
    );
    assert_eq!(h.asked(), ["review TOKEN", "pod NS1/PODNAME"], "the node is not asked for");
}

#[test]
fn success_for_two_clusters() {
    let h = Harness::new();
    h.token(
        "T1",
        status(true, "system:serviceaccount:NS1:SA1", Some("PODNAME-1"), Some("PODUID-1"), &["spire-server"]),
    );
    h.pod(pod("NS1", "PODNAME-1", "PODUID-1", "NODENAME-1", "172.16.10.1"));
    h.node(node("NODENAME-1", "NODEUID-1"));
    let a = h.attest(&payload("FOO", "T1")).unwrap();
    assert_eq!(a.agent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/FOO/NODEUID-1");
    assert!(a.can_reattest);
    assert_eq!(
        a.selectors,
        [
            "cluster:FOO",
            "agent_ns:NS1",
            "agent_sa:SA1",
            "agent_pod_name:PODNAME-1",
            "agent_pod_uid:PODUID-1",
            "agent_node_ip:172.16.10.1",
            "agent_node_name:NODENAME-1",
            "agent_node_uid:NODEUID-1",
            "agent_node_label:NODELABEL-B:B",
            "agent_pod_label:PODLABEL-A:A",
        ]
    );
    assert_eq!(h.asked(), ["review T1", "pod NS1/PODNAME-1", "node NODENAME-1"]);

    // BAR: custom audience (the fake asserts it is sent), no label keys.
    h.token("T2", status(true, "system:serviceaccount:NS2:SA2", Some("PODNAME-2"), Some("PODUID-2"), &["AUDIENCE"]));
    h.pod(pod("NS2", "PODNAME-2", "PODUID-2", "NODENAME-2", "172.16.10.2"));
    h.node(node("NODENAME-2", "NODEUID-2"));
    let b = h.attest(&payload("BAR", "T2")).unwrap();
    assert_eq!(b.agent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/BAR/NODEUID-2");
    assert_eq!(
        b.selectors,
        [
            "cluster:BAR",
            "agent_ns:NS2",
            "agent_sa:SA2",
            "agent_pod_name:PODNAME-2",
            "agent_pod_uid:PODUID-2",
            "agent_node_ip:172.16.10.2",
            "agent_node_name:NODENAME-2",
            "agent_node_uid:NODEUID-2",
        ]
    );
}

#[test]
fn success_carries_the_facts() {
    let h = Harness::new();
    h.happy();
    let a = h.attest(&payload("FOO", "TOKEN")).unwrap();
    let label = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        a.facts,
        AgentFacts {
            cluster: "FOO".into(),
            namespace: "NS1".into(),
            service_account: "SA1".into(),
            pod_name: "PODNAME".into(),
            pod_uid: "PODUID".into(),
            node_name: "NODENAME".into(),
            node_uid: "NODEUID".into(),
            node_ip: "172.16.0.1".into(),
            node_labels: BTreeMap::from([label("NODELABEL-A", "A"), label("NODELABEL-B", "B")]),
            pod_labels: BTreeMap::from([label("PODLABEL-A", "A"), label("PODLABEL-B", "B")]),
            audiences: vec!["spire-server".into()],
            ..AgentFacts::default()
        }
    );
}

#[test]
fn success_with_pod_uid_agent_id() {
    let h = Harness::new();
    h.token(
        "TOKEN",
        status(
            true,
            "system:serviceaccount:NS1:SA1",
            Some("PODNAME"),
            Some("PODUID"),
            &["https://kubernetes.default.svc"],
        ),
    );
    h.pod(pod("NS1", "PODNAME", "PODUID", "NODENAME", "172.16.0.1"));
    h.node(node("NODENAME", "NODEUID"));
    // POD sends no audience (explicitly empty): the fake asserts it.
    let a = h.attest(&payload("POD", "TOKEN")).unwrap();
    assert_eq!(a.agent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/POD/pod/PODUID");
    assert_eq!(a.selectors[0], "cluster:POD");
    assert_eq!(a.selectors.len(), 8, "no label keys allowed");
}

#[test]
fn payload_fields_are_read_as_go_reads_them() {
    let h = Harness::new();
    h.happy();
    let a = h.attest(br#"{"Cluster": "FOO", "TOKEN": "TOKEN", "extra": [1, 2]}"#).unwrap();
    assert_eq!(a.facts.cluster, "FOO");
}

#[test]
fn a_node_uid_that_cannot_be_an_id_segment_is_refused() {
    let h = Harness::new();
    h.happy();
    h.node(node("NODENAME", "a/b"));
    let e = h.attest(&payload("FOO", "TOKEN")).unwrap_err();
    assert_eq!((e.code(), e.fault()), (Code::Internal, Fault::Kubelet));
    assert_eq!(
        e.to_string(),
        r#"invalid agent ID "spiffe://example.org/spire/agent/k8s_psat/FOO/a/b": the UID is not one valid path segment"#
    );
}

#[test]
fn future_is_send() {
    fn send<T: Send>(_: T) {}
    let h = Harness::new();
    send(attest(Some(&h.server), Some(b"{}")));
}

proptest! {
    #[test]
    fn any_payload_is_refused_with_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let h = Harness::new();
        // No token is known to the fake: nothing can succeed, and nothing may panic.
        let e = h.attest(&bytes).unwrap_err();
        prop_assert!(matches!(e.code(), Code::InvalidArgument | Code::Internal), "{e}");
    }

    #[test]
    fn any_json_payload_is_refused_with_a_typed_error(cluster in "\\PC{0,40}", token in "\\PC{0,40}") {
        let h = Harness::new();
        let e = h.attest(&payload(&cluster, &token)).unwrap_err();
        prop_assert!(matches!(e.code(), Code::InvalidArgument | Code::Internal), "{e}");
    }
}
