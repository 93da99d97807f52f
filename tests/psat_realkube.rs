//! The `k8s_psat` server half against a real Kubernetes API server: realkube
//! (`../shared/tools/realkube`), a genuine kube-apiserver 1.20 with etcd and a kubelet on
//! loopback. `KubeClient` asks it with the admin kubeconfig; the agent tokens are pod-bound
//! tokens minted through its real TokenRequest API as admin (what realkube's `token` script does,
//! asked directly so the tier runs from any checkout, not only one beside `shared/`). What the
//! fake API server of `psat_client.rs` imitates is checked here against the original: the
//! TokenReview of a pod-bound token (username, pod name and UID in `extra`), the real audience
//! error text, GET pod and node, a whole `attest` with SPIRE's agent ID and selectors, and Cedar
//! node policies deciding on the facts a real API server and kubelet gave (the kubelet's own
//! node labels).
//!
//! realkube is found through `REALKUBE_ENV` or `/var/tmp/realkube/env` (written by `up`, removed
//! by `down`). Its own harness (libtest-mimic): when realkube is not up every test is reported
//! as ignored with the reason, never passed without having run; with `--include-ignored` each
//! fails with that reason instead.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use attestor::psat::attest::{ClientLookup, Code, PsatServer, attest};
use attestor::psat::client::{ApiClient, ClientError};
use attestor::psat::kube_client::{KubeClient, KubeClients};
use attestor::psat::policy::{NodePolicy, NodePolicySettings, admit};
use attestor::psat::settings::{ClusterSettings, PsatSettings};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Why nothing here ran, as the runner prints it next to each test.
const NOT_UP: &str = "realkube is not up: run ../shared/tools/realkube/build && ../shared/tools/realkube/up";
/// Where `up` writes its environment.
const DEFAULT_ENV: &str = "/var/tmp/realkube/env";
/// The cluster name the server role is configured with.
const CLUSTER: &str = "realkube";
/// The audience the agent's token is minted for, SPIRE's default.
const AUDIENCE: &str = "spire-server";
/// A real API server on loopback answers in milliseconds; this only bounds a hung one.
const TIMEOUT: Duration = Duration::from_secs(10);

/// realkube's environment file: `export KEY='value'` lines.
struct Env {
    path: PathBuf,
    vars: HashMap<String, String>,
}

