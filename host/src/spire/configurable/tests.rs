//! Reading `plugin_data` for the roles built on attestor's whole configuration.

use super::*;

#[test]
fn a_registrar_block_is_refused_in_plugin_mode() {
    let e = parse("example.org", "registrar {\n  cluster = \"prod\"\n}\n").err().expect("refused");
    assert_eq!(
        e.to_string(),
        "config key `registrar`: is read by `attestor registrar` only, never in plugin mode: move it to the registrar's own configuration file"
    );
    assert!(parse("example.org", "").is_ok());
}
