//! The registry client and `discover` against a fake HTTPS registry: where cosign's signatures
//! are found (legacy tags, referrers API, fallback tag, a Docker Hub mirror), authentication,
//! and every fault the registry can commit, each error naming the host and the problem.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/registry.rs"]
mod registry;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use attestor::facts::sigstore::discover::{Content, Location, discover};
use attestor::facts::sigstore::reference::ImageName;
use attestor::facts::sigstore::registry::{RegistryClient, RegistryError};
use attestor::facts::sigstore::{BundleFormats, Credentials, RegistrySettings};
use attestor::fault::Fault as Who;
use registry::{Auth, FakeRegistry, Fault, Layer, Via};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/facts/sigstore/testdata");
/// The image the keyless-2021 signature names.
const KEYLESS_IMAGE: &str = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
/// The image the kubewarden v3 bundle signs.
const KUBEWARDEN_IMAGE: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const BOTH: BundleFormats = BundleFormats { legacy: true, referrers: true };

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{TESTDATA}/{path}")).unwrap()
}

/// The keyless-2021 `.sig` layer: its payload and the annotations of its real descriptor.
fn keyless_layer() -> Layer {
    let descriptor: serde_json::Value =
        serde_json::from_slice(&read("cosign-legacy/keyless-2021/sig-layer-descriptor.json")).unwrap();
    let annotations: BTreeMap<String, String> = serde_json::from_value(descriptor["annotations"].clone()).unwrap();
    Layer::simple_signing(read("cosign-legacy/keyless-2021/payload.json"), annotations)
}

struct Setup {
    registry: FakeRegistry,
    _dir: tempfile::TempDir,
    ca: PathBuf,
}

async fn setup(auth: Auth) -> Setup {
    let registry = FakeRegistry::start(auth).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, registry.ca_pem()).unwrap();
    Setup { registry, _dir: dir, ca }
}

impl Setup {
    fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            ca_path: Some(self.ca.clone()),
            timeout: Duration::from_secs(2),
            ..RegistrySettings::default()
        }
    }

    fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.settings()).unwrap()
    }

    fn image(&self, repo: &str, digest: &str) -> ImageName {
        ImageName::parse(&format!("{}/{repo}@{digest}", self.registry.host())).unwrap()
    }

    /// `discover` of `app@KEYLESS_IMAGE` with the keyless layer stored, failing.
    async fn fails(&self, client: &RegistryClient) -> RegistryError {
        discover(client, &self.image("app", KEYLESS_IMAGE), BOTH, true).await.unwrap_err()
    }
}

fn assert_names(err: &RegistryError, host: &str, problem: &str) {
    let text = err.to_string();
    assert!(text.contains(host), "host {host} not in: {text}");
    assert!(text.contains(problem), "{problem:?} not in: {text}");
}

#[tokio::test]
async fn legacy_signatures_and_attestations_are_found_in_layer_order() {
    let s = setup(Auth::Anonymous).await;
    let second = Layer::simple_signing(b"second payload".to_vec(), BTreeMap::new());
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, vec![keyless_layer(), second]);
    s.registry.put_legacy_attestations(
        "app",
        KEYLESS_IMAGE,
        vec![Layer::dsse(b"{\"payload\":\"\"}".to_vec(), BTreeMap::new())],
    );
    let client = s.client();
    let found = discover(&client, &s.image("app", KEYLESS_IMAGE), BundleFormats::default(), true).await.unwrap();
    assert_eq!(found.legacy_signatures.len(), 2);
    let tag = format!("sha256-{}.sig", &KEYLESS_IMAGE[7..]);
    assert_eq!(found.legacy_signatures[0].location, Location::LegacyTag { tag: tag.clone(), layer: 0 });
    assert_eq!(found.legacy_signatures[0].location.to_string(), format!("tag {tag} layer 0"));
    let Content::Legacy { media_type, annotations, blob } = &found.legacy_signatures[0].content else { panic!() };
    assert_eq!(media_type, registry::SIMPLE_SIGNING);
    assert_eq!(blob, &read("cosign-legacy/keyless-2021/payload.json"));
    assert!(annotations.contains_key("dev.sigstore.cosign/bundle"));
    assert!(matches!(&found.legacy_signatures[1].content, Content::Legacy { blob, .. } if blob == b"second payload"));
    assert_eq!(found.legacy_attestations.len(), 1);
    assert!(found.referrers.is_empty());
    // Not asked for: neither .att nor referrers are requested.
    let before = s.registry.requests();
    let found = discover(&client, &s.image("app", KEYLESS_IMAGE), BundleFormats::default(), false).await.unwrap();
    assert!(found.legacy_attestations.is_empty());
    let paths: Vec<String> = s.registry.log()[before..].iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().all(|p| !p.contains(".att") && !p.contains("referrers")), "{paths:?}");
    assert_eq!(client.requests() as usize, s.registry.requests());
}

