use std::net::IpAddr;

use proptest::prelude::*;
use rcgen::{CertificateParams, CustomExtension, KeyPair, OtherNameValue, SanType};
use sigstore_types::DerCertificate;

use super::*;
use crate::facts::sigstore::fixtures::{json, text};

const OTHER_NAME: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 7];
const ISSUER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];

fn ia5(s: &str) -> rcgen::string::Ia5String {
    rcgen::string::Ia5String::try_from(s).unwrap()
}

/// A self-signed certificate with these SANs, in this order, and this raw issuer extension.
fn certificate(sans: Vec<SanType>, issuer: Option<&[u8]>) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    if let Some(issuer) = issuer {
        params.custom_extensions.push(CustomExtension::from_oid_content(ISSUER, issuer.to_vec()));
    }
    params.self_signed(&KeyPair::generate().unwrap()).unwrap().der().to_vec()
}

fn identity(sans: Vec<SanType>) -> CertificateIdentity {
    CertificateIdentity::from_der(&certificate(sans, Some(b"https://issuer.example"))).unwrap()
}

fn other(value: &str) -> SanType {
    SanType::OtherName((OTHER_NAME.to_vec(), OtherNameValue::Utf8String(value.to_owned())))
}

#[test]
fn generation_two_takes_dns_before_email_ip_and_uri() {
    // Written URI, IP, e-mail, DNS: read back in Go's order regardless.
    let id = identity(vec![
        SanType::URI(ia5("https://example.com/workflow")),
        SanType::IpAddress(IpAddr::from([10, 0, 0, 1])),
        SanType::Rfc822Name(ia5("dev@example.com")),
        SanType::DnsName(ia5("build.example.com")),
        other("user!example"),
    ]);
    assert_eq!(
        id.subject_alternative_names(),
        ["build.example.com", "dev@example.com", "10.0.0.1", "https://example.com/workflow", "user!example"]
    );
    assert_eq!(id.spire_subject(), Ok("build.example.com"));
    // Generation 1 (cosign's CertSubject) never looks at DNS or IP SANs.
    assert_eq!(id.cosign_subject(), Ok("dev@example.com"));
    assert_eq!(id.oidc_issuer(), Ok("https://issuer.example"));
}

#[test]
fn email_before_uri_and_ip_before_uri() {
    let id = identity(vec![SanType::URI(ia5("spiffe://a/b")), SanType::Rfc822Name(ia5("a@b.c"))]);
    assert_eq!((id.spire_subject(), id.cosign_subject()), (Ok("a@b.c"), Ok("a@b.c")));

    let id = identity(vec![SanType::URI(ia5("spiffe://a/b")), SanType::IpAddress("2001:db8::1".parse().unwrap())]);
    assert_eq!(id.spire_subject(), Ok("2001:db8::1"));
    assert_eq!(id.cosign_subject(), Ok("spiffe://a/b"));
}

#[test]
fn ip_addresses_print_as_go_prints_them() {
    let id = identity(vec![SanType::IpAddress("::ffff:192.0.2.1".parse().unwrap())]);
    assert_eq!(id.spire_subject(), Ok("192.0.2.1"));
    let id = identity(vec![SanType::IpAddress("2001:db8:0:0:1:0:0:1".parse().unwrap())]);
    assert_eq!(id.spire_subject(), Ok("2001:db8::1:0:0:1"));
}

#[test]
fn the_first_non_empty_san_is_the_subject() {
    let id = identity(vec![SanType::DnsName(ia5("")), SanType::Rfc822Name(ia5("")), SanType::URI(ia5("https://x"))]);
    assert_eq!(id.spire_subject(), Ok("https://x"));
    assert_eq!(id.cosign_subject(), Err(CertificateError::NoCosignSubject));
    let id = identity(vec![SanType::DnsName(ia5("")), SanType::Rfc822Name(ia5(""))]);
    assert_eq!(id.spire_subject(), Err(CertificateError::EmptySubjects));
    assert_eq!(id.spire_subject().unwrap_err().to_string(), "subject alternative names are present but all are empty");
}

#[test]
fn an_othername_only_certificate() {
    let id = identity(vec![other("octocat!github.com")]);
    assert_eq!(id.spire_subject(), Ok("octocat!github.com"));
    assert_eq!(id.cosign_subject(), Ok("octocat!github.com"));
    // Two OtherNames, or one of another type: Go's UnmarshalOtherNameSAN refuses, so none.
    let id = identity(vec![other("a"), other("b")]);
    assert_eq!(id.spire_subject(), Err(CertificateError::NoSubject));
    let id = identity(vec![SanType::OtherName((vec![1, 2, 3, 4], OtherNameValue::Utf8String("x".into())))]);
    assert_eq!(id.spire_subject(), Err(CertificateError::NoSubject));
}

#[test]
fn no_san_is_no_subject() {
    let id = identity(vec![]);
    assert_eq!(id.spire_subject(), Err(CertificateError::NoSubject));
    assert_eq!(id.spire_subject().unwrap_err().to_string(), "no subject found in certificate");
}

