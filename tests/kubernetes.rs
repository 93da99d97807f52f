//! The Kubernetes source against a fake kubelet on loopback with real TLS: verification modes,
//! credentials, kubelet failures, polling, caching, concurrency, and real processes in real
//! Kubernetes-shaped cgroups.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attestor::config::Config;
use attestor::facts::cgroup::Location;
use attestor::facts::kubernetes::{Code, K8sError, KubernetesSource, SourceMode};
use attestor::pipeline::{AttestError, Attestor};
use attestor::sandbox::{Runtime, RuntimeSettings};
use attestor::workload::{ContainerId, Pid, PodUid};
use common::kubelet::{Behaviour, Ca, FakeKubelet, Transport, pod, pod_list, self_signed};
use common::{STATUS_1000, fake_proc};

const UID: &str = "2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab";
const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn cid(n: usize) -> String {
    format!("{n:064x}")
}

fn uid(n: usize) -> String {
    format!("{n:08x}-1b1a-4b1e-9c1e-1234567890ab")
}

/// Files the tests write (CA, token, keys) live here.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn source(config: &str, dir: &Path) -> Result<KubernetesSource, String> {
    let c = Config::parse_with_env(config, dir, &|_| None).map_err(|e| e.to_string())?;
    KubernetesSource::new(&c.kubernetes, SourceMode::Enabled)
        .map_err(|e| e.to_string())
        .map(|s| s.expect("source enabled"))
}

fn here(pod_uid: Option<&str>, id: &str) -> Location {
    Location { pod_uid: pod_uid.map(|u| PodUid(u.to_owned())), container_id: Some(ContainerId::new(id).unwrap()) }
}

async fn selectors(s: &KubernetesSource, loc: &Location) -> Result<Vec<String>, K8sError> {
    let (_, sels) = s.facts(loc).await?.expect("a container location");
    let mut v: Vec<String> = sels.iter().map(ToString::to_string).collect();
    v.sort();
    Ok(v)
}

fn one_pod() -> Vec<u8> {
    pod_list(&[pod(UID, "payments", "ledger-7d9c8b6f5-x2k9p", "app", CID), pod(&uid(9), "other", "x", "c", &cid(9))])
}

/// Secure-port config against `k` with extra lines.
fn secure(k: &FakeKubelet, extra: &str) -> String {
    format!("kubelet_secure_port = {}\nmax_poll_attempts = 1\n{extra}", k.port())
}

#[tokio::test]
async fn ca_verification_with_the_node_name() {
    let ca = Ca::new("cluster-ca");
    let d = Dir::new();
    let ca_path = d.write("ca.pem", &ca.pem());
    let token = d.write("token", "tok-1\n");
    let k = FakeKubelet::start(
        Transport::Tls { server: ca.issue(&["localhost"], "localhost", None), client_ca: None },
        Behaviour { body: one_pod(), token: Some("tok-1".into()), ..Behaviour::default() },
    )
    .await;
    let cfg = secure(
        &k,
        &format!(
            "node_name = \"localhost\"\nkubelet_ca_path = \"{}\"\ntoken_path = \"{}\"\n",
            ca_path.display(),
            token.display()
        ),
    );
    let s = source(&cfg, d.path()).unwrap();
    let got = selectors(&s, &here(Some(UID), CID)).await.unwrap();
    assert!(got.contains(&"k8s:ns:payments".to_owned()), "{got:?}");
    assert!(got.contains(&"k8s:container-name:app".to_owned()), "{got:?}");
    assert_eq!(k.auth.lock().unwrap()[0].as_deref(), Some("Bearer tok-1"), "the token file is trimmed");
}

async fn fails_with(cfg: &str, d: &Dir, want: &str) {
    let s = source(cfg, d.path()).unwrap();
    let err = selectors(&s, &here(Some(UID), CID)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.to_string().contains(want), "got {err}, want {want:?}");
}

