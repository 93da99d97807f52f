//! `k8s_psat` figures (issue 12): the server role's attestation of an agent against the loopback
//! fake API server (TLS, real ES256 tokens; three API calls each: TokenReview, pod, node), with a
//! warm client and with the first attestation that builds the client; and the agent role's cost
//! per attestation (read the token file, build the payload); and the server role as the plugin
//! answers with Cedar node policies and an audit file: the node decision alone, and whole
//! attestations one at a time and many in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attestor::TrustDomain;
use attestor::psat::attest::{ClientLookup, PsatServer, attest};
use attestor::psat::client::{ApiClient, ClientError};
use attestor::psat::kube_client::KubeClient;
use attestor::psat::settings::{ClusterSettings, PsatSettings};
use attestor::spire::node_agent::{payload, read_token};
use attestor::spire::node_server::{NodeServerPlugin, NodeServerSettings};
use attestor::spire::proto::spire::plugin::server::nodeattestor::v1 as na;

use super::apiserver::{AgentToken, FakeApiServer};
use super::{Stats, iters, measure, report};

const CALLER: &str = "bench-server-token";
const CLUSTER: &str = "bench";
const POD: &str = "spire-agent-x1";
const POD_UID: &str = "7f1c5e2a-0000-4000-8000-000000000001";

/// A fake API server holding the agent's pod and node, and a kubeconfig for it.
struct Cluster {
    server: FakeApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: String,
}

async fn cluster() -> Cluster {
    let server = FakeApiServer::start(CALLER).await;
    server.put_pod("spire", POD, POD_UID, "node-1");
    server.put_node("node-1", "node-uid-1");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, server.kubeconfig(&ca, CALLER)).unwrap();
    Cluster { server, kubeconfig: path.to_str().unwrap().to_owned(), _dir: dir }
}

/// A server role whose one cluster is reached through `client`.
fn psat_server(kubeconfig: &str, client: Arc<KubeClient>) -> PsatServer {
    let mut cluster = ClusterSettings::allowing(["spire:spire-agent"]);
    cluster.kube_config_file = Some(kubeconfig.into());
    let settings = PsatSettings { clusters: [(CLUSTER.to_owned(), cluster)].into() };
    let lookup: ClientLookup =
        Arc::new(move |_: &str, _: &ClusterSettings| -> Result<Arc<dyn ApiClient>, ClientError> { Ok(client.clone()) });
    PsatServer::new(settings, TrustDomain::new("example.org").unwrap(), lookup)
}

/// What the agent sends for a freshly minted token.
fn agent_payload(server: &FakeApiServer) -> Vec<u8> {
    payload(CLUSTER, server.issue(&AgentToken::new(POD, POD_UID)).as_bytes())
}

/// Warm client: the kube client built, its connection open. `fresh_tokens`: every attestation
/// presents a token the API server has not reviewed (as a server attesting many agents sees;
/// the fake verifies its ES256 signature); otherwise one token over and over (the fake answers
/// from its 10 s success cache, as a real API server does).
fn warm(tokio: &tokio::runtime::Runtime, c: &Cluster, fresh_tokens: bool) {
    let client = Arc::new(KubeClient::new(&c.kubeconfig, KubeClient::DEFAULT_TIMEOUT));
    let server = psat_server(&c.kubeconfig, client.clone());
    let n = iters(500);
    let total = n + (n / 10).max(1);
    // Minted up front: signing is the agent's kubelet's work, not the server's.
    let payloads: Vec<Vec<u8>> = if fresh_tokens {
        (0..total).map(|_| agent_payload(&c.server)).collect()
    } else {
        vec![agent_payload(&c.server)]
    };
    tokio.block_on(attest(Some(&server), Some(&agent_payload(&c.server)))).unwrap();
    let before = c.server.requests();
    let mut i = 0;
    let s = measure(n, || {
        let p = &payloads[i % payloads.len()];
        let a = tokio.block_on(attest(Some(&server), Some(p))).unwrap();
        assert_eq!(a.agent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/bench/node-uid-1");
        i += 1;
    });
    let requests = c.server.requests() - before;
    let label = if fresh_tokens { "a new token each" } else { "one token (cached review)" };
    report(&format!("psat server, warm client, {label}"), &s);
    println!(
        "{:<58} {:.2} API requests per attestation, client built {} time(s)",
        "",
        requests as f64 / i as f64,
        client.builds()
    );
}

/// The first attestation on a new client: kubeconfig read, TLS set up, connection opened.
fn first(tokio: &tokio::runtime::Runtime, c: &Cluster) {
    let runs = iters(50);
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let client = Arc::new(KubeClient::new(&c.kubeconfig, KubeClient::DEFAULT_TIMEOUT));
            let server = psat_server(&c.kubeconfig, client.clone());
            let p = agent_payload(&c.server);
            let t = Instant::now();
            tokio.block_on(attest(Some(&server), Some(&p))).unwrap();
            let elapsed = t.elapsed();
            assert_eq!(client.builds(), 1);
            elapsed
        })
        .collect();
    samples.sort();
    let s = Stats { median: samples[runs / 2], p99: samples[(runs * 99 / 100).min(runs - 1)], n: runs };
    report("psat server, first attestation on a new client (build)", &s);
}

