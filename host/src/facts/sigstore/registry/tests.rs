use std::collections::BTreeMap;

use super::*;
use crate::fault::Fault;

fn settings() -> RegistrySettings {
    RegistrySettings::default()
}

#[test]
fn mirrors_must_be_https_base_urls() {
    for (url, problem) in [
        ("http://mirror.example", "only https"),
        ("mirror.example", "relative URL"),
        ("https://mirror.example/?x=1", "no query"),
        ("https://user@mirror.example/", "user name"),
    ] {
        let mut s = settings();
        s.mirrors = BTreeMap::from([("docker.io".to_owned(), url.to_owned())]);
        let err = RegistryClient::new(&s).unwrap_err();
        assert!(err.to_string().contains(problem), "{url}: {err}");
        assert!(err.to_string().contains("docker.io"), "{err}");
        assert_eq!(err.fault(), Fault::Config);
    }
}

#[test]
fn docker_hub_keys_and_mirrors_are_normalised() {
    let mut s = settings();
    s.mirrors = BTreeMap::from([("docker.io".to_owned(), "https://127.0.0.1:5000/prefix/".to_owned())]);
    let client = RegistryClient::new(&s).unwrap();
    let hub = client.endpoint("index.docker.io");
    assert_eq!(hub.base, "https://127.0.0.1:5000/prefix");
    assert_eq!(hub.label, "127.0.0.1:5000 (mirror of index.docker.io)");
    let other = client.endpoint("ghcr.io");
    assert_eq!((other.base.as_str(), other.label.as_str()), ("https://ghcr.io", "ghcr.io"));
    assert_eq!(client.requests(), 0);
}

#[test]
fn a_bad_ca_file_is_the_configuration_s_fault() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    for path in [dir.path().join("missing.pem"), empty] {
        let mut s = settings();
        s.ca_path = Some(path.clone());
        let err = RegistryClient::new(&s).unwrap_err();
        assert_eq!(err.fault(), Fault::Config);
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
}

#[test]
fn basic_credentials_are_encoded() {
    let client = RegistryClient::new(&settings()).unwrap();
    let value = client.basic(&Credentials { username: "aladdin".into(), password: "opensesame".into() }).unwrap();
    assert_eq!(value.to_str().unwrap(), "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
}

#[test]
fn status_errors_quote_the_body_bounded() {
    let endpoint = Endpoint { registry: "r", base: "https://r".into(), label: "r".into() };
    let body = format!("{{\"errors\":[{{\"code\":\"TOOMANYREQUESTS\"}}]}}\n\u{1b}{}", "x".repeat(1000));
    let err = status_error(&endpoint, "manifest a:b", StatusCode::TOO_MANY_REQUESTS, body.as_bytes());
    let text = err.to_string();
    assert!(text.starts_with("registry r: manifest a:b: answered HTTP 429 (too many requests): {\"errors\""), "{text}");
    assert!(!text.contains('\u{1b}') && text.len() < 400, "{text}");
    assert_eq!(err.fault(), Fault::Registry);
}

#[test]
fn the_proxy_comes_from_https_proxy_as_go_reads_it() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    assert!(proxy_from_env(&env(&[])).unwrap().is_none());
    assert!(proxy_from_env(&env(&[("HTTP_PROXY", "http://p:3128")])).unwrap().is_none(), "https only");
    assert!(proxy_from_env(&env(&[("HTTPS_PROXY", "  ")])).unwrap().is_none(), "blank is unset");
    assert!(proxy_from_env(&env(&[("https_proxy", "http://p:3128")])).unwrap().is_some());
    assert!(proxy_from_env(&env(&[("HTTPS_PROXY", "http://u:pw@p:3128"), ("NO_PROXY", "ghcr.io")])).unwrap().is_some());
    let e = proxy_from_env(&env(&[("HTTPS_PROXY", "http://u:secret@[::1")])).unwrap_err();
    assert_eq!(e.fault(), Fault::Config);
    assert!(!e.to_string().contains("secret"), "{e}");
}
