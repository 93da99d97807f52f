//! A watched set: unchanged files are not reloaded, a changed set is swapped in, a set that
//! does not load leaves the old one serving and is refused once; the embedded set never changes.

use super::*;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

#[test]
fn swaps_changed_sets_and_keeps_the_old_one_when_the_new_one_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |path: &str| {
        format!(
            "@id(\"r\") @spiffe_id(\"spiffe://{{trust_domain}}/{path}\")\npermit (principal, action == Attest::Action::\"propose\", resource);\n"
        )
    };
    std::fs::write(dir.path().join("r.cedar"), rule("a")).unwrap();
    let settings = PolicySettings { dir: Some(dir.path().to_owned()), ..PolicySettings::default() };
    let w = WatchedPolicies::load(settings, td()).unwrap();
    let first = w.policies().generation().to_owned();
    assert_eq!(w.reload().unwrap(), None);
    std::fs::write(dir.path().join("r.cedar"), rule("b")).unwrap();
    let (from, to) = w.reload().unwrap().unwrap();
    assert_eq!((from.as_str(), w.policies().generation()), (first.as_str(), to.as_str()));
    assert_eq!(w.policies().rules()[0].spiffe_id.source(), "spiffe://{trust_domain}/b");
    std::fs::write(dir.path().join("r.cedar"), "permit (").unwrap();
    assert!(w.reload().is_err());
    assert_eq!(w.reload().unwrap(), None, "refused once");
    assert_eq!(w.policies().generation(), to);
}

#[test]
fn the_embedded_set_never_changes() {
    let w = WatchedPolicies::load(PolicySettings::default(), td()).unwrap();
    assert_eq!(w.reload().unwrap(), None);
}
