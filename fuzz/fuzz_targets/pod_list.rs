//! The kubelet's `/pods` answer: SPIRE's checks, then every pod it indexes.
#![no_main]

use attestor::facts::kubernetes::PodList;

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if let Ok(list) = PodList::parse(body, 1, std::time::Instant::now()) {
        let _ = (list.len(), list.is_empty(), list.contains("u"));
    }
});