impl Env {
    /// The environment of the running realkube, or why there is none.
    fn load() -> Result<Self, String> {
        let path = PathBuf::from(std::env::var("REALKUBE_ENV").unwrap_or_else(|_| DEFAULT_ENV.to_owned()));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{NOT_UP} (no {})", path.display()));
            }
            Err(e) => return Err(format!("{NOT_UP} ({}: {e})", path.display())),
        };
        let vars = text
            .lines()
            .filter_map(|line| line.trim().strip_prefix("export "))
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        Ok(Self { path, vars })
    }

    fn get(&self, key: &str) -> String {
        match self.vars.get(key) {
            Some(value) if !value.is_empty() => value.clone(),
            _ => panic!("{} has no {key}", self.path.display()),
        }
    }

    /// A pod-bound token for `demo/ledger` (`ledger-0`) with these audiences (none: the API
    /// server's own), from realkube's TokenRequest API as admin (what its `token` script does,
    /// without needing the script beside this checkout).
    fn token(&self, audiences: &[&str]) -> String {
        use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let kubeconfig = self.get("ADMIN_KUBECONFIG");
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: strings(audiences),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(self.get("POD_NAME")),
                    uid: Some(self.get("POD_UID")),
                }),
                expiration_seconds: Some(600),
            },
            ..TokenRequest::default()
        };
        let token = block_on(async {
            let config = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
            let api: kube::Api<ServiceAccount> = kube::Api::namespaced(kube::Client::try_from(config).unwrap(), "demo");
            api.create_token_request("ledger", &kube::api::PostParams::default(), &request).await.unwrap()
        })
        .status
        .expect("a TokenRequest status")
        .token;
        assert!(token.starts_with("eyJ"), "not a JWT: {token}");
        token
    }

    /// A client of the API server as the SPIRE server would hold it, with the admin kubeconfig.
    fn client(&self) -> KubeClient {
        KubeClient::new(&self.get("ADMIN_KUBECONFIG"), TIMEOUT)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn review_authenticates_the_pod_bound_token(env: &Env) {
    let token = env.token(&[AUDIENCE]);
    let status = block_on(env.client().validate_token(&token, &strings(&[AUDIENCE]))).unwrap();
    assert_eq!(status.authenticated, Some(true), "{status:?}");
    assert_eq!(status.audiences, Some(strings(&[AUDIENCE])));
    let user = status.user.unwrap();
    assert_eq!(user.username.as_deref(), Some("system:serviceaccount:demo:ledger"));
    let extra = user.extra.unwrap();
    assert_eq!(extra["authentication.kubernetes.io/pod-name"], [env.get("POD_NAME")]);
    assert_eq!(extra["authentication.kubernetes.io/pod-uid"], [env.get("POD_UID")]);
}

fn another_audience_is_the_api_servers_error_text(env: &Env) {
    let token = env.token(&[AUDIENCE]);
    let err = block_on(env.client().validate_token(&token, &strings(&["other"]))).unwrap_err();
    assert_eq!(
        err.message,
        r#"token review API response contains an error: [invalid bearer token, token audiences ["spire-server"] is invalid for the target audiences ["other"]]"#
    );
}

fn no_audience_asked_means_the_api_audience(env: &Env) {
    // SPIRE's `audience = []`: none sent, so the API server checks its own (`--api-audiences`),
    // which a token minted for spire-server does not carry.
    let token = env.token(&[AUDIENCE]);
    let err = block_on(env.client().validate_token(&token, &[])).unwrap_err();
    let expected = format!(
        r#"token review API response contains an error: [invalid bearer token, token audiences ["spire-server"] is invalid for the target audiences ["{}"]]"#,
        env.get("API_AUDIENCES")
    );
    assert_eq!(err.message, expected);
}

fn get_pod_and_node_are_the_envs(env: &Env) {
    // One runtime for the client's whole life: a `kube::Client` runs its connection worker on
    // the runtime that first used it, and fails every call once that runtime is gone.
    block_on(async {
        let client = env.client();
        let pod = client.get_pod("demo", &env.get("POD_NAME")).await.unwrap();
        assert_eq!(pod.metadata.uid, Some(env.get("POD_UID")));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.node_name, Some(env.get("NODE_NAME")));
        assert_eq!(spec.service_account_name.as_deref(), Some("ledger"));
        let node = client.get_node(&env.get("NODE_NAME")).await.unwrap();
        assert_eq!(node.metadata.uid, Some(env.get("NODE_UID")));
        let missing = client.get_pod("demo", "no-such-pod").await.unwrap_err();
        assert_eq!(missing.message, r#"unable to query pods API: pods "no-such-pod" not found (404 NotFound)"#);
    });
}

/// A server role for cluster `realkube` allowing `allowed`, reaching the API server through
/// `KubeClients` as the plugin's server role does.
fn server(env: &Env, allowed: &str) -> PsatServer {
    let kubeconfig = env.get("ADMIN_KUBECONFIG");
    let cluster =
        ClusterSettings { kube_config_file: Some(PathBuf::from(&kubeconfig)), ..ClusterSettings::allowing([allowed]) };
    let settings = PsatSettings { clusters: BTreeMap::from([(CLUSTER.to_owned(), cluster)]) };
    let clients = Arc::new(KubeClients::new([(CLUSTER, kubeconfig.as_str())], TIMEOUT));
    let lookup: ClientLookup = Arc::new(move |name, _| {
        clients
            .get(name)
            .map(|c| c as Arc<dyn ApiClient>)
            .ok_or_else(|| ClientError::new(format!("no client for {name}")))
    });
    PsatServer::new(settings, "example.org".parse().unwrap(), lookup)
}

fn payload(token: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"cluster": CLUSTER, "token": token})).unwrap()
}

fn attest_gives_spires_agent_id_and_selectors(env: &Env) {
    let token = env.token(&[AUDIENCE]);
    let server = server(env, "demo:ledger");
    let attested = block_on(attest(Some(&server), Some(&payload(&token)))).unwrap();
    let node_uid = env.get("NODE_UID");
    assert_eq!(attested.agent_id.to_string(), format!("spiffe://example.org/spire/agent/k8s_psat/realkube/{node_uid}"));
    assert!(attested.can_reattest);
    // The node IP is the pod's `status.hostIP`, which the kubelet reports: read it independently.
    let pod = block_on(env.client().get_pod("demo", &env.get("POD_NAME"))).unwrap();
    let host_ip = pod.status.and_then(|s| s.host_ip).unwrap_or_default();
    assert!(!host_ip.is_empty(), "the kubelet reported no hostIP");
    let expected = [
        format!("cluster:{CLUSTER}"),
        "agent_ns:demo".to_owned(),
        "agent_sa:ledger".to_owned(),
        format!("agent_pod_name:{}", env.get("POD_NAME")),
        format!("agent_pod_uid:{}", env.get("POD_UID")),
        format!("agent_node_ip:{host_ip}"),
        format!("agent_node_name:{}", env.get("NODE_NAME")),
        format!("agent_node_uid:{node_uid}"),
    ];
    assert_eq!(attested.selectors, expected);
    assert_eq!(attested.facts.audiences, strings(&[AUDIENCE]));
    assert_eq!(attested.facts.pod_labels.get("app").map(String::as_str), Some("ledger"));
}

