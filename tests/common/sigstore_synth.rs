//! A synthetic keyless Sigstore deployment, made fresh per run with real cryptography: a
//! Fulcio-like root and intermediate CA, a certificate transparency log key and a Rekor key
//! (all ECDSA P-256, rcgen), its `trusted_root.json`, and what cosign writes with them.
//!
//! No public keyless legacy `.sig` signature with a modern certificate (the OIDC issuer
//! extension 1.3.6.1.4.1.57264.1.1 and an embedded SCT) exists in the test data, so tests make
//! one here; the same root is what a private Sigstore deployment hands over as `trusted_root`.
//!
//! ```ignore
//! let sigstore = Synthetic::new();
//! let root = TrustRoot::from_json(&sigstore.trusted_root_json())?;
//! let options = SignOptions::keyless(digest, Subject::Uri(workflow.into()), issuer.into());
//! let layer = sigstore.legacy_signature(&options); // annotations + payload, as in a `.sig` manifest
//! verify_layer(&root, &layer.layer(), &image, signer, Checks::default())?;
//! ```
//!
//! What is made, byte for byte as cosign and the Sigstore services make it:
//! * legacy `.sig` layers ([`Synthetic::legacy_signature`]): the simple-signing payload and the
//!   `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
//!   `dev.sigstore.cosign/chain` and `dev.sigstore.cosign/bundle` annotations, the last holding a
//!   `hashedrekord` 0.0.1 entry and its SET over the RFC 8785 form of `Payload`;
//! * legacy `.att` layers ([`Synthetic::legacy_attestation`]): a DSSE envelope of an in-toto
//!   statement about the image, an empty signature annotation (cosign keeps the signature in the
//!   envelope), the unsigned `predicateType` annotation, and an `intoto` 0.0.2 entry (or `dsse`
//!   0.0.1), the two kinds `sigstore-verify` can hold against an envelope. Real cosign v1 and v2
//!   log attestations as `intoto` 0.0.1 (only the envelope's and payload's hashes and the
//!   signer), which `sigstore-verify` 0.15.1 cannot represent, so this is the one place where
//!   the synthetic layers differ from cosign's;
//! * cosign v3 bundles ([`Synthetic::v3_bundle`]): a Sigstore bundle v0.3 with a DSSE envelope,
//!   a `dsse` 0.0.1 entry with its SET and an inclusion proof in a one-leaf tree whose
//!   checkpoint the Rekor key signs (v0.2 and later require the proof);
//! * key-based signatures ([`Identity::Key`]): signed by one long-lived key
//!   ([`Synthetic::public_key_pem`]), no certificate, the key in the log entry.
//!
//! Fulcio's leaf: empty subject, the e-mail or URI SAN, code-signing EKU, the issuer both as
//! the raw UTF-8 value of .1.1 (Fulcio v1) and as a DER UTF8String in .1.8, and an SCT (RFC 6962)
//! over the precertificate's TBS (the certificate built first without the SCT extension; the
//! final one has the same parameters, serial, key and validity plus the SCT list).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber, SigningKey,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

/// The media type of a legacy `.sig` layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The media type of a legacy `.att` layer.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The predicate type cosign v3 gives an image signature.
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";
/// The media type of a cosign v3 bundle.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The raw OIDC issuer extension (Fulcio v1).
const OIDC_ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
/// The DER-encoded OIDC issuer extension (Fulcio v2).
const OIDC_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
/// The embedded SCT list (RFC 6962 §3.3).
const SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
/// What the Rekor log and its checkpoints call themselves.
const REKOR_ORIGIN: &str = "rekor.synthetic.test - 4242";

/// A fresh synthetic Sigstore deployment: CA, CT log, Rekor, and a long-lived signing key.
/// Cheap to share: the keys are reference-counted, and entries get increasing log indexes.
pub struct Synthetic {
    root: Arc<Authority>,
    intermediate: Arc<Authority>,
    ct: Arc<KeyPair>,
    rekor: Arc<KeyPair>,
    key: Arc<KeyPair>,
    /// When this deployment's trust windows open (Unix seconds).
    since: i64,
    next_index: Arc<AtomicU64>,
}

