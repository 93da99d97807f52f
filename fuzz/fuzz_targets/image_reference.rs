//! A kubelet's `imageID` as an image name: a name that prints back to itself, or a typed
//! error, never a panic.
#![no_main]

use attestor::facts::sigstore::reference::ImageName;

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(name) = ImageName::parse(text) {
        let printed = name.to_string();
        let again = ImageName::parse(&printed).expect("a printed name parses");
        assert_eq!(again, name, "{text:?} printed as {printed:?}");
    }
});
