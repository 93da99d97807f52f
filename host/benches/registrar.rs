//! Registrar figures (issue 13): a cluster of 10,000 pods on 500 nodes in 100 namespaces, 50
//! policies of the kinds the examples show. `desired()` per mode (median of a few runs); a
//! convergence from empty against the loopback Entry API server (`common/entry_server.rs`), with
//! its Entry API calls; a second reconciliation with nothing to do; one pod's label changed and
//! reconciled to converged (both per mode); CPU time from `/proc/.../stat` and peak RSS from
//! `/proc/self/status`.
//!
//! The registrar side runs on the main thread (a current-thread runtime); the loopback server
//! runs on its own runtime, one worker named `entry-server`, so its CPU time is told apart. Its
//! memory is not: the server's stored entries are in this process's RSS too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use attestor::TrustDomain;
use attestor::audit::{AuditLog, AuditSettings};
use attestor::policy::{Policies, PolicyFile, PolicySettings};
use attestor::registrar::desired::{DecisionCache, Desired, desired, desired_with};
use attestor::registrar::entry_api::EntryClient;
use attestor::registrar::plan::Orphans;
use attestor::registrar::reconcile::{BATCH, PAGE, Reconciled, reconcile};
use attestor::registrar::settings::{DEFAULT_PARENT_ID_TEMPLATE, Mode, RegistrarSettings};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::entry_server::EntryServer;

const NODES: usize = 500;
const PODS: usize = 10_000;
const PREFIX: &str = "attestor.";
/// Runs of `desired()` per mode (the median is printed).
const DESIRED_RUNS: usize = 3;
const TEAMS: [&str; 12] = [
    "payments", "search", "checkout", "identity", "data", "ml", "growth", "infra", "mobile", "media", "ads", "support",
];
const WORDS: [&str; 12] =
    ["api", "web", "worker", "ledger", "search", "cart", "auth", "mailer", "report", "gateway", "cache", "indexer"];
const TIERS: [&str; 5] = ["frontend", "backend", "backend", "data", "batch"];
const FEDERATES: [&str; 4] = ["partner.example", "auditor.example", "partner.example,auditor.example", "evil.example"];

// ---------------------------------------------------------------------------------------------
// Process figures, read from procfs.