/// A CA certificate with its parameters and key (rcgen signs with the pair).
struct Authority {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
    pem: String,
}

/// Who signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Keyless: a Fulcio certificate for this subject, issued after this OIDC issuer's token.
    Keyless {
        /// The certificate's SAN.
        subject: Subject,
        /// The OIDC issuer URL (extensions .1.1 and .1.8).
        issuer: String,
    },
    /// The deployment's long-lived key ([`Synthetic::public_key_pem`]); no certificate.
    Key,
}

/// The signing certificate's subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A URI SAN (CI workflows).
    Uri(String),
    /// An e-mail SAN (people).
    Email(String),
}

/// What to sign and how; the defaults are what cosign does today.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The image manifest digest, `sha256:<hex>`, named by the payload or statement.
    pub image_digest: String,
    /// The image's repository, named by the payload or statement.
    pub docker_reference: String,
    /// Who signs.
    pub identity: Identity,
    /// Embed an SCT in the certificate (default true).
    pub with_sct: bool,
    /// Write the `dev.sigstore.cosign/bundle` annotation (default true).
    pub with_bundle: bool,
    /// Write the `dev.sigstore.cosign/chain` annotation (default true).
    pub with_chain: bool,
    /// When Rekor integrated the entry (Unix seconds; default a minute ago).
    pub integrated_time: i64,
    /// The certificate's notBefore (Unix seconds; default two minutes ago).
    pub not_before: i64,
    /// The certificate's notAfter (Unix seconds; default eight minutes from now: Fulcio's
    /// certificates live ten minutes).
    pub not_after: i64,
}

/// Which Rekor entry kind records an attestation's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeEntry {
    /// `intoto` 0.0.2 (the logged envelope with its signature and signer); cosign v1 and v2
    /// write 0.0.1, which the verifier cannot check.
    Intoto,
    /// `dsse` 0.0.1, what cosign v3 writes.
    Dsse,
    /// `intoto` 0.0.1, what cosign v1 and v2 write for `.att` layers: Rekor keeps the SHA-256 of
    /// the envelope bytes as uploaded (the layer's blob) and of the payload, and the signer's
    /// PEM; no signature.
    Intoto001,
}

/// What to attest: an in-toto statement about the image, signed as [`SignOptions`] says.
#[derive(Debug, Clone)]
pub struct AttestOptions {
    /// The signature's options (digest, reference, identity, times...).
    pub sign: SignOptions,
    /// The statement's `predicateType`.
    pub predicate_type: String,
    /// The statement's predicate (default `{}`).
    pub predicate: Value,
    /// The log entry kind (default intoto 0.0.2 for `.att` layers, dsse 0.0.1 for v3 bundles).
    pub entry: EnvelopeEntry,
}

/// One layer as cosign pushes it in a `.sig` or `.att` manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLayerData {
    /// The layer's media type ([`SIMPLE_SIGNING`] or [`DSSE_ENVELOPE`]).
    pub media_type: &'static str,
    /// The layer descriptor's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The blob.
    pub payload: Vec<u8>,
}

/// A signature and everything logged about it: one Rekor entry.
struct Logged {
    body: Vec<u8>,
    index: u64,
    integrated_time: i64,
    set: Vec<u8>,
}

impl LegacyLayerData {
    /// The layer as the library takes it.
    pub fn layer(&self) -> attestor::facts::sigstore::LegacyLayer<'_> {
        attestor::facts::sigstore::LegacyLayer { annotations: &self.annotations, payload: &self.payload }
    }

    /// The blob's digest, `sha256:<hex>`, as a layer descriptor names it.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.payload)))
    }
}

