//! The registrar's reconciliation against a stateful loopback SPIRE Entry API server
//! (`common/entry_server.rs`): pods appear, change labels, move nodes and disappear, a rule is
//! added, entries not owned stay untouched, the server fails half a batch or a whole call, a
//! restarted registrar converges without duplicates, and a dry run writes nothing; and
//! `attestor registrar --once` end to end: the real binary against the fake API server
//! (`common/apiserver.rs`, over TLS with a kubeconfig) and the loopback Entry API server.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/entry_server.rs"]
mod entry_server;

#[path = "common/apiserver.rs"]
mod apiserver;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use attestor::TrustDomain;
use attestor::audit::AuditLog;
use attestor::policy::{Policies, PolicyFile, PolicySettings};
use attestor::registrar::desired::{Desired, desired};
use attestor::registrar::entry_api::EntryClient;
use attestor::registrar::plan::Orphans;
use attestor::registrar::reconcile::{BATCH, reconcile};
use attestor::registrar::settings::{DEFAULT_PARENT_ID_TEMPLATE, Mode, RegistrarSettings};
use entry_server::{EntryServer, foreign};
use k8s_openapi::api::core::v1::{Node, Pod};
use tonic::Code;

const PREFIX: &str = "attestor.";

const RULES: &str = r#"
@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
permit (principal, action == Attest::Action::"propose", resource);
"#;

const APP_RULE: &str = r#"
@id("by-app")
@spiffe_id("spiffe://{trust_domain}/app/{label:app}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
"#;

fn settings(mode: Mode, grace: Duration) -> RegistrarSettings {
    RegistrarSettings {
        cluster: "prod".into(),
        spire_server_socket: "/unused".into(),
        kube_config_file: None,
        mode,
        parent_id_template: DEFAULT_PARENT_ID_TEMPLATE.into(),
        entry_id_prefix: PREFIX.into(),
        delete_grace_period: grace,
        resync_interval: Duration::from_secs(300),
        metrics_addr: None,
    }
}

fn policies(text: &str) -> Policies {
    let files = vec![PolicyFile { name: "p.cedar".into(), text: text.into() }];
    let s = PolicySettings { cluster: Some("prod".into()), ..PolicySettings::default() };
    Policies::from_files(&files, &s, &TrustDomain::new("example.org").unwrap()).unwrap()
}

fn pod(ns: &str, name: &str, uid: &str, sa: &str, node: &str, app: Option<&str>) -> Pod {
    let mut v = serde_json::json!({
        "metadata": {"name": name, "namespace": ns, "uid": uid},
        "spec": {"serviceAccountName": sa, "nodeName": node, "containers": [{"name": "main", "image": "img"}]},
        "status": {"phase": "Running"}
    });
    if let Some(app) = app {
        v["metadata"]["labels"] = serde_json::json!({"app": app});
    }
    serde_json::from_value(v).unwrap()
}

fn nodes() -> Vec<Node> {
    ["1", "2"]
        .iter()
        .map(|n| {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": format!("node-{n}"), "uid": format!("nu-{n}")}}),
            )
            .unwrap()
        })
        .collect()
}

fn want(p: &Policies, s: &RegistrarSettings, pods: &[Pod]) -> Desired {
    desired(p, s, pods, &[], &nodes(), SystemTime::now()).unwrap()
}

