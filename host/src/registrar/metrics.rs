//! The registrar's Prometheus metrics and its health endpoints.
//!
//! [`Metrics`] holds counters and gauges as atomics: recording is a relaxed atomic add or store,
//! and a labelled counter takes a read lock to find its series (a write lock only the first
//! time a label value is seen; label values are `&'static str`, so the series are bounded by
//! the code). [`Metrics::render`] writes the Prometheus text exposition format 0.0.4 by hand:
//! it is a few lines of `# HELP`, `# TYPE` and samples, less code than a registry crate's
//! set-up. [`serve`] answers `/metrics`, `/readyz` and `/healthz` over HTTP/1.1 with hyper.

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::fault::Fault;

/// The prefix of every metric name.
const PREFIX: &str = "attestor_registrar_";

/// The `Content-Type` of `/metrics`: the text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the reconcile-duration buckets: as written in `le`, and in nanoseconds.
/// A reconciliation with nothing to write is one or a few `ListEntries` pages over a local
/// socket: milliseconds to a few hundred in a small or large cluster (5 ms to 0.5 s). Writing
/// is 50 entries per batch call, so a converge from empty takes from a second (hundreds of
/// entries) to a minute or more (10,000 entries are 200 calls): 1 s to 300 s. The minimum
/// resync interval, 10 s, is among the bounds, so rounds slower than it can be told apart.
const RECONCILE_BUCKETS: [(&str, u64); 14] = [
    ("0.005", 5_000_000),
    ("0.01", 10_000_000),
    ("0.025", 25_000_000),
    ("0.05", 50_000_000),
    ("0.1", 100_000_000),
    ("0.25", 250_000_000),
    ("0.5", 500_000_000),
    ("1", 1_000_000_000),
    ("2.5", 2_500_000_000),
    ("5", 5_000_000_000),
    ("10", 10_000_000_000),
    ("30", 30_000_000_000),
    ("60", 60_000_000_000),
    ("300", 300_000_000_000),
];

/// Connections served at once; a connection beyond them is closed as soon as it is accepted.
/// A scraper keeps one connection and a kubelet probe opens one at a time.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a connection may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The registrar's counters and gauges, shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    entries_owned: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    deleted: AtomicU64,
    refused: Family,
    reconcile: Histogram,
    errors: Family,
    entry_api_calls: Family,
    watch_errors: Family,
    leader: AtomicBool,
    ready: AtomicBool,
    pods: AtomicU64,
    rules_needing_process: AtomicU64,
}

