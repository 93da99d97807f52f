//! `/proc/<pid>/mountinfo`, the locator's fallback.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = attestor::facts::cgroup::locate_in_mountinfo(text, "mountinfo");
});
