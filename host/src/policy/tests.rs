//! Policy stage tests: loading errors point at file, line and policy; passes decide as
//! documented; errors fail closed.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::selector::Selector;
use crate::workload::{
    ContainerFacts, ContainerId, FactKey, Gid, ImageRef, KubernetesFacts, OwnerReference, Pid, PodFacts, PodUid, Uid,
    UnixFacts, Workload,
};

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn files(text: &str) -> Vec<PolicyFile> {
    vec![PolicyFile { name: "test.cedar".into(), text: text.into() }]
}

fn load(text: &str) -> Result<Policies, PolicyError> {
    Policies::from_files(&files(text), &td(), Some("c1".into())).map(Policies::with_runtime_checks)
}

fn host_workload() -> Workload {
    let mut w = Workload::new(UnixFacts {
        pid: Pid(4242),
        start_time: 1,
        uid: Uid(1000),
        euid: Uid(1000),
        gid: Gid(1000),
        egid: Gid(1000),
        supplementary_gids: vec![Gid(27)],
        user: Some("alice".into()),
        group: Some("alice".into()),
        supplementary_group_names: [(Gid(27), "sudo".to_owned())].into(),
        exe_path: Some("/usr/bin/ledger".into()),
        exe_sha256: Some("ab".repeat(32)),
    });
    w.selectors = ["unix:uid:1000", "unix:user:alice", "unix:gid:1000"].iter().map(|s| s.parse().unwrap()).collect();
    w.facts.insert(FactKey::new("host.name").unwrap(), "node-1".into());
    w
}

fn pod_workload(ns: &str, sa: &str) -> Workload {
    let mut w = host_workload();
    w.kubernetes = Some(KubernetesFacts {
        pod: PodFacts {
            uid: PodUid("2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab".into()),
            name: "ledger-7d9c8b6f5-x2k9p".into(),
            namespace: ns.into(),
            service_account: sa.into(),
            node_name: "node-1".into(),
            labels: BTreeMap::from([
                ("app".into(), "ledger".into()),
                ("internal.example.com/cost".into(), "cc-1".into()),
            ]),
            annotations: BTreeMap::from([("secret".into(), "s3cr3t".into())]),
            owners: vec![OwnerReference {
                kind: "ReplicaSet".into(),
                name: "ledger-7d9c8b6f5".into(),
                uid: "u".into(),
            }],
            host_network: false,
        },
        container: Some(ContainerFacts {
            name: "app".into(),
            id: ContainerId::new("a".repeat(64)).unwrap(),
            image: ImageRef {
                name: "registry.example.com/ledger:1.2".into(),
                id: "registry.example.com/ledger@sha256:9f86".into(),
            },
            init: false,
        }),
        namespace_labels: BTreeMap::new(),
    });
    w.selectors.extend(
        [
            format!("k8s:ns:{ns}"),
            format!("k8s:sa:{sa}"),
            "k8s:pod-label:app:ledger".into(),
            "k8s:pod-label:internal.example.com/cost:cc-1".into(),
        ]
        .iter()
        .map(|s| s.parse::<Selector>().unwrap()),
    );
    w
}

fn ids(d: &Decision) -> Vec<String> {
    d.issued.iter().map(|i| i.id.to_string()).collect()
}

#[test]
fn default_set_issues_conventional_ids() {
    let p = Policies::load(&PolicySettings::default(), &td()).unwrap().with_runtime_checks();
    let d = p.decide(&pod_workload("payments", "ledger")).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/ns/payments/sa/ledger"]);
    assert_eq!(d.issued[0].policies, ["k8s-ns-sa"]);
    assert_eq!(d.issued[0].hint.as_deref(), Some("k8s"));
    assert_eq!(d.emitted.len(), 7, "no emit policy: every selector leaves");

    let d = p.decide(&host_workload()).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/unix/user/alice"]);
    assert_eq!(d.issued[0].policies, ["host-user"]);

    let mut nameless = host_workload();
    nameless.unix.user = None;
    let d = p.decide(&nameless).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/unix/uid/1000"]);
}

