//! SPIRE server's Entry API (`spire.api.server.entry.v1.Entry`) over the server's admin unix
//! socket: the four calls the registrar makes (`ListEntries`, `BatchCreateEntry`,
//! `BatchUpdateEntry`, `BatchDeleteEntry`), converted to and from [`Entry`] (`convert.rs`).
//!
//! Every call is bounded by the client's timeout. A batch answer must carry one result per
//! item sent, in order; an answer that does not, a listed entry under the prefix that lacks its
//! SPIFFE ID or parent ID, or a page token that repeats, is an error, never a panic. When a
//! call of a multi-batch operation fails, the batches before it have taken effect and the ones
//! after it are not sent: the caller learns what happened by listing again.

mod convert;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::fault::Fault;
use crate::registrar::entry::Entry;
use crate::registrar::proto::spire::api::server::entry::v1 as api;
use crate::registrar::proto::spire::api::types as pb;

use api::entry_client::EntryClient as Grpc;

/// The largest answer accepted (a page of `ListEntries`): well above what SPIRE's 500-entry
/// pages of ordinary entries take.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Why an Entry API call failed; the variant says who must act ([`EntryApiError::fault`]).
#[derive(Debug, thiserror::Error)]
pub enum EntryApiError {
    /// The configured socket path cannot be used at all.
    #[error("SPIRE server socket {}: {why}", socket.display())]
    SocketPath {
        /// The configured path.
        socket: PathBuf,
        /// Why.
        why: String,
    },
    /// The entry ID prefix is empty: every entry on the server would count as the registrar's.
    #[error(
        "the entry ID prefix is empty: every registration entry on the SPIRE server would be the registrar's to change and delete"
    )]
    EmptyPrefix,
    /// The socket cannot be connected to because it does not exist or may not be opened.
    #[error("{method} to SPIRE server at {}: cannot connect: {source}", socket.display())]
    Socket {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// What connecting answered.
        #[source]
        source: std::io::Error,
    },
    /// Nothing answered on the socket (the server is not running, or the connection broke).
    #[error("{method} to SPIRE server at {}: unavailable: {message}", socket.display())]
    Unavailable {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// What the transport said.
        message: String,
    },
    /// The call got no answer within the client's timeout.
    #[error("{method} to SPIRE server at {}: no answer within {timeout:?}", socket.display())]
    Timeout {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// The client's timeout.
        timeout: Duration,
    },
    /// The server answered the whole call with an error status.
    #[error("{method} to SPIRE server at {}: answered {code:?}: {message}", socket.display())]
    Status {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// The server's answer breaks the API's contract (a batch answer of the wrong length, a
    /// listed entry without a SPIFFE ID, a page token that repeats).
    #[error("{method} to SPIRE server at {}: {what}", socket.display())]
    Answer {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// What is wrong with the answer.
        what: String,
    },
    /// An entry handed to the client cannot be put on the wire (not sent).
    #[error("{method} to SPIRE server at {}: entry {id:?} cannot be sent: {why}", socket.display())]
    BadEntry {
        /// The configured path.
        socket: PathBuf,
        /// The Entry API method.
        method: &'static str,
        /// The entry's ID.
        id: String,
        /// Which field, and why.
        why: String,
    },
}

impl EntryApiError {
    /// Who must act. There is no SPIRE-server party in [`Fault`]: what the server does wrong
    /// (unavailable, an error status, a broken answer, no answer in time) is reported as this
    /// host's ([`Fault::Host`]), as is an entry the registrar built badly; a socket path that
    /// cannot be used, a socket that does not exist or may not be opened, an empty prefix and a
    /// server refusing the caller (`PERMISSION_DENIED`, `UNAUTHENTICATED`) are the operator's
    /// ([`Fault::Config`]).
    pub fn fault(&self) -> Fault {
        match self {
            Self::SocketPath { .. } | Self::EmptyPrefix | Self::Socket { .. } => Fault::Config,
            Self::Status { code: tonic::Code::PermissionDenied | tonic::Code::Unauthenticated, .. } => Fault::Config,
            Self::Status { .. } | Self::Unavailable { .. } | Self::Timeout { .. } | Self::Answer { .. } => Fault::Host,
            Self::BadEntry { .. } => Fault::Host,
        }
    }
}

/// Every entry the registrar owns, and how many other entries the server holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Entries whose ID starts with the prefix, in the server's order.
    pub entries: Vec<Entry>,
    /// How many entries do not (never converted, never returned).
    pub foreign: usize,
}

