//! Identity templates (`@spiffe_id`, `@dns`, `@hint`): parsed, and rendered for a workload.
#![no_main]

use attestor::TrustDomain;
use attestor::policy::{RenderEnv, Template, ValueRule};
use attestor::workload::sample;

libfuzzer_sys::fuzz_target!(|source: &str| {
    let Ok(template) = Template::parse(source) else { return };
    let workload = sample::process().pid(1).user("alice").workload();
    let td = TrustDomain::new("example.org").expect("trust domain");
    let env = RenderEnv { workload: &workload, trust_domain: &td, cluster: Some("c") };
    for rule in [ValueRule::PathSegment, ValueRule::Text] {
        let _ = template.render(&env, rule);
    }
});