/// User + system CPU time of a `/proc/.../stat` file (fields 14 and 15, in USER_HZ ticks, which
/// Linux fixes at 100 per second for procfs).
fn cpu_of(path: &str) -> Duration {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces and parentheses: count after the last `)`.
    let Some(rest) = text.rfind(')').map(|at| &text[at + 1..]) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts with field 3 (state): utime is field 14, stime 15.
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

/// CPU time of the whole process.
fn cpu_process() -> Duration {
    cpu_of("/proc/self/stat")
}

/// CPU time of the calling thread (the registrar's: its runtime is the main thread's).
fn cpu_thread() -> Duration {
    cpu_of("/proc/thread-self/stat")
}

/// CPU time of the threads named `name` (the loopback server's runtime).
fn cpu_threads_named(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .map(|t| cpu_of(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Peak RSS over the whole benchmark (VmHWM is reset per phase, so the phases' peaks are kept).
struct Memory {
    peak_kib: u64,
    resettable: bool,
}

impl Memory {
    fn new() -> Self {
        Self { peak_kib: status_kib("VmHWM"), resettable: true }
    }

    /// Start a phase: keep the peak so far, then reset VmHWM to the current RSS
    /// (`/proc/self/clear_refs` value 5).
    fn start(&mut self) -> u64 {
        self.peak_kib = self.peak_kib.max(status_kib("VmHWM"));
        self.resettable = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        status_kib("VmRSS")
    }

    /// The peak since `start` (since the process began when VmHWM cannot be reset).
    fn peak(&mut self) -> u64 {
        let hwm = status_kib("VmHWM");
        self.peak_kib = self.peak_kib.max(hwm);
        hwm
    }
}

/// What one phase cost.
struct Cost {
    wall: Duration,
    cpu_registrar: Duration,
    cpu_server: Duration,
    cpu_process: Duration,
    rss_before: u64,
    rss_after: u64,
    peak: u64,
}

fn run<T>(memory: &mut Memory, f: impl FnOnce() -> T) -> (T, Cost) {
    let rss_before = memory.start();
    let (p, r, s) = (cpu_process(), cpu_thread(), cpu_threads_named("entry-server"));
    let t = Instant::now();
    let out = f();
    let wall = t.elapsed();
    let cost = Cost {
        wall,
        cpu_registrar: cpu_thread().saturating_sub(r),
        cpu_server: cpu_threads_named("entry-server").saturating_sub(s),
        cpu_process: cpu_process().saturating_sub(p),
        rss_before,
        rss_after: status_kib("VmRSS"),
        peak: memory.peak(),
    };
    (out, cost)
}

fn print_cost(name: &str, c: &Cost) {
    println!(
        "{name:<58} wall {:>8.3} s   CPU registrar {:.2} s, loopback server {:.2} s, process {:.2} s",
        c.wall.as_secs_f64(),
        c.cpu_registrar.as_secs_f64(),
        c.cpu_server.as_secs_f64(),
        c.cpu_process.as_secs_f64(),
    );
    println!("{:<58} RSS {:.0} → {:.0} MiB, peak {:.0} MiB", "", mib(c.rss_before), mib(c.rss_after), mib(c.peak));
}

// ---------------------------------------------------------------------------------------------
// The cluster.

/// A controller and the pods it runs.
struct Controller {
    ns: String,
    app: String,
    team: String,
    sa: String,
    kind: &'static str,
    owner: String,
    /// One pod per node, on every node.
    daemon: bool,
    replicas: usize,
    host_network: bool,
    containers: Vec<(String, String)>,
    init: Option<(String, String)>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// Placement offset over the nodes.
    seed: usize,
}

struct Cluster {
    namespaces: Vec<Namespace>,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    controllers: Vec<Controller>,
    containers: usize,
}

fn node_name(i: usize) -> String {
    format!("node-{i:03}")
}

fn node_uid(i: usize) -> String {
    format!("6f1b{i:04x}-2c3d-4e5f-8a9b-{:012x}", i * 104_729)
}

/// The 100 namespaces, with the team each belongs to.
fn namespace_teams() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("kube-system", "infra"),
        ("kube-public", "infra"),
        ("spire-system", "infra"),
        ("platform-ops", "infra"),
        ("quarantine-a", "support"),
        ("quarantine-b", "support"),
    ]
    .iter()
    .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
    .collect();
    out.extend((1..=4).map(|i| (format!("payments-{i}"), "payments".to_owned())));
    out.extend((0..90).map(|i| (format!("ns-{i:03}"), TEAMS[1 + i % 11].to_owned())));
    out
}

#[allow(clippy::too_many_arguments)]
fn controller(
    ns: &str,
    app: &str,
    team: &str,
    tier: &'static str,
    sa: &str,
    kind: &'static str,
    replicas: usize,
    image: &str,
    seed: usize,
) -> Controller {
    let hash = format!("{:010x}", (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24)[..10].to_owned();
    let owner = if kind == "ReplicaSet" { format!("{app}-{hash}") } else { app.to_owned() };
    let mut labels: BTreeMap<String, String> = [("app", app), ("team", team), ("tier", tier)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if kind == "ReplicaSet" {
        labels.insert("pod-template-hash".into(), hash);
    }
    let annotations: BTreeMap<String, String> = [
        ("kubectl.kubernetes.io/restartedAt", "2025-11-28T09:14:00Z"),
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", "9090"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    Controller {
        ns: ns.into(),
        app: app.into(),
        team: team.into(),
        sa: sa.into(),
        kind,
        owner,
        daemon: false,
        replicas,
        host_network: false,
        containers: vec![("app".into(), image.into())],
        init: None,
        labels,
        annotations,
        seed,
    }
}

/// The controllers: system daemon sets, quarantined and platform namespaces, then application
/// deployments (1–3 containers, labels and annotations for every kind of rule) until 10,000 pods.
fn controllers(teams: &[(String, String)]) -> Vec<Controller> {
    let mut out = Vec::new();
    let reg = "registry.example.com";
    let mut proxy = controller(
        "kube-system",
        "kube-proxy",
        "infra",
        "backend",
        "kube-proxy",
        "DaemonSet",
        NODES,
        "registry.k8s.io/kube-proxy:v1.33.1",
        1,
    );
    proxy.daemon = true;
    proxy.host_network = true;
    out.push(proxy);
    out.push(controller(
        "kube-system",
        "coredns",
        "infra",
        "backend",
        "coredns",
        "ReplicaSet",
        10,
        "registry.k8s.io/coredns/coredns:v1.12.0",
        2,
    ));
    let mut agent = controller(
        "spire-system",
        "spire-agent",
        "infra",
        "backend",
        "spire-agent",
        "DaemonSet",
        NODES,
        "ghcr.io/spiffe/spire-agent:1.13.0",
        3,
    );
    agent.daemon = true;
    agent.host_network = true;
    out.push(agent);
    out.push(controller(
        "spire-system",
        "spire-server",
        "infra",
        "backend",
        "spire-server",
        "StatefulSet",
        3,
        "ghcr.io/spiffe/spire-server:1.13.0",
        4,
    ));
    out.push(controller(
        "kube-public",
        "cluster-info",
        "infra",
        "frontend",
        "default",
        "ReplicaSet",
        2,
        "nginx:1.27",
        5,
    ));
    for (k, ns) in ["quarantine-a", "quarantine-b"].iter().enumerate() {
        out.push(controller(
            ns,
            &format!("suspicious-{k}"),
            "support",
            "backend",
            "default",
            "ReplicaSet",
            25,
            "docker.io/someone/miner:latest",
            6 + k,
        ));
    }
    for (k, app) in ["ingress", "monitoring", "ops-admin"].iter().enumerate() {
        let mut c = controller(
            "platform-ops",
            app,
            "infra",
            "backend",
            app,
            "ReplicaSet",
            20,
            &format!("{reg}/infra/{app}:2.{k}"),
            10 + k,
        );
        if *app == "ops-admin" {
            c.labels.insert("admin".into(), "true".into());
        }
        out.push(c);
    }
    let app_namespaces: Vec<&(String, String)> =
        teams.iter().filter(|(n, _)| n.starts_with("payments-") || n.starts_with("ns-")).collect();
    let mut pods: usize = out.iter().map(|c| c.replicas).sum();
    let mut d = 0;
    while pods < PODS {
        let (ns, team) = app_namespaces[d % app_namespaces.len()];
        let word = WORDS[d % WORDS.len()];
        let app = format!("{word}-{d}");
        let tier = TIERS[d % TIERS.len()];
        let sa = if d % 4 == 0 { "default".to_owned() } else { app.clone() };
        let replicas = (5 + (d * 7) % 31).min(PODS - pods);
        let tag = if d % 19 == 0 { "latest".to_owned() } else { format!("1.{}", d % 9) };
        let image = format!("{reg}/{team}/{word}:{tag}");
        let mut c = controller(ns, &app, team, tier, &sa, "ReplicaSet", replicas, &image, 100 + d);
        if d % 3 == 0 {
            c.containers.push(("envoy".into(), format!("{reg}/mesh/envoy:1.29.4")));
        }
        if d % 5 == 0 {
            c.init = Some(("migrate".into(), format!("{reg}/{team}/{word}-migrate:{tag}")));
        }
        for (every, key, value) in [
            (7, "spiffe.io/spiffe-id", app.as_str()),
            (11, "spiffe.io/identity-template", "true"),
            (13, "compliance.example.com/scope", "pci"),
            (17, "spiffe.io/owner-id", "true"),
            (29, "admin", "true"),
        ] {
            if d % every == 0 {
                c.labels.insert(key.into(), value.into());
            }
        }
        if d % 9 == 0 {
            c.annotations.insert("spiffe.io/spiffe-id".into(), format!("legacy-{app}"));
        }
        if d % 10 == 0 {
            c.annotations.insert("spiffe.io/federatesWith".into(), FEDERATES[(d / 10) % FEDERATES.len()].into());
        }
        pods += replicas;
        out.push(c);
        d += 1;
    }
    out
}

fn image_id(image: &str) -> String {
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    format!("{repo}@sha256:{}", hex::encode(Sha256::digest(image.as_bytes())))
}

fn container_json(containers: &[(String, String)]) -> (Value, Value) {
    let spec = containers.iter().map(|(n, i)| json!({"name": n, "image": i})).collect();
    let status = containers
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i, "imageID": image_id(i), "ready": true, "restartCount": 0}))
        .collect();
    (Value::Array(spec), Value::Array(status))
}

/// Pod `r` of controller `c`, the `i`th pod of the cluster: a few are pending (not scheduled) or
/// finished.
fn pod(c: &Controller, r: usize, i: usize) -> Pod {
    let name = format!("{}-{:05x}", c.owner, (i as u64).wrapping_mul(2_654_435_761) & 0xfffff);
    let uid = format!("{i:08x}-7d1e-4c2b-9a0f-{:012x}", (c.seed * 1000 + r) as u64);
    let owner_uid = format!("{:08x}-0000-4000-8000-000000000000", c.seed);
    let pending = !c.daemon && i % 250 == 7;
    let finished = !c.daemon && i % 300 == 11;
    let node = if c.daemon { r } else { (c.seed * 37 + r * 13 + 101) % NODES };
    let (containers, statuses) = container_json(&c.containers);
    let mut spec = json!({
        "serviceAccountName": c.sa,
        "containers": containers,
        "hostNetwork": c.host_network,
    });
    let mut status = json!({"phase": if finished { "Succeeded" } else if pending { "Pending" } else { "Running" }});
    if !pending {
        spec["nodeName"] = json!(node_name(node));
        status["containerStatuses"] = statuses;
    }
    if let Some(init) = &c.init {
        let (spec_init, status_init) = container_json(std::slice::from_ref(init));
        spec["initContainers"] = spec_init;
        if !pending {
            status["initContainerStatuses"] = status_init;
        }
    }
    let v = json!({
        "metadata": {
            "name": name,
            "namespace": c.ns,
            "uid": uid,
            "labels": c.labels,
            "annotations": c.annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": c.kind,
                "name": c.owner,
                "uid": owner_uid,
                "controller": true,
            }],
            "creationTimestamp": "2025-11-28T09:14:05Z",
        },
        "spec": spec,
        "status": status,
    });
    serde_json::from_value(v).unwrap()
}

