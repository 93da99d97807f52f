//! The registrar's leader election (`registrar/lease.rs`) against a loopback fake of the
//! `coordination.k8s.io/v1` Lease API with real optimistic concurrency (`common/lease_api.rs`):
//! two replicas on one lease, exactly one leading; a release handing over at once; a leader
//! whose API calls fail (500s, dropped or unanswered connections) stepping down before the other
//! takes over; a PUT that loses a race; a leader whose lease was taken. Leases last 2 s and are
//! renewed every 500 ms; every wait is bounded by a generous deadline, and while waiting for two
//! replicas the test checks every 5 ms that they never both lead.
//!
//! `realkube_accepts_the_lease_writes` runs the same code against the real kube-apiserver of
//! realkube (`shared/tools/realkube`); it is ignored unless asked for with `--ignored`.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/lease_api.rs"]
mod lease_api;

use std::path::Path;
use std::time::Duration;

use attestor::registrar::lease::{Leadership, LeaseSettings};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use lease_api::{Failure, FakeLeaseApi};
use serde_json::json;
use tokio::time::Instant;

const NS: &str = "spire";
const NAME: &str = "attestor-registrar-prod";

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        namespace: NS.into(),
        name: NAME.into(),
        identity: identity.into(),
        duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(500),
    }
}

async fn client(server: &FakeLeaseApi, dir: &Path, token: &str) -> kube::Client {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    client_from(&server.kubeconfig(&ca, token)).await
}

