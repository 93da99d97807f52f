use std::path::Path;

use tonic::Code;

use super::*;

fn configured(cluster: &str, token_path: &Path) -> NodeAgentPlugin {
    let plugin = NodeAgentPlugin::new();
    let settings = NodeAgentSettings { cluster: cluster.into(), token_path: token_path.to_owned() };
    RoleConfig::apply(&plugin, settings).unwrap();
    plugin
}

#[tokio::test]
async fn not_configured_is_failed_precondition() {
    let e = NodeAgentPlugin::new().payload().await.unwrap_err();
    assert_eq!(
        (e.status().code(), e.status().message().to_owned()),
        (Code::FailedPrecondition, "not configured".into())
    );
    assert_eq!(e.fault(), Fault::Config);
}

#[tokio::test]
async fn the_payload_is_spire_s_and_the_file_is_read_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "header.claims.sig").unwrap();
    let plugin = configured("production", &path);
    assert_eq!(plugin.payload().await.unwrap(), br#"{"cluster":"production","token":"header.claims.sig"}"#);
    // The kubelet rotates the projected token in place: the next attestation sends the new one,
    // whole, trailing newline included (SPIRE does not trim).
    std::fs::write(&path, "rotated.token.sig\n").unwrap();
    assert_eq!(plugin.payload().await.unwrap(), br#"{"cluster":"production","token":"rotated.token.sig\n"}"#);
}

#[tokio::test]
async fn a_missing_file_is_spire_s_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let e = configured("c", &path).payload().await.unwrap_err();
    let p = path.display();
    assert_eq!(e.status().code(), Code::InvalidArgument);
    assert_eq!(e.to_string(), format!("unable to load token from {p}: open {p}: no such file or directory"));
}

#[tokio::test]
async fn an_empty_file_is_spire_s_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "").unwrap();
    let e = configured("c", &path).payload().await.unwrap_err();
    let p = path.display();
    assert_eq!(e.status().code(), Code::InvalidArgument);
    assert_eq!(e.to_string(), format!("unable to load token from {p}: \"{p}\" is empty"));
}

#[test]
fn a_directory_fails_on_read_as_go_says_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display();
    let e = read_token(dir.path()).unwrap_err();
    assert_eq!(e.to_string(), format!("unable to load token from {p}: read {p}: is a directory"));
}

#[test]
fn a_huge_file_is_refused_without_reading_it_all() {
    // /dev/zero never ends: the cap is what stops the read.
    let e = read_token(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(e, AgentError::TooLarge { .. }), "{e}");
    assert_eq!(e.status().code(), Code::InvalidArgument);
}

#[test]
fn reconfiguring_swaps_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "t").unwrap();
    let plugin = configured("one", &path);
    RoleConfig::apply(&plugin, NodeAgentSettings { cluster: "two".into(), token_path: path.clone() }).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(plugin.payload()).unwrap(), br#"{"cluster":"two","token":"t"}"#);
}