impl SignOptions {
    /// A keyless signature of `image_digest` with SCT, chain and Rekor bundle.
    pub fn keyless(image_digest: &str, subject: Subject, issuer: &str) -> Self {
        let now = unix_now();
        Self {
            image_digest: image_digest.to_owned(),
            docker_reference: "registry.synthetic.test/team/app".to_owned(),
            identity: Identity::Keyless { subject, issuer: issuer.to_owned() },
            with_sct: true,
            with_bundle: true,
            with_chain: true,
            integrated_time: now - 60,
            not_before: now - 120,
            not_after: now + 480,
        }
    }

    /// A signature of `image_digest` by the deployment's long-lived key, logged in Rekor.
    pub fn key(image_digest: &str) -> Self {
        Self { identity: Identity::Key, ..Self::keyless(image_digest, Subject::Email(String::new()), "") }
    }
}

impl AttestOptions {
    /// An attestation with an empty predicate.
    pub fn new(sign: SignOptions, predicate_type: &str) -> Self {
        Self { sign, predicate_type: predicate_type.to_owned(), predicate: json!({}), entry: EnvelopeEntry::Intoto }
    }
}

impl Default for Synthetic {
    fn default() -> Self {
        Self::new()
    }
}

impl Synthetic {
    /// Fresh keys and CA certificates; trust windows open a day ago.
    pub fn new() -> Self {
        let since = unix_now() - 86_400;
        let (root, intermediate) = authorities(since);
        Self {
            root: Arc::new(root),
            intermediate: Arc::new(intermediate),
            ct: Arc::new(p256()),
            rekor: Arc::new(p256()),
            key: Arc::new(p256()),
            since,
            next_index: Arc::new(AtomicU64::new(1000)),
        }
    }

    /// Another CA under the same CT log, Rekor and long-lived key: its certificates fail
    /// only the chain check against this deployment's root.
    pub fn with_other_ca(&self) -> Self {
        let (root, intermediate) = authorities(self.since);
        Self { root: Arc::new(root), intermediate: Arc::new(intermediate), ..self.share() }
    }

    fn share(&self) -> Self {
        Self {
            root: self.root.clone(),
            intermediate: self.intermediate.clone(),
            ct: self.ct.clone(),
            rekor: self.rekor.clone(),
            key: self.key.clone(),
            since: self.since,
            next_index: self.next_index.clone(),
        }
    }

