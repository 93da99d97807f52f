//! Policy stage tests: loading errors point at file, line and policy; passes decide as
//! documented; errors fail closed.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::selector::Selector;
use crate::workload::{FactKey, Uid, Workload, sample};

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

fn files(text: &str) -> Vec<PolicyFile> {
    vec![PolicyFile { name: "test.cedar".into(), text: text.into() }]
}

fn settings() -> PolicySettings {
    PolicySettings { cluster: Some("c1".into()), ..PolicySettings::default() }
}

fn load(text: &str) -> Result<Policies, PolicyError> {
    Policies::from_files(&files(text), &settings(), &td()).map(Policies::with_runtime_checks)
}

fn host_workload() -> Workload {
    let mut w = sample::process()
        .user("alice")
        .group("alice")
        .supplementary_group(27, "sudo")
        .exe("/usr/bin/ledger")
        .workload();
    w.selectors = ["unix:uid:1000", "unix:user:alice", "unix:gid:1000"].iter().map(|s| s.parse().unwrap()).collect();
    w.facts.insert(FactKey::new("host.name").unwrap(), "node-1".into());
    w
}

fn pod_workload(ns: &str, sa: &str) -> Workload {
    let mut w = host_workload();
    let pod = sample::pod(ns, sa)
        .label("app", "ledger")
        .label("internal.example.com/cost", "cc-1")
        .annotation("secret", "s3cr3t")
        .owner("ReplicaSet", "ledger-7d9c8b6f5", "u")
        .container(sample::container("app"));
    w.kubernetes = Some(pod.facts());
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
    assert_eq!(d.candidates[0].decision, Fate::NotRendered);
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
    assert_eq!(fate("ns-sa").decision, Fate::Dropped);
    let team = fate("team");
    assert_eq!(team.decision, Fate::Deny);
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
    assert_eq!(d.candidates[0].decision, Fate::Deny);
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
    let c = Policies::from_files(&files(RULES), &settings(), &TrustDomain::new("other.org").unwrap());
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
    assert_eq!(d.candidates.iter().filter(|c| c.decision == Fate::Dropped).count(), 2);
}

fn load_files(named: &[(&str, &str)], settings: &PolicySettings) -> Result<Policies, PolicyError> {
    let files: Vec<PolicyFile> =
        named.iter().map(|(n, t)| PolicyFile { name: (*n).to_owned(), text: (*t).to_owned() }).collect();
    Policies::from_files(&files, settings, &td()).map(Policies::with_runtime_checks)
}

const NS_SA_RULE: &str = r#"
@id("ns-sa")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}/sa/{k8s.service_account}")
permit (principal is Attest::Workload, action == Attest::Action::"propose", resource)
when { principal has k8s };
"#;

const QUARANTINE: &str = r#"
@id("quarantine")
@reason("quarantined by the operator")
forbid (principal in ?principal, action == Attest::Action::"issue", resource);
"#;

#[test]
fn quarantine_template_is_linked_and_unlinked() {
    let links = r#"[
  {"template_id": "quarantine", "link_id": "quarantine-web", "args": {"?principal": "Attest::Namespace::\"web\""}}
]"#;
    let p = load_files(
        &[("ids.cedar", NS_SA_RULE), ("templates/quarantine.cedar", QUARANTINE), ("templates/links.json", links)],
        &settings(),
    )
    .unwrap();
    let d = p.decide(&pod_workload("web", "frontend")).unwrap();
    assert!(d.issued.is_empty());
    assert_eq!(d.candidates[0].decision, Fate::Deny);
    assert_eq!(d.candidates[0].determining, ["quarantine-web"]);
    assert_eq!(d.candidates[0].reasons, ["quarantined by the operator"]);
    assert!(p.policies()["quarantine-web"].text.contains("template `quarantine` linked with"));
    assert_eq!(
        ids(&p.decide(&pod_workload("payments", "ledger")).unwrap()),
        ["spiffe://example.org/ns/payments/sa/ledger"]
    );

    // Unlinked (an empty links file): the template alone denies nothing.
    let p = load_files(
        &[("ids.cedar", NS_SA_RULE), ("templates/quarantine.cedar", QUARANTINE), ("templates/links.json", "[]")],
        &settings(),
    )
    .unwrap();
    assert_eq!(ids(&p.decide(&pod_workload("web", "frontend")).unwrap()), ["spiffe://example.org/ns/web/sa/frontend"]);

    // The generation hash covers links.
    let a =
        load_files(&[("ids.cedar", NS_SA_RULE), ("q.cedar", QUARANTINE), ("links.json", links)], &settings()).unwrap();
    let b =
        load_files(&[("ids.cedar", NS_SA_RULE), ("q.cedar", QUARANTINE), ("links.json", "[]")], &settings()).unwrap();
    assert_ne!(a.generation(), b.generation());
}