impl Cluster {
    fn build() -> Self {
        let teams = namespace_teams();
        let namespaces = teams
            .iter()
            .map(|(n, t)| {
                let labels = json!({"kubernetes.io/metadata.name": n, "team": t});
                serde_json::from_value(json!({"metadata": {"name": n, "uid": format!("ns-uid-{n}"), "labels": labels}}))
                    .unwrap()
            })
            .collect();
        let nodes = (0..NODES)
            .map(|i| {
                let labels = json!({
                    "kubernetes.io/hostname": node_name(i),
                    "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
                    "node.kubernetes.io/instance-type": "m6i.2xlarge",
                });
                serde_json::from_value(
                    json!({"metadata": {"name": node_name(i), "uid": node_uid(i), "labels": labels}}),
                )
                .unwrap()
            })
            .collect();
        let controllers = controllers(&teams);
        let mut pods = Vec::with_capacity(PODS);
        let mut containers = 0;
        for c in &controllers {
            for r in 0..c.replicas {
                pods.push(pod(c, r, pods.len()));
                containers += c.containers.len() + usize::from(c.init.is_some());
            }
        }
        Self { namespaces, nodes, pods, controllers, containers }
    }
}

// ---------------------------------------------------------------------------------------------
// The policies.

/// Gates, guards and identity rules as the examples write them (`disabled-namespaces`,
/// `controller-manager-fallback`, `federation`, `registrar-label`, `registrar-annotation`,
/// `identity-template`, `dns`, `platform-guards`), plus rules and policies reading process facts
/// (`principal.unix.uid`, `{unix.uid}`, module facts) for the partial evaluation.
const FIXED: &str = r#"
@id("disabled-namespaces")
@reason("kube-public and quarantined namespaces are not attested")
forbid (principal, action == Attest::Action::"attest", resource)
when
{
  principal in Attest::Namespace::"kube-public" ||
  principal in Attest::Namespace::"quarantine-a" ||
  principal in Attest::Namespace::"quarantine-b"
};

