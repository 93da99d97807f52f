//! `/proc/<pid>/cgroup` through both of SPIRE's locators.
#![no_main]

use attestor::facts::cgroup::locate_in_cgroups;

libfuzzer_sys::fuzz_target!(|text: &str| {
    for legacy in [false, true] {
        if let Ok(location) = locate_in_cgroups(Some(text), legacy)
            && let Some(id) = location.container_id
        {
            assert_eq!(id.as_str().len(), 64);
        }
    }
});
