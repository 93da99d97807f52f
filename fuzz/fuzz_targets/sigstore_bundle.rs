//! A Sigstore bundle as a registry serves it: verified or refused with a typed error naming the
//! check, never a panic, whatever the JSON.
#![no_main]

use std::sync::OnceLock;

use attestor::facts::sigstore::{AllowedIdentities, Artifact, Checks, Sha256Digest, Signer, TrustRoot, verify_bundle};

static ROOT: OnceLock<TrustRoot> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|text: &str| {
    let root = ROOT.get_or_init(|| TrustRoot::public_good().expect("the embedded root loads"));
    let any = AllowedIdentities::any();
    let image = Sha256Digest::of(text.as_bytes());
    let _ = verify_bundle(root, text, Artifact::Digest(image), Signer::Keyless(&any), Checks::default());
});
