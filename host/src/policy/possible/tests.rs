//! Deciding from a pod object: rules that may match are taken, gates and guards that may match
//! are not, rules needing a process's own facts are reported, containers give one ID each.

use std::time::SystemTime;

use super::*;
use crate::policy::{PolicyError, PolicyFile, PolicySettings};
use crate::spiffe_id::TrustDomain;
use crate::workload::sample;

fn load(text: &str) -> Result<Policies, PolicyError> {
    let files = vec![PolicyFile { name: "p.cedar".into(), text: text.into() }];
    let settings = PolicySettings { cluster: Some("prod".into()), ..PolicySettings::default() };
    Policies::from_files(&files, &settings, &TrustDomain::new("example.org").unwrap())
}

fn pod(ns: &str, sa: &str) -> KubernetesFacts {
    sample::pod(ns, sa).uid("pod-1").name("web-1").node("node-1").label("app", "web").facts()
}

fn ids(p: &Policies, pod: &KubernetesFacts, containers: &[&str]) -> PodDecision {
    let containers: Vec<ContainerFacts> = containers.iter().map(|c| sample::container(*c)).collect();
    p.possible_ids(pod, &containers, SystemTime::now(), Approximation::Over).unwrap()
}

fn id_strings(d: &PodDecision) -> Vec<String> {
    d.ids.iter().map(|i| i.id.to_string()).collect()
}

const SA_RULE: &str = r#"
@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
@dns("{k8s.service_account}.{k8s.namespace}.svc")
@ttl("1h")
permit (principal, action == Attest::Action::"propose", resource);
"#;

#[test]
fn a_rule_on_pod_facts_gives_its_id_with_what_the_svid_carries() {
    let p = load(SA_RULE).unwrap();
    let d = ids(&p, &pod("payments", "ledger"), &["app"]);
    assert_eq!(id_strings(&d), ["spiffe://example.org/ns/payments/sa/ledger"]);
    assert_eq!(d.ids[0].policies, ["ns-sa"]);
    assert_eq!(d.ids[0].dns_names, ["ledger.payments.svc"]);
    assert_eq!(d.ids[0].ttl_seconds, Some(3600));
    assert!(d.needs_runtime.is_empty() && d.gated_by.is_empty());
}

