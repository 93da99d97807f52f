//! A stateful loopback SPIRE Entry API server (`spire.api.server.entry.v1.Entry`), built on the
//! same generated server trait the registrar's client is generated with, on a unix socket in a
//! temporary directory.
//!
//! Entries live in memory, ordered by ID. What it does as SPIRE server does (per
//! `pkg/server/api/entry/v1/service.go` and its SQL datastore): `BatchCreateEntry` stores an
//! entry under the ID given (or `auto-<n>` when none), answers ALREADY_EXISTS `similar entry
//! already exists` (with the existing entry) when one with the same spiffe_id, parent_id and
//! selectors exists, and ALREADY_EXISTS for a taken ID; `BatchUpdateEntry` writes every field
//! (or those of its input mask) and bumps `revision_number`, NOT_FOUND `failed to update entry`
//! for an unknown ID; `BatchDeleteEntry` answers NOT_FOUND `entry not found` for an unknown ID,
//! INVALID_ARGUMENT `missing entry ID` for an empty one; per-entry OK statuses say `OK`; output
//! masks are applied. `ListEntries` pages by ID: the token is the last ID of a full page (so a
//! last full page is followed by an empty one, as SPIRE's SQL paging does); page size 0 means
//! everything at once.
//!
//! Texts of our own (SPIRE's depend on its database or were not looked up): the taken-ID message
//! (`failed to create entry: datastore-sql: UNIQUE constraint failed: registered_entries.entry_id`,
//! SQLite's wording), and `failed to convert entry: missing SPIFFE ID` / `missing parent ID`.
//!
//! Injected failures, each for the next call only: the whole call fails with a status
//! ([`EntryServer::fail_next`], or the call after the next n with [`EntryServer::fail_after`]); every other entry of a batch (the 2nd, 4th, ...) fails with a
//! per-entry status and is not applied ([`EntryServer::fail_every_other_next`]); the batch answer
//! drops its last result ([`EntryServer::lie_next`]); the call never answers
//! ([`EntryServer::stall_next`]). Every call is logged with its method and item count.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use attestor::registrar::proto::spire::api::server::entry::v1 as api;
use attestor::registrar::proto::spire::api::types as pb;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Code, Request, Response, Status};

use api::entry_server::{Entry as EntryService, EntryServer as GrpcServer};

/// One call the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The method (`ListEntries`, `BatchCreateEntry`, ...).
    pub method: &'static str,
    /// Entries (or IDs) in the request; for `ListEntries`, the page size asked for.
    pub items: usize,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, pb::Entry>,
    auto_ids: u64,
    log: Vec<Call>,
    fail_next: Option<(usize, Status)>,
    fail_every_other_next: Option<(Code, String)>,
    lie_next: bool,
    stall_next: bool,
}

/// What the next call must suffer, taken from the state when it arrives.
enum Injected {
    None,
    Fail(Status),
    Stall,
}

impl State {
    fn arrive(&mut self, method: &'static str, items: usize) -> Injected {
        self.log.push(Call { method, items });
        if self.stall_next {
            self.stall_next = false;
            return Injected::Stall;
        }
        match self.fail_next.take() {
            Some((0, status)) => Injected::Fail(status),
            Some((n, status)) => {
                self.fail_next = Some((n - 1, status));
                Injected::None
            }
            None => Injected::None,
        }
    }
}

#[derive(Clone)]
struct Service(Arc<Mutex<State>>);