#[tokio::test]
async fn wrong_ca_or_wrong_name_fails() {
    let ca = Ca::new("cluster-ca");
    let other = Ca::new("someone-else");
    let d = Dir::new();
    let good_ca = d.write("ca.pem", &ca.pem());
    let bad_ca = d.write("other.pem", &other.pem());
    d.write("token", "t");
    let k = FakeKubelet::start(
        Transport::Tls { server: ca.issue(&["node-1"], "node-1", None), client_ca: None },
        Behaviour { body: one_pod(), ..Behaviour::default() },
    )
    .await;
    let token = d.path().join("token");
    // Wrong CA.
    let cfg = secure(
        &k,
        &format!(
            "node_name = \"localhost\"\nkubelet_ca_path = \"{}\"\ntoken_path = \"{}\"\n",
            bad_ca.display(),
            token.display()
        ),
    );
    fails_with(&cfg, &d, "UnknownIssuer").await;
    // Right CA, but the certificate is for node-1 and we dial "localhost".
    let cfg = secure(
        &k,
        &format!(
            "node_name = \"localhost\"\nkubelet_ca_path = \"{}\"\ntoken_path = \"{}\"\n",
            good_ca.display(),
            token.display()
        ),
    );
    fails_with(&cfg, &d, "certificate not valid for name \"localhost\"").await;
    assert_eq!(k.requests(), 0, "no request reached the server");
}

#[tokio::test]
async fn chain_only_verification_without_a_node_name() {
    let ca = Ca::new("cluster-ca");
    let other = Ca::new("someone-else");
    let d = Dir::new();
    d.write("token", "t");
    let k = FakeKubelet::start(
        Transport::Tls { server: ca.issue(&["node-1"], "node-1", None), client_ca: None },
        Behaviour { body: one_pod(), ..Behaviour::default() },
    )
    .await;
    // No node name: 127.0.0.1 is dialled, the chain is verified, the name is not.
    let good = d.write("ca.pem", &ca.pem());
    let cfg = secure(
        &k,
        &format!("kubelet_ca_path = \"{}\"\ntoken_path = \"{}/token\"\n", good.display(), d.path().display()),
    );
    assert!(selectors(&source(&cfg, d.path()).unwrap(), &here(Some(UID), CID)).await.is_ok());
    // The chain still has to verify.
    let bad = d.write("other.pem", &other.pem());
    let cfg = secure(
        &k,
        &format!("kubelet_ca_path = \"{}\"\ntoken_path = \"{}/token\"\n", bad.display(), d.path().display()),
    );
    fails_with(&cfg, &d, "UnknownIssuer").await;
}