@id("no-root-batch")
@reason("batch jobs never run as root")
forbid (principal, action == Attest::Action::"attest", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.hasTag("tier") &&
  principal.k8s.pod.getTag("tier") == "batch" &&
  principal.unix.uid == 0
};

@id("ignore-namespaces")
@reason("ignored namespace: kube-system, kube-public and spire-system get no IDs from these rules")
forbid (principal, action == Attest::Action::"issue", resource)
when
{
  principal in Attest::Namespace::"kube-system" ||
  principal in Attest::Namespace::"kube-public" ||
  principal in Attest::Namespace::"spire-system"
};

@id("unknown-federation")
@reason("spiffe.io/federatesWith names a trust domain this host does not federate with")
forbid (principal, action == Attest::Action::"issue", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.annotations.hasTag("spiffe.io/federatesWith") &&
  !(["partner.example",
    "auditor.example",
    "partner.example,auditor.example",
    "auditor.example,partner.example"].contains(
       principal.k8s.pod.annotations.getTag("spiffe.io/federatesWith")
     ))
};

@id("admin-path")
@reason("/admin/ IDs belong to platform-ops")
forbid (principal, action == Attest::Action::"issue", resource)
when { resource.path like "/admin/*" }
unless { principal in Attest::Namespace::"platform-ops" };