#[test]
fn bad_links_and_templates_are_refused_with_their_location() {
    let dangling = r#"[
  {"template_id": "nope", "link_id": "q-web", "args": {"?principal": "Attest::Namespace::\"web\""}}
]"#;
    let err = load_files(&[("ids.cedar", NS_SA_RULE), ("links.json", dangling)], &settings()).unwrap_err().to_string();
    assert_eq!(err, "links.json:2: policy `q-web`: links template `nope`, which no policy file defines");

    let clash =
        r#"[{"template_id": "quarantine", "link_id": "ns-sa", "args": {"?principal": "Attest::Namespace::\"web\""}}]"#;
    let err = load_files(&[("ids.cedar", NS_SA_RULE), ("q.cedar", QUARANTINE), ("links.json", clash)], &settings())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("links.json:1: policy `ns-sa`: id already used at ids.cedar:2"), "{err}");

    let permit_template = r#"
@id("allow-some")
permit (principal in ?principal, action == Attest::Action::"issue", resource);
"#;
    let err = load_files(&[("t.cedar", permit_template)], &settings()).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "t.cedar:2: policy `allow-some`: a template must be a `forbid` on `issue`, `attest` or `attest_node`"
        ),
        "{err}"
    );

    // A link whose entity has the wrong type fails strict validation, at the link.
    let wrong_type =
        r#"[{"template_id": "quarantine", "link_id": "q-x", "args": {"?principal": "Attest::Selector::\"x\""}}]"#;
    let err = load_files(&[("q.cedar", QUARANTINE), ("links.json", wrong_type)], &settings()).unwrap_err().to_string();
    assert!(err.contains("policy `q-x`"), "{err}");
}

#[test]
fn id_prefixes_are_owned_by_namespaces() {
    let rules = r#"
@id("app-path")
@spiffe_id("spiffe://{trust_domain}/payments/{label:app}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
@id("other-path")
@spiffe_id("spiffe://{trust_domain}/shared/{label:app}")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
@id("prefix-ownership")
@reason("the SPIFFE ID path prefix is owned by other namespaces")
forbid (principal, action == Attest::Action::"issue", resource)
when { resource has prefix && !(principal in resource.prefix.owners) };
"#;
    let prefixes = r#"[{"prefix": "/payments", "owners": ["payments", "payments-batch"]}]"#;
    let p = load_files(&[("p.cedar", rules), ("data/id-prefixes.json", prefixes)], &settings()).unwrap();
    let d = p.decide(&pod_workload("payments", "ledger")).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/payments/ledger", "spiffe://example.org/shared/ledger"]);
    let d = p.decide(&pod_workload("web", "ledger")).unwrap();
    assert_eq!(ids(&d), ["spiffe://example.org/shared/ledger"], "no prefix registered for /shared");
    let denied = d.candidates.iter().find(|c| c.rule == "app-path").unwrap();
    assert_eq!(denied.decision, Fate::Deny);
    assert_eq!(denied.determining, ["prefix-ownership"]);
    assert_eq!(denied.reasons, ["the SPIFFE ID path prefix is owned by other namespaces"]);

    let bad = r#"[{"prefix": "/payments", "owners": []}]"#;
    let err = load_files(&[("p.cedar", rules), ("id-prefixes.json", bad)], &settings()).unwrap_err().to_string();
    assert_eq!(err, "id-prefixes.json:1: policy `/payments`: owners must list at least one namespace, none empty");
}

#[test]
fn dns_ttl_and_federation_reach_the_issued_id() {
    let rule = r#"
@id("app")
@spiffe_id("spiffe://{trust_domain}/app/{label:app}")
@dns("{label:app}.{k8s.namespace}.svc, {label:app}.example.com")
@ttl("1h")
@jwt_ttl("5m")
@federates_with("partner.org")
permit (principal, action == Attest::Action::"propose", resource)
when { principal has k8s && principal.k8s.pod.hasTag("app") };
"#;
    let partner = TrustDomain::new("partner.org").unwrap();
    let s = PolicySettings {
        federated_trust_domains: vec![partner.clone()],
        max_ttl: Some(Duration::from_secs(1800)),
        ..settings()
    };
    let p = load_files(&[("a.cedar", rule)], &s).unwrap();
    let d = p.decide(&pod_workload("payments", "ledger")).unwrap();
    let issued = &d.issued[0];
    assert_eq!(issued.dns_names, ["ledger.payments.svc", "ledger.example.com"]);
    assert_eq!(issued.ttl_seconds, Some(1800), "capped by max_ttl");
    assert_eq!(issued.jwt_ttl_seconds, Some(300));
    assert_eq!(issued.federates_with, [partner]);

    // A label value that is no DNS name: no candidate, and the audit says why.
    let mut w = pod_workload("payments", "ledger");
    if let Some(k) = w.kubernetes.as_mut() {
        k.pod.labels.insert("app".into(), "Ledger_V2".into());
    }
    let d = p.decide(&w).unwrap();
    assert!(d.issued.is_empty());
    assert_eq!(d.candidates[0].decision, Fate::NotRendered);
    assert!(d.candidates[0].why.as_deref().unwrap_or("").contains("Ledger_V2"), "{:?}", d.candidates[0].why);

    // Federating with a trust domain the host does not know is a load error.
    let err = load_files(&[("a.cedar", rule)], &settings()).unwrap_err().to_string();
    assert!(err.contains("@federates_with names partner.org, which is not a federated trust domain"), "{err}");
    let err = load_files(&[("a.cedar", &rule.replace("1h", "soon"))], &s).unwrap_err().to_string();
    assert!(err.starts_with("a.cedar:2: policy `app`: @ttl:"), "{err}");
}

#[test]
fn lint_warnings_do_not_refuse_the_set() {
    let text = r#"
@id("allow-all-emit")
permit (principal, action == Attest::Action::"emit", resource);
@id("team-label")
@spiffe_id("spiffe://{trust_domain}/team/{label:team}")
permit (principal, action == Attest::Action::"propose", resource) when { principal has k8s };
"#;
    let p = load(text).unwrap();
    let w: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with(
        "test.cedar:2: policy `allow-all-emit`: warning: a `permit` on attest, issue, emit or attest_node (without @spiffe_id) has no effect"
    ));
    assert!(w[1].starts_with("test.cedar:4: policy `team-label`: warning: uses {label:team} but never checks"));
    // Missing label: the rule matched, rendered nothing, and says so.
    let d = p.decide(&pod_workload("payments", "ledger")).unwrap();
    assert_eq!(d.candidates[0].why.as_deref(), Some("missing {label:team}"));
}