#[tokio::test]
async fn skip_verification_accepts_a_self_signed_kubelet() {
    let d = Dir::new();
    d.write("token", "t");
    let k = FakeKubelet::start(
        Transport::Tls { server: self_signed(&["node-1"]), client_ca: None },
        Behaviour { body: one_pod(), ..Behaviour::default() },
    )
    .await;
    let cfg = secure(
        &k,
        &format!(
            "skip_kubelet_verification = true\nkubelet_ca_path = \"/nonexistent\"\ntoken_path = \"{}/token\"\n",
            d.path().display()
        ),
    );
    assert!(
        selectors(&source(&cfg, d.path()).unwrap(), &here(Some(UID), CID)).await.is_ok(),
        "the CA file is not even read"
    );
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_the_reload_interval() {
    let d = Dir::new();
    let token = d.write("token", "old-token");
    let k = FakeKubelet::start(
        Transport::Tls { server: self_signed(&["n"]), client_ca: None },
        Behaviour { body: one_pod(), token: Some("old-token".into()), ..Behaviour::default() },
    )
    .await;
    let cfg = secure(
        &k,
        &format!(
            "skip_kubelet_verification = true\ntoken_path = \"{}\"\nreload_interval = \"50ms\"\npoll_retry_interval = \"10ms\"\npod_list_cache_ttl = \"0s\"\n",
            token.display()
        ),
    );
    let s = source(&cfg, d.path()).unwrap();
    assert!(selectors(&s, &here(Some(UID), CID)).await.is_ok());
    // The kubelet now wants the new token; the file is rotated.
    k.set(|b| b.token = Some("new-token".into()));
    std::fs::write(&token, "new-token\n").unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(selectors(&s, &here(Some(UID), CID)).await.is_ok(), "reloaded after reload_interval");
    let auth = k.auth.lock().unwrap().clone();
    assert_eq!(auth, [Some("Bearer old-token".to_owned()), Some("Bearer new-token".to_owned())]);
}

#[tokio::test]
async fn client_certificates_and_anonymous() {
    let server_ca = Ca::new("serving-ca");
    let client_ca = Ca::new("client-ca");
    let d = Dir::new();
    let ca = d.write("ca.pem", &server_ca.pem());
    let id = client_ca.issue(&[], "system:node:node-1", Some("system:nodes"));
    let cert = d.write("client.pem", &id.cert_pem);
    let key = d.write("client.key", &id.key_pem);
    d.write("token", "t");
    let k = FakeKubelet::start(
        Transport::Tls { server: server_ca.issue(&["localhost"], "localhost", None), client_ca: Some(client_ca.pem()) },
        Behaviour { body: one_pod(), ..Behaviour::default() },
    )
    .await;
    let base = format!("node_name = \"localhost\"\nkubelet_ca_path = \"{}\"\n", ca.display());
    let with_cert = secure(
        &k,
        &format!("{base}certificate_path = \"{}\"\nprivate_key_path = \"{}\"\n", cert.display(), key.display()),
    );
    assert!(selectors(&source(&with_cert, d.path()).unwrap(), &here(Some(UID), CID)).await.is_ok());
    assert_eq!(k.auth.lock().unwrap()[0], None, "a client certificate, no token");
    // Without a certificate the handshake fails.
    let token_only = secure(&k, &format!("{base}token_path = \"{}/token\"\n", d.path().display()));
    fails_with(&token_only, &d, "error sending request").await;
    // Anonymous wins over everything else and sends no credentials.
    let open = FakeKubelet::start(
        Transport::Tls { server: server_ca.issue(&["localhost"], "localhost", None), client_ca: None },
        Behaviour { body: one_pod(), ..Behaviour::default() },
    )
    .await;
    let anon = secure(
        &open,
        &format!("{base}use_anonymous_authentication = true\ntoken_path = \"{}/token\"\n", d.path().display()),
    );
    assert!(selectors(&source(&anon, d.path()).unwrap(), &here(Some(UID), CID)).await.is_ok());
    assert_eq!(open.auth.lock().unwrap()[0], None);
}

#[tokio::test]
async fn configure_time_file_errors_use_spire_wording() {
    let d = Dir::new();
    let ca = d.write("ca.pem", "not a certificate");
    let cases = [
        (
            "kubelet_ca_path = \"/nonexistent/ca.crt\"\n".to_owned(),
            "unable to load kubelet CA: open /nonexistent/ca.crt: No such file or directory (os error 2)",
        ),
        (format!("kubelet_ca_path = \"{}\"\n", ca.display()), "unable to parse kubelet CA: no PEM certificates found"),
        (
            "skip_kubelet_verification = true\ncertificate_path = \"/c\"\n".to_owned(),
            "the private key path is required with the certificate path",
        ),
        (
            "skip_kubelet_verification = true\nprivate_key_path = \"/k\"\n".to_owned(),
            "the certificate path is required with the private key path",
        ),
        (
            "skip_kubelet_verification = true\ncertificate_path = \"/c\"\nprivate_key_path = \"/k\"\n".to_owned(),
            "unable to load certificate: open /c: No such file or directory (os error 2)",
        ),
        (
            "skip_kubelet_verification = true\ntoken_path = \"/nonexistent/token\"\n".to_owned(),
            "unable to load token: open /nonexistent/token: No such file or directory (os error 2)",
        ),
    ];
    for (cfg, want) in cases {
        let err = source(&cfg, d.path()).unwrap_err();
        assert!(err.starts_with(want), "{cfg}: got {err}");
    }
    // The read-only port reads no file at all.
    assert!(source("kubelet_read_only_port = 10255\nkubelet_ca_path = \"/nonexistent\"\n", d.path()).is_ok());
    // In auto mode, missing credentials turn the source off instead.
    let c = Config::parse_with_env("k8s_source = \"auto\"\nkubelet_ca_path = \"/nonexistent\"\n", d.path(), &|_| None)
        .unwrap();
    assert!(KubernetesSource::new(&c.kubernetes, SourceMode::Enabled).unwrap().is_none());
}

async fn read_only(body: &[u8], status: u16) -> (FakeKubelet, KubernetesSource) {
    let k =
        FakeKubelet::start(Transport::Plain, Behaviour { body: body.to_vec(), status, ..Behaviour::default() }).await;
    let s = source(
        &format!("kubelet_read_only_port = {}\nmax_poll_attempts = 2\npoll_retry_interval = \"10ms\"\n", k.port()),
        Path::new("/"),
    )
    .unwrap();
    (k, s)
}

#[tokio::test]
async fn kubelet_failures_are_named() {
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (
            b"Forbidden (user=system:serviceaccount:spire:spire-agent, verb=get, resource=nodes, subresource=proxy)",
            403,
            "unexpected status code on pods response: 403 Forbidden (user=system:serviceaccount:spire:spire-agent, verb=get, resource=nodes, subresource=proxy)",
        ),
        (b"boom", 500, "unexpected status code on pods response: 500 boom"),
        (b"{not json", 200, "unable to parse kubelet response: "),
        (b"[1, 2]", 200, "invalid kubelet response: expected an object"),
        (br#"{"kind": "PodList"}"#, 200, "invalid kubelet response: expected an items array"),
    ];
    for (body, status, want) in cases {
        let (k, s) = read_only(body, status).await;
        let err = selectors(&s, &here(Some(UID), CID)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert!(err.to_string().starts_with(want), "got {err}, want {want}");
        assert_eq!(k.requests(), 2, "each attempt fetched: failures are never cached");
    }
    // A long error body is quoted up to 1024 bytes.
    let (_k, s) = read_only(&vec![b'x'; 5000], 503).await;
    let err = selectors(&s, &here(Some(UID), CID)).await.unwrap_err().to_string();
    assert_eq!(err.len(), "unexpected status code on pods response: 503 ".len() + 1024);
}

#[tokio::test]
async fn an_undecodable_examined_pod_fails_without_retry() {
    let bad = serde_json::json!({"metadata": {"uid": UID, "labels": ["not", "a", "map"]}});
    let (k, s) = read_only(&pod_list(&[bad, pod(&uid(9), "x", "y", "c", &cid(9))]), 200).await;
    let err = selectors(&s, &here(Some(UID), CID)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.to_string().starts_with("unable to decode pod info from kubelet response: "), "{err}");
    assert_eq!(k.requests(), 1);
}

#[tokio::test]
async fn polling_gives_up_after_max_attempts_and_waits_for_late_containers() {
    let k = FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&[]), ..Behaviour::default() }).await;
    let s = source(
        &format!("kubelet_read_only_port = {}\nmax_poll_attempts = 4\npoll_retry_interval = \"20ms\"\n", k.port()),
        Path::new("/"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = selectors(&s, &here(Some(UID), CID)).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert_eq!(err.to_string(), "no selectors found after max poll attempts");
    assert_eq!(k.requests(), 4);
    assert!(started.elapsed() >= Duration::from_millis(60), "three waits of poll_retry_interval");
    // The container shows up on the third list.
    let k = FakeKubelet::start(
        Transport::Plain,
        Behaviour { first: vec![pod_list(&[]), pod_list(&[])], body: one_pod(), ..Behaviour::default() },
    )
    .await;
    let s = source(
        &format!("kubelet_read_only_port = {}\nmax_poll_attempts = 5\npoll_retry_interval = \"10ms\"\n", k.port()),
        Path::new("/"),
    )
    .unwrap();
    assert!(selectors(&s, &here(Some(UID), CID)).await.is_ok());
    assert_eq!(k.requests(), 3);
}

#[tokio::test]
async fn matching_rules() {
    let mut init_pod = pod(&uid(2), "ns", "with-init", "main", &cid(2));
    init_pod["status"]["initContainerStatuses"] = serde_json::json!([{"name": "setup", "image": "busybox", "imageID": "busybox@sha256:1", "containerID": format!("cri-o://{}", cid(3))}]);
    init_pod["status"]["ephemeralContainerStatuses"] =
        serde_json::json!([{"name": "debug", "containerID": format!("containerd://{}", cid(4))}]);
    let dup_a = pod(&uid(5), "ns", "dup-a", "c", &cid(5));
    let dup_b = pod(&uid(6), "ns", "dup-b", "c", &cid(5));
    let body = pod_list(&[pod(UID, "payments", "ledger", "app", CID), init_pod, dup_a, dup_b]);
    let (_k, s) = read_only(&body, 200).await;
    // Init containers match; their selectors say so.
    let got = selectors(&s, &here(Some(&uid(2)), &cid(3))).await.unwrap();
    assert!(
        got.contains(&"k8s:container-name:setup".to_owned()) && got.contains(&"k8s:pod-init-image-count:1".to_owned()),
        "{got:?}"
    );
    assert!(got.contains(&"k8s:pod-init-image:busybox".to_owned()));
    // Ephemeral containers never do.
    assert_eq!(selectors(&s, &here(Some(&uid(2)), &cid(4))).await.unwrap_err().code(), Code::DeadlineExceeded);
    // A known pod UID restricts the search to that pod: the container elsewhere is not found.
    assert_eq!(selectors(&s, &here(Some(UID), &cid(2))).await.unwrap_err().code(), Code::DeadlineExceeded);
    // Unknown pod UID (cri-o without pod in path): found by container id across pods...
    assert!(selectors(&s, &here(None, CID)).await.unwrap().contains(&"k8s:pod-name:ledger".to_owned()));
    // ...unless two pods claim it.
    let err = selectors(&s, &here(None, &cid(5))).await.unwrap_err();
    assert_eq!((err.code(), err.to_string()), (Code::Internal, "two pods found with same container Id".to_owned()));
}

#[tokio::test]
async fn disable_container_selectors_allows_the_pod_only_path() {
    let k = FakeKubelet::start(
        Transport::Plain,
        Behaviour { body: pod_list(&[pod(UID, "payments", "ledger", "app", &cid(7))]), ..Behaviour::default() },
    )
    .await;
    let s = source(
        &format!("kubelet_read_only_port = {}\nmax_poll_attempts = 1\ndisable_container_selectors = true\n", k.port()),
        Path::new("/"),
    )
    .unwrap();
    // The container is not listed yet, but the pod UID is known: pod selectors only.
    let got = selectors(&s, &here(Some(UID), CID)).await.unwrap();
    assert!(got.contains(&"k8s:pod-name:ledger".to_owned()));
    assert!(!got.iter().any(|v| v.starts_with("k8s:container-")), "{got:?}");
    // With the pod UID unknown there is no such escape hatch.
    assert_eq!(selectors(&s, &here(None, CID)).await.unwrap_err().code(), Code::DeadlineExceeded);
    // A found container with container selectors disabled: pod selectors only, facts still name it.
    let (facts, sels) = s.facts(&here(Some(UID), &cid(7))).await.unwrap().unwrap();
    assert_eq!(facts.container.unwrap().name, "app");
    assert!(!sels.iter().any(|v| v.value().starts_with("container-")));
}

/// An attestor over a fake procfs with `n` processes, one pod each, against `k`.
fn fake_node(root: &Path, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let pid = 10_000 + i as u32;
            let cgroup = format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{}.scope\n", uid(i).replace('-', "_"), cid(i));
            fake_proc(root, pid, 777, Some(STATUS_1000), None, Some(&cgroup));
            pod(&uid(i), "team", &format!("app-{i}"), "app", &cid(i))
        })
        .collect()
}

