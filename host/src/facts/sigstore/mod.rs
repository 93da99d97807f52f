//! Sigstore image signatures: the offline verification core.
//!
//! What SPIRE's `k8s` attestor does with cosign, checked at least as strictly and without a
//! network: a trusted root (`trust.rs`, from a file or the embedded public-good root), one
//! Sigstore bundle verified against an artifact or an image digest (`verify.rs`, with
//! `sigstore-verify` for the cryptography), SPIRE's `allowed_identities` rules
//! (`identity.rs`: exact strings, or unanchored regexes when a metacharacter appears), a legacy
//! cosign `.sig` layer transcoded into a bundle (`legacy.rs`), and the binding SPIRE does not
//! check, from the signed simple-signing payload to the image digest (`simple_signing.rs`).
//! `digest.rs` is the `sha256:<hex>` digest every step names images by. SPIRE's selector values
//! come from the verified signatures: `certificate.rs` reads the signing certificate as each
//! SPIRE generation does (subject SAN, raw OIDC issuer extension), `selectors.rs` formats the
//! two generations' selector lists and SPIRE's failure message.
//!
//! Invariant: a signature is reported verified only after every cryptographic check passed,
//! and a legacy signature only when its signed payload also names the image being verified;
//! every refusal says which check failed, with outside text bounded.
//!
//! Not here yet: the registry (finding `.sig` tags, `.att` attestations and OCI referrers), the
//! configuration block, wiring the selectors into attestation, and the facts for Cedar.

pub mod attestation;
mod cache;
mod certificate;
mod digest;
pub mod discover;
pub mod evaluate;
#[cfg(test)]
mod fixtures;
mod identity;
mod image;
mod legacy;
pub mod reference;
pub mod registry;
mod selectors;
mod settings;
mod simple_signing;
mod trust;
mod verify;

pub use certificate::{CertificateError, CertificateIdentity, FULCIO_OTHER_NAME, OIDC_ISSUER_V1};
pub use digest::{DigestError, Sha256Digest};
pub use identity::{AllowedIdentities, IdentityError};
pub use image::{ImageVerifier, SetupError, SigstoreAnswer, SigstoreError};
pub use legacy::{BUNDLE, CERTIFICATE, CHAIN, LegacyError, LegacyLayer, SIGNATURE, verify_layer};
pub use selectors::{
    ATTESTATIONS_VERIFIED, DetailError, Generation, SIGNATURE_VERIFIED, SelectorError, VALIDATION_PASSED,
    selector_values, skipped_image, spire_error_message,
};
pub use settings::{
    BundleFormats, Credentials, DEFAULT_CACHE_MAX_ENTRIES, DEFAULT_CACHE_TTL, DEFAULT_REKOR_URL, FAILURE_TTL,
    GenerationOne, GenerationTwo, OnFailure, RegistrySettings, SigstoreSettings, SpireKeys,
};
pub use simple_signing::{PayloadError, SimpleSigning};
pub use trust::{RootOrigin, TrustError, TrustRoot, TrustedKey};
pub use verify::{Artifact, Checks, LogEntry, Signer, VerifiedSignature, VerifyError, verify_bundle};