@id("pci-pinned-images")
@reason("PCI IDs only for images pinned to a version")
forbid (principal, action == Attest::Action::"issue", resource)
when
{
  resource.path like "/pci/*" &&
  principal has k8s &&
  principal.k8s has image &&
  principal.k8s.image.ref like "*:latest"
};

@id("payments-not-root")
@reason("payments IDs are never issued to root")
forbid (principal, action == Attest::Action::"issue", resource)
when { resource.path like "/team/payments/*" && principal.unix.uid == 0 };

@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@hint("k8s")
@fallback
@reason("default: namespace and service account")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s };

@id("ns-sa-federates-partner")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@federates_with("partner.example")
@reason("spiffe.io/federatesWith: partner.example")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.annotations.hasTag("spiffe.io/federatesWith") &&
  ["partner.example"].contains(principal.k8s.pod.annotations.getTag("spiffe.io/federatesWith"))
};

@id("ns-sa-federates-auditor")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@federates_with("auditor.example")
@reason("spiffe.io/federatesWith: auditor.example")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.annotations.hasTag("spiffe.io/federatesWith") &&
  ["auditor.example"].contains(principal.k8s.pod.annotations.getTag("spiffe.io/federatesWith"))
};

@id("ns-sa-federates-both")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@federates_with("partner.example, auditor.example")
@reason("spiffe.io/federatesWith: partner.example and auditor.example")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.annotations.hasTag("spiffe.io/federatesWith") &&
  ["partner.example,auditor.example", "auditor.example,partner.example"].contains(
    principal.k8s.pod.annotations.getTag("spiffe.io/federatesWith"))
};

@id("registrar-label")
@spiffe_id("spiffe://{trust_domain}/{label:spiffe.io/spiffe-id}")
@reason("k8s-workload-registrar label mode")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("spiffe.io/spiffe-id") };

@id("registrar-annotation")
@spiffe_id("spiffe://{trust_domain}/{annotation:spiffe.io/spiffe-id}")
@reason("k8s-workload-registrar annotation mode")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.annotations.hasTag("spiffe.io/spiffe-id") };

@id("identity-template")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}/pod/{k8s.pod_name}")
@reason("k8s-workload-registrar identity_template, for pods that opt in")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.hasTag("spiffe.io/identity-template") &&
  principal.k8s.pod.getTag("spiffe.io/identity-template") == "true"
};

@id("payments-app")
@spiffe_id("spiffe://{trust_domain}/team/payments/app/{label:app}")
@hint("app")
@priority("10")
@reason("ClusterSPIFFEID payments-app: app-labelled pods in team=payments namespaces")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.namespace.hasTag("team") &&
  principal.k8s.namespace.getTag("team") == "payments" &&
  principal.k8s.pod.hasTag("app")
};

@id("compliance-pci")
@spiffe_id("spiffe://{trust_domain}/pci/{k8s.namespace}/{k8s.service_account}")
@hint("pci")
@reason("ClusterSPIFFEID compliance-pci")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.hasTag("compliance.example.com/scope") &&
  principal.k8s.pod.getTag("compliance.example.com/scope") == "pci"
};

@id("app-dns")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@dns("{label:app}.{k8s.namespace}.svc, {label:app}.{k8s.namespace}.svc.cluster.local")
@hint("app")
@reason("the pod's ID, with the DNS names of the Service its app label names")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") && principal.k8s.pod.hasTag("tier") && principal.k8s.pod.getTag("tier") == "frontend" };

@id("team-app")
@spiffe_id("spiffe://{trust_domain}/{label:team}/{label:app}")
@hint("app")
@reason("a team-chosen ID from the pod's team and app labels")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("team") && principal.k8s.pod.hasTag("app") };

@id("owner-id")
@spiffe_id("spiffe://{trust_domain}/workload/{k8s.namespace}/{k8s.owner_kind}/{k8s.owner_name}")
@reason("pods that opt in are named by their controller")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod has owner && principal.k8s.pod.hasTag("spiffe.io/owner-id") };

@id("mesh-sidecar")
@spiffe_id("spiffe://{trust_domain}/mesh/{k8s.namespace}/{k8s.service_account}/{k8s.container}")
@reason("the mesh sidecar has its own ID")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s has container && principal.k8s.container == "envoy" };

@id("admin")
@spiffe_id("spiffe://{trust_domain}/admin/{k8s.namespace}/{label:app}")
@reason("admin tools")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("admin") && principal.k8s.pod.hasTag("app") };