#[test]
fn what_only_a_process_has_counts_as_possibly_matching_but_known_facts_still_decide() {
    let p = load(
        r#"
@id("ops-root")
@spiffe_id("spiffe://{trust_domain}/ops/{k8s.pod_name}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.namespace.name == "ops" && principal.unix.uid == 0 };
@id("signed")
@spiffe_id("spiffe://{trust_domain}/signed/{k8s.service_account}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s has image && principal.k8s.image has sigstore && principal.k8s.image.sigstore.verified };
"#,
    )
    .unwrap();
    assert_eq!(
        id_strings(&ids(&p, &pod("ops", "admin"), &["app"])),
        ["spiffe://example.org/ops/web-1", "spiffe://example.org/signed/admin"]
    );
    assert_eq!(id_strings(&ids(&p, &pod("payments", "ledger"), &["app"])), ["spiffe://example.org/signed/ledger"]);
}

#[test]
fn rules_needing_a_process_are_reported_and_tag_readers_judged_whole() {
    let p = load(
        r#"
@id("by-uid")
@spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource);
@id("team")
@spiffe_id("spiffe://{trust_domain}/team/{k8s.namespace}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal.hasTag("team.owner") };
@id("no-untagged")
forbid (principal, action == Attest::Action::"attest", resource)
unless { principal.hasTag("team.owner") };
"#,
    )
    .unwrap();
    let d = ids(&p, &pod("payments", "ledger"), &["app"]);
    // `team` reads a module fact: it may match any pod; the gate reading it never refuses one.
    assert_eq!(id_strings(&d), ["spiffe://example.org/team/payments"]);
    assert_eq!(d.needs_runtime, ["by-uid"]);
    assert!(d.gated_by.is_empty());
}

#[test]
fn a_gate_on_pod_facts_refuses_and_one_on_process_facts_does_not() {
    let p = load(&format!(
        r#"{SA_RULE}
@id("no-kube-system")
forbid (principal in Attest::Namespace::"kube-system", action == Attest::Action::"attest", resource);
@id("no-root")
forbid (principal, action == Attest::Action::"attest", resource) when {{ principal.unix.uid == 0 }};
"#
    ))
    .unwrap();
    let d = ids(&p, &pod("kube-system", "coredns"), &["app"]);
    assert!(d.ids.is_empty());
    assert_eq!(d.gated_by, ["no-kube-system"]);
    assert_eq!(
        id_strings(&ids(&p, &pod("payments", "ledger"), &["app"])),
        ["spiffe://example.org/ns/payments/sa/ledger"]
    );
}

#[test]
fn guards_refuse_candidates_on_known_facts_only() {
    let p = load(&format!(
        r#"{SA_RULE}
@id("no-default-sa")
forbid (principal, action == Attest::Action::"issue", resource) when {{ resource has sa && resource.sa == "default" }};
@id("signed-only")
forbid (principal, action == Attest::Action::"issue", resource)
unless {{ principal has k8s && principal.k8s has image && principal.k8s.image has sigstore && principal.k8s.image.sigstore.verified }};
"#
    ))
    .unwrap();
    assert!(ids(&p, &pod("payments", "default"), &["app"]).ids.is_empty());
    assert_eq!(
        id_strings(&ids(&p, &pod("payments", "ledger"), &["app"])),
        ["spiffe://example.org/ns/payments/sa/ledger"]
    );
}

#[test]
fn each_container_gives_its_own_id_and_shared_ids_merge() {
    let p = load(&format!(
        r#"{SA_RULE}
@id("per-container")
@spiffe_id("spiffe://{{trust_domain}}/ns/{{k8s.namespace}}/c/{{k8s.container}}")
permit (principal, action == Attest::Action::"propose", resource);
"#
    ))
    .unwrap();
    let d = ids(&p, &pod("payments", "ledger"), &["app", "sidecar"]);
    assert_eq!(
        id_strings(&d),
        [
            "spiffe://example.org/ns/payments/c/app",
            "spiffe://example.org/ns/payments/c/sidecar",
            "spiffe://example.org/ns/payments/sa/ledger",
        ]
    );
    assert_eq!(d.ids[2].policies, ["ns-sa"], "one ID from two containers is one entry");
}

#[test]
fn a_label_missing_from_the_pod_renders_nothing() {
    let p = load(
        r#"
@id("by-label")
@spiffe_id("spiffe://{trust_domain}/app/{label:app}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
@id("by-tier")
@spiffe_id("spiffe://{trust_domain}/tier/{label:tier}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("tier") };
"#,
    )
    .unwrap();
    assert_eq!(id_strings(&ids(&p, &pod("payments", "ledger"), &["app"])), ["spiffe://example.org/app/web"]);
}

fn under(p: &Policies, pod: &KubernetesFacts) -> PodDecision {
    p.possible_ids(pod, &[sample::container("app")], SystemTime::now(), Approximation::Under).unwrap()
}

#[test]
fn under_approximation_takes_only_what_holds_whatever_the_process() {
    let p = load(&format!(
        r#"{SA_RULE}
@id("ops-root")
@spiffe_id("spiffe://{{trust_domain}}/ops/{{k8s.pod_name}}")
permit (principal, action == Attest::Action::"propose", resource)
when {{ principal has k8s && principal.k8s.namespace.name == "ops" && principal.unix.uid == 0 }};
@id("team")
@spiffe_id("spiffe://{{trust_domain}}/team/{{k8s.namespace}}")
permit (principal, action == Attest::Action::"propose", resource)
when {{ principal.hasTag("team.owner") }};
@id("signed-only")
forbid (principal, action == Attest::Action::"issue", resource)
when {{ resource.path like "/ns/secure/*" }}
unless {{ principal has k8s && principal.k8s has image && principal.k8s.image has sigstore && principal.k8s.image.sigstore.verified }};
@id("no-root-in-ops")
forbid (principal in Attest::Namespace::"ops", action == Attest::Action::"attest", resource) when {{ principal.unix.uid == 0 }};
"#
    ))
    .unwrap();
    // Over: every rule that may match; under: only the SA rule, which holds for any process.
    assert_eq!(
        id_strings(&ids(&p, &pod("payments", "ledger"), &["app"])),
        ["spiffe://example.org/ns/payments/sa/ledger", "spiffe://example.org/team/payments"]
    );
    assert_eq!(id_strings(&under(&p, &pod("payments", "ledger"))), ["spiffe://example.org/ns/payments/sa/ledger"]);
    // A guard that may refuse (the Sigstore verdict is unknown) refuses under, not over.
    assert_eq!(id_strings(&ids(&p, &pod("secure", "vault"), &["app"])).len(), 2);
    assert_eq!(id_strings(&under(&p, &pod("secure", "vault"))), Vec::<String>::new());
    // A gate that may refuse refuses the whole pod under.
    let d = under(&p, &pod("ops", "admin"));
    assert!(d.ids.is_empty());
    assert_eq!(d.gated_by, ["no-root-in-ops"]);
    assert_eq!(id_strings(&ids(&p, &pod("ops", "admin"), &["app"])).len(), 3);
}

#[test]
fn a_fallback_is_left_out_where_another_rule_holds_whatever_the_process() {
    let p = load(
        r#"
@id("app")
@spiffe_id("spiffe://{trust_domain}/app/{label:app}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
@id("root-app")
@spiffe_id("spiffe://{trust_domain}/root/{k8s.namespace}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal.unix.uid == 0 };
@id("fallback")
@fallback
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
permit (principal, action == Attest::Action::"propose", resource);
"#,
    )
    .unwrap();
    let labelled = pod("shop", "web");
    let unlabelled = sample::pod("shop", "batch").uid("pod-2").name("job-1").node("node-1").facts();
    // `app` holds for any process of a labelled pod: the fallback goes.
    assert_eq!(
        id_strings(&ids(&p, &labelled, &["app"])),
        ["spiffe://example.org/app/web", "spiffe://example.org/root/shop"]
    );
    // Without the label only `root-app` may hold, and it depends on the process: the fallback stays.
    assert_eq!(
        id_strings(&ids(&p, &unlabelled, &["app"])),
        ["spiffe://example.org/ns/shop/sa/batch", "spiffe://example.org/root/shop"]
    );
    assert_eq!(id_strings(&under(&p, &unlabelled)), ["spiffe://example.org/ns/shop/sa/batch"]);
}

#[test]
fn rules_that_match_but_cannot_render_are_named() {
    let p = load(
        r#"@id("by-tier") @spiffe_id("spiffe://{trust_domain}/tier/{label:tier}")
permit (principal, action == Attest::Action::"propose", resource);"#,
    )
    .unwrap();
    let d = ids(&p, &pod("shop", "web"), &["app"]);
    assert!(d.ids.is_empty());
    assert_eq!(d.not_rendered, ["by-tier"]);
}