#[test]
fn static_pod_without_service_account_gets_no_id_and_says_why() {
    let p = Policies::load(&PolicySettings::default(), &td()).unwrap();
    let d = p.decide(&pod_workload("kube-system", "")).unwrap();
    assert!(d.issued.is_empty());
    assert_eq!(d.candidates[0].decision, "not_rendered");
    assert_eq!(
        d.candidates[0].why.as_deref(),
        Some("render failed: {k8s.service_account} is \"\", not a valid SPIFFE ID path segment")
    );
}

const RULES: &str = r#"
@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@fallback
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s };

@id("app")
@spiffe_id("spiffe://{trust_domain}/{cluster}/app/{label:app}")
@hint("app-{label:app}")
@priority("10")
permit (principal in Attest::Namespace::"payments", action == Attest::Action::"propose", resource);

@id("team")
@spiffe_id("spiffe://example.org/team/{fact:team.name}")
permit (principal, action == Attest::Action::"propose", resource);

@id("billing-only")
@reason("only the billing namespace may hold /team/ IDs")
forbid (principal, action == Attest::Action::"issue", resource)
when { resource.path like "/team/*" && !(principal in Attest::Namespace::"billing") };

@id("hide-internal")
@reason("internal labels stay private")
forbid (principal, action == Attest::Action::"emit", resource)
when { resource.type == "k8s" && resource.key == "pod-label" && resource.value like "internal.example.com/*" };
"#;

#[test]
fn rules_guards_fallback_priority_and_filters() {
    let p = load(RULES).unwrap();
    assert!(p.emit_memoised());
    let mut w = pod_workload("payments", "ledger");
    w.facts.insert(FactKey::new("team.name").unwrap(), "pay".into());
    let d = p.decide(&w).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/c1/app/ledger"]);
    assert_eq!(d.issued[0].hint.as_deref(), Some("app-ledger"));
    let fate = |rule: &str| d.candidates.iter().find(|c| c.rule == rule).unwrap().clone();
    assert_eq!(fate("ns-sa").decision, "dropped");
    let team = fate("team");
    assert_eq!(team.decision, "denied");
    assert_eq!(team.determining, ["billing-only"]);
    assert_eq!(team.reasons, ["only the billing namespace may hold /team/ IDs"]);
    assert_eq!(d.selectors.suppressed.len(), 1);
    assert_eq!(d.selectors.suppressed[0].selector.to_string(), "k8s:pod-label:internal.example.com/cost:cc-1");
    assert_eq!(d.selectors.suppressed[0].by, ["hide-internal"]);
    assert_eq!(d.emitted.len(), d.selectors.gathered - 1);

    // Same generation, second workload: memoised emit answers agree.
    let mut billing = pod_workload("billing", "invoicer");
    billing.facts.insert(FactKey::new("team.name").unwrap(), "bill".into());
    let d = p.decide(&billing).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/team/bill"], "the fallback is dropped once a primary ID is issued");
    assert_eq!(d.selectors.suppressed.len(), 1);

    // A host process: no rule renders except the fact rule, whose fact is missing.
    let d = p.decide(&host_workload()).unwrap();
    assert!(d.issued.is_empty());
    assert_eq!(d.candidates.len(), 1);
    assert_eq!(d.candidates[0].why.as_deref(), Some("missing {fact:team.name}"));
}

#[test]
fn principal_aware_filters_are_not_memoised_and_agree() {
    let text = r#"
@id("hide-in-prod")
forbid (principal in Attest::Namespace::"prod", action == Attest::Action::"emit", resource)
when { resource.key == "pod-label" };
"#;
    let p = load(text).unwrap();
    assert!(!p.emit_memoised());
    let d = p.decide(&pod_workload("prod", "a")).unwrap();
    assert_eq!(d.selectors.suppressed.len(), 2);
    let d = p.decide(&pod_workload("dev", "a")).unwrap();
    assert!(d.selectors.suppressed.is_empty());
}

