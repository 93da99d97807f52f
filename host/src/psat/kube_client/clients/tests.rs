use std::sync::Arc;
use std::time::Duration;

use super::*;

#[test]
fn a_cluster_keeps_its_client_while_its_file_and_limit_are_the_same() {
    let second = Duration::from_secs(1);
    let clients = KubeClients::new([("a", "/a"), ("b", "")], second);
    assert_eq!(clients.len(), 2);
    assert_eq!(clients.get("b").unwrap().kube_config_file(), "");
    assert!(clients.get("c").is_none());
    let next = clients.reconfigured([("a", "/a"), ("b", "/b")], second);
    assert!(Arc::ptr_eq(&clients.get("a").unwrap(), &next.get("a").unwrap()));
    assert!(!Arc::ptr_eq(&clients.get("b").unwrap(), &next.get("b").unwrap()));
    let slower = next.reconfigured([("a", "/a")], 2 * second);
    assert!(!Arc::ptr_eq(&next.get("a").unwrap(), &slower.get("a").unwrap()));
    assert_eq!(slower.len(), 1);
    assert!(KubeClients::new([], second).is_empty());
}
