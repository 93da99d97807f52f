//! The registrar's Entry API client against a stateful loopback SPIRE Entry API server
//! (`common/entry_server.rs`): round trips, paging, batching, per-entry and whole-call
//! failures, foreign entries, a missing socket and a server whose answers break the API.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/entry_server.rs"]
mod entry_server;

use std::path::Path;
use std::time::Duration;

use attestor::fault::Fault;
use attestor::registrar::entry::{Entry, EntrySelector};
use attestor::registrar::entry_api::{EntryApiError, EntryClient, ItemResult};
use entry_server::{Call, EntryServer, foreign, spiffe_id};
use tonic::Code;

const PREFIX: &str = "attestor.";

fn entry(n: usize) -> Entry {
    let id = format!("spiffe://example.org/ns/app/sa/w{n}");
    Entry {
        id: format!("{PREFIX}{n:04}"),
        spiffe_id: id.clone(),
        parent_id: "spiffe://example.org/spire/agent/k8s_psat/prod/node-uid-1".into(),
        selectors: vec![EntrySelector { kind: "k8s".into(), value: format!("spiffe-id:{id}") }],
        x509_svid_ttl: 3600,
        jwt_svid_ttl: 300,
        federates_with: vec!["partner.org".into()],
        dns_names: vec![format!("w{n}.app.svc")],
        hint: "internal".into(),
        revision_number: 0,
    }
}

fn entries(n: usize) -> Vec<Entry> {
    (0..n).map(entry).collect()
}

fn client(server: &EntryServer) -> EntryClient {
    EntryClient::new(&server.socket, Duration::from_secs(10)).expect("client")
}

fn ok(id: &str) -> ItemResult {
    ItemResult { id: id.into(), code: 0, message: "OK".into() }
}

fn calls(method: &'static str, sizes: &[usize]) -> Vec<Call> {
    sizes.iter().map(|&items| Call { method, items }).collect()
}

#[tokio::test]
async fn create_list_update_delete_round_trip() {
    let server = EntryServer::start();
    let client = client(&server);
    let created = client.create(&entries(3), 10).await.unwrap();
    assert_eq!(created, vec![ok("attestor.0000"), ok("attestor.0001"), ok("attestor.0002")]);

    let stored = server.entries();
    let wire = &stored["attestor.0001"];
    assert_eq!(wire.spiffe_id, Some(spiffe_id("spiffe://example.org/ns/app/sa/w1")));
    assert_eq!(wire.parent_id, Some(spiffe_id("spiffe://example.org/spire/agent/k8s_psat/prod/node-uid-1")));
    assert_eq!((wire.x509_svid_ttl, wire.jwt_svid_ttl, wire.hint.as_str()), (3600, 300, "internal"));

    let owned = client.list_owned(PREFIX, 100).await.unwrap();
    assert_eq!(owned.entries, entries(3));
    assert_eq!(owned.foreign, 0);

    let mut changed = entry(1);
    changed.dns_names = vec!["renamed.app.svc".into()];
    changed.selectors.push(EntrySelector { kind: "k8s".into(), value: "ns:app".into() });
    changed.selectors.sort();
    assert_eq!(client.update(std::slice::from_ref(&changed), 10).await.unwrap(), vec![ok("attestor.0001")]);
    let owned = client.list_owned(PREFIX, 100).await.unwrap();
    assert_eq!(owned.entries[1], Entry { revision_number: 1, ..changed.clone() });
    assert!(owned.entries[1].same_content(&changed));
    assert_eq!(owned.entries[0].revision_number, 0);

    let ids = vec!["attestor.0000".to_string(), "attestor.0002".to_string()];
    assert_eq!(client.delete(&ids, 10).await.unwrap(), vec![ok("attestor.0000"), ok("attestor.0002")]);
    assert_eq!(server.entries().keys().collect::<Vec<_>>(), ["attestor.0001"]);
    assert_eq!(
        client.calls().into_iter().collect::<Vec<_>>(),
        [("BatchCreateEntry", 1), ("BatchDeleteEntry", 1), ("BatchUpdateEntry", 1), ("ListEntries", 2)]
    );
}

#[tokio::test]
async fn listing_follows_every_page() {
    let server = EntryServer::start();
    let client = client(&server);
    client.create(&entries(25), 100).await.unwrap();
    server.clear_log();
    let owned = client.list_owned(PREFIX, 10).await.unwrap();
    assert_eq!(owned.entries, entries(25));
    assert_eq!(server.log(), calls("ListEntries", &[10, 10, 10]));

    // A last page that is exactly full is followed by an empty one, as SPIRE's SQL paging does.
    server.clear_log();
    let owned = client.list_owned(PREFIX, 5).await.unwrap();
    assert_eq!(owned.entries.len(), 25);
    assert_eq!(server.log(), calls("ListEntries", &[5; 6]));

    // Page size 0: the server's choice (everything here).
    server.clear_log();
    assert_eq!(client.list_owned(PREFIX, 0).await.unwrap().entries.len(), 25);
    assert_eq!(server.log(), calls("ListEntries", &[0]));
}

