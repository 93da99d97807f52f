use std::time::Duration;

use super::*;

#[test]
fn a_stamp_changes_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    assert_eq!(stamp(&path), None);
    std::fs::write(&path, "a").unwrap();
    let first = stamp(&path);
    assert!(first.is_some());
    assert_eq!(stamp(&path), first);
    std::fs::write(&path, "ab").unwrap();
    assert_ne!(stamp(&path), first);
    // Same length and mtime, new inode: a Secret volume's rename.
    let before = stamp(&path);
    let other = dir.path().join("new");
    std::fs::write(&other, "cd").unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::File::options().write(true).open(&other).unwrap().set_modified(mtime).unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert_ne!(stamp(&path), before);
}

#[test]
fn an_empty_file_name_means_in_cluster() {
    assert_eq!(Source::new(""), Source::InCluster);
    assert_eq!(Source::new("/etc/kube").kube_config_file(), "/etc/kube");
    assert_eq!(Source::InCluster.kube_config_file(), "");
}

#[test]
fn the_files_a_kubeconfig_names_are_stamped_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority: ca.pem\nusers:\n- name: u\n  user:\n    tokenFile: /run/token\n    client-certificate: /run/cert\n    client-key: /run/key\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let files = referenced_files(&kubeconfig);
    assert_eq!(files, [dir.path().join("ca.pem"), "/run/cert".into(), "/run/key".into(), "/run/token".into()]);
}

#[tokio::test]
async fn a_missing_kubeconfig_is_spires_config_error_and_stays_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let source = Source::new(path.to_str().unwrap());
    let built = source.build(Duration::from_secs(1)).await;
    let err = built.client().err().unwrap();
    assert!(err.message.starts_with("unable to get clientset: unable to create client config: "), "{err}");
    assert!(built.unchanged());
    std::fs::write(&path, "not: [yaml").unwrap();
    assert!(!built.unchanged());
}
