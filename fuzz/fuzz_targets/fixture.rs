//! Policy test fixtures (YAML), as `attestor policy test` reads them.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = attestor::policy::fixture::parse(text, std::path::Path::new("/nonexistent/fuzz.yaml"));
});
