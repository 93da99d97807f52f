//! Sigstore image signatures: the offline verification core.
//!
//! What SPIRE's `k8s` attestor does with cosign, checked at least as strictly and without a
//! network: a trusted root (`trust.rs`, from a file or the embedded public-good root), one
//! Sigstore bundle verified against an artifact or an image digest (`verify.rs`, with
//! `sigstore-verify` for the cryptography), and SPIRE's `allowed_identities` rules
//! (`identity.rs`: exact strings, or unanchored regexes when a metacharacter appears).
//! `digest.rs` is the `sha256:<hex>` digest every step names images by.
//!
//! Invariant: a signature is reported verified only after every cryptographic check passed;
//! every refusal says which check failed, with outside text bounded.
//!
//! Not here yet: legacy `.sig` layers, the registry (finding `.sig` tags, `.att` attestations
//! and OCI referrers), the configuration block, SPIRE's selectors and the facts for Cedar.

mod digest;
#[cfg(test)]
mod fixtures;
mod identity;
mod trust;
mod verify;

pub use digest::{DigestError, Sha256Digest};
pub use identity::{AllowedIdentities, IdentityError};
pub use trust::{RootOrigin, TrustError, TrustRoot, TrustedKey};
pub use verify::{Artifact, Checks, LogEntry, Signer, VerifiedSignature, VerifyError, verify_bundle};
