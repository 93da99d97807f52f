use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::policy::{Policies, PolicySettings};
use crate::workload::sample;

fn outcome() -> Outcome {
    let mut w = sample::process().pid(7).uids(10, 10).gids(10, 10).workload();
    let pod = sample::pod("ns", "sa").uid("u-1").name("p").node("n").annotation("vault/token", "hunter2");
    w.kubernetes = Some(pod.facts());
    let td = crate::TrustDomain::new("example.org").unwrap();
    let decision = Policies::load(&PolicySettings::default(), &td).unwrap().decide(&w).unwrap();
    Outcome::new(w, vec![], decision)
}

#[test]
fn annotations_are_digested_unless_debug() {
    let a = outcome();
    let at = UNIX_EPOCH + Duration::from_secs(1_772_366_400);
    let r = record(&a, false, at);
    assert_eq!(r["time"], "2026-03-01T12:00:00Z");
    assert_eq!(r["pid"], 7);
    assert_eq!(r["issued"], json!(["spiffe://example.org/ns/ns/sa/sa"]));
    assert_eq!(r["candidates"][0]["decision"], "allow");
    assert_eq!(r["workload"]["annotations"]["vault/token"], json!(digest(b"hunter2")));
    assert!(!r.to_string().contains("hunter2"));
    assert!(r["workload"].get("facts").is_none());
    let debug = record(&a, true, at);
    assert!(debug.to_string().contains("hunter2"));
    assert_eq!(debug["workload"]["facts_digest"], r["workload"]["facts_digest"]);
}

#[test]
fn file_sink_appends_one_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let log = AuditLog::open(&AuditSettings { path: Some(path.clone()), debug: false }).unwrap();
    let outcome = std::sync::Arc::new(outcome());
    log.attested(&Attestation::decided(std::sync::Arc::clone(&outcome)));
    log.attested(&Attestation::reused(std::sync::Arc::clone(&outcome)));
    log.failed(Pid(9), "sha256:x", &std::io::Error::other("process 9 vanished"), crate::fault::Fault::Workload);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["pid"], 7);
    // A fresh outcome's record is the full §C.6 record plus the outcome's id.
    let mut expected = record(&outcome, false, SystemTime::now());
    expected["time"] = lines[1]["time"].clone();
    expected["outcome"] = lines[1]["outcome"].clone();
    assert_eq!(lines[1], expected);
    assert_eq!(lines[1]["outcome"].as_str().unwrap().len(), 16);
    assert!(lines[1].get("reused").is_none());
    // Reused within a minute: a short record naming the outcome.
    let mut short: Vec<&str> = lines[2].as_object().unwrap().keys().map(String::as_str).collect();
    short.sort_unstable();
    assert_eq!(short, ["issued", "outcome", "pid", "policy_generation", "reused", "time"]);
    assert_eq!(lines[2]["outcome"], lines[1]["outcome"]);
    assert_eq!(lines[2]["issued"], lines[1]["issued"]);
    assert_eq!(lines[2]["pid"], 7);
    assert_eq!(lines[3]["failed"], "process 9 vanished");
    assert_eq!(lines[3]["fault"], "workload");
    // A minute after its last full record, a reused outcome is written in full again.
    let old = SystemTime::now() - FULL_RECORD_EVERY - Duration::from_secs(1);
    let old = old.duration_since(UNIX_EPOCH).unwrap().as_secs();
    outcome.audited_at.store(old, std::sync::atomic::Ordering::Relaxed);
    log.attested(&Attestation::reused(std::sync::Arc::clone(&outcome)));
    let text = std::fs::read_to_string(&path).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["reused"], true);
    assert_eq!(last["candidates"], lines[1]["candidates"], "full again");
    let err = AuditLog::open(&AuditSettings { path: Some(dir.path().join("no/such/dir")), debug: false }).unwrap_err();
    assert!(err.to_string().starts_with("cannot open audit log "), "{err}");
}

fn agent() -> crate::workload::AgentFacts {
    crate::workload::AgentFacts {
        cluster: "prod".into(),
        namespace: "spire".into(),
        service_account: "spire-agent".into(),
        pod_name: "spire-agent-x".into(),
        pod_uid: "pod-1".into(),
        node_name: "node-1".into(),
        node_uid: "node-uid-1".into(),
        pod_annotations: [("vault/token".to_owned(), "hunter2".to_owned())].into(),
        ..Default::default()
    }
}

#[test]
fn node_records_say_who_what_decided_and_how_it_ended() {
    let td = crate::TrustDomain::new("example.org").unwrap();
    let files = [crate::policy::PolicyFile {
        name: "n.cedar".into(),
        text: r#"@id("no-prod") @reason("prod is closed") forbid (principal, action == Attest::Action::"attest_node", resource) when { principal.cluster == "prod" };"#.into(),
    }];
    let policies = Policies::from_files(&files, &PolicySettings::default(), &td).unwrap();
    let decision = policies.decide_node(&agent()).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_772_366_400);
    let refused = NodeEnd::Refused { message: "refused", code: "PermissionDenied", fault: Fault::Policy };
    let r = node_record(Some(&agent()), Some(&decision), Some(refused), false, at);
    assert_eq!(r["time"], "2026-03-01T12:00:00Z");
    assert_eq!(r["event"], "node_attestation");
    assert_eq!(r["policy_generation"], json!(policies.generation()));
    assert_eq!(
        r["agent"],
        json!({"cluster": "prod", "ns": "spire", "sa": "spire-agent", "pod": "spire-agent-x", "pod_uid": "pod-1",
               "node": "node-1", "node_uid": "node-uid-1"})
    );
    assert_eq!(r["node_decision"]["decision"], "deny");
    assert_eq!(r["node_decision"]["determining"], json!(["no-prod"]));
    assert_eq!(r["node_decision"]["reasons"], json!(["prod is closed"]));
    assert_eq!(
        (&r["failed"], &r["code"], &r["fault"]),
        (&json!("refused"), &json!("PermissionDenied"), &json!("policy"))
    );
    assert!(r.get("agent_id").is_none());
    assert!(!r.to_string().contains("hunter2"), "annotations only in debug records");
    assert!(node_record(Some(&agent()), None, None, true, at).to_string().contains("hunter2"));

    // Refused before the review was read: no agent, no decision.
    let early =
        NodeEnd::Refused { message: "missing attestation payload", code: "InvalidArgument", fault: Fault::Workload };
    let r = node_record(None, None, Some(early), false, at);
    assert!(r.get("agent").is_none() && r.get("node_decision").is_none() && r.get("policy_generation").is_none());
    let admitted = node_record(Some(&agent()), None, Some(NodeEnd::Admitted { agent_id: "spiffe://x/y" }), false, at);
    assert_eq!(admitted["agent_id"], "spiffe://x/y");
    assert!(admitted.get("failed").is_none());
}
