//! Plans: create what is missing, update what differs, delete owned entries only after the
//! grace period, forget an orphan wanted again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::registrar::desired::Wanted;
use crate::registrar::entry::EntrySelector;

fn e(id: &str, spiffe: &str) -> Entry {
    Entry {
        id: id.into(),
        spiffe_id: spiffe.into(),
        parent_id: "spiffe://td/spire/agent/x".into(),
        selectors: vec![EntrySelector { kind: "k8s".into(), value: format!("spiffe-id:{spiffe}") }],
        ..Entry::default()
    }
}

fn desired(entries: &[Entry]) -> Desired {
    Desired {
        entries: entries
            .iter()
            .map(|x| (x.id.clone(), Wanted { entry: x.clone(), rules: vec!["r".into()], pods: 1 }))
            .collect(),
        ..Desired::default()
    }
}

fn ids(c: &[Change]) -> Vec<&str> {
    c.iter().map(|c| c.entry.id.as_str()).collect()
}

#[test]
fn creates_updates_and_deletes_after_the_grace_period() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let grace = Duration::from_secs(60);
    let want = desired(&[e("a.1", "spiffe://td/one"), e("a.2", "spiffe://td/two"), e("a.3", "spiffe://td/three")]);
    let mut changed = e("a.2", "spiffe://td/two");
    changed.dns_names = vec!["old.example".into()];
    changed.revision_number = 7;
    let mut same = e("a.3", "spiffe://td/three");
    same.revision_number = 3;
    let current = [changed, same, e("a.9", "spiffe://td/gone")];
    let mut orphans = Orphans::default();

    let p = plan(&want, &current, &mut orphans, t0, grace);
    assert_eq!(ids(&p.create), ["a.1"]);
    assert_eq!(ids(&p.update), ["a.2"]);
    assert_eq!(p.update[0].entry.dns_names, Vec::<String>::new());
    assert_eq!(p.unchanged, 1, "the revision number is the server's, not content");
    assert!(p.delete.is_empty());
    assert_eq!(p.waiting, [("a.9".to_owned(), grace)]);

    let p = plan(&want, &current, &mut orphans, t0 + Duration::from_secs(59), grace);
    assert_eq!(p.waiting, [("a.9".to_owned(), Duration::from_secs(1))]);
    let p = plan(&want, &current, &mut orphans, t0 + grace, grace);
    assert_eq!(ids(&p.delete), ["a.9"]);
    assert!(p.delete[0].rules.is_empty());
}

#[test]
fn an_orphan_wanted_again_starts_over() {
    let t0 = SystemTime::now();
    let grace = Duration::from_secs(60);
    let current = [e("a.9", "spiffe://td/x")];
    let mut orphans = Orphans::default();
    plan(&desired(&[]), &current, &mut orphans, t0, grace);
    assert_eq!(orphans.len(), 1);
    let p = plan(&desired(&current), &current, &mut orphans, t0 + Duration::from_secs(30), grace);
    assert!(p.is_empty() && orphans.is_empty());
    let p = plan(&desired(&[]), &current, &mut orphans, t0 + Duration::from_secs(90), grace);
    assert!(p.delete.is_empty(), "the grace period counts from when it was unwanted again");
    let p = plan(&desired(&[]), &current, &mut orphans, t0, Duration::ZERO);
    assert_eq!(ids(&p.delete), ["a.9"], "no grace: at once");
}
