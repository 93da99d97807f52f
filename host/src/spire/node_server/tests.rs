use std::path::PathBuf;

use proptest::prelude::*;
use tonic::Code as GrpcCode;

use super::*;
use crate::fault::Fault;

const TWO_CLUSTERS: &str = r#"
"clusters" = {
  "production" = {
    "service_account_allow_list" = ["spire:spire-agent"]
    "kube_config_file" = "/etc/k/prod"
  }
  "staging" = {
    "service_account_allow_list" = ["spire:spire-agent"]
  }
}
"#;

fn settings(hcl: &str) -> NodeServerSettings {
    NodeServerSettings::parse(Some("example.org"), hcl).unwrap()
}

fn configured(hcl: &str) -> NodeServerPlugin {
    let plugin = NodeServerPlugin::new();
    RoleConfig::apply(&plugin, settings(hcl)).unwrap();
    plugin
}

fn payload(bytes: &[u8]) -> Option<na::AttestRequest> {
    Some(na::AttestRequest { request: Some(na::attest_request::Request::Payload(bytes.to_vec())) })
}

fn code_and_message(e: &PsatError) -> (GrpcCode, String) {
    let s = status(e);
    (s.code(), s.message().to_owned())
}

#[test]
fn the_core_trust_domain_is_required_with_spire_s_messages() {
    let e = NodeServerSettings::parse(Some(""), "").unwrap_err();
    assert_eq!(e.to_string(), "server core configuration must contain trust_domain");
    let e = NodeServerSettings::parse(None, "").unwrap_err();
    assert_eq!(e.to_string(), "server core configuration is required");
    let e = NodeServerSettings::parse(Some("not a domain/"), "").unwrap_err();
    assert!(e.to_string().starts_with("server core configuration trust_domain is malformed: "), "{e}");
}

#[test]
fn no_clusters_is_accepted() {
    let s = settings("");
    assert!(s.psat.clusters.is_empty());
    assert_eq!(s.trust_domain.to_string(), "example.org");
    assert_eq!(<NodeServerPlugin as RoleConfig>::notes(&s), [NO_CLUSTERS_NOTE]);
    assert!(<NodeServerPlugin as RoleConfig>::notes(&settings(TWO_CLUSTERS)).is_empty());
}

#[test]
fn the_clusters_block_is_read_as_spire_re_prints_it() {
    let s = settings(TWO_CLUSTERS);
    assert_eq!(s.psat.clusters.keys().collect::<Vec<_>>(), ["production", "staging"]);
    assert_eq!(s.psat.clusters["production"].kube_config_file, Some(PathBuf::from("/etc/k/prod")));
    assert_eq!(s.psat.clusters["production"].audience, ["spire-server"]);
}

#[test]
fn every_problem_is_reported_the_core_configuration_s_first() {
    let hcl = r#""clusters" = { "c" = { "service_account_allow_list" = [] } }"#;
    let e = NodeServerSettings::parse(Some(""), hcl).unwrap_err();
    assert_eq!(
        e.notes(),
        [
            "server core configuration must contain trust_domain",
            r#"cluster "c" configuration must have at least one service account allowed"#
        ]
    );
    let e = NodeServerSettings::parse(Some("example.org"), "clusters = [").unwrap_err();
    assert!(e.to_string().starts_with("plugin configuration is malformed"), "{e}");
}

#[tokio::test]
async fn not_configured_is_failed_precondition_before_the_payload_is_read() {
    let plugin = NodeServerPlugin::new();
    assert!(plugin.clients().is_none());
    for first in [None, payload(b"not json")] {
        let e = plugin.answer(first).await.unwrap_err();
        assert_eq!(code_and_message(&e), (GrpcCode::FailedPrecondition, "not configured".into()));
        assert_eq!(e.fault(), Fault::Config);
    }
}

#[tokio::test]
async fn no_payload_or_a_challenge_response_first_is_spire_s_missing_payload() {
    let plugin = configured(TWO_CLUSTERS);
    let challenge =
        Some(na::AttestRequest { request: Some(na::attest_request::Request::ChallengeResponse(b"x".to_vec())) });
    let empty_message = Some(na::AttestRequest { request: None });
    for first in [None, challenge, empty_message] {
        let e = plugin.answer(first).await.unwrap_err();
        assert_eq!(code_and_message(&e), (GrpcCode::InvalidArgument, "missing attestation payload".into()));
    }
}