#[tokio::test]
async fn nothing_stored_is_nothing_found() {
    let s = setup(Auth::Anonymous).await;
    let found = discover(&s.client(), &s.image("app", KEYLESS_IMAGE), BOTH, true).await.unwrap();
    assert!(found.legacy_signatures.is_empty() && found.legacy_attestations.is_empty() && found.referrers.is_empty());
    s.registry.set_referrers_api(false);
    let found = discover(&s.client(), &s.image("app", KEYLESS_IMAGE), BOTH, true).await.unwrap();
    assert!(found.referrers.is_empty());
}

#[tokio::test]
async fn v3_bundles_through_the_referrers_api_and_the_fallback_tag() {
    let bundle = read("cosign-v3/kubewarden-controller-v1.34.0.sigstore.json");
    let s = setup(Auth::Anonymous).await;
    let manifest = s.registry.put_referrer("kubewarden/controller", KUBEWARDEN_IMAGE, &bundle, Via::Referrers);
    // Another artifact type is listed but not fetched.
    s.registry.list_referrer(
        "kubewarden/controller",
        KUBEWARDEN_IMAGE,
        serde_json::json!({"mediaType": registry::OCI_MANIFEST, "digest": format!("sha256:{}", "0".repeat(64)), "size": 1, "artifactType": "application/spdx+json"}),
        Via::Referrers,
    );
    let image = s.image("kubewarden/controller", KUBEWARDEN_IMAGE);
    // SPIRE-identical formats never look at referrers.
    let found = discover(&s.client(), &image, BundleFormats::default(), false).await.unwrap();
    assert!(found.referrers.is_empty());
    let found = discover(&s.client(), &image, BundleFormats { legacy: false, referrers: true }, false).await.unwrap();
    assert_eq!(found.referrers.len(), 1);
    assert_eq!(found.referrers[0].location.to_string(), format!("referrer {manifest}"));
    assert_eq!(
        found.referrers[0].content,
        Content::Bundle { media_type: registry::BUNDLE_V03.into(), json: bundle.clone() }
    );

    let s = setup(Auth::Anonymous).await;
    s.registry.set_referrers_api(false);
    let manifest = s.registry.put_referrer("kubewarden/controller", KUBEWARDEN_IMAGE, &bundle, Via::FallbackTag);
    let image = s.image("kubewarden/controller", KUBEWARDEN_IMAGE);
    let found = discover(&s.client(), &image, BOTH, false).await.unwrap();
    assert_eq!(found.referrers.len(), 1);
    let tag = format!("sha256-{}", &KUBEWARDEN_IMAGE[7..]);
    assert_eq!(found.referrers[0].location.to_string(), format!("tag {tag} referrer {manifest}"));

    // Registries that do not route the referrers path answer 400, 405 or 501: no API, so the
    // fallback tag is read; any other status is an error.
    for status in [400, 405, 501] {
        s.registry.set_no_referrers_api_status(status);
        let found = discover(&s.client(), &image, BOTH, false).await.unwrap();
        assert_eq!(found.referrers.len(), 1, "status {status}");
    }
    s.registry.set_no_referrers_api_status(403);
    let e = discover(&s.client(), &image, BOTH, false).await.unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
}