@id("ops-root")
@spiffe_id("spiffe://{trust_domain}/ops/{k8s.namespace}/{label:app}/root")
@reason("platform-ops processes running as root")
permit (principal in Attest::Namespace::"platform-ops", action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") && principal.unix.uid == 0 };

@id("batch-uid")
@spiffe_id("spiffe://{trust_domain}/batch/{k8s.namespace}/{label:app}/uid/{unix.uid}")
@reason("batch jobs are named by the user they run as")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when
{
  principal has k8s &&
  principal.k8s.pod.hasTag("app") &&
  principal.k8s.pod.hasTag("tier") &&
  principal.k8s.pod.getTag("tier") == "batch"
};

@id("module-team")
@spiffe_id("spiffe://{trust_domain}/team/{k8s.namespace}/{k8s.service_account}/module")
@reason("the team module vouches for payments processes")
permit (principal in Attest::Namespace::"payments-1", action == Attest::Action::"propose", resource)
when { principal has k8s && principal.hasTag("team.team") && principal.getTag("team.team") == "payments" };
"#;

/// The 50 policies: the fixed ones, then identity rules per namespace and per service account
/// (hand-written per team) until there are 50.
fn policy_text(cluster: &Cluster) -> (String, usize) {
    let mut text = FIXED.to_owned();
    let fixed = FIXED.matches("@id(").count();
    let per_ns = (50 - fixed) / 2;
    for k in 0..per_ns {
        let ns = format!("ns-{:03}", k * 7);
        text.push_str(&format!(
            "\n@id(\"{ns}-services\")\n@spiffe_id(\"spiffe://{{trust_domain}}/team/{{label:team}}/svc/{{k8s.service_account}}\")\npermit (principal in Attest::Namespace::\"{ns}\", action == Attest::Action::\"propose\", resource)\nwhen {{ principal has k8s && principal.k8s.pod.hasTag(\"team\") }};\n"
        ));
    }
    let services =
        cluster.controllers.iter().filter(|c| c.ns.starts_with("ns-") && c.sa != "default" && c.kind == "ReplicaSet");
    for c in services.step_by(17).take(50 - fixed - per_ns) {
        text.push_str(&format!(
            "\n@id(\"sa-{ns}-{sa}\")\n@spiffe_id(\"spiffe://{{trust_domain}}/{team}/{app}\")\npermit (principal in Attest::ServiceAccount::\"{ns}/{sa}\", action == Attest::Action::\"propose\", resource)\nwhen {{ principal has k8s }};\n",
            ns = c.ns,
            sa = c.sa,
            team = c.team,
            app = c.app
        ));
    }
    let count = text.matches("@id(").count();
    (text, count)
}

// ---------------------------------------------------------------------------------------------
// The runs.

fn settings(mode: Mode) -> RegistrarSettings {
    RegistrarSettings {
        cluster: "prod".into(),
        spire_server_socket: "/unused".into(),
        kube_config_file: None,
        mode,
        parent_id_template: DEFAULT_PARENT_ID_TEMPLATE.into(),
        entry_id_prefix: PREFIX.into(),
        delete_grace_period: Duration::ZERO,
        resync_interval: Duration::from_secs(300),
        metrics_addr: None,
    }
}

/// The calls since `before`, by method, from the client's count and the server's log (calls,
/// items).
fn print_calls(client: &EntryClient, before: &BTreeMap<&'static str, u64>, server: &EntryServer) {
    // Calls, items in all, items in the largest call (for `ListEntries`: the page size asked).
    let mut items: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for call in server.log() {
        let e = items.entry(call.method).or_default();
        e.0 += 1;
        e.1 += call.items;
        e.2 = e.2.max(call.items);
    }
    let after = client.calls();
    let total: u64 = after.iter().map(|(m, n)| n - before.get(m).copied().unwrap_or(0)).sum();
    let parts: Vec<String> = after
        .iter()
        .filter_map(|(m, n)| {
            let n = n - before.get(m).copied().unwrap_or(0);
            (n > 0).then(|| {
                let (seen, sent, largest) = items.get(m).copied().unwrap_or_default();
                if *m == "ListEntries" {
                    format!("{m} {n} (server saw {seen}, page size {largest})")
                } else {
                    format!("{m} {n} (server saw {seen}, {sent} items, at most {largest} a call)")
                }
            })
        })
        .collect();
    println!("{:<58} Entry API calls {total}: {}", "", parts.join(", "));
    server.clear_log();
}

fn print_done(r: &Reconciled) {
    println!(
        "{:<58} created {}, updated {}, deleted {}, unchanged {}, refused {}, foreign {}",
        "",
        r.created,
        r.updated,
        r.deleted,
        r.plan.unchanged,
        r.failed.len(),
        r.foreign
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `desired()` over the whole cluster, `DESIRED_RUNS` times; the last answer is returned.
fn bench_desired(memory: &mut Memory, cluster: &Cluster, policies: &Policies, mode: Mode) -> Desired {
    let s = settings(mode);
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut last = None;
    let mut peak = 0;
    for _ in 0..DESIRED_RUNS {
        let (d, cost) = run(memory, || {
            desired(policies, &s, &cluster.pods, &cluster.namespaces, &cluster.nodes, SystemTime::now()).unwrap()
        });
        walls.push(cost.wall);
        cpus.push(cost.cpu_registrar);
        peak = peak.max(cost.peak);
        last = Some((d, cost));
    }
    let (d, cost) = last.unwrap();
    let wall = median(walls);
    println!(
        "{:<58} median {:>8.3} s ({DESIRED_RUNS} runs)   CPU {:.2} s   {:.0} µs per pod",
        format!("desired(), {} pods, {}", cluster.pods.len(), mode.as_str()),
        wall.as_secs_f64(),
        median(cpus).as_secs_f64(),
        wall.as_secs_f64() * 1e6 / cluster.pods.len() as f64
    );
    let shared = d.entries.values().filter(|w| w.pods > 1).count();
    let skipped: Vec<String> = d.skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "{:<58} {} entries wanted ({:.2} per pod given any; {shared} wanted by more than one pod); pods skipped: {}",
        "",
        d.entries.len(),
        d.entries.len() as f64 / (d.pods - d.skipped.values().sum::<usize>()) as f64,
        skipped.join(", ")
    );
    println!("{:<58} rules needing a process: {}", "", d.needs_runtime.iter().cloned().collect::<Vec<_>>().join(", "));
    println!(
        "{:<58} RSS {:.0} → {:.0} MiB, peak {:.0} MiB (last run)",
        "",
        mib(cost.rss_before),
        mib(cost.rss_after),
        mib(peak)
    );
    d
}

/// From empty to converged, nothing to do, one pod changed; against a fresh loopback server.
fn bench_reconcile(memory: &mut Memory, cluster: &mut Cluster, policies: &Policies, mode: Mode, wanted: &Desired) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("entry-server")
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = {
        let _in = server_rt.enter();
        EntryServer::start()
    };
    let client = {
        let _in = rt.enter();
        EntryClient::new(&server.socket, Duration::from_secs(120)).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&AuditSettings { path: Some(audit_path.clone()), debug: false }).unwrap();
    let s = settings(mode);
    let mut orphans = Orphans::default();
    let m = mode.as_str();

    let before = client.calls();
    let (r, cost) = run(memory, || {
        rt.block_on(reconcile(&client, PREFIX, wanted, &mut orphans, s.delete_grace_period, false, &audit)).unwrap()
    });
    print_cost(&format!("converge from empty, {m} ({} entries)", wanted.entries.len()), &cost);
    print_done(&r);
    print_calls(&client, &before, &server);
    let audit_len = std::fs::metadata(&audit_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{:<58} {:.0} entries/s; audit file {:.1} MiB; {} entries stored",
        "",
        r.created as f64 / cost.wall.as_secs_f64(),
        audit_len as f64 / 1048576.0,
        server.entries().len()
    );

    let before = client.calls();
    let (r, cost) = run(memory, || {
        rt.block_on(reconcile(&client, PREFIX, wanted, &mut orphans, s.delete_grace_period, false, &audit)).unwrap()
    });
    print_cost(&format!("reconcile again, nothing to do, {m}"), &cost);
    print_done(&r);
    print_calls(&client, &before, &server);

    // One running application pod's `app` label changes (as a relabel would); a different pod
    // per mode.
    let nth = if mode == Mode::PerNode { 0 } else { 1000 };
    let at = (0..cluster.pods.len())
        .filter(|&i| {
            let p = &cluster.pods[i];
            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
            let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let tier = p.metadata.labels.as_ref().and_then(|l| l.get("tier")).map(String::as_str);
            ns.starts_with("ns-") && running && tier != Some("batch")
        })
        .nth(nth)
        .unwrap();
    // The long-running registrar keeps its decisions between rounds: warm them as its last
    // round did (not timed), then change the pod.
    let mut cache = DecisionCache::default();
    desired_with(policies, &s, &cluster.pods, &cluster.namespaces, &cluster.nodes, SystemTime::now(), &mut cache)
        .unwrap();
    let old = {
        let labels = cluster.pods[at].metadata.labels.get_or_insert_default();
        let old = labels.get("app").cloned().unwrap_or_default();
        labels.insert("app".into(), format!("{old}-canary"));
        old
    };
    let before = client.calls();
    let ((d, desired_wall), cost) = run(memory, || {
        let t = Instant::now();
        let (pods, namespaces, nodes) = (&cluster.pods, &cluster.namespaces, &cluster.nodes);
        let d = desired_with(policies, &s, pods, namespaces, nodes, SystemTime::now(), &mut cache).unwrap();
        (d, t.elapsed())
    });
    let (reused, decided) = cache.last;
    let (r, reconcile_cost) = run(memory, || {
        rt.block_on(reconcile(&client, PREFIX, &d, &mut orphans, s.delete_grace_period, false, &audit)).unwrap()
    });
    print_cost(&format!("one pod's app label changed, {m}: desired_with() (cached)"), &cost);
    println!("{:<58} {reused} pods' decisions reused, {decided} decided", "");
    print_cost(&format!("one pod's app label changed, {m}: reconcile"), &reconcile_cost);
    println!(
        "{:<58} pod change to converged entry {:.3} s (desired {:.3} s + reconcile {:.3} s)",
        "",
        (desired_wall + reconcile_cost.wall).as_secs_f64(),
        desired_wall.as_secs_f64(),
        reconcile_cost.wall.as_secs_f64()
    );
    print_done(&r);
    print_calls(&client, &before, &server);
    for c in r.plan.create.iter().chain(&r.plan.update).chain(&r.plan.delete) {
        let action = if r.plan.create.iter().any(|x| x.entry.id == c.entry.id) {
            "create"
        } else if r.plan.update.iter().any(|x| x.entry.id == c.entry.id) {
            "update"
        } else {
            "delete"
        };
        println!("{:<58} {action} {} ({})", "", c.entry.spiffe_id, c.rules.join(","));
    }
    println!(
        "{:<58} (app {old:?} → {old}-canary on pod {:?})",
        "",
        cluster.pods[at].metadata.name.as_deref().unwrap_or("")
    );
    // Back as it was, for the next mode.
    cluster.pods[at].metadata.labels.get_or_insert_default().insert("app".into(), old);
}

/// Every registrar figure.
pub fn bench() {
    let mut memory = Memory::new();
    let (mut cluster, cost) = run(&mut memory, Cluster::build);
    let running =
        cluster.pods.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
    println!(
        "registrar cluster: {} pods ({running} running) on {} nodes in {} namespaces, {} controllers, {} containers",
        cluster.pods.len(),
        cluster.nodes.len(),
        cluster.namespaces.len(),
        cluster.controllers.len(),
        cluster.containers
    );
    print_cost("cluster built in memory (k8s_openapi objects from JSON)", &cost);
    if !memory.resettable {
        println!("(/proc/self/clear_refs cannot be written: every peak below is the process's since it began)");
    }

    let (text, count) = policy_text(&cluster);
    let rules = text.matches("@spiffe_id(").count();
    let gates = text.matches("Attest::Action::\"attest\"").count();
    let guards = text.matches("Attest::Action::\"issue\"").count();
    let settings = PolicySettings {
        cluster: Some("prod".into()),
        federated_trust_domains: vec![
            TrustDomain::new("partner.example").unwrap(),
            TrustDomain::new("auditor.example").unwrap(),
        ],
        ..PolicySettings::default()
    };
    let files = vec![PolicyFile { name: "registrar.cedar".into(), text }];
    let td = TrustDomain::new("example.org").unwrap();
    let (policies, cost) = run(&mut memory, || Policies::from_files(&files, &settings, &td).unwrap());
    print_cost(&format!("{count} policies loaded ({rules} identity rules, {gates} gates, {guards} guards)"), &cost);

    let per_node = bench_desired(&mut memory, &cluster, &policies, Mode::PerNode);
    let per_pod = bench_desired(&mut memory, &cluster, &policies, Mode::PerPod);
    println!("(batches of {BATCH} entries, list pages of {PAGE}; delete grace period 0; audit records to a file)");
    bench_reconcile(&mut memory, &mut cluster, &policies, Mode::PerNode, &per_node);
    drop(per_node);
    bench_reconcile(&mut memory, &mut cluster, &policies, Mode::PerPod, &per_pod);
    memory.peak();
    println!("{:<58} peak RSS of the process {:.0} MiB", "registrar benchmark", mib(memory.peak_kib));
}
