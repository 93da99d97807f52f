use proptest::prelude::*;

use super::*;

const TD: CoreTrustDomain<'static> = Some("example.org");

fn err(core: CoreTrustDomain<'_>, hcl: &str) -> String {
    NodeAgentSettings::parse(core, hcl).unwrap_err().to_string()
}

#[test]
fn cluster_and_the_default_token_path() {
    let s = NodeAgentSettings::parse(TD, "cluster = \"production\"").unwrap();
    assert_eq!(s, NodeAgentSettings { cluster: "production".into(), token_path: DEFAULT_TOKEN_PATH.into() });
    // SPIRE's HCL v1 printer quotes keys.
    let s = NodeAgentSettings::parse(TD, "\"cluster\" = \"c\"\n\"token_path\" = \"/run/t\"\n").unwrap();
    assert_eq!(s, NodeAgentSettings { cluster: "c".into(), token_path: "/run/t".into() });
    // An empty token_path is the default, as in SPIRE.
    let s = NodeAgentSettings::parse(TD, "cluster = \"c\"\ntoken_path = \"\"").unwrap();
    assert_eq!(s.token_path, std::path::PathBuf::from(DEFAULT_TOKEN_PATH));
}

#[test]
fn spire_s_messages() {
    assert_eq!(err(TD, ""), "missing required cluster block");
    assert_eq!(err(TD, "cluster = \"\""), "missing required cluster block");
    assert!(err(TD, "malformed").starts_with("unable to decode configuration: "), "{}", err(TD, "malformed"));
    assert_eq!(err(None, "cluster = \"c\""), "server core configuration is required");
    assert_eq!(err(Some(""), "cluster = \"c\""), "server core configuration must contain trust_domain");
    assert!(
        err(Some("Not A Domain"), "cluster = \"c\"")
            .starts_with("server core configuration trust_domain is malformed: ")
    );
}

#[test]
fn every_problem_is_a_note() {
    let e = NodeAgentSettings::parse(None, "token_path = 3\nbogus = \"x\"\nalso = 1").unwrap_err();
    assert_eq!(
        e.notes(),
        [
            "server core configuration is required",
            "config key `token_path`: expected a string, got a number",
            "unknown configurations detected: also,bogus",
            "missing required cluster block",
        ]
    );
}

#[test]
fn blocks_repeats_and_expressions_are_refused() {
    assert_eq!(
        err(TD, "cluster { }"),
        "config key `cluster`: expected a value, found a block (and 1 more: missing required cluster block)"
    );
    let twice = err(TD, "cluster = \"a\"\ncluster = \"b\"");
    assert!(twice.starts_with("unable to decode configuration: ") && twice.contains("redefined attribute"), "{twice}");
    let template = err(TD, "cluster = \"${x}\"");
    assert!(template.contains("interpolation (`${…}`) is not allowed"), "{template}");
    assert!(err(TD, "cluster = 1 + 2").starts_with("config key `cluster`: expected a string"));
}

proptest! {
    #[test]
    fn never_panics_and_errors_are_config_faults(hcl in "\\PC{0,200}") {
        if let Err(e) = NodeAgentSettings::parse(TD, &hcl) {
            prop_assert_eq!(e.fault(), crate::fault::Fault::Config);
            prop_assert!(!e.notes().is_empty());
        }
    }

    #[test]
    fn any_cluster_name_round_trips(cluster in "[^\"\\\\$%\\p{C}]{1,40}") {
        let hcl = format!("cluster = \"{cluster}\"");
        let s = NodeAgentSettings::parse(TD, &hcl).unwrap();
        prop_assert_eq!(s.cluster, cluster);
    }
}