    /// The `trusted_root.json` of this deployment: one CA (intermediate then root, as the
    /// public-good root lists them), one Rekor log and one CT log, log IDs the SHA-256 of their
    /// DER keys, windows open from a day ago.
    pub fn trusted_root_json(&self) -> String {
        let start = rfc3339(self.since);
        let log = |key: &KeyPair, url: &str| {
            let der = key.subject_public_key_info();
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64(&der),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": start },
                },
                "logId": { "keyId": base64(&Sha256::digest(&der)) },
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.rekor, "https://rekor.synthetic.test")],
            "certificateAuthorities": [{
                "subject": { "organization": "synthetic.test", "commonName": "synthetic" },
                "uri": "https://fulcio.synthetic.test",
                "certChain": { "certificates": [
                    { "rawBytes": base64(&self.intermediate.der) },
                    { "rawBytes": base64(&self.root.der) },
                ] },
                "validFor": { "start": start },
            }],
            "ctlogs": [log(&self.ct, "https://ctfe.synthetic.test")],
            "timestampAuthorities": [],
        });
        root.to_string()
    }

    /// The long-lived key's public half (PEM `PUBLIC KEY`), for [`Identity::Key`] signatures.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The CA chain as cosign's `dev.sigstore.cosign/chain` annotation holds it.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.intermediate.pem, self.root.pem)
    }

    /// A legacy `.sig` layer: cosign's simple-signing payload for the image, signed as the
    /// options say.
    pub fn legacy_signature(&self, options: &SignOptions) -> LegacyLayerData {
        let payload = simple_signing(&options.docker_reference, &options.image_digest);
        let (key, certificate) = self.signer(options);
        let signature = sign(&key, &payload);
        let verifier = certificate.as_ref().map_or_else(|| key.public_key_pem(), |(_, pem)| pem.clone());
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload)) } },
                "signature": { "content": base64(&signature), "publicKey": { "content": base64(verifier.as_bytes()) } },
            },
        });
        let mut annotations = BTreeMap::new();
        annotations.insert(attestor::facts::sigstore::SIGNATURE.to_owned(), base64(&signature));
        self.annotate(&mut annotations, options, certificate.as_ref().map(|(_, pem)| pem.as_str()), &body);
        LegacyLayerData { media_type: SIMPLE_SIGNING, annotations, payload }
    }

    /// A legacy `.att` layer: a DSSE envelope of an in-toto statement whose subject is the
    /// image, with cosign's annotations (the signature one empty) and the chosen log entry.
    pub fn legacy_attestation(&self, options: &AttestOptions) -> LegacyLayerData {
        let (key, certificate) = self.signer(&options.sign);
        let (statement, signature, envelope) = self.envelope(options, &key);
        let verifier = certificate.as_ref().map_or_else(|| key.public_key_pem(), |(_, pem)| pem.clone());
        let body = envelope_entry(options.entry, &statement, &signature, &envelope, &verifier);
        let mut annotations = BTreeMap::new();
        annotations.insert(attestor::facts::sigstore::SIGNATURE.to_owned(), String::new());
        // cosign `attest` also names the predicate type in an (unsigned) layer annotation.
        annotations.insert("predicateType".to_owned(), options.predicate_type.clone());
        self.annotate(&mut annotations, &options.sign, certificate.as_ref().map(|(_, pem)| pem.as_str()), &body);
        LegacyLayerData { media_type: DSSE_ENVELOPE, annotations, payload: envelope }
    }

    /// A cosign v3 bundle (Sigstore bundle v0.3, JSON) of a DSSE in-toto statement about the
    /// image: the leaf certificate alone (or a public key hint for [`Identity::Key`]), one
    /// Rekor entry with SET and an inclusion proof with a signed checkpoint. `options.entry`
    /// [`EnvelopeEntry::Dsse`] is what cosign v3 writes.
    pub fn v3_bundle(&self, options: &AttestOptions) -> String {
        let (key, certificate) = self.signer(&options.sign);
        let (statement, signature, envelope) = self.envelope(options, &key);
        let verifier = certificate.as_ref().map_or_else(|| key.public_key_pem(), |(_, pem)| pem.clone());
        let body = envelope_entry(options.entry, &statement, &signature, &envelope, &verifier);
        let logged = self.log(&body, options.sign.integrated_time);
        let (kind, version) = match options.entry {
            EnvelopeEntry::Intoto => ("intoto", "0.0.2"),
            EnvelopeEntry::Dsse => ("dsse", "0.0.1"),
            EnvelopeEntry::Intoto001 => ("intoto", "0.0.1"),
        };
        let material = match &certificate {
            Some((der, _)) => json!({ "certificate": { "rawBytes": base64(der) } }),
            None => json!({ "publicKey": { "hint": base64(&Sha256::digest(key.subject_public_key_info())) } }),
        };
        let mut material = material;
        material["tlogEntries"] = json!([self.tlog_entry(&logged, kind, version)]);
        json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": material,
            "dsseEnvelope": {
                "payload": base64(&statement),
                "payloadType": IN_TOTO,
                "signatures": [{ "sig": base64(&signature) }],
            },
        })
        .to_string()
    }

    /// The signing key and, for a keyless signature, its certificate (DER, PEM).
    fn signer(&self, options: &SignOptions) -> (Arc<KeyPair>, Option<(Vec<u8>, String)>) {
        match &options.identity {
            Identity::Key => (self.key.clone(), None),
            Identity::Keyless { subject, issuer } => {
                let key = p256();
                let certificate = self.leaf(&key, subject, issuer, options);
                (Arc::new(key), Some(certificate))
            }
        }
    }

    /// Fulcio's leaf certificate for `key`: built once without the SCT (the precertificate),
    /// whose TBS the CT log signs, then again with the same parameters plus the SCT list.
    fn leaf(&self, key: &KeyPair, subject: &Subject, issuer: &str, options: &SignOptions) -> (Vec<u8>, String) {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from_slice(&Sha256::digest(key.subject_public_key_info())[..16]));
        validity(&mut params, options.not_before, options.not_after);
        params.subject_alt_names = vec![match subject {
            Subject::Uri(uri) => SanType::URI(ia5(uri)),
            Subject::Email(email) => SanType::Rfc822Name(ia5(email)),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(OIDC_ISSUER_V1, issuer.as_bytes().to_vec()),
            CustomExtension::from_oid_content(OIDC_ISSUER_V2, der(0x0c, issuer.as_bytes())),
        ];
        let issuer_ca = Issuer::from_params(&self.intermediate.params, &self.intermediate.key);
        let precertificate = params.signed_by(key, &issuer_ca).expect("sign the precertificate");
        if options.with_sct {
            let tbs = x509_cert::Certificate::from_der(precertificate.der())
                .and_then(|c| c.tbs_certificate.to_der())
                .expect("re-encode the precertificate's TBS");
            let sct = self.sct(&tbs, options.not_before * 1000);
            params.custom_extensions.push(CustomExtension::from_oid_content(SCT_LIST, der(0x04, &sct)));
            let certificate = params.signed_by(key, &issuer_ca).expect("sign the certificate");
            return (certificate.der().to_vec(), certificate.pem());
        }
        (precertificate.der().to_vec(), precertificate.pem())
    }

    /// A `SignedCertificateTimestampList` (TLS encoding, RFC 6962 §3.3) holding one SCT by the
    /// CT log over the precertificate `tbs` issued by the intermediate.
    fn sct(&self, tbs: &[u8], timestamp_ms: i64) -> Vec<u8> {
        let timestamp = u64::try_from(timestamp_ms).expect("a timestamp after 1970").to_be_bytes();
        let issuer_key_hash = Sha256::digest(self.intermediate.key.subject_public_key_info());
        let mut signed = vec![0, 0]; // v1, certificate_timestamp
        signed.extend_from_slice(&timestamp);
        signed.extend_from_slice(&[0, 1]); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&u32::try_from(tbs.len()).expect("small TBS").to_be_bytes()[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&[0, 0]); // no extensions
        let signature = sign(&self.ct, &signed);
        let mut sct = vec![0]; // v1
        sct.extend_from_slice(&Sha256::digest(self.ct.subject_public_key_info()));
        sct.extend_from_slice(&timestamp);
        sct.extend_from_slice(&[0, 0, 4, 3]); // no extensions; sha256, ecdsa
        sct.extend_from_slice(&u16_len(&signature));
        sct.extend_from_slice(&signature);
        let mut list = u16_len(&sct).to_vec();
        list.extend_from_slice(&sct);
        let mut out = u16_len(&list).to_vec();
        out.extend_from_slice(&list);
        out
    }

    /// The statement, the DSSE signature over its PAE, and the envelope JSON.
    fn envelope(&self, options: &AttestOptions, key: &KeyPair) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let hex = options.sign.image_digest.strip_prefix("sha256:").unwrap_or(&options.sign.image_digest);
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": options.predicate_type,
            "subject": [{ "name": options.sign.docker_reference, "digest": { "sha256": hex } }],
            "predicate": options.predicate,
        })
        .to_string()
        .into_bytes();
        let signature = sign(key, &pae(IN_TOTO, &statement));
        let envelope = json!({
            "payloadType": IN_TOTO,
            "payload": base64(&statement),
            "signatures": [{ "keyid": "", "sig": base64(&signature) }],
        })
        .to_string()
        .into_bytes();
        (statement, signature, envelope)
    }

    /// Certificate, chain and Rekor annotations, as the options ask.
    fn annotate(
        &self,
        annotations: &mut BTreeMap<String, String>,
        options: &SignOptions,
        certificate: Option<&str>,
        body: &Value,
    ) {
        use attestor::facts::sigstore::{BUNDLE, CERTIFICATE, CHAIN};
        if let Some(pem) = certificate {
            annotations.insert(CERTIFICATE.to_owned(), pem.to_owned());
            if options.with_chain {
                annotations.insert(CHAIN.to_owned(), self.chain_pem());
            }
        }
        if options.with_bundle {
            annotations.insert(BUNDLE.to_owned(), self.rekor_annotation(body, options.integrated_time));
        }
    }

    /// The `dev.sigstore.cosign/bundle` annotation for any entry `body`, logged now with its SET
    /// at `integrated_time`: for tests that need the log to vouch for a body cosign would not
    /// write.
    pub fn rekor_annotation(&self, body: &Value, integrated_time: i64) -> String {
        let logged = self.log(body, integrated_time);
        json!({
            "SignedEntryTimestamp": base64(&logged.set),
            "Payload": {
                "body": base64(&logged.body),
                "integratedTime": logged.integrated_time,
                "logIndex": logged.index,
                "logID": hex::encode(self.log_id()),
            },
        })
        .to_string()
    }

    /// Records an entry: its canonical body (serde_json writes object keys sorted, as Rekor's
    /// canonicalizer does), the next log index, and the SET over the RFC 8785 form of
    /// `{body, integratedTime, logID, logIndex}`.
    fn log(&self, body: &Value, integrated_time: i64) -> Logged {
        let body = canonical(body).into_bytes();
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let payload = json!({
            "body": base64(&body),
            "integratedTime": integrated_time,
            "logID": hex::encode(self.log_id()),
            "logIndex": index,
        });
        let set = sign(&self.rekor, canonical(&payload).as_bytes());
        Logged { body, index, integrated_time, set }
    }

    /// A bundle's tlog entry: the SET, and an inclusion proof in a one-leaf tree (root = the
    /// leaf hash, no sibling hashes) with its checkpoint signed by the Rekor key.
    fn tlog_entry(&self, logged: &Logged, kind: &str, version: &str) -> Value {
        let mut leaf = vec![0];
        leaf.extend_from_slice(&logged.body);
        let root_hash = Sha256::digest(&leaf);
        let note = format!("{REKOR_ORIGIN}\n1\n{}\n", base64(&root_hash));
        let mut signature = self.log_id()[..4].to_vec();
        signature.extend_from_slice(&sign(&self.rekor, note.as_bytes()));
        let checkpoint = format!("{note}\n\u{2014} rekor.synthetic.test {}\n", base64(&signature));
        json!({
            "logIndex": logged.index.to_string(),
            "logId": { "keyId": base64(&self.log_id()) },
            "kindVersion": { "kind": kind, "version": version },
            "integratedTime": logged.integrated_time.to_string(),
            "inclusionPromise": { "signedEntryTimestamp": base64(&logged.set) },
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": base64(&root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": { "envelope": checkpoint },
            },
            "canonicalizedBody": base64(&logged.body),
        })
    }

    /// The Rekor log's ID: SHA-256 of its DER public key.
    pub fn log_id(&self) -> Vec<u8> {
        Sha256::digest(self.rekor.subject_public_key_info()).to_vec()
    }
}