/// One entry's outcome in a batch: its id and SPIRE's per-entry status (code 0 = OK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemResult {
    /// The ID of the entry sent (for deletes, the ID sent).
    pub id: String,
    /// A google.rpc.Code value: 0 OK, 5 NOT_FOUND, 6 ALREADY_EXISTS, ...
    pub code: i32,
    /// SPIRE's message for it.
    pub message: String,
}

impl ItemResult {
    /// Whether the server did what was asked for this entry.
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// SPIRE server's Entry API over its admin unix socket.
pub struct EntryClient {
    socket: PathBuf,
    timeout: Duration,
    grpc: Grpc<Channel>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl std::fmt::Debug for EntryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryClient").field("socket", &self.socket).field("timeout", &self.timeout).finish()
    }
}

const LIST: &str = "ListEntries";
const CREATE: &str = "BatchCreateEntry";
const UPDATE: &str = "BatchUpdateEntry";
const DELETE: &str = "BatchDeleteEntry";

impl EntryClient {
    /// Connect lazily to the admin socket at `socket`; every call is bounded by `timeout`.
    /// Nothing is dialled here: a socket that does not exist yet is found at the first call.
    /// Call it within a tokio runtime (the channel's worker task is spawned here).
    pub fn new(socket: &Path, timeout: Duration) -> Result<Self, EntryApiError> {
        let bad = |why: &str| EntryApiError::SocketPath { socket: socket.to_path_buf(), why: why.to_owned() };
        let Some(text) = socket.to_str() else {
            return Err(bad("the path is not UTF-8"));
        };
        if text.is_empty() {
            return Err(bad("the path is empty"));
        }
        // tonic dials `unix:<path>` itself (its own connector).
        let endpoint = Endpoint::from_shared(format!("unix:{text}"))
            .map_err(|e| bad(&format!("not usable as a unix socket address: {e}")))?
            .connect_timeout(timeout);
        let grpc = Grpc::new(endpoint.connect_lazy()).max_decoding_message_size(MAX_ANSWER_BYTES);
        Ok(Self { socket: socket.to_path_buf(), timeout, grpc, calls: Mutex::new(BTreeMap::new()) })
    }

    /// The socket this client dials.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Every entry whose id starts with `prefix` (all pages, `page_size` per page), and how
    /// many others exist. `page_size` 0 lets the server choose (SPIRE then does not page).
    pub async fn list_owned(&self, prefix: &str, page_size: u32) -> Result<Owned, EntryApiError> {
        if prefix.is_empty() {
            return Err(EntryApiError::EmptyPrefix);
        }
        let page_size = i32::try_from(page_size).unwrap_or(i32::MAX);
        let mut owned = Owned::default();
        let mut token = String::new();
        loop {
            let request = api::ListEntriesRequest { page_size, page_token: token.clone(), ..Default::default() };
            let answer = self.call(LIST, |mut grpc| async move { grpc.list_entries(request).await }).await?;
            for entry in answer.entries {
                if !entry.id.starts_with(prefix) {
                    owned.foreign += 1;
                    continue;
                }
                let entry = convert::from_proto(entry)
                    .map_err(|bad| self.answer(LIST, format!("entry {:?} cannot be read: {}", bad.id, bad.why)))?;
                owned.entries.push(entry);
            }
            if answer.next_page_token.is_empty() {
                return Ok(owned);
            }
            if answer.next_page_token == token {
                return Err(self.answer(LIST, format!("the page token {token:?} came back again")));
            }
            token = answer.next_page_token;
        }
    }

    /// Create entries (their `id` set: SPIRE's custom entry IDs), at most `batch` per call; one
    /// result per entry, in order. `batch` 0 counts as 1.
    pub async fn create(&self, entries: &[Entry], batch: usize) -> Result<Vec<ItemResult>, EntryApiError> {
        let wire = self.to_wire(CREATE, entries)?;
        let mut results = Vec::with_capacity(entries.len());
        for (chunk, sent) in wire.chunks(batch.max(1)).zip(entries.chunks(batch.max(1))) {
            // An empty output mask: the answer carries statuses and IDs, not whole entries.
            let request =
                api::BatchCreateEntryRequest { entries: chunk.to_vec(), output_mask: Some(pb::EntryMask::default()) };
            let answer = self.call(CREATE, |mut grpc| async move { grpc.batch_create_entry(request).await }).await?;
            let statuses = answer.results.into_iter().map(|r| r.status).collect();
            results.extend(self.pair(CREATE, sent.iter().map(|e| e.id.as_str()), statuses)?);
        }
        Ok(results)
    }

