//! One shared pod-list fetcher for all concurrent attestations.
//!
//! At most one request is in flight; request starts are at least `poll_retry_interval` apart;
//! every finished request (success or failure) wakes everyone waiting for it, and failures are
//! never cached. A caller that did not find its container asks for a list *newer* than the one it
//! examined, so retries always see fresh data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::client::KubeletClient;
use super::error::KubeletError;
use super::pod_list::PodList;

/// Where pod lists come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// The kubelet.
    Kubelet(KubeletClient),
    /// A recorded pod list (`pod_list_file`).
    File(PathBuf),
}

impl Source {
    async fn fetch(&self) -> Result<Vec<u8>, KubeletError> {
        match self {
            Self::Kubelet(client) => client.fetch().await,
            Self::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| KubeletError::File { path: path.display().to_string(), problem: e.to_string() }),
        }
    }
}

type Outcome = Result<Arc<PodList>, KubeletError>;

#[derive(Default)]
struct State {
    /// Attempts started.
    started: u64,
    /// The last attempt that finished, and its outcome.
    finished: u64,
    outcome: Option<Outcome>,
    /// The newest successful list.
    latest: Option<Arc<PodList>>,
    in_flight: bool,
    last_start: Option<Instant>,
}

/// The shared fetcher.
pub(crate) struct Fetcher {
    source: Source,
    poll_interval: Duration,
    state: Mutex<State>,
    done: Notify,
    requests: AtomicU64,
}

impl Fetcher {
    pub(crate) fn new(source: Source, poll_interval: Duration) -> Self {
        Self { source, poll_interval, state: Mutex::default(), done: Notify::new(), requests: AtomicU64::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests made so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The newest successful list, if any, and the number of the last finished attempt (a
    /// caller that uses the cached list must then wait for something newer than both).
    pub(crate) fn latest(&self) -> (Option<Arc<PodList>>, u64) {
        let s = self.lock();
        (s.latest.clone(), s.finished)
    }

    /// The outcome of the first attempt numbered above `seen`, starting one if none is under
    /// way. Returns the attempt's number with its outcome.
    pub(crate) async fn newer_than(self: &Arc<Self>, seen: u64) -> (u64, Outcome) {
        loop {
            let notified = {
                let mut s = self.lock();
                if s.finished > seen
                    && let Some(outcome) = &s.outcome
                {
                    return (s.finished, outcome.clone());
                }
                if !s.in_flight {
                    s.in_flight = true;
                    s.started += 1;
                    let wait = s.last_start.map(|t| (t + self.poll_interval).saturating_duration_since(Instant::now()));
                    let me = Arc::clone(self);
                    let attempt = s.started;
                    // The request runs on its own: a caller that gives up does not cancel a
                    // request other callers share.
                    tokio::spawn(async move { me.run(attempt, wait.unwrap_or_default()).await });
                }
                // Created under the lock, so the wake-up that follows this attempt cannot be lost.
                self.done.notified()
            };
            notified.await;
        }
    }

    async fn run(self: Arc<Self>, attempt: u64, wait: Duration) {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let started = Instant::now();
        self.lock().last_start = Some(started);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = match self.source.fetch().await {
            Ok(body) => PodList::parse(&body, attempt, started).map(Arc::new),
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "kubelet pod list request failed");
        }
        {
            let mut s = self.lock();
            s.finished = attempt;
            if let Ok(list) = &outcome {
                s.latest = Some(Arc::clone(list));
            }
            s.outcome = Some(outcome);
            s.in_flight = false;
        }
        self.done.notify_waiters();
    }
}