/// A root and an intermediate CA, Fulcio-like: the intermediate has the code-signing EKU and
/// may sign only leaves.
fn authorities(since: i64) -> (Authority, Authority) {
    let ca = |name: &str, is_ca: IsCa| {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "synthetic.test");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = is_ca;
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, since, since + 10 * 365 * 86_400);
        params
    };
    let root_params = ca("synthetic", IsCa::Ca(BasicConstraints::Unconstrained));
    let root_key = p256();
    let root_cert = root_params.self_signed(&root_key).expect("self-sign the root");
    let mut params = ca("synthetic-intermediate", IsCa::Ca(BasicConstraints::Constrained(0)));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.use_authority_key_identifier_extension = true;
    let key = p256();
    let cert = params.signed_by(&key, &Issuer::from_params(&root_params, &root_key)).expect("sign the intermediate");
    let root = Authority { der: root_cert.der().to_vec(), pem: root_cert.pem(), params: root_params, key: root_key };
    let intermediate = Authority { der: cert.der().to_vec(), pem: cert.pem(), params, key };
    (root, intermediate)
}

/// The Rekor entry body recording an envelope: `intoto` 0.0.2 (signature base64 twice, the
/// envelope's and the payload's hashes), `dsse` 0.0.1, or `intoto` 0.0.1 (the two hashes and the
/// signer's PEM, base64; Rekor's `Canonicalize` for that version drops the envelope).
fn envelope_entry(kind: EnvelopeEntry, statement: &[u8], signature: &[u8], envelope: &[u8], verifier: &str) -> Value {
    let payload_hash = hex::encode(Sha256::digest(statement));
    let envelope_hash = hex::encode(Sha256::digest(envelope));
    match kind {
        EnvelopeEntry::Intoto => json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": { "content": {
                "envelope": {
                    "payloadType": IN_TOTO,
                    "signatures": [{ "publicKey": base64(verifier.as_bytes()), "sig": base64(base64(signature).as_bytes()) }],
                },
                "hash": { "algorithm": "sha256", "value": envelope_hash },
                "payloadHash": { "algorithm": "sha256", "value": payload_hash },
            } },
        }),
        EnvelopeEntry::Intoto001 => json!({
            "apiVersion": "0.0.1",
            "kind": "intoto",
            "spec": {
                "content": {
                    "hash": { "algorithm": "sha256", "value": envelope_hash },
                    "payloadHash": { "algorithm": "sha256", "value": payload_hash },
                },
                "publicKey": base64(verifier.as_bytes()),
            },
        }),
        EnvelopeEntry::Dsse => json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": envelope_hash },
                "payloadHash": { "algorithm": "sha256", "value": payload_hash },
                "signatures": [{ "signature": base64(signature), "verifier": base64(verifier.as_bytes()) }],
            },
        }),
    }
}