impl Metrics {
    /// All counters and gauges at zero, not leader, not ready. The series whose label values
    /// are known in advance are there from the start, at zero: `refused` for `create`,
    /// `update` and `delete`; `errors` for `entry_api`, `kubernetes` and `policy`;
    /// `entry_api_calls` for the four Entry API methods the registrar calls.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            entries_owned: AtomicU64::new(0),
            created: AtomicU64::new(0),
            updated: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            refused: Family::with(&["create", "update", "delete"]),
            reconcile: Histogram::default(),
            errors: Family::with(&["entry_api", "kubernetes", "policy"]),
            entry_api_calls: Family::with(&["ListEntries", "BatchCreateEntry", "BatchUpdateEntry", "BatchDeleteEntry"]),
            watch_errors: Family::with(&[]),
            leader: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            pods: AtomicU64::new(0),
            rules_needing_process: AtomicU64::new(0),
        })
    }

    /// Entries owned after a reconciliation (gauge).
    pub fn set_entries_owned(&self, n: u64) {
        self.entries_owned.store(n, Ordering::Relaxed);
    }

    /// Entries created, updated and deleted (counters).
    pub fn add_changes(&self, created: u64, updated: u64, deleted: u64) {
        self.created.fetch_add(created, Ordering::Relaxed);
        self.updated.fetch_add(updated, Ordering::Relaxed);
        self.deleted.fetch_add(deleted, Ordering::Relaxed);
    }

    /// Items SPIRE server refused, by action (`create`, `update`, `delete`).
    pub fn add_refused(&self, action: &'static str, n: u64) {
        self.refused.add(action, n);
    }

    /// One reconciliation took `d`.
    pub fn observe_reconcile(&self, d: Duration) {
        self.reconcile.observe(d);
    }

    /// One failure, by kind: `entry_api`, `kubernetes` or `policy`.
    pub fn add_error(&self, kind: &'static str) {
        self.errors.add(kind, 1);
    }

    /// Entry API calls, by method.
    pub fn add_entry_api_calls(&self, method: &'static str, n: u64) {
        self.entry_api_calls.add(method, n);
    }

    /// Kubernetes watch errors, by resource.
    pub fn add_watch_errors(&self, resource: &'static str, n: u64) {
        self.watch_errors.add(resource, n);
    }

    /// Whether this replica holds the lease (gauge, 0 or 1).
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Whether this replica is ready (gauge, 0 or 1); `/readyz` answers from it.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Pods seen (gauge).
    pub fn set_pods(&self, n: u64) {
        self.pods.store(n, Ordering::Relaxed);
    }

    /// Identity rules whose ID template needs a fact only a running process has (gauge).
    pub fn set_rules_needing_process(&self, n: u64) {
        self.rules_needing_process.store(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, names prefixed
    /// `attestor_registrar_`, labelled series in label-value order.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let flag = |a: &AtomicBool| u64::from(a.load(Ordering::Relaxed));
        gauge(
            o,
            "entries_owned",
            "Registration entries under the entry ID prefix after the last reconciliation.",
            load(&self.entries_owned),
        );
        counter(o, "entries_created_total", "Registration entries created.", load(&self.created));
        counter(o, "entries_updated_total", "Registration entries updated.", load(&self.updated));
        counter(o, "entries_deleted_total", "Registration entries deleted.", load(&self.deleted));
        family(o, "entries_refused_total", "Changes SPIRE server refused, by action.", "action", &self.refused);
        self.reconcile.render(o, "reconcile_duration_seconds", "How long reconciliations took.");
        family(o, "errors_total", "Failures, by kind.", "kind", &self.errors);
        family(o, "entry_api_calls_total", "Entry API calls, by method.", "method", &self.entry_api_calls);
        family(o, "watch_errors_total", "Kubernetes watch errors, by resource.", "resource", &self.watch_errors);
        gauge(o, "leader", "1 when this replica holds the lease, else 0.", flag(&self.leader));
        gauge(o, "ready", "1 when this replica is ready, else 0.", flag(&self.ready));
        gauge(o, "pods", "Pods seen.", load(&self.pods));
        gauge(
            o,
            "rules_needing_process",
            "Identity rules whose SPIFFE ID template needs a fact only a running process has.",
            load(&self.rules_needing_process),
        );
        out
    }
}

/// A counter with one label: one atomic per label value.
#[derive(Debug, Default)]
struct Family {
    /// Sorted by label value.
    series: RwLock<Vec<(&'static str, AtomicU64)>>,
}

impl Family {
    fn with(labels: &[&'static str]) -> Self {
        let mut series: Vec<_> = labels.iter().map(|l| (*l, AtomicU64::new(0))).collect();
        series.sort_by_key(|s| s.0);
        Self { series: RwLock::new(series) }
    }

    fn add(&self, label: &'static str, n: u64) {
        {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Ok(i) = series.binary_search_by_key(&label, |s| s.0) {
                series[i].1.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        match series.binary_search_by_key(&label, |s| s.0) {
            Ok(i) => {
                series[i].1.fetch_add(n, Ordering::Relaxed);
            }
            Err(i) => series.insert(i, (label, AtomicU64::new(n))),
        }
    }
}

/// The reconcile-duration histogram: per-bucket (not cumulative) counts, the last one for
/// durations above every bound, and the sum in nanoseconds (saturating at 584 years).
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; RECONCILE_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = RECONCILE_BUCKETS.iter().position(|(_, bound)| nanos <= *bound).unwrap_or(RECONCILE_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        // Saturating, so that the sum never goes back (a wrapped counter reads as a reset).
        let _ = self.sum_nanos.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.saturating_add(nanos)));
    }