/// The agent side: the token file read and the payload built, directly and as the plugin does
/// it (the read on tokio's blocking pool).
fn agent(tokio: &tokio::runtime::Runtime, c: &Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let token = c.server.issue(&AgentToken::new(POD, POD_UID));
    std::fs::write(&path, &token).unwrap();
    let s = measure(iters(5000), || {
        let token = read_token(&path).unwrap();
        std::hint::black_box(payload(CLUSTER, &token));
    });
    report(&format!("psat agent: read token ({} B) + build payload", token.len()), &s);
    let s = measure(iters(5000), || {
        let path = path.clone();
        let read = async move { tokio::task::spawn_blocking(move || read_token(&path)).await };
        let token = tokio.block_on(read).unwrap().unwrap();
        std::hint::black_box(payload(CLUSTER, &token));
    });
    report("psat agent: the same, read on the blocking pool (plugin)", &s);
}

/// A node policy set like `policies/examples/node-attestation`: the service account, the pool,
/// a quarantined node (a linked template) and a node identity rule naming agents by pool.
const NODE_POLICIES: &str = r#"
@id("spire-agent-only")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal in Attest::ServiceAccount::"spire/spire-agent" };
@id("general-pool-only")
@reason("agents run only on the general pool")
forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal.node.hasTag("pool") && principal.node.getTag("pool") == "general" };
@id("quarantine")
forbid (principal in ?principal, action == Attest::Action::"attest_node", resource);
@id("agent-by-pool")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_label:pool}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("pool") };
"#;

const NODE_LINKS: &str = r#"[{"template_id": "quarantine", "link_id": "quarantine-node-9",
  "args": {"?principal": "Attest::Node::\"node-9\""}}]"#;

/// The server role configured as SPIRE would, with node policies and an audit file.
fn plugin_with_policies(c: &Cluster, dir: &std::path::Path) -> NodeServerPlugin {
    std::fs::write(dir.join("nodes.cedar"), NODE_POLICIES).unwrap();
    std::fs::write(dir.join("links.json"), NODE_LINKS).unwrap();
    let hcl = format!(
        "clusters = {{\n  {CLUSTER} = {{\n    service_account_allow_list = [\"spire:spire-agent\"]\n             kube_config_file = {:?}\n  }}\n}}\npolicy {{\n  dir = {:?}\n}}\naudit {{\n  path = {:?}\n}}\n",
        c.kubeconfig,
        dir.display().to_string(),
        dir.join("audit.jsonl").display().to_string(),
    );
    let plugin = NodeServerPlugin::new();
    plugin.configure(NodeServerSettings::parse(Some("example.org"), &hcl).unwrap()).unwrap();
    plugin
}

fn request(p: Vec<u8>) -> Option<na::AttestRequest> {
    Some(na::AttestRequest { request: Some(na::attest_request::Request::Payload(p)) })
}

/// The server role with node policies: the decision alone; whole attestations (ten steps, the
/// node policies, the audit record) one at a time; and `IN_FLIGHT` at once.
fn with_policies(tokio: &tokio::runtime::Runtime, c: &Cluster) {
    const WANT: &str = "spiffe://example.org/spire/agent/k8s_psat/bench/general/node-uid-1";
    const IN_FLIGHT: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_with_policies(c, dir.path());
    let first = tokio.block_on(plugin.answer(request(agent_payload(&c.server)))).unwrap();
    assert_eq!(first.agent_id.to_string(), WANT);

    let policies = attestor::policy::Policies::from_files(
        &attestor::policy::read_dir(dir.path()).unwrap(),
        &attestor::policy::PolicySettings::default(),
        &TrustDomain::new("example.org").unwrap(),
    )
    .unwrap();
    let s = measure(iters(20_000), || {
        let d = policies.decide_node(&first.facts).unwrap();
        assert_eq!(d.agent_id().map(ToString::to_string).as_deref(), Some(WANT));
    });
    report("node policies: decide_node (3 gates, 1 link, 1 rule)", &s);

    let n = iters(500);
    let payloads: Vec<Vec<u8>> = (0..n + IN_FLIGHT * n / 4).map(|_| agent_payload(&c.server)).collect();
    let mut next = payloads.into_iter();
    let s = measure(n, || {
        let a = tokio.block_on(plugin.answer(request(next.next().unwrap()))).unwrap();
        assert_eq!(a.agent_id.to_string(), WANT);
    });
    report("psat server role + node policies + audit file, a new token each", &s);

    let plugin = Arc::new(plugin);
    let rounds = n / 4;
    let mut latencies = Vec::with_capacity(rounds * IN_FLIGHT);
    let started = Instant::now();
    for _ in 0..rounds {
        let batch: Vec<Vec<u8>> = next.by_ref().take(IN_FLIGHT).collect();
        let done = tokio.block_on(async {
            let tasks: Vec<_> = batch
                .into_iter()
                .map(|p| {
                    let plugin = Arc::clone(&plugin);
                    tokio::spawn(async move {
                        let t = Instant::now();
                        let a = plugin.answer(request(p)).await.unwrap();
                        assert_eq!(a.agent_id.to_string(), WANT);
                        t.elapsed()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        latencies.extend(done);
    }
    let wall = started.elapsed();
    latencies.sort();
    let count = latencies.len();
    let s = Stats { median: latencies[count / 2], p99: latencies[(count * 99 / 100).min(count - 1)], n: count };
    report(&format!("the same, {IN_FLIGHT} in flight (latency of each)"), &s);
    println!(
        "{:<58} {:.0} attestations/s ({count} in {:.2} s on 2 worker threads)",
        "",
        count as f64 / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
    let lines = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap().lines().count();
    println!("{:<58} {lines} audit records written", "");
}

/// Every `k8s_psat` figure.
pub fn bench() {
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let c = tokio.block_on(cluster());
    warm(&tokio, &c, true);
    warm(&tokio, &c, false);
    first(&tokio, &c);
    agent(&tokio, &c);
    with_policies(&tokio, &c);
}
