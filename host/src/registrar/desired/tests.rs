//! Wanted entries: per node (one per ID and node, `spiffe-id` selector, pod restarts change
//! nothing) and per pod (spire-controller-manager's shape), parented to the node's agent, with
//! what the rules put in the SVID.

use std::time::{Duration, SystemTime};

use super::*;
use crate::policy::{PolicyFile, PolicySettings};
use crate::registrar::settings::{DEFAULT_PARENT_ID_TEMPLATE, RegistrarSettings};

pub(crate) fn settings(mode: Mode) -> RegistrarSettings {
    RegistrarSettings {
        cluster: "prod".into(),
        spire_server_socket: "/tmp/api.sock".into(),
        kube_config_file: None,
        mode,
        parent_id_template: DEFAULT_PARENT_ID_TEMPLATE.into(),
        entry_id_prefix: "attestor.".into(),
        delete_grace_period: Duration::from_secs(60),
        resync_interval: Duration::from_secs(300),
        metrics_addr: None,
    }
}

pub(crate) fn policies(text: &str) -> Policies {
    let files = vec![PolicyFile { name: "p.cedar".into(), text: text.into() }];
    let s = PolicySettings { cluster: Some("prod".into()), ..PolicySettings::default() };
    Policies::from_files(&files, &s, &TrustDomain::new("example.org").unwrap()).unwrap()
}

pub(crate) const RULES: &str = r#"
@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@ttl("1h")
permit (principal, action == Attest::Action::"propose", resource);
@id("by-app")
@spiffe_id("spiffe://{trust_domain}/app/{label:app}")
@dns("{label:app}.{k8s.namespace}.svc")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
@id("no-kube-system")
forbid (principal in Attest::Namespace::"kube-system", action == Attest::Action::"attest", resource);
"#;

pub(crate) fn pod(ns: &str, name: &str, uid: &str, sa: &str, node: &str, app: Option<&str>) -> Pod {
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

pub(crate) fn node(name: &str, uid: &str) -> Node {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name, "uid": uid}})).unwrap()
}

fn ids(d: &Desired) -> Vec<(String, String, String)> {
    d.entries
        .values()
        .map(|w| {
            let sel: Vec<String> = w.entry.selectors.iter().map(|s| format!("{}:{}", s.kind, s.value)).collect();
            (w.entry.spiffe_id.clone(), w.entry.parent_id.clone(), sel.join(" "))
        })
        .collect()
}

#[test]
fn per_node_one_entry_per_id_and_node() {
    let p = policies(RULES);
    let pods = [
        pod("shop", "web-1", "u1", "web", "node-1", Some("web")),
        pod("shop", "web-2", "u2", "web", "node-1", Some("web")),
        pod("shop", "web-3", "u3", "web", "node-2", Some("web")),
        pod("kube-system", "dns", "u4", "coredns", "node-1", None),
        pod("shop", "pending", "u5", "web", "", None),
        pod("shop", "lost", "u6", "web", "node-9", None),
    ];
    let nodes = [node("node-1", "nu-1"), node("node-2", "nu-2")];
    let d = desired(&p, &settings(Mode::PerNode), &pods, &[], &nodes, SystemTime::now()).unwrap();
    let agent = |n: &str| format!("spiffe://example.org/spire/agent/k8s_psat/prod/{n}");
    let mut want = vec![
        (
            "spiffe://example.org/app/web".to_owned(),
            agent("nu-1"),
            "k8s:spiffe-id:spiffe://example.org/app/web".to_owned(),
        ),
        (
            "spiffe://example.org/app/web".to_owned(),
            agent("nu-2"),
            "k8s:spiffe-id:spiffe://example.org/app/web".to_owned(),
        ),
        (
            "spiffe://example.org/ns/shop/sa/web".to_owned(),
            agent("nu-1"),
            "k8s:spiffe-id:spiffe://example.org/ns/shop/sa/web".to_owned(),
        ),
        (
            "spiffe://example.org/ns/shop/sa/web".to_owned(),
            agent("nu-2"),
            "k8s:spiffe-id:spiffe://example.org/ns/shop/sa/web".to_owned(),
        ),
    ];
    let mut got = ids(&d);
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(d.skipped, BTreeMap::from([("gated", 1), ("node unknown", 1), ("unscheduled", 1)]));
    let web_on_1 = d
        .entries
        .values()
        .find(|w| w.entry.spiffe_id.ends_with("/app/web") && w.entry.parent_id.ends_with("nu-1"))
        .unwrap();
    assert_eq!(web_on_1.pods, 2);
    assert_eq!(web_on_1.rules, ["by-app"]);
    assert_eq!(web_on_1.entry.dns_names, ["web.shop.svc"]);
    let sa = d.entries.values().find(|w| w.entry.spiffe_id.ends_with("/sa/web")).unwrap();
    assert_eq!(sa.entry.x509_svid_ttl, 3600);
    assert!(sa.entry.id.starts_with("attestor.") && sa.entry.id.len() == "attestor.".len() + 32);

    // A restarted pod (new name and UID, same node) wants exactly the same entries.
    let restarted = [pod("shop", "web-9", "u9", "web", "node-1", Some("web")), pods[2].clone()];
    let again = desired(&p, &settings(Mode::PerNode), &restarted, &[], &nodes, SystemTime::now()).unwrap();
    assert_eq!(again.entries.keys().collect::<Vec<_>>(), d.entries.keys().collect::<Vec<_>>());
}