#[tokio::test]
async fn bearer_tokens_with_credentials_are_fetched_once_and_reused() {
    let auth = Auth::Bearer { credentials: Some(("robot".into(), "s3cret".into())), expires_in: 300 };
    let s = setup(auth).await;
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, vec![keyless_layer()]);
    let mut settings = s.settings();
    settings.credentials =
        HashMap::from([(s.registry.host(), Credentials { username: "robot".into(), password: "s3cret".into() })])
            .into_iter()
            .collect();
    let client = RegistryClient::new(&settings).unwrap();
    let image = s.image("app", KEYLESS_IMAGE);
    let found = discover(&client, &image, BundleFormats::default(), false).await.unwrap();
    assert_eq!(found.legacy_signatures.len(), 1);
    let tokens = s.registry.log().iter().filter(|r| r.path.starts_with("/token")).count();
    assert_eq!(tokens, 1);
    let token_request = s.registry.log().into_iter().find(|r| r.path.starts_with("/token")).unwrap();
    assert_eq!(token_request.authorization.as_deref(), Some(registry::basic("robot", "s3cret").as_str()));
    assert!(token_request.path.contains("scope=repository%3Aapp%3Apull"), "{}", token_request.path);
    // Cached: the second discovery sends the token first and gets no 401.
    let before = s.registry.requests();
    discover(&client, &image, BundleFormats::default(), false).await.unwrap();
    assert_eq!(s.registry.requests() - before, 2, "the manifest and its one layer's blob, no 401 nor token request");

    // Wrong credentials: refused at the token endpoint, the configuration's fault.
    settings.credentials.values_mut().for_each(|c| c.password = "wrong".into());
    let err = s.fails(&RegistryClient::new(&settings).unwrap()).await;
    assert_names(&err, &s.registry.host(), "refused the credentials");
    assert_eq!(err.fault(), Who::Config);
}

#[tokio::test]
async fn basic_auth_and_missing_credentials() {
    let s = setup(Auth::Basic { username: "u".into(), password: "p".into() }).await;
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, vec![keyless_layer()]);
    let err = s.fails(&s.client()).await;
    assert_names(&err, &s.registry.host(), "registry_credentials has none");
    assert_eq!(err.fault(), Who::Config);
    let mut settings = s.settings();
    settings.credentials.insert(s.registry.host(), Credentials { username: "u".into(), password: "p".into() });
    let found = discover(
        &RegistryClient::new(&settings).unwrap(),
        &s.image("app", KEYLESS_IMAGE),
        BundleFormats::default(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(found.legacy_signatures.len(), 1);
}

#[tokio::test]
async fn a_401_forever_is_answered_once_not_looped() {
    let s = setup(Auth::Bearer { credentials: None, expires_in: 60 }).await;
    s.registry.set_fault(Fault::UnauthorizedForever);
    let client = s.client();
    let err = s.fails(&client).await;
    assert_names(&err, &s.registry.host(), "HTTP 401 again");
    assert_eq!(err.fault(), Who::Registry);
    assert!(client.requests() <= 9, "{} requests", client.requests());
}

#[tokio::test]
async fn statuses_are_errors_naming_them_without_retries() {
    for (status, problem) in
        [(429, "HTTP 429 (too many requests)"), (500, "HTTP 500 (server error)"), (403, "HTTP 403")]
    {
        let s = setup(Auth::Anonymous).await;
        s.registry.set_fault(Fault::Status(status));
        let client = s.client();
        let err = discover(&client, &s.image("app", KEYLESS_IMAGE), BundleFormats::default(), false).await.unwrap_err();
        assert_names(&err, &s.registry.host(), problem);
        assert_eq!(err.fault(), Who::Registry);
        assert_eq!(client.requests(), 1);
    }
}

#[tokio::test]
async fn garbage_and_oversized_manifests() {
    let s = setup(Auth::Anonymous).await;
    s.registry.set_fault(Fault::GarbageManifest);
    assert_names(&s.fails(&s.client()).await, &s.registry.host(), "malformed: not an OCI manifest");
    for content_length in [true, false] {
        s.registry.set_fault(Fault::OversizedManifest { bytes: 5 << 20, content_length });
        let err = s.fails(&s.client()).await;
        assert_names(&err, &s.registry.host(), &format!("larger than the {} bytes read", 4 << 20));
    }
}

#[tokio::test]
async fn blobs_must_match_their_digest() {
    let s = setup(Auth::Anonymous).await;
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, vec![keyless_layer()]);
    s.registry.set_fault(Fault::BlobMismatch);
    let err = s.fails(&s.client()).await;
    assert_names(&err, &s.registry.host(), "content hashes to sha256:");
    assert!(
        err.to_string().contains("sha256:e7801de935512e22b237c7b57e42ca4d20e2134bdf1b98f976c8f55d9cfe4067"),
        "{err}"
    );
}

