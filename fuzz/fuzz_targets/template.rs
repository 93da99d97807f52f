//! Identity templates (`@spiffe_id`, `@dns`, `@hint`): parsed, and rendered for a workload.
#![no_main]

use attestor::TrustDomain;
use attestor::policy::{RenderEnv, Template, ValueRule};
use attestor::workload::{Gid, Pid, Uid, UnixFacts, Workload};

libfuzzer_sys::fuzz_target!(|source: &str| {
    let Ok(template) = Template::parse(source) else { return };
    let workload = Workload::new(UnixFacts {
        pid: Pid(1),
        start_time: Some(1),
        uid: Uid(1000),
        euid: Uid(1000),
        gid: Gid(1000),
        egid: Gid(1000),
        supplementary_gids: Vec::new(),
        user: Some("alice".into()),
        group: None,
        supplementary_group_names: Default::default(),
        exe_path: None,
        exe_sha256: None,
    });
    let td = TrustDomain::new("example.org").expect("trust domain");
    let env = RenderEnv { workload: &workload, trust_domain: &td, cluster: Some("c") };
    for rule in [ValueRule::PathSegment, ValueRule::Text] {
        let _ = template.render(&env, rule);
    }
});
