use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ID2: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const UID: &str = "2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab";
const UID_: &str = "2c6b4f9e_1b1a_4b1e_9c1e_1234567890ab";

fn loc(paths: &[String]) -> (Option<String>, Option<String>) {
    let l = locate(paths).unwrap();
    (l.pod_uid.map(|p| p.0), l.container_id.map(|c| c.to_string()))
}

#[test]
fn legacy_layouts() {
    let pod = |p: &str| (Some(p.to_owned()), Some(ID.to_owned()));
    assert_eq!(loc(&[format!("/kubepods/besteffort/pod{UID}/{ID}")]), pod(UID));
    assert_eq!(
        loc(&[format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
        )]),
        pod(UID)
    );
    assert_eq!(
        loc(&[format!("/kubepods/burstable/pod{}/{ID}", "0123456789abcdef0123456789abcdef")]),
        pod("0123456789abcdef0123456789abcdef"),
        "static-pod hash UIDs are read"
    );
    assert_eq!(loc(&[format!("/system.slice/crio-{ID}.scope")]), (None, Some(ID.to_owned())), "pattern B");
    assert_eq!(loc(&[format!("/docker/{ID}")]), (None, None), "plain docker is not k8s");
    assert_eq!(loc(&[format!("/kubepods/{ID}")]), (None, None));
    assert_eq!(loc(&[format!("/kubepods/besteffort/pod{UID}/{ID}/sub")]), (None, None), "id must end the path");
    assert_eq!(
        loc(&["/".to_owned(), format!("/kubepods/pod{UID}/{ID}"), "/user.slice".to_owned()]),
        pod(UID),
        "non-matching entries are ignored"
    );
}

#[test]
fn legacy_conflicts() {
    let err = locate(&[format!("/kubepods/pod{UID}/{ID}"), format!("/kubepods/pod{UID}/{ID2}")]).unwrap_err();
    assert_eq!(err.to_string(), format!("multiple container IDs found in cgroups ({ID}, {ID2})"));
    let other = UID.replace('2', "3");
    let err = locate(&[format!("/kubepods/pod{UID}/{ID}"), format!("/kubepods/pod{other}/{ID}")]).unwrap_err();
    assert_eq!(err.to_string(), format!("multiple pod UIDs found in cgroups ({UID}, {other})"));
}

/// Found by the cgroup property test: a path whose last 64 bytes start inside a multi-byte
/// character made the legacy locator slice inside it.
#[test]
fn a_path_ending_inside_a_multibyte_character_is_not_a_container() {
    let path = format!("/kubepods/pod2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab/é{}", "a".repeat(63));
    assert_eq!(locate(&[path]).unwrap(), Location::default());
    let crio = format!("/x/crioé{}", "b".repeat(63));
    assert_eq!(locate(&[crio]).unwrap(), Location::default());
}
