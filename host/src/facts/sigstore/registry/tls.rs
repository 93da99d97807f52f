//! TLS towards registries: rustls with ring (the provider the kubelet client uses), the
//! system's CA bundle plus `registry_ca_path`, and a way to tell a TLS failure from other
//! transport errors so the error can say so.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::RegistryError;

/// Where distributions keep their CA bundle (Debian/Ubuntu, Fedora/RHEL, openSUSE, Alpine).
/// `SSL_CERT_FILE` wins when set, as for OpenSSL-based tools. The platform verifier reqwest
/// would use needs a direct dependency (`rustls-platform-verifier`) this crate does not take;
/// reading the bundle file is what it does on Linux anyway.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A client configuration trusting the system's CAs and those in `extra` (a PEM file).
pub(super) fn client_config(extra: Option<&Path>) -> Result<ClientConfig, RegistryError> {
    let mut roots = RootCertStore::empty();
    if let Some(bundle) = system_bundle() {
        // Unparsable entries in the system bundle are skipped, as every TLS stack does.
        roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&bundle).filter_map(Result::ok));
    }
    if let Some(path) = extra {
        let refuse = |problem: String| RegistryError::CaFile { path: path.to_owned(), problem };
        let pem = std::fs::read(path).map_err(|e| refuse(e.to_string()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| refuse(format!("not PEM: {e}")))?;
            roots.add(cert).map_err(|e| refuse(format!("unusable certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(refuse("no PEM certificate in the file".to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn system_bundle() -> Option<Vec<u8>> {
    if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
        return std::fs::read(path).ok();
    }
    SYSTEM_BUNDLES.iter().find_map(|path| std::fs::read(path).ok())
}

/// The TLS reason in an error's chain, if the failure was TLS's. rustls errors reach us wrapped
/// in `io::Error`, whose `source()` skips the wrapped error itself, hence `get_ref`.
pub(super) fn tls_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls.to_string());
        }
        current = e.source();
    }
    None
}

/// Whether an error's text is a TLS failure in rustls's words (certificate checks, alerts,
/// handshake).
pub(super) fn mentions_tls(text: &str) -> bool {
    ["invalid peer certificate", "received fatal alert", "handshake", "peer is incompatible", "peer misbehaved"]
        .iter()
        .any(|marker| text.contains(marker))
}
