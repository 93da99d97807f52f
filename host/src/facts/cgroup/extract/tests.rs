use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ID2: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const UID: &str = "2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab";
const UID_: &str = "2c6b4f9e_1b1a_4b1e_9c1e_1234567890ab";

type Ids = (Option<String>, Option<String>);

fn one(path: &str) -> Ids {
    let (p, c) = entry(path);
    (p.map(|p| p.0), c.map(|c| c.to_string()))
}

fn both(pod: &str, id: &str) -> Ids {
    (Some(pod.to_owned()), Some(id.to_owned()))
}

/// §1.5, every row.
#[test]
fn layout_catalogue() {
    let rows: Vec<(String, Ids)> = vec![
        (format!("/kubepods/burstable/pod{UID}/{ID}"), both(UID, ID)),
        (format!("/kubepods/besteffort/pod{UID}/{ID}"), both(UID, ID)),
        (format!("/kubepods/pod{UID}/{ID}"), both(UID, ID)),
        (
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/docker-{ID}.scope"),
            both(UID, ID),
        ),
        (
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
            ),
            both(UID, ID),
        ),
        (format!("/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"), both(UID, ID)),
        (
            format!("/system.slice/containerd.service/kubepods-burstable-pod{UID_}.slice:cri-containerd:{ID}"),
            both(UID, ID),
        ),
        (
            format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/crio-{ID}.scope"),
            both(UID, ID),
        ),
        (format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-conmon-{ID}.scope"), both(UID, ID)),
        (format!("/../crio-{ID}.scope"), (None, Some(ID.to_owned()))),
        (format!("/docker/{ID2}/kubepods/besteffort/pod{UID}/{ID}"), both(UID, ID)),
        (
            format!(
                "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
            ),
            both(UID, ID),
        ),
        (format!("/kubepods/kubepods/besteffort/pod{UID}/{ID}"), both(UID, ID)),
        (
            format!("/../../../kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"),
            both(UID, ID),
        ),
        (format!("/kubepods/burstable/pod{}/{ID}", "0123456789abcdef0123456789abcdef"), (None, Some(ID.to_owned()))),
        (format!("/kubepods/burstable/pod{UID}"), (None, None)),
        (format!("/docker/{ID}"), (None, Some(ID.to_owned()))),
        (format!("/system.slice/docker-{ID}.scope"), (None, Some(ID.to_owned()))),
        ("/user.slice/user-1000.slice/session-2.scope".to_owned(), (None, None)),
        ("/system.slice/sshd.service".to_owned(), (None, None)),
        ("/".to_owned(), (None, None)),
    ];
    for (path, want) in rows {
        assert_eq!(one(&path), want, "{path}");
    }
}

#[test]
fn container_id_boundaries() {
    assert_eq!(one(&format!("/x/{}", &ID[..63])), (None, None), "63 hex");
    assert_eq!(one(&format!("/x/{ID}a")), (None, None), "65 hex");
    assert_eq!(one(&format!("/x/g{ID}")), (None, None), "glued to a letter");
    assert_eq!(one(&format!("/x/_{ID}")), (None, None), "glued to an underscore");
    assert_eq!(one(&format!("/x/{}", ID.to_uppercase())), (None, Some(ID.to_uppercase())), "either case");
    assert_eq!(
        one(&format!("/pod{UID}/cri-containerd-{ID}.scope/init.scope")),
        both(UID, ID),
        "sub-cgroup after the container"
    );
    assert_eq!(
        one(&format!("/pod{UID}/{ID2}/x/{ID}")),
        both(UID, ID),
        "the last id wins; earlier segments are searched for the pod"
    );
}

#[test]
fn pod_uid_rules() {
    assert_eq!(pod_uid_in(&format!("kubepods-pod{UID_}.slice")), Some(UID.to_owned()));
    assert_eq!(
        pod_uid_in("pod2C6B4F9E-1b1a_4b1e-9c1e_1234567890AB"),
        Some("2C6B4F9E-1b1a-4b1e-9c1e-1234567890AB".to_owned())
    );
    assert_eq!(pod_uid_in(&format!("xpod{UID}")), None, "pod must start at a word boundary");
    assert_eq!(pod_uid_in(&format!("pod{UID}x")), None, "and end at one");
    assert_eq!(pod_uid_in("pod2c6b4f9e--1b1a-4b1e-9c1e-1234567890ab"), None, "one separator exactly");
    assert_eq!(pod_uid_in(&format!("kubepods-pod{UID}")), Some(UID.to_owned()));
}

fn located(lines: &[String]) -> Result<Location, LocateError> {
    combine(lines)
}

#[test]
fn combining_rules() {
    let pod = format!("/kubepods/besteffort/pod{UID}/{ID}");
    let plain = format!("/docker/{ID}");
    // Identifier-less entries before or after a pod entry are harmless.
    let ok = located(&["/".into(), pod.clone(), "/".into()]).unwrap();
    assert_eq!((ok.pod_uid.unwrap().0, ok.container_id.unwrap().to_string()), (UID.to_owned(), ID.to_owned()));
    // A pod entry overrides an earlier container-only entry, even a different one.
    let ok = located(&[format!("/docker/{ID2}"), pod.clone()]).unwrap();
    assert_eq!(ok.container_id.unwrap().to_string(), ID);
    // The quirk: a container-only id followed by an identifier-less entry.
    assert_eq!(
        located(&[plain.clone(), "/".into()]).unwrap_err().to_string(),
        format!("multiple container IDs found (\"{ID}\", \"\")")
    );
    // Same lines, other order: fine.
    assert_eq!(located(&["/".into(), plain.clone()]).unwrap().container_id.unwrap().to_string(), ID);
    // Two pods.
    let other_pod = format!("/kubepods/besteffort/pod{}/{ID}", UID.replace('2', "3"));
    assert_eq!(
        located(&[pod.clone(), other_pod]).unwrap_err().to_string(),
        format!("multiple pod UIDs found (\"{UID}\", \"{}\")", UID.replace('2', "3"))
    );
    // Same pod, two containers.
    assert_eq!(
        located(&[pod.clone(), format!("/kubepods/besteffort/pod{UID}/{ID2}")]).unwrap_err().to_string(),
        format!("multiple container IDs found (\"{ID}\", \"{ID2}\")")
    );
    // Host process.
    assert_eq!(located(&["/user.slice".into(), "/".into()]).unwrap(), Location::default());
    assert!(!LocateError::Cgroups(String::new()).is_precondition());
    assert!(LocateError::MultiplePods(String::new(), String::new()).is_precondition());
}
