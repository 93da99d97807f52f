//! Identity templates, through the policy loader that parses and checks them.
#![no_main]

use attestor::TrustDomain;
use attestor::policy::{PolicyFile, PolicySettings, Policies};

libfuzzer_sys::fuzz_target!(|template: &str| {
    let escaped: String = template.chars().flat_map(char::escape_default).collect();
    let text = format!(
        "@id(\"t\")\n@spiffe_id(\"{escaped}\")\n@dns(\"{escaped}\")\npermit (principal, action == Attest::Action::\"propose\", resource);\n"
    );
    let td = TrustDomain::new("example.org").expect("trust domain");
    let files = [PolicyFile { name: "fuzz.cedar".into(), text }];
    let _ = Policies::from_files(&files, &PolicySettings::default(), &td);
});
