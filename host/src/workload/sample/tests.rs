use super::*;

#[test]
fn process_defaults_are_the_documented_ones() {
    let f = process().facts();
    assert_eq!(f.pid, Pid(4242));
    assert_eq!(f.start_time, Some(1));
    assert_eq!((f.uid, f.euid, f.gid, f.egid), (Uid(1000), Uid(1000), Gid(1000), Gid(1000)));
    assert!(f.supplementary_gids.is_empty() && f.supplementary_group_names.is_empty());
    assert_eq!((f.user, f.group, f.exe_path, f.exe_sha256), (None, None, None, None));
}

#[test]
fn process_setters_set_what_they_name() {
    let f = process()
        .pid(7)
        .start_time(None)
        .uids(1000, 1001)
        .gids(100, 101)
        .user("bob")
        .group("staff")
        .supplementary_group(4, "adm")
        .supplementary_group(27, "sudo")
        .exe("/usr/bin/sleep")
        .facts();
    assert_eq!(f.pid, Pid(7));
    assert_eq!(f.start_time, None);
    assert_eq!((f.uid, f.euid, f.gid, f.egid), (Uid(1000), Uid(1001), Gid(100), Gid(101)));
    assert_eq!(f.supplementary_gids, [Gid(4), Gid(27)], "in the order added");
    assert_eq!(f.supplementary_group_names, BTreeMap::from([(Gid(4), "adm".into()), (Gid(27), "sudo".into())]));
    assert_eq!((f.user.as_deref(), f.group.as_deref()), (Some("bob"), Some("staff")));
    assert_eq!(f.exe_path, Some(PathBuf::from("/usr/bin/sleep")));
    assert_eq!(f.exe_sha256.as_deref(), Some("ab".repeat(32).as_str()));
}

#[test]
fn process_workload_has_only_unix_facts() {
    let w = process().user("alice").workload();
    assert_eq!(w, Workload::new(process().user("alice").facts()));
    assert!(w.kubernetes.is_none() && w.facts.is_empty() && w.selectors.is_empty());
}

#[test]
fn pod_defaults_are_the_documented_ones() {
    let k = pod("payments", "ledger").facts();
    assert_eq!(k.pod.uid, PodUid("2c6b4f9e-1b1a-4b1e-9c1e-1234567890ab".into()));
    assert_eq!(k.pod.name, "ledger-7d9c8b6f5-x2k9p");
    assert_eq!((k.pod.namespace.as_str(), k.pod.service_account.as_str()), ("payments", "ledger"));
    assert_eq!(k.pod.node_name, "node-1");
    assert!(k.pod.labels.is_empty() && k.pod.annotations.is_empty() && k.pod.owners.is_empty());
    assert!(!k.pod.host_network);
    assert!(k.container.is_none() && k.namespace_labels.is_empty());
}

#[test]
fn pod_setters_set_what_they_name() {
    let k = pod("prod", "web")
        .uid("u-1")
        .name("web-1")
        .node("n1")
        .label("app", "web")
        .labels([("tier".to_owned(), "front".to_owned()), ("app".to_owned(), "web-2".to_owned())])
        .annotation("a", "1")
        .annotations([("b".to_owned(), "2".to_owned())])
        .owner("ReplicaSet", "web-7d9c8b6f5", "0e1f")
        .container(container("app"))
        .facts();
    assert_eq!((k.pod.uid.0.as_str(), k.pod.name.as_str(), k.pod.node_name.as_str()), ("u-1", "web-1", "n1"));
    assert_eq!(k.pod.labels, BTreeMap::from([("app".into(), "web-2".into()), ("tier".into(), "front".into())]));
    assert_eq!(k.pod.annotations, BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]));
    assert_eq!(
        k.pod.owners,
        [OwnerReference { kind: "ReplicaSet".into(), name: "web-7d9c8b6f5".into(), uid: "0e1f".into() }]
    );
    assert_eq!(k.container, Some(container("app")));
}

#[test]
fn container_is_the_documented_one() {
    let c = container("app");
    assert_eq!(c.name, "app");
    assert_eq!(c.id, ContainerId::new("a".repeat(64)).unwrap());
    assert_eq!(c.image.name, "registry.example.com/ledger:1.2");
    assert_eq!(c.image.id, "registry.example.com/ledger@sha256:9f86");
    assert!(c.image.sigstore.is_none() && !c.init);
}

#[test]
fn container_id_from_bytes_is_lower_case_hex() {
    let id = ContainerId::from_bytes([0xab; 32]);
    assert_eq!(id.as_str(), "ab".repeat(32));
    assert_eq!(ContainerId::new(id.as_str()), Ok(id));
    assert_eq!(EXE_SHA256, "ab".repeat(32));
}