/// `spiffe ID <- parent` of every stored entry under the prefix.
fn stored(server: &EntryServer) -> BTreeSet<String> {
    server
        .entries()
        .values()
        .filter(|e| e.id.starts_with(PREFIX))
        .map(|e| {
            let id = |s: &Option<attestor::registrar::proto::spire::api::types::Spiffeid>| {
                s.as_ref().map(|s| format!("spiffe://{}{}", s.trust_domain, s.path)).unwrap_or_default()
            };
            format!("{} <- {}", id(&e.spiffe_id), id(&e.parent_id).rsplit('/').next().unwrap_or_default())
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn entries_follow_pods_and_rules_and_leave_foreign_entries_alone() {
    let server = EntryServer::start();
    server.insert_raw(foreign("hand-written"));
    server.insert_raw(foreign("other-registrar.1"));
    let client = EntryClient::new(&server.socket, Duration::from_secs(10)).unwrap();
    let audit = AuditLog::to_log();
    let s = settings(Mode::PerNode, Duration::ZERO);
    let mut orphans = Orphans::default();
    let mut p = policies(RULES);
    let mut pods = vec![
        pod("shop", "web-1", "u1", "web", "node-1", Some("web")),
        pod("shop", "web-2", "u2", "web", "node-2", Some("web")),
    ];

    // From empty: one entry per ID and node.
    let r = reconcile(&client, PREFIX, &want(&p, &s, &pods), &mut orphans, s.delete_grace_period, false, &audit)
        .await
        .unwrap();
    assert_eq!((r.created, r.updated, r.deleted, r.foreign), (2, 0, 0, 2));
    assert_eq!(
        stored(&server),
        set(&["spiffe://example.org/ns/shop/sa/web <- nu-1", "spiffe://example.org/ns/shop/sa/web <- nu-2"])
    );

    // Again: nothing to do.
    let r = reconcile(&client, PREFIX, &want(&p, &s, &pods), &mut orphans, s.delete_grace_period, false, &audit)
        .await
        .unwrap();
    assert!(r.plan.is_empty() && r.plan.unchanged == 2);

    // A rule is added (a policy reload): its entries appear.
    p = policies(&format!("{RULES}{APP_RULE}"));
    let r = reconcile(&client, PREFIX, &want(&p, &s, &pods), &mut orphans, s.delete_grace_period, false, &audit)
        .await
        .unwrap();
    assert_eq!(r.created, 2);
    // A pod's label changes and it moves to node 1 (a new pod on another node): web-2's node
    // loses both entries, the new label's entry appears on node 1.
    pods[1] = pod("shop", "web-3", "u3", "web", "node-1", Some("shop-api"));
    let r = reconcile(&client, PREFIX, &want(&p, &s, &pods), &mut orphans, s.delete_grace_period, false, &audit)
        .await
        .unwrap();
    assert_eq!((r.created, r.deleted), (1, 2));
    assert_eq!(
        stored(&server),
        set(&[
            "spiffe://example.org/app/shop-api <- nu-1",
            "spiffe://example.org/app/web <- nu-1",
            "spiffe://example.org/ns/shop/sa/web <- nu-1",
        ])
    );
    // Every pod gone: every owned entry goes; the foreign ones stay exactly as they were.
    let r = reconcile(&client, PREFIX, &want(&p, &s, &[]), &mut orphans, s.delete_grace_period, false, &audit)
        .await
        .unwrap();
    assert_eq!(r.deleted, 3);
    assert!(stored(&server).is_empty());
    assert_eq!(server.entries().keys().collect::<Vec<_>>(), ["hand-written", "other-registrar.1"]);
    assert_eq!(server.entries()["hand-written"], foreign("hand-written"));
}

#[tokio::test]
async fn half_failed_batches_and_restarts_converge_without_duplicates() {
    let server = EntryServer::start();
    let client = EntryClient::new(&server.socket, Duration::from_secs(10)).unwrap();
    let audit = AuditLog::to_log();
    let s = settings(Mode::PerPod, Duration::from_secs(3600));
    let p = policies(RULES);
    let pods: Vec<Pod> = (0..120)
        .map(|i| {
            pod(
                "shop",
                &format!("w-{i}"),
                &format!("u{i}"),
                &format!("sa{}", i % 7),
                &format!("node-{}", 1 + i % 2),
                None,
            )
        })
        .collect();
    let d = want(&p, &s, &pods);
    assert_eq!(d.entries.len(), 120);

    // The server refuses every other entry of the first batch.
    server.fail_every_other_next(Code::Internal, "datastore-sql: database is locked");
    let mut orphans = Orphans::default();
    let r = reconcile(&client, PREFIX, &d, &mut orphans, s.delete_grace_period, false, &audit).await.unwrap();
    assert_eq!(r.failed.len(), BATCH / 2);
    assert_eq!(r.created, 120 - BATCH / 2);
    assert!(
        r.failed
            .iter()
            .all(|(action, item)| *action == "create" && item.message == "datastore-sql: database is locked")
    );

    // A whole call fails mid-way (the second create batch of the next round is not needed, so
    // fail the list): the round fails, nothing changes.
    server.fail_next(Code::Unavailable, "shutting down");
    let e = reconcile(&client, PREFIX, &d, &mut orphans, s.delete_grace_period, false, &audit).await.unwrap_err();
    assert!(e.to_string().contains("ListEntries"), "{e}");

    // A restarted registrar (nothing remembered) finishes the job and creates no duplicates.
    let mut fresh = Orphans::default();
    let r = reconcile(&client, PREFIX, &d, &mut fresh, s.delete_grace_period, false, &audit).await.unwrap();
    assert_eq!((r.created, r.updated, r.deleted, r.failed.len()), (BATCH / 2, 0, 0, 0));
    assert_eq!(server.entries().len(), 120);
    let r = reconcile(&client, PREFIX, &d, &mut fresh, s.delete_grace_period, false, &audit).await.unwrap();
    assert!(r.plan.is_empty());
    assert_eq!(r.plan.unchanged, 120);

    // Pods gone: within the grace period nothing is deleted.
    let r =
        reconcile(&client, PREFIX, &want(&p, &s, &[]), &mut fresh, s.delete_grace_period, false, &audit).await.unwrap();
    assert_eq!((r.deleted, r.plan.waiting.len()), (0, 120));
    assert_eq!(server.entries().len(), 120);
}

#[tokio::test]
async fn a_dry_run_plans_and_writes_nothing() {
    let server = EntryServer::start();
    let client = EntryClient::new(&server.socket, Duration::from_secs(10)).unwrap();
    let s = settings(Mode::PerNode, Duration::ZERO);
    let p = policies(RULES);
    let pods = [pod("shop", "web-1", "u1", "web", "node-1", None)];
    let mut orphans = Orphans::default();
    let r = reconcile(&client, PREFIX, &want(&p, &s, &pods), &mut orphans, Duration::ZERO, true, &AuditLog::to_log())
        .await
        .unwrap();
    assert_eq!(r.plan.create.len(), 1);
    assert_eq!(r.created, 0);
    assert!(server.entries().is_empty());
    assert!(server.log().iter().all(|c| c.method == "ListEntries"), "{:?}", server.log());
}

/// `attestor registrar --config <file> <args>`, run off the test's runtime (the fakes live on it).
async fn registrar(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_attestor"));
    cmd.arg("registrar").arg("--config").arg(config).args(args).env("ATTESTOR_LOG", "off");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_through_the_binary_plans_writes_and_converges() {
    use apiserver::{FakeApiServer, namespace_object, node_object, pod_object};
    const CALLER: &str = "registrar-token";
    let api = FakeApiServer::start(CALLER).await;
    api.set(|b| {
        b.callers.insert(CALLER.to_owned(), "system:serviceaccount:spire:attestor-registrar".to_owned());
    });
    for (name, uid) in [("node-1", "nu-1"), ("node-2", "nu-2")] {
        api.apply(node_object(name, uid, &[]));
    }
    api.apply(namespace_object("shop", "ns-1", &[("env", "prod")]));
    api.apply(pod_object("shop", "web-1", "u1", "node-1", &[("app", "web")]));
    api.apply(pod_object("shop", "web-2", "u2", "node-1", &[("app", "web")]));
    api.apply(pod_object("shop", "web-3", "u3", "node-2", &[("app", "web")]));
    let entries = EntryServer::start();
    entries.insert_raw(foreign("hand-written"));

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, api.ca_pem()).unwrap();
    std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig(&ca, CALLER)).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/rules.cedar"), format!("{RULES}{APP_RULE}")).unwrap();
    let config = dir.path().join("registrar.hcl");
    std::fs::write(
        &config,
        format!(
            "trust_domain = \"example.org\"\npolicy {{\n  dir = \"policies\"\n}}\nregistrar {{\n  cluster = \"prod\"\n  spire_server_socket = {:?}\n  kube_config_file = \"kubeconfig\"\n  delete_grace_period = \"0s\"\n}}\n",
            entries.socket.display().to_string()
        ),
    )
    .unwrap();

    // A dry run: the plan, nothing written.
    let (code, out, err) = registrar(&config, &["--once", "--dry-run"]).await;
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.starts_with("pods: 3 seen; 4 entries wanted\nplan: 4 to create, 0 to update, 0 to delete, 0 waiting out the grace period, 0 unchanged; 1 entries of others untouched\n"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("create attestor.")).count(), 4, "{out}");
    assert!(
        out.contains(
            " spiffe://example.org/app/web parent spiffe://example.org/spire/agent/k8s_psat/prod/nu-2 (rules: by-app)"
        ),
        "{out}"
    );
    assert!(out.ends_with("dry run: nothing written\n"), "{out}");
    assert_eq!(entries.entries().len(), 1);

    // Written, then nothing left to do.
    let (code, out, _) = registrar(&config, &["--once"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("done: 4 created, 0 updated, 0 deleted, 0 refused\n"), "{out}");
    assert_eq!(
        stored(&entries),
        set(&[
            "spiffe://example.org/app/web <- nu-1",
            "spiffe://example.org/app/web <- nu-2",
            "spiffe://example.org/ns/shop/sa/default <- nu-1",
            "spiffe://example.org/ns/shop/sa/default <- nu-2",
        ])
    );
    let (_, out, _) = registrar(&config, &["--once"]).await;
    assert!(out.contains("plan: 0 to create, 0 to update, 0 to delete, 0 waiting out the grace period, 4 unchanged; 1 entries of others untouched"), "{out}");

    // The only pod on node 2 goes: its node's entries go (no grace period configured).
    api.delete("pods", "shop/web-3");
    let (code, out, _) = registrar(&config, &["--once"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("done: 0 created, 0 updated, 2 deleted, 0 refused"), "{out}");
    assert!(stored(&entries).iter().all(|e| e.ends_with("<- nu-1")), "{:?}", stored(&entries));
    assert!(entries.entries().contains_key("hand-written"));

    // The Entry API refusing every other creation: exit status 1, each refusal printed.
    api.apply(pod_object("shop", "web-4", "u4", "node-2", &[("app", "api")]));
    entries.fail_every_other_next(Code::Internal, "datastore-sql: database is locked");
    let (code, out, _) = registrar(&config, &["--once"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused create attestor."), "{out}");
    assert!(out.contains("code 13 datastore-sql: database is locked"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("registrar.hcl");
    std::fs::write(&config, "trust_domain = \"example.org\"\n").unwrap();
    let (code, _, err) = registrar(&config, &["--once"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no registrar { } block"), "{err}");
    std::fs::write(&config, "registrar {\n  cluster = \"prod\"\n  kube_config_file = \"missing\"\n}\n").unwrap();
    let (code, _, err) = registrar(&config, &["--once"]).await;
    assert_eq!(code, 1);
    assert!(err.contains(&format!("kubeconfig {}", dir.path().join("missing").display())), "{err}");
    std::fs::write(&config, "registrar {\n  cluster = \"prod\"\n}\npolicy {\n  cluster = \"dev\"\n}\n").unwrap();
    let (_, _, err) = registrar(&config, &["--once"]).await;
    assert!(err.contains("policy.cluster is \"dev\" but registrar.cluster is \"prod\""), "{err}");
}

/// A `GET` of `http://<addr><path>`: status and body.
async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

/// Poll `f` every 100 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_running_registrar_leads_follows_changes_and_serves_metrics() {
    use apiserver::{FakeApiServer, namespace_object, node_object, pod_object};
    const CALLER: &str = "registrar-token";
    let api = FakeApiServer::start(CALLER).await;
    api.set(|b| {
        b.callers.insert(CALLER.to_owned(), "system:serviceaccount:spire:attestor-registrar".to_owned());
    });
    api.apply(node_object("node-1", "nu-1", &[]));
    api.apply(namespace_object("shop", "ns-1", &[]));
    api.apply(pod_object("shop", "web-1", "u1", "node-1", &[("app", "web")]));
    let entries = EntryServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, api.ca_pem()).unwrap();
    std::fs::write(dir.path().join("kubeconfig"), api.kubeconfig(&ca, CALLER)).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/rules.cedar"), RULES).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("registrar.hcl");
    std::fs::write(
        &config,
        format!(
            "trust_domain = \"example.org\"\npolicy {{\n  dir = \"policies\"\n  reload_interval = \"1s\"\n}}\nregistrar {{\n  cluster = \"prod\"\n  spire_server_socket = {:?}\n  kube_config_file = \"kubeconfig\"\n  delete_grace_period = \"0s\"\n  metrics_addr = \"{addr}\"\n}}\n",
            entries.socket.display().to_string()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_attestor"))
        .arg("registrar")
        .arg("--config")
        .arg(&config)
        .env("ATTESTOR_LOG", "info")
        .env("POD_NAMESPACE", "spire")
        .env("HOSTNAME", "registrar-0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));

    // It takes the lease and converges: the pod's ID on its node.
    let converged = |want: &[&str]| stored(&entries) == set(want);
    assert!(
        eventually(Duration::from_secs(20), || converged(&["spiffe://example.org/ns/shop/sa/default <- nu-1"])).await,
        "{:?}",
        stored(&entries)
    );
    let lease = api.lease("spire", "attestor-registrar-prod").expect("the lease");
    assert!(lease["spec"]["holderIdentity"].as_str().unwrap().starts_with("registrar-0_"), "{lease}");
    assert_eq!(http_get(&addr, "/readyz").await.map(|r| r.0), Some(200));
    let (_, metrics) = http_get(&addr, "/metrics").await.unwrap();
    assert!(metrics.contains("attestor_registrar_leader 1"), "{metrics}");
    assert!(metrics.contains("attestor_registrar_entries_created_total 1"), "{metrics}");

    // A pod on a new node: its entry follows from the watch.
    api.apply(node_object("node-2", "nu-2", &[]));
    api.apply(pod_object("shop", "web-2", "u2", "node-2", &[("app", "web")]));
    let both = ["spiffe://example.org/ns/shop/sa/default <- nu-1", "spiffe://example.org/ns/shop/sa/default <- nu-2"];
    assert!(eventually(Duration::from_secs(20), || converged(&both)).await, "{:?}", stored(&entries));
    // A rule added to the policy directory: reloaded, its entries follow.
    std::fs::write(dir.path().join("policies/app.cedar"), APP_RULE).unwrap();
    let with_app = [
        "spiffe://example.org/app/web <- nu-1",
        "spiffe://example.org/app/web <- nu-2",
        "spiffe://example.org/ns/shop/sa/default <- nu-1",
        "spiffe://example.org/ns/shop/sa/default <- nu-2",
    ];
    assert!(eventually(Duration::from_secs(20), || converged(&with_app)).await, "{:?}", stored(&entries));
    // The pod on node 2 goes: its node's entries go.
    api.delete("pods", "shop/web-2");
    let node_1 = ["spiffe://example.org/app/web <- nu-1", "spiffe://example.org/ns/shop/sa/default <- nu-1"];
    assert!(eventually(Duration::from_secs(20), || converged(&node_1)).await, "{:?}", stored(&entries));
    // The rule removed again (a reload): its entry goes.
    std::fs::remove_file(dir.path().join("policies/app.cedar")).unwrap();
    let sa_only = ["spiffe://example.org/ns/shop/sa/default <- nu-1"];
    assert!(eventually(Duration::from_secs(20), || converged(&sa_only)).await, "{:?}", stored(&entries));

    // SIGTERM: it stops and gives the lease up.
    let process = child.0.take().unwrap();
    std::process::Command::new("kill").arg("-TERM").arg(process.id().to_string()).status().unwrap();
    let out =
        tokio::time::timeout(Duration::from_secs(20), tokio::task::spawn_blocking(move || process.wait_with_output()))
            .await
            .expect("stopped within 20 s")
            .unwrap()
            .unwrap();
    assert!(out.status.success(), "{}", out.status);
    let lease = api.lease("spire", "attestor-registrar-prod").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"].as_str().unwrap_or_default(), "", "{lease}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("registration entry created"), "{stderr}");
    assert!(stderr.contains("new policy generation in force"), "{stderr}");
}

/// A child process killed if the test ends before it is waited for.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
