use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[test]
fn cookie_and_versions() {
    assert!(check_cookie(Role::WorkloadAttestor, &env(&[("WorkloadAttestor", "WorkloadAttestor")])).is_ok());
    assert!(check_cookie(Role::WorkloadAttestor, &env(&[("WorkloadAttestor", "x")])).is_err());
    assert!(check_cookie(Role::NodeAttestorServer, &env(&[("WorkloadAttestor", "WorkloadAttestor")])).is_err());
    assert!(check_cookie(Role::NodeAttestorAgent, &env(&[("NodeAttestor", "NodeAttestor")])).is_ok());
    assert_eq!(negotiate(&env(&[])).unwrap(), 1);
    assert_eq!(negotiate(&env(&[("PLUGIN_PROTOCOL_VERSIONS", "3, 1")])).unwrap(), 1);
    assert!(negotiate(&env(&[("PLUGIN_PROTOCOL_VERSIONS", "2,3")])).is_err());
}

#[test]
fn socket_paths_and_the_line() {
    let p = socket_path(&env(&[("PLUGIN_UNIX_SOCKET_DIR", "/run/x"), ("TMPDIR", "/tmp/y")]));
    assert!(p.starts_with("/run/x") && p.file_name().unwrap().to_string_lossy().starts_with("plugin"));
    assert!(socket_path(&env(&[("TMPDIR", "/tmp/y")])).starts_with("/tmp/y"));
    assert!(socket_path(&env(&[])).starts_with("/tmp"));
    assert_eq!(line(1, Path::new("/tmp/plugin123")), "1|1|unix|/tmp/plugin123|grpc|");
    assert!(!fits(Path::new(&"/x".repeat(60))));
}