    /// Buckets cumulative, then `+Inf`, `_sum` (seconds) and `_count`, which always equals
    /// the `+Inf` bucket.
    fn render(&self, out: &mut String, name: &str, help_text: &str) {
        header(out, name, help_text, "histogram");
        let mut cumulative = 0u64;
        for ((le, _), count) in RECONCILE_BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{PREFIX}{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[RECONCILE_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{PREFIX}{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{PREFIX}{name}_sum {sum}");
        let _ = writeln!(out, "{PREFIX}{name}_count {cumulative}");
    }
}

fn header(out: &mut String, name: &str, help_text: &str, kind: &str) {
    let _ = write!(out, "# HELP {PREFIX}{name} ");
    for c in help_text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "\n# TYPE {PREFIX}{name} {kind}");
}

fn gauge(out: &mut String, name: &str, help_text: &str, value: u64) {
    header(out, name, help_text, "gauge");
    let _ = writeln!(out, "{PREFIX}{name} {value}");
}

fn counter(out: &mut String, name: &str, help_text: &str, value: u64) {
    header(out, name, help_text, "counter");
    let _ = writeln!(out, "{PREFIX}{name} {value}");
}

fn family(out: &mut String, name: &str, help_text: &str, label: &str, f: &Family) {
    header(out, name, help_text, "counter");
    for (value, n) in f.series.read().unwrap_or_else(PoisonError::into_inner).iter() {
        let _ = write!(out, "{PREFIX}{name}{{{label}=\"");
        escape_label_value(out, value);
        let _ = writeln!(out, "\"}} {}", n.load(Ordering::Relaxed));
    }
}

/// A label value as the text format requires: `\` → `\\`, `"` → `\"`, newline → `\n`.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Why the endpoints could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address cannot be listened on (in use, not local, not permitted).
    #[error("cannot serve metrics on {addr} (registrar.metrics_addr): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What binding answered.
        #[source]
        source: std::io::Error,
    },
}

impl MetricsError {
    /// Who must act: the operator, for an address that cannot be bound.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Bind { .. } => Fault::Config,
        }
    }
}

/// The endpoints being served; dropping it stops them (the listener and every connection).
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The address listened on (the port chosen when `addr` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve, on `addr` until the returned [`Server`] is dropped: `/metrics` (the text format,
/// [`METRICS_CONTENT_TYPE`]), `/readyz` (200 `ok` when `metrics` says ready, else 503
/// `not ready`) and `/healthz` (200 `ok`), to GET and HEAD; 405 to other methods, 404 to
/// other paths. HTTP/1.1, at most [`MAX_CONNECTIONS`] connections at once.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Server, MetricsError> {
    let bind_error = |source| MetricsError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok(Server { local_addr, task: tokio::spawn(accept(listener, metrics)) })
}

/// Accept connections and serve each in its own task; the tasks are owned here, so aborting
/// this one ends them all.
async fn accept(listener: TcpListener, metrics: Arc<Metrics>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if connections.len() >= MAX_CONNECTIONS {
            continue;
        }
        let metrics = metrics.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = respond(&metrics, request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

/// The answer to one request.
fn respond(metrics: &Metrics, method: &Method, path: &str) -> Response<String> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let known = matches!(path, "/metrics" | "/readyz" | "/healthz");
    let (status, content_type, body) = if !known {
        (StatusCode::NOT_FOUND, TEXT, "not found".to_owned())
    } else if method != Method::GET && method != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed".to_owned())
    } else {
        match path {
            "/metrics" => (StatusCode::OK, METRICS_CONTENT_TYPE, metrics.render()),
            "/readyz" if !metrics.ready.load(Ordering::Relaxed) => {
                (StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready".to_owned())
            }
            _ => (StatusCode::OK, TEXT, "ok".to_owned()),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}