#[test]
fn per_pod_is_spire_controller_manager_s_shape() {
    let p = policies(RULES);
    let pods = [pod("shop", "web-1", "u1", "web", "node-1", None)];
    let d = desired(&p, &settings(Mode::PerPod), &pods, &[], &[node("node-1", "nu-1")], SystemTime::now()).unwrap();
    assert_eq!(
        ids(&d),
        [(
            "spiffe://example.org/ns/shop/sa/web".to_owned(),
            "spiffe://example.org/spire/agent/k8s_psat/prod/nu-1".to_owned(),
            "k8s:ns:shop k8s:pod-uid:u1".to_owned()
        )]
    );
    let restarted = [pod("shop", "web-1", "u2", "web", "node-1", None)];
    let again =
        desired(&p, &settings(Mode::PerPod), &restarted, &[], &[node("node-1", "nu-1")], SystemTime::now()).unwrap();
    assert_ne!(again.entries.keys().next(), d.entries.keys().next(), "per pod, a new pod UID is a new entry");
}

#[test]
fn parent_template_and_stable_ids() {
    let mut s = settings(Mode::PerNode);
    s.parent_id_template = "spiffe://{trust_domain}/k8s/{cluster}/node/{node_name}".into();
    let td = TrustDomain::new("example.org").unwrap();
    assert_eq!(parent_id(&s, &td, "node-1", "nu-1").unwrap().to_string(), "spiffe://example.org/k8s/prod/node/node-1");
    s.parent_id_template = "spiffe://{trust_domain}/a/{node_name}/".into();
    assert!(parent_id(&s, &td, "n", "u").unwrap_err().contains("is not a SPIFFE ID"));
    assert_eq!(entry_id("p.", &["a", "b"]), entry_id("p.", &["a", "b"]));
    assert_ne!(entry_id("p.", &["a", "b"]), entry_id("p.", &["ab", ""]));
}

#[test]
fn rules_needing_a_process_are_reported() {
    let p = policies(
        r#"@id("by-uid") @spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource);"#,
    );
    let pods = [pod("shop", "web-1", "u1", "web", "node-1", None)];
    let d = desired(&p, &settings(Mode::PerNode), &pods, &[], &[node("node-1", "nu-1")], SystemTime::now()).unwrap();
    assert!(d.entries.is_empty());
    assert_eq!(d.needs_runtime.iter().collect::<Vec<_>>(), ["by-uid"]);
}

#[test]
fn unchanged_pods_reuse_their_decisions_and_a_new_generation_decides_again() {
    let p = policies(RULES);
    let s = settings(Mode::PerNode);
    let nodes = [node("node-1", "nu-1")];
    let mut pods =
        vec![pod("shop", "web-1", "u1", "web", "node-1", Some("web")), pod("shop", "db-1", "u2", "db", "node-1", None)];
    let mut cache = DecisionCache::default();
    let first = desired_with(&p, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    assert_eq!(cache.last, (0, 2));
    let again = desired_with(&p, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    assert_eq!(cache.last, (2, 0));
    assert_eq!(again, first);
    // One pod relabelled: only it is decided again, and the answer is the fresh one.
    pods[0] = pod("shop", "web-1", "u1", "web", "node-1", Some("shop-api"));
    let changed = desired_with(&p, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    assert_eq!(cache.last, (1, 1));
    assert_eq!(changed, desired(&p, &s, &pods, &[], &nodes, SystemTime::now()).unwrap());
    // Other policies: everything is decided again.
    let other = policies(&format!(
        "{RULES}\n@id(\"extra\") forbid (principal, action == Attest::Action::\"issue\", resource) when {{ resource.path like \"/app/*\" }};"
    ));
    desired_with(&other, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    assert_eq!(cache.last, (0, 2));
    // Policies that read `context.now`: never reused.
    let timed = policies(&format!(
        "{RULES}\n@id(\"timed\") forbid (principal, action == Attest::Action::\"issue\", resource) when {{ context.now < datetime(\"2000-01-01\") }};"
    ));
    desired_with(&timed, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    desired_with(&timed, &s, &pods, &[], &nodes, SystemTime::now(), &mut cache).unwrap();
    assert_eq!(cache.last, (0, 2));
}