#[tokio::test]
async fn batches_hold_at_most_batch_entries() {
    let server = EntryServer::start();
    let client = client(&server);
    let all = entries(23);
    let results = client.create(&all, 10).await.unwrap();
    assert_eq!(results.len(), 23);
    assert!(results.iter().zip(&all).all(|(r, e)| r.id == e.id && r.code == 0));
    assert_eq!(server.log(), calls("BatchCreateEntry", &[10, 10, 3]));

    server.clear_log();
    assert_eq!(client.update(&all, 7).await.unwrap().len(), 23);
    assert_eq!(server.log(), calls("BatchUpdateEntry", &[7, 7, 7, 2]));

    server.clear_log();
    let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(client.delete(&ids, 23).await.unwrap().len(), 23);
    assert_eq!(server.log(), calls("BatchDeleteEntry", &[23]));
    assert!(server.entries().is_empty());
    assert_eq!(client.calls()["BatchCreateEntry"], 3);
    assert_eq!(client.calls()["BatchUpdateEntry"], 4);
    assert_eq!(client.calls()["BatchDeleteEntry"], 1);
}

#[tokio::test]
async fn per_entry_statuses_are_reported_per_item() {
    let server = EntryServer::start();
    let client = client(&server);
    client.create(&entries(2), 10).await.unwrap();

    // The same IDs again: SPIRE's "similar entry" check comes first.
    let again = client.create(&entries(2), 10).await.unwrap();
    assert_eq!(
        again,
        vec![
            ItemResult { id: "attestor.0000".into(), code: 6, message: "similar entry already exists".into() },
            ItemResult { id: "attestor.0001".into(), code: 6, message: "similar entry already exists".into() },
        ]
    );
    // A taken ID with different content.
    let taken = Entry { spiffe_id: "spiffe://example.org/other".into(), ..entry(0) };
    assert_eq!(
        client.create(&[taken], 10).await.unwrap(),
        vec![ItemResult {
            id: "attestor.0000".into(),
            code: 6,
            message: "failed to create entry: datastore-sql: UNIQUE constraint failed: registered_entries.entry_id"
                .into()
        }]
    );
    // Unknown IDs on update and delete.
    assert_eq!(
        client.update(&[entry(7)], 10).await.unwrap(),
        vec![ItemResult { id: "attestor.0007".into(), code: 5, message: "failed to update entry".into() }]
    );
    assert_eq!(
        client.delete(&["attestor.0007".into(), "attestor.0001".into()], 10).await.unwrap(),
        vec![
            ItemResult { id: "attestor.0007".into(), code: 5, message: "entry not found".into() },
            ok("attestor.0001")
        ]
    );
}

#[tokio::test]
async fn half_a_failed_batch_is_applied_and_the_rest_reported() {
    let server = EntryServer::start();
    let client = client(&server);
    server.fail_every_other_next(Code::Internal, "failed to create entry: datastore-sql: database is locked");
    let results = client.create(&entries(4), 4).await.unwrap();
    let codes: Vec<i32> = results.iter().map(|r| r.code).collect();
    assert_eq!(codes, [0, 13, 0, 13]);
    assert_eq!(results[1].message, "failed to create entry: datastore-sql: database is locked");
    assert_eq!(server.entries().keys().collect::<Vec<_>>(), ["attestor.0000", "attestor.0002"]);

    // Creating the failed half again converges.
    let failed: Vec<Entry> = [1, 3].into_iter().map(entry).collect();
    assert_eq!(client.create(&failed, 4).await.unwrap(), vec![ok("attestor.0001"), ok("attestor.0003")]);
    assert_eq!(client.list_owned(PREFIX, 10).await.unwrap().entries, entries(4));

    // Only the next batch is hit: the second call of a split operation succeeds whole.
    server.fail_every_other_next(Code::Internal, "failed to delete entry: datastore-sql: database is locked");
    let ids: Vec<String> = entries(4).iter().map(|e| e.id.clone()).collect();
    let results = client.delete(&ids, 2).await.unwrap();
    assert_eq!(results.iter().map(|r| r.code).collect::<Vec<_>>(), [0, 13, 0, 0]);
    assert_eq!(server.entries().keys().collect::<Vec<_>>(), ["attestor.0001"]);
}