#[test]
fn sigstore_facts_gate_an_identity() {
    let rule = r#"
@id("signed")
@spiffe_id("spiffe://{trust_domain}/signed/{k8s.service_account}")
permit (principal, action == Attest::Action::"propose", resource)
when {
  principal has k8s && principal.k8s has image && principal.k8s.image has sigstore &&
  principal.k8s.image.sigstore.verified &&
  principal.k8s.image.sigstore.keys.contains("release") &&
  !principal.k8s.image.sigstore.signatures.isEmpty()
};
"#;
    let p = load(rule).unwrap();
    let mut w = pod_workload("payments", "ledger");
    assert!(p.decide(&w).unwrap().issued.is_empty(), "unsigned image");
    if let Some(c) = w.kubernetes.as_mut().and_then(|k| k.container.as_mut()) {
        c.image.sigstore = Some(crate::workload::SigstoreFacts {
            verified: true,
            signatures: vec![crate::workload::SignatureFacts {
                source: "legacy".into(),
                key: Some("release".into()),
                log_index: Some(7),
                ..Default::default()
            }],
            keys: vec!["release".into()],
            ..Default::default()
        });
    }
    assert_eq!(ids(&p.decide(&w).unwrap()), ["spiffe://example.org/signed/ledger"]);
}

#[test]
fn rules_that_render_one_id_merge_what_it_carries() {
    let text = r#"
@id("a")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}")
@hint("first")
@dns("a.example.com")
@ttl("1h")
@federates_with("partner.org")
permit (principal, action == Attest::Action::"propose", resource) when { principal has k8s };
@id("b")
@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}")
@hint("second")
@dns("b.example.com, a.example.com")
@ttl("10m")
@federates_with("auditor.org")
permit (principal, action == Attest::Action::"propose", resource) when { principal has k8s };
"#;
    let s = PolicySettings {
        federated_trust_domains: vec![
            TrustDomain::new("partner.org").unwrap(),
            TrustDomain::new("auditor.org").unwrap(),
        ],
        ..settings()
    };
    let p = load_files(&[("m.cedar", text)], &s).unwrap();
    let d = p.decide(&pod_workload("payments", "ledger")).unwrap();
    assert_eq!(d.issued.len(), 1);
    let i = &d.issued[0];
    assert_eq!(i.policies, ["a", "b"]);
    assert_eq!(i.hint.as_deref(), Some("first"));
    assert_eq!(i.dns_names, ["a.example.com", "b.example.com"]);
    assert_eq!(i.ttl_seconds, Some(600), "the shortest TTL wins");
    let fed: Vec<&str> = i.federates_with.iter().map(TrustDomain::as_str).collect();
    assert_eq!(fed, ["partner.org", "auditor.org"]);
}
