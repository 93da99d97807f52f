//! SPIRE's re-printed HCL v1, as `Configure` receives it: normalised, then read.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let normal = attestor::spire::normalize_hcl_v1(text);
    assert!(normal.len() <= text.len());
    let _ = attestor::config::Config::parse_with_env(&normal, std::path::Path::new("."), &|_| None);
});
