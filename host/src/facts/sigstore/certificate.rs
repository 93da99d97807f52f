//! SPIRE's reading of a Sigstore signing certificate: which SAN is "the subject", and the OIDC
//! issuer, exactly as each generation of SPIRE's `k8s` attestor takes them.
//!
//! `sigstore-verify` reports a subject (first e-mail or URI SAN) and an issuer (extension
//! 1.3.6.1.4.1.57264.1.8 before .1.1) of its own; SPIRE's selectors use other rules:
//!
//! * generation 2 (SPIRE 1.10.2+, `cryptoutils.GetSubjectAlternateNames`): every SAN in the
//!   order DNS names, e-mail addresses, IP addresses, URIs, then the Fulcio OtherName
//!   (1.3.6.1.4.1.57264.1.7, counted only when it is the certificate's one OtherName); the
//!   subject is the first non-empty one, and a certificate with none is an error;
//! * generation 1 (SPIRE 1.6–1.10.1, cosign's `CertSubject`): the first e-mail address, else the
//!   first URI, else that OtherName;
//! * both: the issuer is the raw value of extension 1.3.6.1.4.1.57264.1.1 (Go's
//!   `string(ext.Value)`), and a missing or empty one is an error.
//!
//! IP addresses print as Go's `net.IP.String()` does (IPv4-mapped IPv6 as dotted IPv4). URIs are
//! the SAN's own text; Go re-serialises a parsed URL, which is the same text for every URI a
//! Fulcio certificate carries. A certificate Go's parser would refuse (an IP SAN that is neither
//! 4 nor 16 bytes, two SAN extensions, malformed SANs) is refused here too: cosign would not
//! have verified it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ID_CE_SUBJECT_ALT_NAME, SubjectAltName};

use super::verify::bounded;

/// Fulcio's OIDC issuer extension (v1, raw string value): the one SPIRE reads.
pub const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// The OtherName type Fulcio writes usernames under (UTF-8 string, explicitly tagged).
pub const FULCIO_OTHER_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// What SPIRE reads from a signing certificate. Built once per verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// Every SAN in Go's order (DNS, e-mail, IP, URI, the Fulcio OtherName), empty ones kept.
    sans: Vec<String>,
    /// cosign's `CertSubject`: the first e-mail, else the first URI, else the OtherName.
    cosign_subject: Option<String>,
    /// The raw value of extension 1.3.6.1.4.1.57264.1.1, when present.
    issuer: Option<Vec<u8>>,
}

/// Why SPIRE could not read what it needs from a certificate. The messages of the variants
/// SPIRE has are SPIRE's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("the signing certificate is not a DER X.509 certificate: {0}")]
    Malformed(String),
    /// The subject alternative name extension does not decode.
    #[error("the signing certificate's subject alternative name extension is malformed: {0}")]
    MalformedSan(String),
    /// Two subject alternative name extensions (Go refuses duplicate extensions).
    #[error("the signing certificate has more than one subject alternative name extension")]
    DuplicateSan,
    /// An IP address SAN that is neither IPv4 nor IPv6.
    #[error("the signing certificate has an IP address SAN of {0} bytes (4 or 16 expected)")]
    IpAddressLength(usize),
    /// No SAN at all (generation 2).
    #[error("no subject found in certificate")]
    NoSubject,
    /// SANs, all of them empty (generation 2).
    #[error("subject alternative names are present but all are empty")]
    EmptySubjects,
    /// No e-mail, URI or Fulcio OtherName SAN (generation 1; SPIRE: an empty subject).
    #[error("empty subject")]
    NoCosignSubject,
    /// No extension 1.3.6.1.4.1.57264.1.1.
    #[error("no OIDC issuer found in certificate extensions")]
    NoIssuer,
    /// Extension 1.3.6.1.4.1.57264.1.1 with an empty value.
    #[error("OIDC issuer extension is present but empty")]
    EmptyIssuer,
    /// Extension 1.3.6.1.4.1.57264.1.1 whose value is not UTF-8 (a selector must be).
    #[error("OIDC issuer extension is not UTF-8")]
    IssuerNotUtf8,
}