/// The loopback server: its socket, its entries, its log.
pub struct EntryServer {
    /// The socket it listens on.
    pub socket: PathBuf,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn ok() -> pb::Status {
    pb::Status { code: Code::Ok as i32, message: "OK".into() }
}

fn status(code: Code, message: &str) -> pb::Status {
    pb::Status { code: code as i32, message: message.into() }
}

fn sorted_selectors(e: &pb::Entry) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = e.selectors.iter().map(|s| (s.r#type.clone(), s.value.clone())).collect();
    s.sort();
    s
}

fn similar(a: &pb::Entry, b: &pb::Entry) -> bool {
    a.spiffe_id == b.spiffe_id && a.parent_id == b.parent_id && sorted_selectors(a) == sorted_selectors(b)
}

fn apply_mask(mut e: pb::Entry, mask: Option<&pb::EntryMask>) -> pb::Entry {
    let Some(m) = mask else { return e };
    if !m.spiffe_id {
        e.spiffe_id = None;
    }
    if !m.parent_id {
        e.parent_id = None;
    }
    if !m.selectors {
        e.selectors.clear();
    }
    if !m.x509_svid_ttl {
        e.x509_svid_ttl = 0;
    }
    if !m.federates_with {
        e.federates_with.clear();
    }
    if !m.admin {
        e.admin = false;
    }
    if !m.downstream {
        e.downstream = false;
    }
    if !m.expires_at {
        e.expires_at = 0;
    }
    if !m.dns_names {
        e.dns_names.clear();
    }
    if !m.revision_number {
        e.revision_number = 0;
    }
    if !m.store_svid {
        e.store_svid = false;
    }
    if !m.jwt_svid_ttl {
        e.jwt_svid_ttl = 0;
    }
    if !m.hint {
        e.hint.clear();
    }
    if !m.created_at {
        e.created_at = 0;
    }
    e
}

/// Write `from`'s fields into `to`: all of them without a mask, else the masked ones.
fn write_fields(to: &mut pb::Entry, from: pb::Entry, mask: Option<&pb::EntryMask>) {
    let all = pb::EntryMask {
        spiffe_id: true,
        parent_id: true,
        selectors: true,
        x509_svid_ttl: true,
        federates_with: true,
        admin: true,
        downstream: true,
        expires_at: true,
        dns_names: true,
        revision_number: false,
        store_svid: true,
        jwt_svid_ttl: true,
        hint: true,
        created_at: false,
    };
    let m = mask.unwrap_or(&all);
    if m.spiffe_id {
        to.spiffe_id = from.spiffe_id;
    }
    if m.parent_id {
        to.parent_id = from.parent_id;
    }
    if m.selectors {
        to.selectors = from.selectors;
    }
    if m.x509_svid_ttl {
        to.x509_svid_ttl = from.x509_svid_ttl;
    }
    if m.federates_with {
        to.federates_with = from.federates_with;
    }
    if m.admin {
        to.admin = from.admin;
    }
    if m.downstream {
        to.downstream = from.downstream;
    }
    if m.expires_at {
        to.expires_at = from.expires_at;
    }
    if m.dns_names {
        to.dns_names = from.dns_names;
    }
    if m.store_svid {
        to.store_svid = from.store_svid;
    }
    if m.jwt_svid_ttl {
        to.jwt_svid_ttl = from.jwt_svid_ttl;
    }
    if m.hint {
        to.hint = from.hint;
    }
}

/// The injected per-entry failure for item `i`, if this batch has one.
fn injected_item(every_other: Option<&(Code, String)>, i: usize) -> Option<pb::Status> {
    every_other.filter(|_| i % 2 == 1).map(|(code, message)| status(*code, message))
}

impl Service {
    async fn begin(&self, method: &'static str, items: usize) -> Result<(), Status> {
        let injected = self.0.lock().unwrap().arrive(method, items);
        match injected {
            Injected::None => Ok(()),
            Injected::Fail(status) => Err(status),
            Injected::Stall => std::future::pending().await,
        }
    }

    /// The per-batch injections: every other item failing, and a dropped last result.
    fn batch_injections(&self) -> (Option<(Code, String)>, bool) {
        let mut state = self.0.lock().unwrap();
        (state.fail_every_other_next.take(), std::mem::take(&mut state.lie_next))
    }
}

#[tonic::async_trait]
impl EntryService for Service {
    async fn count_entries(
        &self,
        _request: Request<api::CountEntriesRequest>,
    ) -> Result<Response<api::CountEntriesResponse>, Status> {
        self.begin("CountEntries", 0).await?;
        let count = self.0.lock().unwrap().entries.len();
        Ok(Response::new(api::CountEntriesResponse { count: i32::try_from(count).unwrap() }))
    }

    async fn list_entries(
        &self,
        request: Request<api::ListEntriesRequest>,
    ) -> Result<Response<api::ListEntriesResponse>, Status> {
        let request = request.into_inner();
        self.begin("ListEntries", usize::try_from(request.page_size).unwrap_or(0)).await?;
        let state = self.0.lock().unwrap();
        let after = request.page_token.as_str();
        let rest = state.entries.values().filter(|e| after.is_empty() || e.id.as_str() > after);
        let mut answer = api::ListEntriesResponse::default();
        if request.page_size > 0 {
            let size = usize::try_from(request.page_size).unwrap();
            answer.entries = rest.take(size).map(|e| apply_mask(e.clone(), request.output_mask.as_ref())).collect();
            if answer.entries.len() == size {
                answer.next_page_token = answer.entries.last().unwrap().id.clone();
            }
        } else {
            answer.entries = rest.map(|e| apply_mask(e.clone(), request.output_mask.as_ref())).collect();
        }
        Ok(Response::new(answer))
    }

    async fn get_entry(&self, request: Request<api::GetEntryRequest>) -> Result<Response<pb::Entry>, Status> {
        let request = request.into_inner();
        self.begin("GetEntry", 1).await?;
        if request.id.is_empty() {
            return Err(Status::invalid_argument("missing ID"));
        }
        match self.0.lock().unwrap().entries.get(&request.id) {
            Some(e) => Ok(Response::new(apply_mask(e.clone(), request.output_mask.as_ref()))),
            None => Err(Status::not_found("entry not found")),
        }
    }

    async fn batch_create_entry(
        &self,
        request: Request<api::BatchCreateEntryRequest>,
    ) -> Result<Response<api::BatchCreateEntryResponse>, Status> {
        let request = request.into_inner();
        self.begin("BatchCreateEntry", request.entries.len()).await?;
        let (every_other, lie) = self.batch_injections();
        let mask = request.output_mask.as_ref();
        let mut state = self.0.lock().unwrap();
        let mut results = Vec::new();
        for (i, mut entry) in request.entries.into_iter().enumerate() {
            use api::batch_create_entry_response::Result as R;
            if let Some(s) = injected_item(every_other.as_ref(), i) {
                results.push(R { status: Some(s), entry: None });
                continue;
            }
            if entry.spiffe_id.is_none() {
                let s = status(Code::InvalidArgument, "failed to convert entry: missing SPIFFE ID");
                results.push(R { status: Some(s), entry: None });
                continue;
            }
            if entry.parent_id.is_none() {
                let s = status(Code::InvalidArgument, "failed to convert entry: missing parent ID");
                results.push(R { status: Some(s), entry: None });
                continue;
            }
            if let Some(existing) = state.entries.values().find(|e| similar(e, &entry)) {
                let s = status(Code::AlreadyExists, "similar entry already exists");
                results.push(R { status: Some(s), entry: Some(apply_mask(existing.clone(), mask)) });
                continue;
            }
            if entry.id.is_empty() {
                state.auto_ids += 1;
                entry.id = format!("auto-{}", state.auto_ids);
            }
            if state.entries.contains_key(&entry.id) {
                let s = status(
                    Code::AlreadyExists,
                    "failed to create entry: datastore-sql: UNIQUE constraint failed: registered_entries.entry_id",
                );
                results.push(R { status: Some(s), entry: None });
                continue;
            }
            entry.revision_number = 0;
            entry.created_at = 1_700_000_000;
            state.entries.insert(entry.id.clone(), entry.clone());
            results.push(R { status: Some(ok()), entry: Some(apply_mask(entry, mask)) });
        }
        if lie {
            results.pop();
        }
        Ok(Response::new(api::BatchCreateEntryResponse { results }))
    }

    async fn batch_update_entry(
        &self,
        request: Request<api::BatchUpdateEntryRequest>,
    ) -> Result<Response<api::BatchUpdateEntryResponse>, Status> {
        let request = request.into_inner();
        self.begin("BatchUpdateEntry", request.entries.len()).await?;
        let (every_other, lie) = self.batch_injections();
        let mut state = self.0.lock().unwrap();
        let mut results = Vec::new();
        for (i, entry) in request.entries.into_iter().enumerate() {
            use api::batch_update_entry_response::Result as R;
            if let Some(s) = injected_item(every_other.as_ref(), i) {
                results.push(R { status: Some(s), entry: None });
                continue;
            }
            let Some(stored) = state.entries.get_mut(&entry.id) else {
                results.push(R { status: Some(status(Code::NotFound, "failed to update entry")), entry: None });
                continue;
            };
            write_fields(stored, entry, request.input_mask.as_ref());
            stored.revision_number += 1;
            results
                .push(R { status: Some(ok()), entry: Some(apply_mask(stored.clone(), request.output_mask.as_ref())) });
        }
        if lie {
            results.pop();
        }
        Ok(Response::new(api::BatchUpdateEntryResponse { results }))
    }

    async fn batch_delete_entry(
        &self,
        request: Request<api::BatchDeleteEntryRequest>,
    ) -> Result<Response<api::BatchDeleteEntryResponse>, Status> {
        let request = request.into_inner();
        self.begin("BatchDeleteEntry", request.ids.len()).await?;
        let (every_other, lie) = self.batch_injections();
        let mut state = self.0.lock().unwrap();
        let mut results = Vec::new();
        for (i, id) in request.ids.into_iter().enumerate() {
            use api::batch_delete_entry_response::Result as R;
            let s = if let Some(s) = injected_item(every_other.as_ref(), i) {
                s
            } else if id.is_empty() {
                status(Code::InvalidArgument, "missing entry ID")
            } else if state.entries.remove(&id).is_some() {
                ok()
            } else {
                status(Code::NotFound, "entry not found")
            };
            results.push(R { status: Some(s), id });
        }
        if lie {
            results.pop();
        }
        Ok(Response::new(api::BatchDeleteEntryResponse { results }))
    }

    async fn get_authorized_entries(
        &self,
        _request: Request<api::GetAuthorizedEntriesRequest>,
    ) -> Result<Response<api::GetAuthorizedEntriesResponse>, Status> {
        self.begin("GetAuthorizedEntries", 0).await?;
        Err(Status::unimplemented("the loopback server has no agents"))
    }

    type SyncAuthorizedEntriesStream = tokio_stream::Empty<Result<api::SyncAuthorizedEntriesResponse, Status>>;

    async fn sync_authorized_entries(
        &self,
        _request: Request<tonic::Streaming<api::SyncAuthorizedEntriesRequest>>,
    ) -> Result<Response<Self::SyncAuthorizedEntriesStream>, Status> {
        self.begin("SyncAuthorizedEntries", 0).await?;
        Err(Status::unimplemented("the loopback server has no agents"))
    }
}

impl EntryServer {
    /// Listen on `api.sock` in a new temporary directory (within a tokio runtime).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("api.sock");
        let listener = UnixListener::bind(&socket).expect("bind the Entry API socket");
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = GrpcServer::new(Service(Arc::clone(&state)));
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                    let _ = stopped.await;
                })
                .await
                .expect("Entry API server");
        });
        Self { socket, state, stop: Some(stop), _dir: dir }
    }

    /// Store an entry as is (no checks): foreign entries, or entries the server would not
    /// accept from the API.
    pub fn insert_raw(&self, entry: pb::Entry) {
        self.state.lock().unwrap().entries.insert(entry.id.clone(), entry);
    }

    /// The stored entries, by ID.
    pub fn entries(&self) -> BTreeMap<String, pb::Entry> {
        self.state.lock().unwrap().entries.clone()
    }

    /// The calls received so far.
    pub fn log(&self) -> Vec<Call> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forget the calls received so far.
    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Fail the whole next call with `code` and `message`.
    pub fn fail_next(&self, code: Code, message: &str) {
        self.fail_after(0, code, message);
    }

    /// Answer the next `calls` calls, then fail the whole one after them with `code` and
    /// `message`.
    pub fn fail_after(&self, calls: usize, code: Code, message: &str) {
        self.state.lock().unwrap().fail_next = Some((calls, Status::new(code, message)));
    }

    /// In the next batch call, fail the 2nd, 4th, ... entry with `code` and `message` (those are
    /// not applied; the others are).
    pub fn fail_every_other_next(&self, code: Code, message: &str) {
        self.state.lock().unwrap().fail_every_other_next = Some((code, message.to_owned()));
    }

    /// Answer the next batch call with its last result missing.
    pub fn lie_next(&self) {
        self.state.lock().unwrap().lie_next = true;
    }

    /// Never answer the next call.
    pub fn stall_next(&self) {
        self.state.lock().unwrap().stall_next = true;
    }
}

impl Drop for EntryServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A wire SPIFFE ID from `spiffe://td/path`.
pub fn spiffe_id(id: &str) -> pb::Spiffeid {
    let rest = id.strip_prefix("spiffe://").expect("a spiffe:// ID");
    let at = rest.find('/').unwrap_or(rest.len());
    pb::Spiffeid { trust_domain: rest[..at].to_owned(), path: rest[at..].to_owned() }
}

/// A stored entry nobody's registrar owns (`id`, SPIFFE ID `spiffe://example.org/<id>`).
pub fn foreign(id: &str) -> pb::Entry {
    pb::Entry {
        id: id.to_owned(),
        spiffe_id: Some(spiffe_id(&format!("spiffe://example.org/{id}"))),
        parent_id: Some(spiffe_id("spiffe://example.org/spire/agent/x")),
        selectors: vec![pb::Selector { r#type: "unix".into(), value: "uid:0".into() }],
        ..pb::Entry::default()
    }
}