    /// Update entries by id (every field the registrar writes), at most `batch` per call.
    /// No input mask is sent, so SPIRE writes every field: those [`Entry`] lacks (admin,
    /// downstream, expires_at, store_svid) are reset to zero, which the registrar never sets.
    pub async fn update(&self, entries: &[Entry], batch: usize) -> Result<Vec<ItemResult>, EntryApiError> {
        let wire = self.to_wire(UPDATE, entries)?;
        let mut results = Vec::with_capacity(entries.len());
        for (chunk, sent) in wire.chunks(batch.max(1)).zip(entries.chunks(batch.max(1))) {
            let request = api::BatchUpdateEntryRequest {
                entries: chunk.to_vec(),
                input_mask: None,
                output_mask: Some(pb::EntryMask::default()),
            };
            let answer = self.call(UPDATE, |mut grpc| async move { grpc.batch_update_entry(request).await }).await?;
            let statuses = answer.results.into_iter().map(|r| r.status).collect();
            results.extend(self.pair(UPDATE, sent.iter().map(|e| e.id.as_str()), statuses)?);
        }
        Ok(results)
    }

    /// Delete entries by id, at most `batch` per call.
    pub async fn delete(&self, ids: &[String], batch: usize) -> Result<Vec<ItemResult>, EntryApiError> {
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(batch.max(1)) {
            let request = api::BatchDeleteEntryRequest { ids: chunk.to_vec() };
            let answer = self.call(DELETE, |mut grpc| async move { grpc.batch_delete_entry(request).await }).await?;
            let statuses = answer.results.into_iter().map(|r| r.status).collect();
            results.extend(self.pair(DELETE, chunk.iter().map(String::as_str), statuses)?);
        }
        Ok(results)
    }

    /// Calls made so far, by method name (for the benchmark's API call count).
    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Convert the entries to send; the first that cannot be is named.
    fn to_wire(&self, method: &'static str, entries: &[Entry]) -> Result<Vec<pb::Entry>, EntryApiError> {
        entries
            .iter()
            .map(|e| {
                convert::to_proto(e).map_err(|bad| EntryApiError::BadEntry {
                    socket: self.socket.clone(),
                    method,
                    id: bad.id,
                    why: bad.why,
                })
            })
            .collect()
    }

    /// One result per ID sent, from the server's statuses in order; a count that differs, or a
    /// result without a status, is the server's error.
    fn pair<'a>(
        &self,
        method: &'static str,
        sent: impl ExactSizeIterator<Item = &'a str>,
        statuses: Vec<Option<pb::Status>>,
    ) -> Result<Vec<ItemResult>, EntryApiError> {
        if statuses.len() != sent.len() {
            return Err(self.answer(method, format!("{} results for {} entries sent", statuses.len(), sent.len())));
        }
        sent.zip(statuses)
            .map(|(id, status)| match status {
                Some(s) => Ok(ItemResult { id: id.to_owned(), code: s.code, message: s.message }),
                None => Err(self.answer(method, format!("the result for entry {id:?} has no status"))),
            })
            .collect()
    }

    fn answer(&self, method: &'static str, what: String) -> EntryApiError {
        EntryApiError::Answer { socket: self.socket.clone(), method, what }
    }

    /// Make one call within the timeout, counting it; a transport failure is told apart by
    /// dialling the socket once more (tonic keeps only the text of a connect error).
    async fn call<T, F, Fut>(&self, method: &'static str, f: F) -> Result<T, EntryApiError>
    where
        F: FnOnce(Grpc<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        *self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(method).or_insert(0) += 1;
        let socket = || self.socket.clone();
        let status = match tokio::time::timeout(self.timeout, f(self.grpc.clone())).await {
            Err(_) => return Err(EntryApiError::Timeout { socket: socket(), method, timeout: self.timeout }),
            Ok(Ok(answer)) => return Ok(answer.into_inner()),
            Ok(Err(status)) => status,
        };
        if status.code() == tonic::Code::Unavailable {
            return Err(match tokio::net::UnixStream::connect(&self.socket).await {
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => {
                    EntryApiError::Socket { socket: socket(), method, source: e }
                }
                _ => EntryApiError::Unavailable { socket: socket(), method, message: status.message().to_owned() },
            });
        }
        Err(EntryApiError::Status {
            socket: socket(),
            method,
            code: status.code(),
            message: status.message().to_owned(),
        })
    }
}