#[tokio::test]
async fn a_failed_call_is_an_error_naming_method_and_socket() {
    let server = EntryServer::start();
    let client = client(&server);
    server.fail_next(Code::Internal, "failed to list entries: datastore-sql: connection refused");
    let err = client.list_owned(PREFIX, 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ListEntries to SPIRE server at {}: answered Internal: failed to list entries: datastore-sql: connection refused",
            server.socket.display()
        )
    );
    assert_eq!(err.fault(), Fault::Host);

    // The second of three batches fails: the first is in place, the third never sent.
    server.clear_log();
    server.fail_after(
        1,
        Code::PermissionDenied,
        "authorization denied for method /spire.api.server.entry.v1.Entry/BatchCreateEntry",
    );
    let err = client.create(&entries(6), 2).await.unwrap_err();
    assert!(
        matches!(&err, EntryApiError::Status { method: "BatchCreateEntry", code: Code::PermissionDenied, .. }),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Config);
    assert_eq!(server.log(), calls("BatchCreateEntry", &[2, 2]));
    assert_eq!(server.entries().keys().collect::<Vec<_>>(), ["attestor.0000", "attestor.0001"]);
}

#[tokio::test]
async fn foreign_entries_are_counted_never_returned() {
    let server = EntryServer::start();
    let client = client(&server);
    for id in ["0a-hand-written", "zz-controller-manager", "attestor-without-dot", "b0c1d2e3"] {
        server.insert_raw(foreign(id));
    }
    // A foreign entry the client could not even read is still only counted.
    server.insert_raw(spire_api_entry_without_ids("zzz-broken"));
    client.create(&entries(3), 10).await.unwrap();
    let owned = client.list_owned(PREFIX, 2).await.unwrap();
    assert_eq!(owned.entries, entries(3));
    assert_eq!(owned.foreign, 5);
    assert_eq!(server.entries().len(), 8);
}

fn spire_api_entry_without_ids(id: &str) -> attestor::registrar::proto::spire::api::types::Entry {
    attestor::registrar::proto::spire::api::types::Entry { id: id.into(), ..Default::default() }
}

#[tokio::test]
async fn an_owned_entry_without_a_spiffe_id_is_an_error_naming_it() {
    let server = EntryServer::start();
    let client = client(&server);
    server.insert_raw(spire_api_entry_without_ids("attestor.broken"));
    let err = client.list_owned(PREFIX, 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ListEntries to SPIRE server at {}: entry \"attestor.broken\" cannot be read: it has no spiffe_id",
            server.socket.display()
        )
    );
}

#[tokio::test]
async fn a_batch_answer_of_the_wrong_length_is_an_error() {
    let server = EntryServer::start();
    let client = client(&server);
    server.lie_next();
    let err = client.create(&entries(3), 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("BatchCreateEntry to SPIRE server at {}: 2 results for 3 entries sent", server.socket.display())
    );
    assert_eq!(err.fault(), Fault::Host);
    server.lie_next();
    let err = client.delete(&["attestor.0000".into()], 10).await.unwrap_err();
    assert!(matches!(err, EntryApiError::Answer { method: "BatchDeleteEntry", .. }), "{err}");
}

#[tokio::test]
async fn a_missing_socket_names_the_path_and_is_the_operators() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-server.sock");
    let client = EntryClient::new(&socket, Duration::from_secs(10)).unwrap();
    let err = client.list_owned(PREFIX, 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ListEntries to SPIRE server at {}: cannot connect: No such file or directory (os error 2)",
            socket.display()
        )
    );
    assert_eq!(err.fault(), Fault::Config);
    assert_eq!(client.calls()["ListEntries"], 1);
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let client = EntryClient::new(&socket, Duration::from_secs(10)).unwrap();
    let err = client.delete(&["attestor.1".into()], 10).await.unwrap_err();
    assert!(matches!(err, EntryApiError::Unavailable { method: "BatchDeleteEntry", .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("BatchDeleteEntry to SPIRE server at {}: unavailable: ", socket.display()))
    );
    assert_eq!(err.fault(), Fault::Host);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let server = EntryServer::start();
    let client = EntryClient::new(&server.socket, Duration::from_millis(300)).unwrap();
    server.stall_next();
    let err = client.update(&entries(1), 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("BatchUpdateEntry to SPIRE server at {}: no answer within 300ms", server.socket.display())
    );
    // The next call is answered.
    assert!(client.list_owned(PREFIX, 10).await.unwrap().entries.is_empty());
}

#[test]
fn a_relative_socket_path_is_accepted() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = runtime.enter();
    assert_eq!(
        EntryClient::new(Path::new("run/api.sock"), Duration::from_secs(1)).unwrap().socket(),
        Path::new("run/api.sock")
    );
}