#[tokio::test]
async fn redirects_only_to_https_at_most_five_and_without_credentials_elsewhere() {
    let s = setup(Auth::Bearer { credentials: None, expires_in: 60 }).await;
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, vec![keyless_layer()]);
    s.registry.set_fault(Fault::RedirectLoop);
    assert_names(&s.fails(&s.client()).await, &s.registry.host(), "more than 5 redirects");
    s.registry.set_fault(Fault::RedirectToHttp);
    assert_names(&s.fails(&s.client()).await, &s.registry.host(), "only https redirects are followed");
    s.registry.set_fault(Fault::RedirectOtherHost);
    let found = discover(&s.client(), &s.image("app", KEYLESS_IMAGE), BundleFormats::default(), false).await.unwrap();
    assert_eq!(found.legacy_signatures.len(), 1);
    let storage: Vec<_> = s.registry.log().into_iter().filter(|r| r.path.starts_with("/storage/")).collect();
    assert!(!storage.is_empty());
    assert!(storage.iter().all(|r| r.authorization.is_none()), "{storage:?}");
    assert!(storage.iter().all(|r| r.host.as_deref().is_some_and(|h| h.starts_with("localhost"))), "{storage:?}");
}

#[tokio::test]
async fn a_hanging_registry_times_out() {
    let s = setup(Auth::Anonymous).await;
    s.registry.set_fault(Fault::Hang);
    let started = Instant::now();
    let err = s.fails(&s.client()).await;
    assert_names(&err, &s.registry.host(), "no complete answer within 2s");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_naming_the_host() {
    let s = setup(Auth::Anonymous).await;
    let client = RegistryClient::new(&RegistrySettings::default()).unwrap();
    let err = s.fails(&client).await;
    assert_names(&err, &s.registry.host(), "TLS failure");
    assert_eq!(err.fault(), Who::Registry);
}

#[tokio::test]
async fn too_many_layers_is_an_error_naming_the_count() {
    let s = setup(Auth::Anonymous).await;
    let layers = (0..5).map(|i| Layer::simple_signing(format!("payload {i}").into_bytes(), BTreeMap::new())).collect();
    s.registry.put_legacy_signatures("app", KEYLESS_IMAGE, layers);
    let mut settings = s.settings();
    settings.max_layers = 4;
    let err = s.fails(&RegistryClient::new(&settings).unwrap()).await;
    assert_names(&err, &s.registry.host(), "5 layers, more than the 4 read");
}

#[tokio::test]
async fn docker_hub_names_go_to_the_mirror_normalised() {
    let s = setup(Auth::Anonymous).await;
    s.registry.put_legacy_signatures("library/nginx", KEYLESS_IMAGE, vec![keyless_layer()]);
    let mut settings = s.settings();
    settings.mirrors.insert("index.docker.io".into(), format!("https://127.0.0.1:{}", s.registry.port()));
    let client = RegistryClient::new(&settings).unwrap();
    let image = ImageName::parse(&format!("nginx@{KEYLESS_IMAGE}")).unwrap();
    let found = discover(&client, &image, BundleFormats::default(), false).await.unwrap();
    assert_eq!(found.legacy_signatures.len(), 1);
    let first = &s.registry.log()[0];
    assert_eq!(first.path, format!("/v2/library/nginx/manifests/sha256-{}.sig", &KEYLESS_IMAGE[7..]));
    // Errors name the mirror and the registry it stands for.
    s.registry.set_fault(Fault::Status(500));
    let err = discover(&client, &image, BundleFormats::default(), false).await.unwrap_err();
    assert_names(&err, &format!("127.0.0.1:{} (mirror of index.docker.io)", s.registry.port()), "HTTP 500");
}
