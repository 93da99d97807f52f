use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::policy::{Policies, PolicySettings};
use crate::workload::{Gid, KubernetesFacts, PodFacts, PodUid, Uid, UnixFacts};

fn attestation() -> Attestation {
    let mut w = Workload::new(UnixFacts {
        pid: Pid(7),
        start_time: Some(1),
        uid: Uid(10),
        euid: Uid(10),
        gid: Gid(10),
        egid: Gid(10),
        supplementary_gids: vec![],
        user: None,
        group: None,
        supplementary_group_names: BTreeMap::new(),
        exe_path: None,
        exe_sha256: None,
    });
    w.kubernetes = Some(KubernetesFacts {
        pod: PodFacts {
            uid: PodUid("u-1".into()),
            name: "p".into(),
            namespace: "ns".into(),
            service_account: "sa".into(),
            node_name: "n".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([("vault/token".into(), "hunter2".into())]),
            owners: vec![],
            host_network: false,
        },
        container: None,
        namespace_labels: BTreeMap::new(),
    });
    let td = crate::TrustDomain::new("example.org").unwrap();
    let decision = Policies::load(&PolicySettings::default(), &td).unwrap().decide(&w).unwrap();
    Attestation { workload: w, modules: vec![], decision }
}

#[test]
fn annotations_are_digested_unless_debug() {
    let a = attestation();
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
    let a = attestation();
    log.attested(&a);
    log.failed(Pid(9), "sha256:x", &std::io::Error::other("process 9 vanished"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["pid"], 7);
    assert_eq!(lines[2]["failed"], "process 9 vanished");
    let err = AuditLog::open(&AuditSettings { path: Some(dir.path().join("no/such/dir")), debug: false }).unwrap_err();
    assert!(err.to_string().starts_with("cannot open audit log "), "{err}");
}
