use std::path::Path;

use super::*;

/// A recorded process: `stat` (start time 7) and `status` for `uid`.
fn process(root: &Path, pid: u32, uid: u32) {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stat"), format!("{pid} (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 1 1\n")).unwrap();
    std::fs::write(dir.join("status"), format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\nGroups:\t\n"))
        .unwrap();
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

const BY_UID: &str = r#"@id("by-uid")
@spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource);
"#;

const AFTER_NOON: &str = r#"@id("by-uid")
@spiffe_id("spiffe://{trust_domain}/uid/{unix.uid}")
permit (principal, action == Attest::Action::"propose", resource)
when { context.now > datetime("2026-01-01T12:00:00Z") };
"#;

/// An attestor over a recorded proc root, with policies (and shadow policies) from `dir`.
fn attestor(root: &Path, dir: &Path, shadow: Option<&Path>) -> Arc<Attestor> {
    let mut text = format!(
        "k8s_source = \"disabled\"\nunix {{\n discover_workload_path = false\n passwd_file = \"/dev/null\"\n group_file = \"/dev/null\"\n}}\npolicy {{\n dir = \"{}\"\n",
        dir.display()
    );
    if let Some(s) = shadow {
        text.push_str(&format!(" shadow_dir = \"{}\"\n", s.display()));
    }
    text.push_str("}\n");
    let config = Config::parse(&text, Path::new(".")).unwrap();
    let runtime = Arc::new(Runtime::new(crate::sandbox::RuntimeSettings::default()).unwrap());
    Arc::new(Attestor::new(&config, runtime, root, SourceMode::Disabled).unwrap())
}

#[tokio::test]
async fn the_same_facts_reuse_their_outcome_until_the_generation_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, policies) = (tmp.path().join("proc"), tmp.path().join("policies"));
    process(&root, 10, 1000);
    write(&policies, "rules.cedar", BY_UID);
    let a = attestor(&root, &policies, None);
    let first = a.attest(Pid(10)).await.unwrap();
    assert!(!first.is_reused());
    let again = a.attest(Pid(10)).await.unwrap();
    assert!(again.is_reused(), "same facts, same generation");
    assert!(Arc::ptr_eq(first.outcome(), again.outcome()));
    // Other facts (the uid changed, as after setuid) are decided afresh.
    process(&root, 10, 1001);
    let changed = a.attest(Pid(10)).await.unwrap();
    assert!(!changed.is_reused());
    assert_eq!(changed.spiffe_ids()[0].id.to_string(), "spiffe://example.org/uid/1001");
    // A new generation starts with nothing known.
    write(&policies, "rules.cedar", &BY_UID.replace("/uid/", "/user-id/"));
    assert!(matches!(a.reload(false).unwrap(), crate::generation::Reloaded::Swapped { .. }));
    let reloaded = a.attest(Pid(10)).await.unwrap();
    assert!(!reloaded.is_reused());
    assert_eq!(reloaded.spiffe_ids()[0].id.to_string(), "spiffe://example.org/user-id/1001");
}

/// A policy that reads `context.now` makes every decision depend on the time: nothing is reused.
#[tokio::test]
async fn decisions_that_read_the_clock_are_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, policies) = (tmp.path().join("proc"), tmp.path().join("policies"));
    process(&root, 10, 1000);
    write(&policies, "rules.cedar", AFTER_NOON);
    let a = attestor(&root, &policies, None);
    assert!(!a.attest(Pid(10)).await.unwrap().is_reused());
    assert!(!a.attest(Pid(10)).await.unwrap().is_reused());
}

/// Shadow comparisons beyond MAX_SHADOW_IN_FLIGHT are dropped and counted, never queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_comparisons_are_bounded_and_dropped_when_saturated() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, live, next) = (tmp.path().join("proc"), tmp.path().join("live"), tmp.path().join("next"));
    write(&live, "rules.cedar", BY_UID);
    write(&next, "rules.cedar", &BY_UID.replace("/uid/", "/user-id/"));
    let a = attestor(&root, &live, Some(&next));
    // Every slot busy: the comparisons of three new facts are dropped.
    let held = Arc::clone(&a.shadow_slots).acquire_many_owned(MAX_SHADOW_IN_FLIGHT as u32).await.unwrap();
    for pid in 20..23 {
        process(&root, pid, pid);
        assert!(a.attest(Pid(pid)).await.is_ok(), "the answer never waits for the shadow");
    }
    assert_eq!(a.shadow_dropped(), 3);
    drop(held);
    process(&root, 30, 30);
    a.attest(Pid(30)).await.unwrap();
    assert_eq!(a.shadow_dropped(), 3, "a free slot runs the comparison");
    // A reused outcome was compared when it was decided: no new comparison at all.
    a.attest(Pid(30)).await.unwrap();
    assert_eq!(a.shadow_dropped(), 3);
}