#[test]
fn missing_and_empty_issuer_extensions_are_errors() {
    let sans = || vec![SanType::Rfc822Name(ia5("a@b.c"))];
    let id = CertificateIdentity::from_der(&certificate(sans(), None)).unwrap();
    assert_eq!(id.oidc_issuer(), Err(CertificateError::NoIssuer));
    assert_eq!(id.oidc_issuer().unwrap_err().to_string(), "no OIDC issuer found in certificate extensions");
    let id = CertificateIdentity::from_der(&certificate(sans(), Some(b""))).unwrap();
    assert_eq!(id.oidc_issuer(), Err(CertificateError::EmptyIssuer));
    assert_eq!(id.oidc_issuer().unwrap_err().to_string(), "OIDC issuer extension is present but empty");
    // The raw value, not DER: SPIRE's `string(ext.Value)`.
    let id = CertificateIdentity::from_der(&certificate(sans(), Some(b"\x0c\x03abc"))).unwrap();
    assert_eq!(id.oidc_issuer(), Ok("\x0c\x03abc"));
    let id = CertificateIdentity::from_der(&certificate(sans(), Some(b"\xff"))).unwrap();
    assert_eq!(id.oidc_issuer(), Err(CertificateError::IssuerNotUtf8));
}

#[test]
fn a_real_fulcio_certificate() {
    let bundle = json("conformance/happy-path-v0.3/bundle.sigstore.json");
    let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap();
    let der = DerCertificate::from_base64(raw).unwrap();
    let id = CertificateIdentity::from_der(der.as_bytes()).unwrap();
    let beacon = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    assert_eq!(id.subject_alternative_names(), [beacon]);
    assert_eq!(id.spire_subject(), Ok(beacon));
    assert_eq!(id.cosign_subject(), Ok(beacon));
    assert_eq!(id.oidc_issuer(), Ok("https://token.actions.githubusercontent.com"));
}

#[test]
fn the_2021_certificate_has_no_issuer_extension() {
    let der = DerCertificate::from_pem(&text("cosign-legacy/keyless-2021/cert.pem")).unwrap();
    let id = CertificateIdentity::from_der(der.as_bytes()).unwrap();
    assert!(id.spire_subject().is_ok_and(|s| s.contains('@')), "{id:?}");
    assert_eq!(id.oidc_issuer(), Err(CertificateError::NoIssuer));
}

#[test]
fn garbage_is_a_typed_error() {
    for der in [&b""[..], b"\x30", b"\x30\x00", b"\x04\x02ab"] {
        assert!(matches!(CertificateIdentity::from_der(der), Err(CertificateError::Malformed(_))), "{der:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_der_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match CertificateIdentity::from_der(&bytes) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().len() < 1_000),
        }
    }

    #[test]
    fn a_real_certificate_with_bytes_flipped_never_panics(index in 0usize..2_000, bit in 0u8..8) {
        let bundle = json("conformance/happy-path-v0.3/bundle.sigstore.json");
        let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap();
        let mut der = DerCertificate::from_base64(raw).unwrap().as_bytes().to_vec();
        let i = index % der.len();
        der[i] ^= 1 << bit;
        let _ = CertificateIdentity::from_der(&der).map(|id| (id.spire_subject().is_ok(), id.oidc_issuer().is_ok()));
    }
}

/// `allowed_identities` as SPIRE's cosign applies it: any non-empty SAN, not only the first
/// e-mail or URI the verifier reports, with the raw `.1.1` issuer.
#[test]
fn allowed_identities_match_any_san_and_the_raw_issuer() {
    use crate::facts::sigstore::identity::AllowedIdentities;
    use crate::facts::sigstore::verify::spire_allows;

    let cert = identity(vec![
        SanType::DnsName(ia5("builder.example")),
        SanType::Rfc822Name(ia5("ci@example.com")),
        SanType::URI(ia5("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1")),
    ]);
    let allow =
        |issuer: &str, subject: &str| AllowedIdentities::new([(issuer.to_owned(), [subject.to_owned()])]).unwrap();
    assert!(spire_allows(&allow("https://issuer.example", "builder.example"), &cert), "a DNS SAN counts");
    assert!(spire_allows(&allow("https://issuer.example", "ci@example.com"), &cert));
    assert!(spire_allows(&allow("https://issuer.example", r"github\.com/acme/.*"), &cert), "regex, unanchored");
    assert!(!spire_allows(&allow("https://other.example", "ci@example.com"), &cert), "issuer must match");
    assert!(!spire_allows(&allow("https://issuer.example", "someone@example.com"), &cert));
    let no_issuer =
        CertificateIdentity::from_der(&certificate(vec![SanType::Rfc822Name(ia5("ci@example.com"))], None)).unwrap();
    assert!(!spire_allows(&allow("https://issuer.example", "ci@example.com"), &no_issuer), "no .1.1: nothing matches");
}
