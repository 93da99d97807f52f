use std::path::Path;
use std::time::Duration;

use super::convert::{BadEntry, from_proto, join_spiffe_id, split_spiffe_id, to_proto};
use super::{EntryApiError, EntryClient};
use crate::fault::Fault;
use crate::registrar::entry::{Entry, EntrySelector};
use crate::registrar::proto::spire::api::types as pb;

fn sid(td: &str, path: &str) -> pb::Spiffeid {
    pb::Spiffeid { trust_domain: td.into(), path: path.into() }
}

fn entry() -> Entry {
    Entry {
        id: "attestor-1".into(),
        spiffe_id: "spiffe://example.org/ns/web/sa/api".into(),
        parent_id: "spiffe://example.org/spire/agent/k8s_psat/prod/uid-1".into(),
        selectors: vec![EntrySelector {
            kind: "k8s".into(),
            value: "spiffe-id:spiffe://example.org/ns/web/sa/api".into(),
        }],
        x509_svid_ttl: 3600,
        jwt_svid_ttl: 300,
        federates_with: vec!["other.org".into()],
        dns_names: vec!["api.web.svc".into(), "api".into()],
        hint: "internal".into(),
        revision_number: 0,
    }
}

#[test]
fn spiffe_ids_split_into_trust_domain_and_path() {
    assert_eq!(split_spiffe_id("spiffe://example.org/a/b"), Some(sid("example.org", "/a/b")));
    assert_eq!(split_spiffe_id("spiffe://example.org"), Some(sid("example.org", "")));
    assert_eq!(split_spiffe_id("spiffe:///a"), None);
    assert_eq!(split_spiffe_id("example.org/a"), None);
    assert_eq!(join_spiffe_id(&sid("example.org", "/a/b")), "spiffe://example.org/a/b");
}

#[test]
fn an_entry_goes_to_the_wire_and_back_unchanged() {
    let wire = to_proto(&entry()).unwrap();
    assert_eq!(wire.spiffe_id, Some(sid("example.org", "/ns/web/sa/api")));
    assert_eq!(wire.parent_id, Some(sid("example.org", "/spire/agent/k8s_psat/prod/uid-1")));
    assert_eq!(wire.selectors[0].r#type, "k8s");
    assert!(!wire.admin && !wire.downstream && !wire.store_svid && wire.expires_at == 0);
    let back = from_proto(pb::Entry { revision_number: 4, ..wire }).unwrap();
    assert_eq!(back, Entry { revision_number: 4, ..entry() });
}

#[test]
fn listed_selectors_and_trust_domains_come_back_sorted_without_scheme() {
    let mut wire = to_proto(&entry()).unwrap();
    wire.selectors = vec![
        pb::Selector { r#type: "k8s".into(), value: "ns:web".into() },
        pb::Selector { r#type: "k8s".into(), value: "a".into() },
    ];
    wire.federates_with = vec!["spiffe://z.org".into(), "a.org".into()];
    let back = from_proto(wire).unwrap();
    assert_eq!(back.selectors.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(), ["a", "ns:web"]);
    assert_eq!(back.federates_with, ["a.org", "z.org"]);
}

#[test]
fn entries_missing_ids_are_refused_by_name() {
    let wire = to_proto(&entry()).unwrap();
    assert_eq!(
        from_proto(pb::Entry { spiffe_id: None, ..wire.clone() }),
        Err(BadEntry { id: "attestor-1".into(), why: "it has no spiffe_id".into() })
    );
    assert_eq!(
        from_proto(pb::Entry { parent_id: None, ..wire }),
        Err(BadEntry { id: "attestor-1".into(), why: "it has no parent_id".into() })
    );
    assert_eq!(
        to_proto(&Entry { spiffe_id: "web".into(), ..entry() }),
        Err(BadEntry { id: "attestor-1".into(), why: "spiffe_id \"web\" is not a SPIFFE ID".into() })
    );
}

#[test]
fn faults_say_who_must_act() {
    let socket = Path::new("/run/spire/api.sock").to_path_buf();
    let status =
        |code| EntryApiError::Status { socket: socket.clone(), method: "ListEntries", code, message: "m".into() };
    assert_eq!(status(tonic::Code::PermissionDenied).fault(), Fault::Config);
    assert_eq!(status(tonic::Code::Internal).fault(), Fault::Host);
    assert_eq!(EntryApiError::EmptyPrefix.fault(), Fault::Config);
    let missing = EntryApiError::Socket {
        socket: socket.clone(),
        method: "BatchDeleteEntry",
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    };
    assert_eq!(missing.fault(), Fault::Config);
    assert_eq!(
        status(tonic::Code::Internal).to_string(),
        "ListEntries to SPIRE server at /run/spire/api.sock: answered Internal: m"
    );
    let timeout = EntryApiError::Timeout { socket, method: "BatchCreateEntry", timeout: Duration::from_secs(5) };
    assert_eq!(timeout.fault(), Fault::Host);
    assert_eq!(timeout.to_string(), "BatchCreateEntry to SPIRE server at /run/spire/api.sock: no answer within 5s");
}

#[test]
fn a_socket_path_that_is_not_utf8_is_the_operators() {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(b"/run/\xff.sock"));
    let err = EntryClient::new(path, Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.fault(), Fault::Config);
    assert_eq!(err.to_string(), "SPIRE server socket /run/\u{fffd}.sock: the path is not UTF-8");
}

#[tokio::test]
async fn an_empty_prefix_is_refused_before_any_call() {
    let client = EntryClient::new(Path::new("/nonexistent/api.sock"), Duration::from_secs(1)).unwrap();
    let err = client.list_owned("", 10).await.unwrap_err();
    assert!(matches!(err, EntryApiError::EmptyPrefix), "{err}");
    assert!(client.calls().is_empty());
}
