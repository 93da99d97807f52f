//! The HCL configuration reader: any text is a configuration or errors, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(e) = attestor::config::Config::parse_with_env(text, std::path::Path::new("."), &|_| None) {
        assert!(!e.to_string().is_empty());
        let _ = e.notes();
    }
});