#[test]
fn gate_denies_everything() {
    let text = r#"
@id("no-root")
@reason("root processes get nothing")
forbid (principal, action == Attest::Action::"attest", resource) when { principal.unix.uid == 0 };
@id("host")
@spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource);
"#;
    let p = load(text).unwrap();
    let mut root = host_workload();
    root.unix.euid = Uid(0);
    let d = p.decide(&root).unwrap();
    assert!(!d.gate.allowed());
    assert_eq!(d.gate.determining, ["no-root"]);
    assert!(d.issued.is_empty() && d.emitted.is_empty() && d.candidates.is_empty());
    assert_eq!(ids(&p.decide(&host_workload()).unwrap()), ["spiffe://example.org/uid/1000"]);
}

#[test]
fn evaluation_errors_fail_closed() {
    // Strict validation cannot see integer overflow: these policies error at run time.
    let text = r#"
@id("overflowing-gate")
forbid (principal, action == Attest::Action::"attest", resource)
when { principal.unix.pid + 9223372036854775807 > 0 && principal.unix.uid == 7 };
@id("host")
@spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource);
@id("overflowing-guard")
forbid (principal, action == Attest::Action::"issue", resource)
when { principal.unix.pid * 9223372036854775807 == 1 };
@id("overflowing-filter")
forbid (principal, action == Attest::Action::"emit", resource)
when { resource.key == "uid" && 9223372036854775807 + 1 == 0 };
"#;
    let p = load(text).unwrap();
    let d = p.decide(&host_workload()).unwrap();
    // The gate's forbid errored: Cedar would skip it (allow); the host denies.
    assert!(!d.gate.allowed(), "{d:?}");
    assert!(d.gate.errors[0].contains("overflowing-gate"), "{:?}", d.gate.errors);
    assert!(d.issued.is_empty() && d.emitted.is_empty());

    let text = text
        .replace("principal.unix.pid + 9223372036854775807 > 0 && principal.unix.uid == 7", "principal.unix.uid == 7");
    let p = load(&text).unwrap();
    let d = p.decide(&host_workload()).unwrap();
    assert!(d.gate.allowed());
    assert!(d.issued.is_empty(), "an erroring guard denies");
    assert_eq!(d.candidates[0].decision, "denied");
    assert!(d.candidates[0].why.as_deref().unwrap_or("").contains("overflowing-guard"));
    let uid = d.selectors.suppressed.iter().find(|s| s.selector.to_string() == "unix:uid:1000");
    assert!(uid.is_some(), "an erroring filter suppresses its selector: {:?}", d.selectors);
    assert!(d.emitted.iter().any(|s| s.to_string() == "unix:user:alice"));
    assert!(!d.errors.is_empty());
}

#[test]
fn context_carries_time_and_node() {
    let text = r#"
@id("after-2030")
@spiffe_id("spiffe://{trust_domain}/late")
permit (principal, action == Attest::Action::"propose", resource)
when { context.now > datetime("2030-01-01") && context.agentNode == "node-1" && context.trustDomain == "example.org" };
"#;
    let p = load(text).unwrap();
    let now_2026 = UNIX_EPOCH + Duration::from_secs(1_795_427_999);
    assert!(p.decide_at(&host_workload(), now_2026).unwrap().issued.is_empty());
    let now_2031 = UNIX_EPOCH + Duration::from_secs(1_925_000_000);
    assert_eq!(ids(&p.decide_at(&host_workload(), now_2031).unwrap()), ["spiffe://example.org/late"]);
}