fn another_allow_list_is_permission_denied(env: &Env) {
    let token = env.token(&[AUDIENCE]);
    let server = server(env, "demo:other");
    let err = block_on(attest(Some(&server), Some(&payload(&token)))).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.to_string(), r#""demo:ledger" is not an allowed service account for cluster "realkube""#);
}

/// Node policies on the real facts: the kubelet registers its node with `kubernetes.io/os` and
/// `kubernetes.io/hostname` labels; a rule names the agent by them, and a gate on the namespace
/// refuses it with the policy's name.
fn node_policies_decide_on_the_real_facts(env: &Env) {
    let token = env.token(&[AUDIENCE]);
    let attested = block_on(attest(Some(&server(env, "demo:ledger")), Some(&payload(&token)))).unwrap();
    let node = env.get("NODE_NAME");
    assert_eq!(attested.facts.node_labels.get("kubernetes.io/hostname"), Some(&node));
    let dir = tempfile::tempdir().unwrap();
    let settings = NodePolicySettings { dir: dir.path().to_owned(), reload_interval: Duration::from_secs(5) };
    std::fs::write(
        dir.path().join("nodes.cedar"),
        r#"
@id("by-os")
@spiffe_id("spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_label:kubernetes.io/os}/{k8s.node_uid}")
permit (principal, action == Attest::Action::"attest_node", resource)
when { principal.node.hasTag("kubernetes.io/os") && principal.audiences.contains("spire-server") };
"#,
    )
    .unwrap();
    let policy = NodePolicy::load(settings.clone(), "example.org".parse().unwrap()).unwrap();
    let decision = policy.decide(&attested).unwrap();
    let admitted = admit(attested.clone(), &decision).unwrap();
    let os = attested.facts.node_labels.get("kubernetes.io/os").unwrap();
    assert_eq!(
        admitted.agent_id.to_string(),
        format!("spiffe://example.org/spire/agent/k8s_psat/realkube/{os}/{}", env.get("NODE_UID"))
    );

    std::fs::write(
        dir.path().join("nodes.cedar"),
        r#"@id("no-demo") @reason("demo runs no agents")
forbid (principal in Attest::Namespace::"demo", action == Attest::Action::"attest_node", resource);"#,
    )
    .unwrap();
    assert!(policy.reload().unwrap().is_some());
    let decision = policy.decide(&attested).unwrap();
    let err = admit(attested, &decision).unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        err.to_string(),
        format!(
            r#"agent "demo:ledger" on node "{node}" in cluster "realkube" refused by node policy "no-demo" (demo runs no agents)"#
        )
    );
}

/// One test of this file.
type Test = fn(&Env);

fn main() {
    let args = Arguments::from_args();
    let env = Env::load().map(Arc::new);
    if let Err(why) = &env {
        eprintln!("note: every test of psat_realkube is ignored on this machine: {why}");
    }
    // Asked to run ignored tests anyway: fail with the reason rather than pass.
    let must_run = args.include_ignored;
    let tests: [(&str, Test); 7] = [
        ("review_authenticates_the_pod_bound_token", review_authenticates_the_pod_bound_token),
        ("another_audience_is_the_api_servers_error_text", another_audience_is_the_api_servers_error_text),
        ("no_audience_asked_means_the_api_audience", no_audience_asked_means_the_api_audience),
        ("get_pod_and_node_are_the_envs", get_pod_and_node_are_the_envs),
        ("attest_gives_spires_agent_id_and_selectors", attest_gives_spires_agent_id_and_selectors),
        ("another_allow_list_is_permission_denied", another_allow_list_is_permission_denied),
        ("node_policies_decide_on_the_real_facts", node_policies_decide_on_the_real_facts),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let env = env.clone();
            // Ignored at run time, so the runner prints the reason beside each test.
            Trial::ignorable_test(name, move || match env {
                Ok(env) => {
                    test(&env);
                    Ok(Completion::Completed)
                }
                Err(why) if must_run => Err(Failed::from(why)),
                Err(why) => Ok(Completion::ignored_with(why)),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