impl CertificateIdentity {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let certificate =
            Certificate::from_der(der).map_err(|e| CertificateError::Malformed(bounded(&e.to_string())))?;
        let extensions = certificate.tbs_certificate.extensions.as_deref().unwrap_or_default();
        let mut san_extensions = extensions.iter().filter(|e| e.extn_id == ID_CE_SUBJECT_ALT_NAME);
        let names = match (san_extensions.next(), san_extensions.next()) {
            (None, _) => Vec::new(),
            (Some(_), Some(_)) => return Err(CertificateError::DuplicateSan),
            (Some(extension), None) => {
                SubjectAltName::from_der(extension.extn_value.as_bytes())
                    .map_err(|e| CertificateError::MalformedSan(bounded(&e.to_string())))?
                    .0
            }
        };
        let issuer = extensions.iter().find(|e| e.extn_id == OIDC_ISSUER_V1).map(|e| e.extn_value.as_bytes().to_vec());
        Self::from_names(&names, issuer)
    }

    fn from_names(names: &[GeneralName], issuer: Option<Vec<u8>>) -> Result<Self, CertificateError> {
        let (mut dns, mut email, mut ip, mut uri) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for name in names {
            match name {
                GeneralName::DnsName(s) => dns.push(s.as_str().to_owned()),
                GeneralName::Rfc822Name(s) => email.push(s.as_str().to_owned()),
                GeneralName::IpAddress(octets) => ip.push(ip_string(octets.as_bytes())?),
                GeneralName::UniformResourceIdentifier(s) => uri.push(s.as_str().to_owned()),
                _ => {}
            }
        }
        let other = other_name(names);
        let cosign_subject = email.first().or(uri.first()).cloned().or_else(|| other.clone());
        let mut sans = dns;
        sans.extend(email);
        sans.extend(ip);
        sans.extend(uri);
        sans.extend(other);
        Ok(Self { sans, cosign_subject, issuer })
    }

    /// Generation 2's subject: the first non-empty SAN in Go's order.
    pub fn spire_subject(&self) -> Result<&str, CertificateError> {
        if self.sans.is_empty() {
            return Err(CertificateError::NoSubject);
        }
        self.sans.iter().find(|s| !s.is_empty()).map(String::as_str).ok_or(CertificateError::EmptySubjects)
    }

    /// Generation 1's subject: cosign's `CertSubject` (first e-mail, first URI, OtherName).
    pub fn cosign_subject(&self) -> Result<&str, CertificateError> {
        self.cosign_subject.as_deref().filter(|s| !s.is_empty()).ok_or(CertificateError::NoCosignSubject)
    }

    /// The OIDC issuer, raw value of extension 1.3.6.1.4.1.57264.1.1; missing or empty is an
    /// error in both generations.
    pub fn oidc_issuer(&self) -> Result<&str, CertificateError> {
        match self.issuer.as_deref() {
            None => Err(CertificateError::NoIssuer),
            Some([]) => Err(CertificateError::EmptyIssuer),
            Some(raw) => std::str::from_utf8(raw).map_err(|_| CertificateError::IssuerNotUtf8),
        }
    }

    /// Every SAN in Go's order, empty ones included.
    pub fn subject_alternative_names(&self) -> &[String] {
        &self.sans
    }
}

/// Go's `net.IP.String()` for a 4- or 16-byte address.
fn ip_string(bytes: &[u8]) -> Result<String, CertificateError> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(Ipv4Addr::from(v4).to_string());
    }
    let v6 = <[u8; 16]>::try_from(bytes).map_err(|_| CertificateError::IpAddressLength(bytes.len()))?;
    let v6 = Ipv6Addr::from(v6);
    Ok(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4).to_string(),
        None => v6.to_string(),
    })
}

/// The Fulcio OtherName, as `cryptoutils.UnmarshalOtherNameSAN` reads it: only when the
/// certificate has exactly one OtherName, of Fulcio's type, holding a string; otherwise none.
fn other_name(names: &[GeneralName]) -> Option<String> {
    let mut others = names.iter().filter_map(|n| match n {
        GeneralName::OtherName(other) => Some(other),
        _ => None,
    });
    let (Some(other), None) = (others.next(), others.next()) else { return None };
    if other.type_id != FULCIO_OTHER_NAME {
        return None;
    }
    match other.value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            String::from_utf8(other.value.value().to_vec()).ok().filter(|s| !s.is_empty())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