fn load_err(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn strict_validation_errors_name_file_line_and_policy() {
    let text = "// header\n\n@id(\"typo\")\nforbid (principal, action == Attest::Action::\"issue\", resource)\nwhen {\n  principal.k8s.namespce == \"x\"\n};\n";
    let err = load_err(text);
    assert!(
        err.contains(
            "test.cedar:6: policy `typo`: attribute `k8s.namespce` on entity type `Attest::Workload` not found"
        ),
        "{err}"
    );
    let text = "@id(\"opt\")\nforbid (principal, action == Attest::Action::\"issue\", resource)\nwhen { principal.k8s.pod.name == \"x\" };\n";
    let err = load_err(text);
    assert!(err.starts_with("test.cedar:3: policy `opt`: "), "{err}");
    assert!(err.contains("k8s"), "{err}");
}

#[test]
fn lint_and_template_errors() {
    let cases: &[(&str, &str)] = &[
        ("permit (principal, action, resource);", "test.cedar:1: policy has no @id annotation"),
        (
            "@id(\"a\") forbid (principal, action == Attest::Action::\"issue\", resource);\n@id(\"a\") forbid (principal, action == Attest::Action::\"emit\", resource);",
            "test.cedar:2: policy `a`: id already used at test.cedar:1",
        ),
        (
            "@id(\"r\")\n@spiffe_id(\"spiffe://{trust_domain}/ns/{k8s.namespce}\")\npermit (principal, action == Attest::Action::\"propose\", resource);",
            "test.cedar:1: policy `r`: @spiffe_id: unknown template variable `{k8s.namespce}`",
        ),
        (
            "@id(\"r\") @spiffe_id(\"spiffe://other.org/x\") permit (principal, action == Attest::Action::\"propose\", resource);",
            "test.cedar:1: policy `r`: @spiffe_id \"spiffe://other.org/x\": must start with",
        ),
        (
            "@id(\"f\") forbid (principal, action == Attest::Action::\"propose\", resource);",
            "policy `f`: a `forbid` may not apply to `propose`",
        ),
        ("@id(\"f\") forbid (principal, action, resource);", "policy `f`: a `forbid` may not apply to `propose`"),
        (
            "@id(\"p\") permit (principal, action == Attest::Action::\"propose\", resource);",
            "policy `p`: identity rule (a `permit` on `propose`) has no @spiffe_id",
        ),
        (
            "@id(\"g\") @spiffe_id(\"spiffe://{trust_domain}/x\") forbid (principal, action == Attest::Action::\"issue\", resource);",
            "policy `g`: @spiffe_id belongs on identity rules only",
        ),
        (
            "@id(\"r\") @spiffe_id(\"spiffe://{trust_domain}/x\") permit (principal, action == Attest::Action::\"propose\", resource) when { resource.name == \"example.org\" };",
            "policy `r`: identity rule reads `resource`",
        ),
        (
            "@id(\"x\") @spife_id(\"a\") forbid (principal, action == Attest::Action::\"issue\", resource);",
            "policy `x`: unknown annotation `@spife_id`",
        ),
        ("@id(\"baseline-x\") forbid (principal, action == Attest::Action::\"issue\", resource);", "reserved"),
        (
            "@id(\"r\") @priority(\"high\") @spiffe_id(\"spiffe://{trust_domain}/x\") permit (principal, action == Attest::Action::\"propose\", resource);",
            "@priority must be a whole number",
        ),
        ("@id(\"s\") forbid (principal, action, resource) when {", "test.cedar:1: unexpected end of input"),
    ];
    for (text, want) in cases {
        let err = load_err(text);
        assert!(err.contains(want), "{text}\n  got:  {err}\n  want: {want}");
    }
}

#[test]
fn several_problems_are_reported_together() {
    let text = "@id(\"a\") forbid (principal, action == Attest::Action::\"propose\", resource);\npermit (principal, action, resource);\n";
    let err = load(text).unwrap_err();
    let PolicyError::Many(all) = &err else { panic!("{err}") };
    assert_eq!(all.len(), 2);
}

#[test]
fn generation_changes_with_any_input() {
    let a = load(RULES).unwrap();
    let b = load(&format!("{RULES}\n// comment")).unwrap();
    let c = Policies::from_files(&files(RULES), &TrustDomain::new("other.org").unwrap(), Some("c1".into()));
    assert_ne!(a.generation(), b.generation());
    assert!(c.is_err(), "`spiffe://example.org/` literal templates are pinned to their trust domain");
    assert_eq!(a.generation(), load(RULES).unwrap().generation());
}

#[test]
fn too_many_ids_are_capped() {
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!("@id(\"r{i:02}\") @spiffe_id(\"spiffe://{{trust_domain}}/r/{i}\") permit (principal, action == Attest::Action::\"propose\", resource);\n"));
    }
    let d = load(&text).unwrap().decide(&host_workload()).unwrap();
    assert_eq!(d.issued.len(), MAX_ISSUED);
    assert_eq!(d.candidates.iter().filter(|c| c.decision == "dropped").count(), 2);
}