fn attestor(config: &str, proc_root: &Path) -> Arc<Attestor> {
    // No user database: names would depend on this machine's /etc/passwd.
    let config = if config.contains("unix {") {
        config.replace("unix {", "unix {\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"")
    } else {
        format!("{config}\nunix {{\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n")
    };
    let c = Config::parse_with_env(&config, proc_root, &|_| None).unwrap();
    let rt = Arc::new(Runtime::new(RuntimeSettings::default()).unwrap());
    Arc::new(Attestor::new(&c, rt, proc_root, SourceMode::Enabled).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_attestations_share_one_request() {
    let tmp = tempfile::tempdir().unwrap();
    let pods = fake_node(tmp.path(), 200);
    let k = FakeKubelet::start(
        Transport::Plain,
        Behaviour { body: pod_list(&pods), delay: Duration::from_millis(50), ..Behaviour::default() },
    )
    .await;
    let unix = "unix {\n  discover_workload_path = false\n}\n";
    let a = attestor(&format!("kubelet_read_only_port = {}\n{unix}", k.port()), tmp.path());
    let run = |a: Arc<Attestor>| async move {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let a = a.clone();
                tokio::spawn(async move { (i, a.attest(Pid(10_000 + i as u32)).await) })
            })
            .collect();
        for h in handles {
            let (i, r) = h.await.unwrap();
            let att = r.unwrap();
            let sels: Vec<String> = att.selectors().iter().map(ToString::to_string).collect();
            assert!(sels.contains(&format!("k8s:pod-name:app-{i}")), "{sels:?}");
            assert_eq!(att.spiffe_ids()[0].id.to_string(), "spiffe://example.org/ns/team/sa/app-sa");
        }
    };
    run(a.clone()).await;
    assert_eq!(k.requests(), 1, "200 concurrent attestations, one kubelet request");
    // Warm cache: the same pods again cost nothing.
    run(a.clone()).await;
    assert_eq!(k.requests(), 1, "known pods are answered from the cached list");
    // A new pod costs exactly one more request.
    let mut more = pods.clone();
    more.extend(fake_node(tmp.path(), 201).pop());
    k.set(|b| b.body = pod_list(&more));
    let att = a.attest(Pid(10_200)).await.unwrap();
    assert!(att.selectors().iter().any(|s| s.to_string() == "k8s:pod-name:app-200"));
    assert_eq!(k.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_with_policies_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pods = fake_node(tmp.path(), 2);
    let k = FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let a = attestor(
        &format!("kubelet_read_only_port = {}\nunix {{\n  discover_workload_path = false\n}}\n", k.port()),
        tmp.path(),
    );
    let att = a.attest(Pid(10_000)).await.unwrap();
    let w = att.workload();
    let kf = w.kubernetes.as_ref().unwrap();
    assert_eq!((kf.pod.namespace.as_str(), kf.pod.service_account.as_str()), ("team", "app-sa"));
    assert_eq!(kf.container.as_ref().unwrap().id.to_string(), cid(0));
    assert_eq!(att.spiffe_ids()[0].policies, ["k8s-ns-sa"]);
    let sels: Vec<String> = att.selectors().iter().map(ToString::to_string).collect();
    for want in [
        "unix:uid:1000",
        "k8s:ns:team",
        "k8s:sa:app-sa",
        "k8s:pod-label:team:payments",
        "k8s:pod-owner:ReplicaSet:app-0-rs",
    ] {
        assert!(sels.contains(&want.to_owned()), "{want} missing from {sels:?}");
    }
    // A host process on the same node: no kubelet call, no k8s selectors.
    fake_proc(tmp.path(), 20_000, 1, Some(STATUS_1000), None, Some("0::/user.slice/user-1000.slice/session-3.scope\n"));
    let before = k.requests();
    let att = a.attest(Pid(20_000)).await.unwrap();
    assert!(att.workload().kubernetes.is_none());
    assert!(!att.selectors().iter().any(|s| s.kind().as_str() == "k8s"));
    assert_eq!(att.spiffe_ids()[0].id.to_string(), "spiffe://example.org/unix/uid/1000");
    assert_eq!(k.requests(), before);
    // Conflicting cgroups fail with SPIRE's precondition error.
    fake_proc(tmp.path(), 20_001, 1, Some(STATUS_1000), None, Some(&format!("1:pids:/docker/{}\n0::/\n", cid(1))));
    let err = a.attest(Pid(20_001)).await.unwrap_err();
    assert_eq!(err.to_string(), format!("multiple container IDs found (\"{}\", \"\")", cid(1)));
    // A malformed cgroup file.
    fake_proc(tmp.path(), 20_002, 1, Some(STATUS_1000), None, Some("garbage\n"));
    let err = a.attest(Pid(20_002)).await.unwrap_err();
    assert!(err.to_string().starts_with("unable to obtain cgroups: invalid cgroup entry"), "{err}");
    // disable_kubelet_client refuses every PID, host processes included.
    let off = attestor("disable_kubelet_client = true\n", tmp.path());
    assert_eq!(off.attest(Pid(20_000)).await.unwrap_err().to_string(), "kubelet client is disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_reuse_during_the_kubelet_lookup_fails_the_attestation() {
    let tmp = tempfile::tempdir().unwrap();
    let pods = fake_node(tmp.path(), 1);
    let k = FakeKubelet::start(
        Transport::Plain,
        Behaviour { body: pod_list(&pods), delay: Duration::from_millis(300), ..Behaviour::default() },
    )
    .await;
    let a = attestor(
        &format!("kubelet_read_only_port = {}\nunix {{\n  discover_workload_path = false\n}}\n", k.port()),
        tmp.path(),
    );
    let root = tmp.path().to_owned();
    let swap = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // While the kubelet answers, the PID is reused by a process that started later.
        fake_proc(&root, 10_000, 999_999, Some(STATUS_1000), None, None);
    });
    let err = a.attest(Pid(10_000)).await.unwrap_err();
    swap.await.unwrap();
    assert!(matches!(err, AttestError::Gather(_)));
    assert_eq!(
        err.to_string(),
        "process 10000 was replaced by another process with the same PID while its facts were being read (start time 777 became 999999)"
    );
}

/// An API server answering for namespace `payments` (labels `env=prod` and the metadata name),
/// a kubelet listing one pod, and the configuration that uses both.
async fn namespace_setup(ca: &Ca, d: &Dir) -> (FakeKubelet, FakeKubelet, String) {
    let ca_path = d.write("api-ca.pem", &ca.pem());
    let token = d.write("api-token", "api-tok");
    let ns = serde_json::json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": "payments", "labels": {"env": "prod", "kubernetes.io/metadata.name": "payments"}}
    });
    let api = FakeKubelet::start(
        Transport::Tls { server: ca.issue(&["localhost"], "localhost", None), client_ca: None },
        Behaviour { body: serde_json::to_vec(&ns).unwrap(), token: Some("api-tok".into()), ..Behaviour::default() },
    )
    .await;
    let k = FakeKubelet::start(Transport::Plain, Behaviour { body: one_pod(), ..Behaviour::default() }).await;
    let cfg = format!(
        "kubelet_read_only_port = {}\nmax_poll_attempts = 1\nenable_namespace_labels = true\nkubernetes_api {{\n  url = \"https://localhost:{}\"\n  ca_path = \"{}\"\n  token_path = \"{}\"\n}}\n",
        k.port(),
        api.port(),
        ca_path.display(),
        token.display()
    );
    (api, k, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_from_the_api_server() {
    let ca = Ca::new("apiserver-ca");
    let d = Dir::new();
    let (api, _kubelet, cfg) = namespace_setup(&ca, &d).await;
    let s = source(&cfg, d.path()).unwrap();
    let (facts, sels) = s.facts(&here(Some(UID), CID)).await.unwrap().unwrap();
    let sels: Vec<String> = sels.iter().map(ToString::to_string).collect();
    assert!(sels.contains(&"k8s:ns-label:env:prod".to_owned()), "{sels:?}");
    assert!(sels.contains(&"k8s:ns-label:kubernetes.io/metadata.name:payments".to_owned()));
    assert_eq!(facts.namespace_labels.get("env").map(String::as_str), Some("prod"));
    assert!(
        api.lines.lock().unwrap()[0].starts_with("GET /api/v1/namespaces/payments "),
        "{:?}",
        api.lines.lock().unwrap()
    );
    // Failure fails the attestation with SPIRE's message.
    let api_down = FakeKubelet::start(Transport::Tls { server: ca.issue(&["localhost"], "localhost", None), client_ca: None }, Behaviour {
        status: 403,
        body: br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"namespaces \"payments\" is forbidden","reason":"Forbidden","code":403}"#.to_vec(),
        ..Behaviour::default()
    })
    .await;
    let cfg = cfg.replace(&format!(":{}\"", api.port()), &format!(":{}\"", api_down.port()));
    let s = source(&cfg, d.path()).unwrap();
    let err = s.facts(&here(Some(UID), CID)).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(err.to_string().starts_with("unable to get namespace labels for \"payments\": "), "{err}");
    assert!(err.to_string().contains("forbidden"), "{err}");
}

/// A source with namespace labels set up outside any Tokio runtime (a tool, a test) used to
/// panic in `kube::Client`'s set-up; the client is now built at the first lookup.
#[test]
fn namespace_labels_can_be_set_up_outside_a_runtime() {
    let ca = Ca::new("apiserver-ca");
    let d = Dir::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (_api, _kubelet, cfg) = rt.block_on(namespace_setup(&ca, &d));
    assert!(tokio::runtime::Handle::try_current().is_err(), "no runtime here");
    let s = source(&cfg, d.path()).unwrap();
    let sels = rt.block_on(selectors(&s, &here(Some(UID), CID))).unwrap();
    assert!(sels.contains(&"k8s:ns-label:env:prod".to_owned()), "{sels:?}");
}