#[tokio::test]
async fn payload_problems_are_spire_s_invalid_argument() {
    let plugin = configured(TWO_CLUSTERS);
    let cases: [(&[u8], &str); 4] = [
        (br#"{"cluster":"","token":"t"}"#, "missing cluster in attestation data"),
        (br#"{"cluster":"production","token":""}"#, "missing token in attestation data"),
        (br#"{"cluster":"elsewhere","token":"t"}"#, r#"not configured for cluster "elsewhere""#),
        (b"", "failed to unmarshal data payload: "),
    ];
    for (bytes, want) in cases {
        let e = plugin.answer(payload(bytes)).await.unwrap_err();
        let (code, message) = code_and_message(&e);
        assert_eq!(code, GrpcCode::InvalidArgument, "{message}");
        assert!(message.starts_with(want), "{message:?} should start with {want:?}");
    }
    let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    let e = plugin.answer(payload(&huge)).await.unwrap_err();
    assert_eq!(code_and_message(&e).0, GrpcCode::InvalidArgument);
}

#[tokio::test]
async fn with_no_clusters_every_cluster_is_unknown() {
    let plugin = configured("");
    let e = plugin.answer(payload(br#"{"cluster":"production","token":"t"}"#)).await.unwrap_err();
    assert_eq!(code_and_message(&e), (GrpcCode::InvalidArgument, r#"not configured for cluster "production""#.into()));
}

#[test]
fn reconfiguration_keeps_the_clients_of_unchanged_clusters() {
    let plugin = configured(TWO_CLUSTERS);
    let before = plugin.clients().unwrap();
    assert_eq!(before.len(), 2);
    let changed = TWO_CLUSTERS.replace("/etc/k/prod", "/etc/k/prod-2");
    RoleConfig::apply(&plugin, settings(&changed)).unwrap();
    let after = plugin.clients().unwrap();
    assert!(Arc::ptr_eq(&before.get("staging").unwrap(), &after.get("staging").unwrap()));
    assert!(!Arc::ptr_eq(&before.get("production").unwrap(), &after.get("production").unwrap()));
    assert_eq!(after.get("production").unwrap().kube_config_file(), "/etc/k/prod-2");
    // A configuration without a cluster drops its client.
    RoleConfig::apply(&plugin, settings("")).unwrap();
    assert!(plugin.clients().unwrap().is_empty());
}

#[test]
fn node_policies_are_loaded_at_configure_and_a_bad_set_keeps_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("nodes.cedar"),
        r#"@id("only-general") forbid (principal, action == Attest::Action::"attest_node", resource)
unless { principal.node.hasTag("pool") && principal.node.getTag("pool") == "general" };"#,
    )
    .unwrap();
    let with_policy = format!("{TWO_CLUSTERS}\npolicy {{\n  dir = {:?}\n}}\n", dir.path().display().to_string());
    let plugin = configured(&with_policy);
    let state = plugin.state().unwrap();
    let policy = state.policy.as_ref().unwrap();
    assert!(policy.policies().decides_nodes());
    assert_eq!(policy.settings().dir, dir.path());
    let before = plugin.clients().unwrap();

    std::fs::write(dir.path().join("nodes.cedar"), "forbid (principal, action, resource) when {").unwrap();
    let e = RoleConfig::apply(&plugin, settings(&with_policy)).unwrap_err();
    assert_eq!(e.code(), GrpcCode::InvalidArgument);
    assert!(e.message().starts_with(&format!("node policies in {}: ", dir.path().display())), "{}", e.message());
    assert!(e.message().contains("nodes.cedar"), "{}", e.message());
    // The refused configuration changed nothing: same clients, same policies.
    assert!(Arc::ptr_eq(&before, &plugin.clients().unwrap()));
    assert!(Arc::ptr_eq(&plugin.state().unwrap(), &state));

    // Without a policy block, no policies are asked.
    RoleConfig::apply(&plugin, settings(TWO_CLUSTERS)).unwrap();
    assert!(plugin.state().unwrap().policy.is_none());
}

#[test]
fn an_audit_file_that_cannot_be_opened_refuses_the_configuration() {
    let hcl = format!("{TWO_CLUSTERS}\naudit {{\n  path = \"/nonexistent-dir/audit.jsonl\"\n}}\n");
    let e = RoleConfig::apply(&NodeServerPlugin::new(), settings(&hcl)).unwrap_err();
    assert_eq!(e.code(), GrpcCode::InvalidArgument);
    assert!(e.message().starts_with("cannot open audit log /nonexistent-dir/audit.jsonl: "), "{}", e.message());
}

#[test]
fn the_agent_attributes_are_spire_s() {
    let attested = Attested {
        agent_id: "spiffe://example.org/spire/agent/k8s_psat/c/n".parse().unwrap(),
        selectors: vec!["cluster:c".into(), "agent_ns:spire".into()],
        can_reattest: true,
        facts: Default::default(),
    };
    let response = agent_attributes(&attested);
    assert_eq!(
        response.response,
        Some(na::attest_response::Response::AgentAttributes(na::AgentAttributes {
            spiffe_id: "spiffe://example.org/spire/agent/k8s_psat/c/n".into(),
            selector_values: vec!["cluster:c".into(), "agent_ns:spire".into()],
            can_reattest: true,
        }))
    );
}

#[test]
fn every_refusal_keeps_spire_s_code() {
    let cases = [
        (PsatError::NotConfigured, GrpcCode::FailedPrecondition),
        (PsatError::MissingPayload, GrpcCode::InvalidArgument),
        (PsatError::NotAllowed { service_account: "a:b".into(), cluster: "c".into() }, GrpcCode::PermissionDenied),
        (PsatError::EmptyNodeUid { cluster: "c".into() }, GrpcCode::Internal),
    ];
    for (e, code) in cases {
        assert_eq!(status(&e).code(), code);
        assert_eq!(status(&e).message(), e.to_string());
    }
}

proptest! {
    #[test]
    fn any_plugin_data_gives_settings_or_a_typed_error(td in "[a-z.:/]{0,12}", hcl in "\\PC{0,200}") {
        match NodeServerSettings::parse(Some(&td), &hcl) {
            Ok(s) => prop_assert_eq!(s.trust_domain.to_string(), td),
            Err(e) => prop_assert!(!e.notes().is_empty()),
        }
    }

    #[test]
    fn any_first_message_is_answered_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), challenge in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plugin = configured(TWO_CLUSTERS);
        let request = if challenge {
            na::attest_request::Request::ChallengeResponse(bytes)
        } else {
            na::attest_request::Request::Payload(bytes)
        };
        // No cluster is reachable from here: any payload is refused before the API server.
        let first = Some(na::AttestRequest { request: Some(request) });
        let e = runtime.block_on(plugin.answer(first)).unwrap_err();
        prop_assert_eq!(status(&e).code(), GrpcCode::InvalidArgument);
    }
}
