//! Go durations: Go's answer or Go's error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Err(e) = attestor::time::parse_go_duration(text) {
        assert!(e.starts_with("time: "));
    }
});