async fn client_from(kubeconfig: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Two replicas, `a` and `b`, on one lease of one fake API server (callers `token-a`,
/// `token-b`).
struct Pair {
    server: FakeLeaseApi,
    _dir: tempfile::TempDir,
    a: Leadership,
    b: Leadership,
}

impl Pair {
    async fn start() -> Self {
        let server = FakeLeaseApi::start().await;
        let dir = tempfile::tempdir().unwrap();
        let a = Leadership::start(client(&server, dir.path(), "token-a").await, settings("replica-a"));
        let b = Leadership::start(client(&server, dir.path(), "token-b").await, settings("replica-b"));
        Self { server, _dir: dir, a, b }
    }

    /// Waits up to `secs` for `done`, checking every 5 ms that `a` and `b` do not both lead.
    async fn until(&self, secs: u64, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            assert!(!(self.a.is_leader() && self.b.is_leader()), "both replicas lead at once");
            if done(self) {
                return;
            }
            assert!(Instant::now() < deadline, "not within {secs} s: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for one replica to lead; returns the pair and whether `a` is the leader.
    async fn leader(self) -> (Self, bool) {
        self.until(10, "a leader", |p| p.a.is_leader() || p.b.is_leader()).await;
        let a_leads = self.a.is_leader();
        (self, a_leads)
    }

    fn leading(&self, a: bool) -> &Leadership {
        if a { &self.a } else { &self.b }
    }

    fn holder(&self) -> Option<String> {
        self.server.holder(NS, NAME)
    }

    fn transitions(&self) -> i64 {
        self.server.lease(NS, NAME).unwrap()["spec"]["leaseTransitions"].as_i64().unwrap()
    }
}

fn identity(a: bool) -> &'static str {
    if a { "replica-a" } else { "replica-b" }
}

fn token(a: bool) -> &'static str {
    if a { "token-a" } else { "token-b" }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_two_replicas_leads_and_keeps_leading() {
    let (pair, a_leads) = Pair::start().await.leader().await;
    assert_eq!(pair.holder().as_deref(), Some(identity(a_leads)));
    let first = pair.server.lease(NS, NAME).unwrap();
    // Three lease durations: renewals keep the same leader, and the other never leads.
    let start = Instant::now();
    pair.until(10, "three lease durations", |_| start.elapsed() > Duration::from_secs(6)).await;
    assert!(pair.leading(a_leads).is_leader());
    assert!(!pair.leading(!a_leads).is_leader());
    assert!(*pair.leading(a_leads).changes().borrow());
    assert!(!*pair.leading(!a_leads).changes().borrow());
    let now = pair.server.lease(NS, NAME).unwrap();
    assert_eq!(now["spec"]["holderIdentity"], identity(a_leads));
    assert_eq!(now["spec"]["leaseDurationSeconds"], 2);
    assert_eq!(now["spec"]["leaseTransitions"], 0);
    // Renewed: a new renewTime, the same acquireTime.
    assert_eq!(now["spec"]["acquireTime"], first["spec"]["acquireTime"]);
    assert_ne!(now["spec"]["renewTime"], first["spec"]["renewTime"]);
    // The lease was created by one POST; every later write was a PUT by the leader.
    let log = pair.server.log();
    let posts: Vec<_> = log.iter().filter(|r| r.method == "POST" && r.status == 201).collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].token.as_deref(), Some(token(a_leads)));
    assert!(log.iter().filter(|r| r.method == "PUT").all(|r| r.token.as_deref() == Some(token(a_leads))));
    assert!(log.iter().filter(|r| r.method == "PUT").all(|r| r.status == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once() {
    let (pair, a_leads) = Pair::start().await.leader().await;
    let Pair { server, _dir, a, b } = pair;
    let (leader, other) = if a_leads { (a, b) } else { (b, a) };
    let mut leader_changes = leader.changes();
    leader.release().await;
    assert!(!*leader_changes.borrow_and_update());
    // What the release wrote: no holder, a one-second duration, the transitions kept.
    let release = server
        .log()
        .into_iter()
        .rev()
        .find(|r| r.method == "PUT" && r.token.as_deref() == Some(token(a_leads)))
        .unwrap();
    assert_eq!(release.status, 200);
    let spec = &release.json()["spec"];
    assert_eq!(
        (&spec["holderIdentity"], &spec["leaseDurationSeconds"], &spec["leaseTransitions"]),
        (&json!(""), &json!(1), &json!(0))
    );
    // The other replica takes it at its next try, well before the 2 s lease would expire.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !other.is_leader() {
        assert!(Instant::now() < deadline, "the other replica did not take the released lease within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.holder(NS, NAME).as_deref(), Some(identity(!a_leads)));
    assert_eq!(server.lease(NS, NAME).unwrap()["spec"]["leaseTransitions"], 1);
}

async fn a_failing_leader_steps_down_before_the_other_takes_over(failure: Failure) {
    let (pair, a_leads) = Pair::start().await.leader().await;
    let mut leader_changes = pair.leading(a_leads).changes();
    leader_changes.borrow_and_update();
    pair.server.fail(token(a_leads), Some(failure));
    // `until` checks throughout that the two never lead at once: the failing leader stops
    // before the other can see its lease expire.
    pair.until(10, "the other replica leads", |p| p.leading(!a_leads).is_leader()).await;
    assert!(!pair.leading(a_leads).is_leader());
    assert!(leader_changes.has_changed().unwrap());
    assert!(!*leader_changes.borrow_and_update());
    assert_eq!(pair.holder().as_deref(), Some(identity(!a_leads)));
    assert_eq!(pair.transitions(), 1);
    // The old leader's calls succeed again: it sees the lease held and does not take it back.
    pair.server.fail(token(a_leads), None);
    let start = Instant::now();
    pair.until(10, "two lease durations", |_| start.elapsed() > Duration::from_secs(4)).await;
    assert!(pair.leading(!a_leads).is_leader());
    assert!(!pair.leading(a_leads).is_leader());
    assert_eq!(pair.holder().as_deref(), Some(identity(!a_leads)));
    assert_eq!(pair.transitions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_answered_500_steps_down_and_the_other_takes_over() {
    a_failing_leader_steps_down_before_the_other_takes_over(Failure::Status500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_connections_drop_steps_down_and_the_other_takes_over() {
    a_failing_leader_steps_down_before_the_other_takes_over(Failure::Drop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_left_unanswered_steps_down_and_the_other_takes_over() {
    a_failing_leader_steps_down_before_the_other_takes_over(Failure::Stall).await;
}

/// A spec held by `holder`, renewed now.
fn spec_held_by(holder: &str, transitions: i64) -> serde_json::Value {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    json!({"holderIdentity": holder, "leaseDurationSeconds": 2, "leaseTransitions": transitions,
           "acquireTime": now, "renewTime": now})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_that_loses_the_race_leaves_the_winner_holding() {
    let server = FakeLeaseApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A lease whose holder is gone, and another writer that takes it just before our PUT.
    server.put_lease(NS, NAME, spec_held_by("gone", 5));
    server.set(|b| b.interfere_next_put = Some(spec_held_by("intruder", 6)));
    let a = Leadership::start(client(&server, dir.path(), "token-a").await, settings("replica-a"));
    let changes = a.changes();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().iter().any(|r| r.method == "PUT" && r.status == 409) {
        assert!(!a.is_leader(), "led although its PUT was not accepted");
        assert!(Instant::now() < deadline, "no PUT answered 409 within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The PUT that lost was an acquisition from the version read (gone's).
    let lost = server.log().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(lost.json()["spec"]["holderIdentity"], "replica-a");
    assert_eq!(lost.json()["spec"]["leaseTransitions"], 6);
    assert_eq!(lost.json()["metadata"]["resourceVersion"], "1");
    assert!(!a.is_leader());
    assert!(!*changes.borrow());
    assert_eq!(server.holder(NS, NAME).as_deref(), Some("intruder"));
    // The intruder never renews: a whole lease duration later, replica-a takes it over.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.is_leader() {
        assert!(Instant::now() < deadline, "did not take over the abandoned lease within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.holder(NS, NAME).as_deref(), Some("replica-a"));
    assert_eq!(server.lease(NS, NAME).unwrap()["spec"]["leaseTransitions"], 7);
    a.release().await;
    assert_eq!(server.holder(NS, NAME).as_deref(), Some(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_was_taken_steps_down_at_its_next_renewal() {
    let server = FakeLeaseApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Leadership::start(client(&server, dir.path(), "token-a").await, settings("replica-a"));
    let mut changes = a.changes();
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|l| *l)).await.unwrap().unwrap();
    server.put_lease(NS, NAME, spec_held_by("intruder", 9));
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|l| !*l)).await.unwrap().unwrap();
    assert!(!a.is_leader());
    // Its renewal was refused, it read the lease and saw the new holder.
    let log = server.log();
    let refused = log.iter().position(|r| r.method == "PUT" && r.status == 409).unwrap();
    assert!(log[refused + 1..].iter().any(|r| r.method == "GET" && r.status == 200));
    assert_eq!(server.holder(NS, NAME).as_deref(), Some("intruder"));
    // Released while not leading: the intruder's lease is left alone.
    a.release().await;
    assert_eq!(server.holder(NS, NAME).as_deref(), Some("intruder"));
}

#[tokio::test]
async fn the_fake_answers_as_the_api_server_does() {
    let server = FakeLeaseApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let api: Api<Lease> = Api::namespaced(client(&server, dir.path(), "token-a").await, NS);
    let status = |e: kube::Error| match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("not an API error: {other}"),
    };
    assert_eq!(
        status(api.get(NAME).await.unwrap_err()),
        (404, "NotFound".into(), format!("leases.coordination.k8s.io \"{NAME}\" not found"))
    );
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": NAME}, "spec": spec_held_by("x", 0)})).unwrap();
    let created = api.create(&PostParams::default(), &lease).await.unwrap();
    assert_eq!(created.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(
        status(api.create(&PostParams::default(), &lease).await.unwrap_err()),
        (409, "AlreadyExists".into(), format!("leases.coordination.k8s.io \"{NAME}\" already exists"))
    );
    let replaced = api.replace(NAME, &PostParams::default(), &created).await.unwrap();
    assert_eq!(replaced.metadata.resource_version.as_deref(), Some("2"));
    // The version read before the last write is stale now.
    assert_eq!(
        status(api.replace(NAME, &PostParams::default(), &created).await.unwrap_err()),
        (
            409,
            "Conflict".into(),
            format!(
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"{NAME}\": the object has been modified; please apply your changes to the latest version and try again"
            )
        )
    );
    let mut bad = replaced.clone();
    bad.spec.as_mut().unwrap().lease_duration_seconds = Some(0);
    assert_eq!(
        status(api.replace(NAME, &PostParams::default(), &bad).await.unwrap_err()),
        (
            422,
            "Invalid".into(),
            format!(
                "Lease.coordination.k8s.io \"{NAME}\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
            )
        )
    );
}

/// realkube's admin kubeconfig, when realkube is up.
fn realkube_kubeconfig() -> String {
    let env =
        std::fs::read_to_string("/var/tmp/realkube/env").expect("realkube is not up: /var/tmp/realkube/env is missing");
    let path = env
        .lines()
        .find_map(|l| l.strip_prefix("export ADMIN_KUBECONFIG='")?.strip_suffix('\''))
        .expect("ADMIN_KUBECONFIG in /var/tmp/realkube/env");
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs realkube up (shared/tools/realkube/up): run with --ignored"]
async fn realkube_accepts_the_lease_writes() {
    let kubeconfig = realkube_kubeconfig();
    let name = format!("attestor-registrar-test-{}", std::process::id());
    let settings =
        |identity: &str| LeaseSettings { namespace: "demo".into(), name: name.clone(), ..settings(identity) };
    let api: Api<Lease> = Api::namespaced(client_from(&kubeconfig).await, "demo");
    // Created by POST, renewed by PUT.
    let a = Leadership::start(client_from(&kubeconfig).await, settings("replica-a"));
    tokio::time::timeout(Duration::from_secs(10), a.changes().wait_for(|l| *l)).await.unwrap().unwrap();
    let first = api.get(&name).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(a.is_leader());
    let renewed = api.get(&name).await.unwrap().spec.unwrap();
    assert_eq!(renewed.holder_identity.as_deref(), Some("replica-a"));
    assert_ne!(renewed.renew_time, first.spec.as_ref().unwrap().renew_time);
    assert_eq!(renewed.acquire_time, first.spec.as_ref().unwrap().acquire_time);
    // A second replica waits; the release (a PUT with an empty holder) hands over.
    let b = Leadership::start(client_from(&kubeconfig).await, settings("replica-b"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!b.is_leader());
    a.release().await;
    tokio::time::timeout(Duration::from_secs(10), b.changes().wait_for(|l| *l)).await.unwrap().unwrap();
    let taken = api.get(&name).await.unwrap().spec.unwrap();
    assert_eq!((taken.holder_identity.as_deref(), taken.lease_transitions), (Some("replica-b"), Some(1)));
    b.release().await;
    let released = api.get(&name).await.unwrap().spec.unwrap();
    assert_eq!((released.holder_identity.as_deref(), released.lease_duration_seconds), (Some(""), Some(1)));
    api.delete(&name, &Default::default()).await.unwrap();
}

/// Log lines, as the test's subscriber wrote them.
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn matching(&self, text: &str) -> Vec<String> {
        let all = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        all.lines().filter(|l| l.contains(text)).map(str::to_owned).collect()
    }
}

// One thread: the subscriber set for this test sees the lease task's events.
#[tokio::test(flavor = "current_thread")]
async fn each_kind_of_failure_is_logged_once_until_calls_succeed_again() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = FakeLeaseApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Leadership::start(client(&server, dir.path(), "token-a").await, settings("replica-a"));
    let mut changes = a.changes();
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|l| *l)).await.unwrap().unwrap();
    server.fail("token-a", Some(Failure::Status500));
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|l| !*l)).await.unwrap().unwrap();
    // Several more tries, all failing.
    let failed_before = server.log().iter().filter(|r| r.status == 500).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.log().iter().filter(|r| r.status == 500).count() < failed_before + 4 {
        assert!(Instant::now() < deadline, "no more tries within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failures = lines.matching("lease API call failed");
    let message = |action: &str| {
        format!("{action} lease spire/{NAME}: the API server answered 500: Internal error occurred: injected failure")
    };
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(failures[0].contains(&message("renewing")), "{failures:#?}");
    assert!(failures[1].contains(&message("reading")), "{failures:#?}");
    assert_eq!(lines.matching("stopped leading: the lease was not renewed within the renew deadline").len(), 1);
    // Answered again: one line says so, and the lease is its own again.
    server.fail("token-a", None);
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|l| *l)).await.unwrap().unwrap();
    assert_eq!(lines.matching("lease API calls succeed again").len(), 1);
    assert_eq!(lines.matching("acquired the lease: this replica leads").len(), 2);
    assert_eq!(lines.matching("lease API call failed").len(), 2);
}