/// cosign's simple-signing payload, byte for byte as cosign writes it.
fn simple_signing(docker_reference: &str, digest: &str) -> Vec<u8> {
    let quote = |s: &str| Value::from(s).to_string();
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":"cosign container image signature"}},"optional":null}}"#,
        quote(docker_reference),
        quote(digest)
    )
    .into_bytes()
}

/// DSSE's pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The RFC 8785 form of the JSON this module writes (strings and integers only, no floats):
/// object keys sorted, no whitespace. serde_json's map is sorted unless `preserve_order` is
/// on somewhere in the tree, so sort explicitly.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let fields: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k.as_str()]))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// ECDSA P-256 with SHA-256, ASN.1 DER signature (what Sigstore's services and cosign write).
fn sign(key: &KeyPair, message: &[u8]) -> Vec<u8> {
    key.sign(message).expect("ECDSA signing")
}

fn p256() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generate a P-256 key")
}

fn ia5(text: &str) -> Ia5String {
    Ia5String::try_from(text.to_owned()).expect("an ASCII SAN")
}

/// A DER primitive of `tag` holding `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn u16_len(bytes: &[u8]) -> [u8; 2] {
    u16::try_from(bytes.len()).expect("under 64 KiB").to_be_bytes()
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("a clock before 2262")
}

/// Sets a certificate's validity, in Unix seconds (rcgen takes the `time` crate's type, which
/// this crate does not name).
fn validity(params: &mut CertificateParams, not_before: i64, not_after: i64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(u64::try_from(not_before).expect("after 1970"));
    params.not_after = epoch + Duration::from_secs(u64::try_from(not_after).expect("after 1970"));
}

fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).expect("a representable time").to_string()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
