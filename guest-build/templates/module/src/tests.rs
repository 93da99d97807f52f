//! Native unit tests: `cargo test` runs the module's logic directly, no Wasm involved.
//! `attestor module test` then runs the built component against recorded facts (`cases/`).

use attestor_guest::testing::{self, LogLevel};

use super::*;

#[test]
fn a_trusted_program_in_a_pod() {
    let workload = testing::workload().exe("/usr/sbin/nginx").pod("shop", "web-0").build();
    let out = testing::attest::<{{type}}>("nginx envoy", &workload).expect("attested");
    assert_eq!(out.selectors(), ["exe:nginx", "trusted", "namespace:shop"]);
    assert_eq!(out.get_fact("program"), Some("nginx"));
    assert_eq!(out.get_fact("trusted"), Some("true"));
}

#[test]
fn an_untrusted_host_process() {
    let workload = testing::workload().uid(0).exe("/usr/bin/sleep").build();
    let out = testing::attest::<{{type}}>("nginx", &workload).expect("attested");
    assert_eq!(out.selectors(), ["exe:sleep"]);
    assert_eq!(out.get_fact("trusted"), Some("false"));
}

#[test]
fn no_executable_no_program_selector() {
    let out = testing::attest::<{{type}}>("", &testing::workload().build()).expect("attested");
    assert!(out.selectors().is_empty());
}

#[test]
fn a_path_in_the_configuration_is_refused_at_load() {
    let err = testing::attest::<{{type}}>("/usr/sbin/nginx", &testing::workload().build()).expect_err("refused");
    assert_eq!(err, Error::config("\"/usr/sbin/nginx\": give the program's file name, not a path"));
}

#[test]
fn it_logs_how_many_selectors_it_found() {
    testing::take_logs();
    testing::attest::<{{type}}>("", &testing::workload().pid(7).exe("/bin/sh").build()).expect("attested");
    let logs = testing::take_logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].level, LogLevel::Debug);
    assert_eq!(logs[0].message, "pid 7: 1 selectors");
}
