//! Leader election: of the registrar's replicas, only the holder of a `coordination.k8s.io/v1`
//! Lease writes entries. The rules are client-go's `leaderelection` package's:
//!
//! * the lease is free when it does not exist (it is created with a POST), when its
//!   `holderIdentity` is empty (released), or when it has expired: this replica has seen the
//!   same record for the record's `leaseDurationSeconds`. As in client-go, expiry is measured on
//!   this replica's own clock from when it first saw the record as it is now, never from the
//!   `renewTime` written in it, so clocks that disagree between hosts cannot make a live
//!   holder's lease look expired (a replica that starts next to a lease abandoned long ago waits
//!   one lease duration before taking it);
//! * a free lease is taken, and a held one renewed, by a PUT carrying the `resourceVersion` last
//!   read: when another replica wrote in between, the API server answers 409 Conflict and this
//!   replica lost; it reads again at its next try;
//! * `leaseTransitions` grows by one when the holder changes; `acquireTime` is kept while the
//!   holder stays; `acquireTime` and `renewTime` are MicroTime;
//! * the holder renews every [`LeaseSettings::renew_every`] (after a failed try, twice as
//!   often) and stops being leader when no renewal succeeded within
//!   [`LeaseSettings::renew_deadline`] (two thirds of the duration, counted from when the last
//!   successful write was sent): before any other replica can see the lease expire, since that
//!   takes a whole duration from when it saw the last write;
//! * giving the lease up (on shutdown) writes an empty `holderIdentity` with a
//!   `leaseDurationSeconds` of 1, so another replica takes it at its next try.
//!
//! Each kind of failure (what was being done, and how it failed) is logged once until a call
//! succeeds again, never per retry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::fault::Fault;

/// The lease's duration by default: client-go's leader-election default `LeaseDuration`.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews by default. client-go retries every `RetryPeriod` (2 s) until
/// its `RenewDeadline` (10 s); here renewals are every 5 s and the deadline is two thirds of the
/// duration, the same 10 s.
pub const DEFAULT_RENEW_EVERY: Duration = Duration::from_secs(5);
/// Where a pod's service account tells its namespace.
pub const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// The longest outside text (an API server's message) quoted in an error.
const MAX_TEXT: usize = 512;

/// Where the lease lives and who asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The lease's namespace.
    pub namespace: String,
    /// The lease's name.
    pub name: String,
    /// This replica's `holderIdentity`: unique among the replicas.
    pub identity: String,
    /// How long a lease lasts unrenewed (`leaseDurationSeconds`, whole seconds, at least 1).
    pub duration: Duration,
    /// How often the holder renews it.
    pub renew_every: Duration,
}

impl LeaseSettings {
    /// For cluster `cluster`: lease `attestor-registrar-<cluster>` in the registrar's own
    /// namespace (the in-cluster service account's namespace file, else `$POD_NAMESPACE`, else
    /// `default`), identity `<host>_<16 hex digits>`: `$HOSTNAME` (the pod name; else the
    /// kernel's host name, else `attestor-registrar`) and a random suffix, so two replicas never
    /// share one; duration 15 s (client-go's default lease duration), renewed every 5 s.
    pub fn for_cluster(cluster: &str) -> Self {
        let file = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok();
        let pod_namespace = std::env::var("POD_NAMESPACE").ok();
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| Some(rustix::system::uname().nodename().to_string_lossy().into_owned()));
        Self::resolve(cluster, file.as_deref(), pod_namespace.as_deref(), hostname.as_deref(), random())
    }

    /// [`Self::for_cluster`] from what it read: the namespace file's text, `$POD_NAMESPACE`, the
    /// host name and the random suffix.
    pub fn resolve(
        cluster: &str,
        namespace_file: Option<&str>,
        pod_namespace: Option<&str>,
        hostname: Option<&str>,
        suffix: u64,
    ) -> Self {
        let namespace = [namespace_file, pod_namespace]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned();
        let host = hostname.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("attestor-registrar");
        Self {
            namespace,
            name: lease_name(cluster),
            identity: format!("{host}_{suffix:016x}"),
            duration: DEFAULT_DURATION,
            renew_every: DEFAULT_RENEW_EVERY,
        }
    }

    /// How long after sending its last successful write the holder stops being leader: two
    /// thirds of the duration (client-go's defaults: 10 s of 15 s).
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// `leaseDurationSeconds`: the duration in whole seconds, at least 1.
    pub fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// `<namespace>/<name>`, for messages.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// `attestor-registrar-<cluster>` as an object name: lower case, `_` and any other character a
/// name cannot hold as `-`, at most 253 bytes, ending with a letter or digit.
pub fn lease_name(cluster: &str) -> String {
    let cluster: String = cluster
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    let mut name = format!("attestor-registrar-{cluster}");
    name.truncate(253);
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    name
}

/// A number no other replica is likely to draw: std's per-process random hash keys, mixed
/// with the time and the process ID.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The lease's spec as leader election reads and writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The holder; empty when nobody holds it (released, or never set).
    pub holder: String,
    /// `leaseDurationSeconds` (0 when absent).
    pub duration_seconds: i32,
    /// `leaseTransitions` (0 when absent).
    pub transitions: i32,
    /// `acquireTime`.
    pub acquire_time: Option<jiff::Timestamp>,
    /// `renewTime`.
    pub renew_time: Option<jiff::Timestamp>,
}

impl Record {
    /// The record a lease's spec holds.
    pub fn from_spec(spec: Option<&LeaseSpec>) -> Self {
        let default = LeaseSpec::default();
        let spec = spec.unwrap_or(&default);
        Self {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            transitions: spec.lease_transitions.unwrap_or(0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
        }
    }

    /// The spec to write.
    pub fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder.clone()),
            lease_duration_seconds: Some(self.duration_seconds),
            lease_transitions: Some(self.transitions),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            ..LeaseSpec::default()
        }
    }

    /// The first record of a new lease: held by `identity` from `now`, no transition.
    pub fn created(identity: &str, duration_seconds: i32, now: jiff::Timestamp) -> Self {
        Self {
            holder: identity.to_owned(),
            duration_seconds,
            transitions: 0,
            acquire_time: Some(now),
            renew_time: Some(now),
        }
    }

    /// The record `identity` writes over this one to hold the lease from `now`: a renewal when
    /// it already holds it (`acquireTime` and `leaseTransitions` kept), else a takeover
    /// (acquired now, one more transition).
    pub fn taken_by(&self, identity: &str, duration_seconds: i32, now: jiff::Timestamp) -> Self {
        if self.holder == identity {
            Self { duration_seconds, renew_time: Some(now), ..self.clone() }
        } else {
            Self {
                holder: identity.to_owned(),
                duration_seconds,
                transitions: self.transitions.saturating_add(1),
                acquire_time: Some(now),
                renew_time: Some(now),
            }
        }
    }

    /// The record that gives the lease up: no holder, a duration of 1 s, transitions kept.
    pub fn released(&self, now: jiff::Timestamp) -> Self {
        Self {
            holder: String::new(),
            duration_seconds: 1,
            transitions: self.transitions,
            acquire_time: Some(now),
            renew_time: Some(now),
        }
    }
}

/// The lease as one replica sees it, and what that replica may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// There is no lease: create it.
    Absent,
    /// Its holder gave it up (`holderIdentity` empty): take it.
    Released,
    /// Unchanged for its whole duration as this replica has seen it: take it.
    Expired {
        /// The holder that stopped renewing.
        holder: String,
    },
    /// This replica holds it: renew it.
    Ours,
    /// Another replica holds it: wait.
    Held {
        /// The holder.
        holder: String,
        /// How long before it expires if it stays as it is.
        expires_in: Duration,
    },
}

impl Standing {
    /// Whether `identity` may write the lease now.
    pub fn may_write(&self) -> bool {
        !matches!(self, Self::Held { .. })
    }
}

/// Where `identity` stands on a lease holding `record` (`None`: no lease), which this replica
/// has seen unchanged for `unchanged_for`.
pub fn standing(record: Option<&Record>, unchanged_for: Duration, identity: &str) -> Standing {
    let Some(record) = record else { return Standing::Absent };
    if record.holder.is_empty() {
        return Standing::Released;
    }
    if record.holder == identity {
        return Standing::Ours;
    }
    let duration = Duration::from_secs(u64::try_from(record.duration_seconds).unwrap_or(0));
    match duration.checked_sub(unchanged_for).filter(|left| !left.is_zero()) {
        Some(expires_in) => Standing::Held { holder: record.holder.clone(), expires_in },
        None => Standing::Expired { holder: record.holder.clone() },
    }
}

/// A call to the Lease API that failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API server answered with an error status.
    #[error("{action} lease {lease}: the API server answered {code}: {message}")]
    Refused {
        /// What was being done (`reading`, `creating`, `renewing`, …).
        action: &'static str,
        /// `<namespace>/<name>`.
        lease: String,
        /// The HTTP status.
        code: u16,
        /// The server's message, bounded.
        message: String,
    },
    /// No answer in time.
    #[error("{action} lease {lease}: no answer within {after:?}")]
    Timeout {
        /// What was being done.
        action: &'static str,
        /// `<namespace>/<name>`.
        lease: String,
        /// The time allowed.
        after: Duration,
    },
    /// The request could not be made or its answer not read.
    #[error("{action} lease {lease}: {why}")]
    Failed {
        /// What was being done.
        action: &'static str,
        /// `<namespace>/<name>`.
        lease: String,
        /// Why, bounded.
        why: String,
    },
}

impl LeaseError {
    /// Who must act: the operator for a caller the API server does not know or does not allow
    /// (RBAC on `leases`), else the API server.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Refused { code: 401 | 403, .. } => Fault::Config,
            _ => Fault::Kubelet,
        }
    }

    /// The kind of failure, for logging each kind once: the action and the status.
    fn kind(&self) -> String {
        match self {
            Self::Refused { action, code, .. } => format!("{action} {code}"),
            Self::Timeout { action, .. } => format!("{action} timeout"),
            Self::Failed { action, .. } => format!("{action} failed"),
        }
    }
}

/// What a call came to: the answer, or the API server's 404 or 409.
enum Answer<T> {
    Done(T),
    NotFound,
    Conflict,
}

/// Holding (or waiting for) the lease in the background.
pub struct Leadership {
    shared: Arc<Shared>,
    changes: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Elector>>,
}

/// What the background task and the handle share.
struct Shared {
    /// Until when this replica is leader (`None`: it is not).
    until: Mutex<Option<Instant>>,
    changes: watch::Sender<bool>,
}

impl Shared {
    fn is_leader(&self) -> bool {
        self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some_and(|t| Instant::now() < t)
    }

    /// Leader until `until`.
    fn lead_until(&self, until: Instant) {
        *self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
        self.changes.send_if_modified(|v| !std::mem::replace(v, true));
    }

    /// Not leader; whether it was until now.
    fn step_down(&self) -> bool {
        self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        self.changes.send_if_modified(|v| std::mem::replace(v, false))
    }

    fn deadline(&self) -> Option<Instant> {
        *self.until.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Leadership {
    /// Start trying to acquire and then renew the lease on the current tokio runtime.
    pub fn start(client: kube::Client, settings: LeaseSettings) -> Self {
        let (changes_tx, changes) = watch::channel(false);
        let shared = Arc::new(Shared { until: Mutex::new(None), changes: changes_tx });
        let (stop, stopped) = oneshot::channel();
        if settings.renew_every >= settings.renew_deadline() {
            tracing::warn!(
                lease = %settings.describe(),
                renew_every = ?settings.renew_every,
                renew_deadline = ?settings.renew_deadline(),
                "the lease is renewed no more often than its renew deadline: leadership will be lost between renewals"
            );
        }
        tracing::info!(lease = %settings.describe(), identity = %settings.identity, "trying to acquire the registrar's lease");
        let elector = Elector {
            api: Api::namespaced(client, &settings.namespace),
            lease: settings.describe(),
            settings,
            shared: shared.clone(),
            last: None,
            observed: None,
            holder_seen: None,
            failing: std::collections::BTreeSet::new(),
        };
        let task = tokio::spawn(elector.run(stopped));
        Self { shared, changes, stop: Some(stop), task: Some(task) }
    }

    /// Whether this replica holds the lease now (false as soon as a renewal cannot be made
    /// within the renew deadline, shorter than the lease duration).
    pub fn is_leader(&self) -> bool {
        self.shared.is_leader()
    }

    /// Changes of leadership: `true` when the lease was acquired, `false` when it was lost.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<bool> {
        self.changes.clone()
    }

    /// Give the lease up (on shutdown) so another replica takes over at once: renewals stop,
    /// this replica stops being leader, and a lease it still holds is written released.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.take() else { return };
        match task.await {
            Ok(elector) => elector.release().await,
            Err(e) => {
                self.shared.step_down();
                tracing::warn!(error = %e, "the lease task ended abnormally: the lease is not released");
            }
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.shared.step_down();
    }
}

/// The background task's state.
struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    lease: String,
    shared: Arc<Shared>,
    /// The lease as last read or written (its `resourceVersion` goes into the next PUT).
    last: Option<Lease>,
    /// The record as last seen, and when this replica first saw it so.
    observed: Option<(Record, Instant)>,
    /// The other holder last logged.
    holder_seen: Option<String>,
    /// The kinds of failure logged since calls last succeeded.
    failing: std::collections::BTreeSet<String>,
}

impl Elector {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Self {
        loop {
            self.check_deadline();
            let ok = tokio::select! {
                _ = &mut stop => None,
                ok = self.try_acquire_or_renew() => Some(ok),
            };
            let Some(ok) = ok else { return self };
            self.check_deadline();
            let wait = match (self.shared.deadline().is_some(), ok) {
                (true, true) => self.settings.renew_every,
                (true, false) => self.settings.renew_every / 2,
                (false, _) => jittered(self.settings.renew_every),
            };
            let deadline = self.shared.deadline();
            let stopped = tokio::select! {
                _ = &mut stop => true,
                () = tokio::time::sleep(wait) => false,
                () = sleep_until(deadline) => false,
            };
            if stopped {
                return self;
            }
        }
    }

    /// Stops being leader once the renew deadline has passed.
    fn check_deadline(&self) {
        if self.shared.deadline().is_some_and(|t| t <= Instant::now()) && self.shared.step_down() {
            tracing::warn!(
                lease = %self.lease,
                deadline = ?self.settings.renew_deadline(),
                "stopped leading: the lease was not renewed within the renew deadline"
            );
        }
    }

    /// One try: renew the lease held (optimistically, with the version last written), else
    /// read it and create, take or renew it when this replica may. Whether the lease is held
    /// by this replica after it.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let sent = Instant::now();
        if self.shared.is_leader()
            && let Some(last) = self.last.clone()
        {
            let record = Record::from_spec(last.spec.as_ref()).taken_by(
                &self.settings.identity,
                self.settings.duration_seconds(),
                now_micros(),
            );
            match self.replace("renewing", &last, &record).await {
                Ok(Answer::Done(lease)) => {
                    self.wrote(lease, sent);
                    return true;
                }
                // Someone else wrote, or it is gone: read it again.
                Ok(Answer::Conflict | Answer::NotFound) => {}
                Err(e) => self.failed(&e),
            }
        }
        let sent = Instant::now();
        let read = match self.call("reading", self.api.get(&self.settings.name)).await {
            Ok(read) => read,
            Err(e) => {
                self.failed(&e);
                return false;
            }
        };
        let now = now_micros();
        let (current, record) = match read {
            Answer::Done(lease) => {
                let record = Record::from_spec(lease.spec.as_ref());
                (Some(lease), Some(record))
            }
            Answer::NotFound | Answer::Conflict => (None, None),
        };
        self.observe(record.as_ref());
        let unchanged_for = self.observed.as_ref().map_or(Duration::ZERO, |(_, since)| since.elapsed());
        let standing = standing(record.as_ref(), unchanged_for, &self.settings.identity);
        if let Standing::Held { holder, .. } = &standing {
            if self.shared.step_down() {
                tracing::warn!(lease = %self.lease, holder = %holder, "stopped leading: another replica holds the lease");
            }
            if self.holder_seen.as_ref() != Some(holder) {
                tracing::info!(lease = %self.lease, holder = %holder, "the lease is held by another replica");
                self.holder_seen = Some(holder.clone());
            }
            self.recovered();
            return false;
        }
        let duration = self.settings.duration_seconds();
        let identity = self.settings.identity.clone();
        let answer = match (current, record) {
            (Some(lease), Some(record)) => {
                let next = record.taken_by(&identity, duration, now);
                self.replace(if record.holder == identity { "renewing" } else { "acquiring" }, &lease, &next).await
            }
            _ => {
                let next = Record::created(&identity, duration, now);
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.settings.name.clone()),
                        namespace: Some(self.settings.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(next.to_spec()),
                };
                let api = self.api.clone();
                self.call("creating", async move { api.create(&PostParams::default(), &lease).await }).await
            }
        };
        match answer {
            Ok(Answer::Done(lease)) => {
                self.wrote(lease, sent);
                true
            }
            Ok(Answer::Conflict | Answer::NotFound) => {
                // Another replica wrote (or created, or deleted) the lease since it was read:
                // it won; the next try reads what it wrote.
                tracing::debug!(lease = %self.lease, "lost the race for the lease");
                self.recovered();
                false
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Notes the record read: when it differs from the one last seen, it is new as of now.
    fn observe(&mut self, record: Option<&Record>) {
        match (record, &self.observed) {
            (Some(r), Some((seen, _))) if r == seen => {}
            (Some(r), _) => self.observed = Some((r.clone(), Instant::now())),
            (None, _) => self.observed = None,
        }
    }

    /// `lease` was written with `record`, by a request sent at `sent`: leader until the renew
    /// deadline counted from then.
    fn wrote(&mut self, lease: Lease, sent: Instant) {
        self.observed = Some((Record::from_spec(lease.spec.as_ref()), Instant::now()));
        self.last = Some(lease);
        self.holder_seen = None;
        self.recovered();
        let until = sent + self.settings.renew_deadline();
        if until <= Instant::now() {
            return;
        }
        let was = self.shared.is_leader();
        self.shared.lead_until(until);
        if !was {
            tracing::info!(lease = %self.lease, identity = %self.settings.identity, "acquired the lease: this replica leads");
        }
    }

    /// Logs `e` unless a failure of its kind was logged since calls last succeeded.
    fn failed(&mut self, e: &LeaseError) {
        if self.failing.insert(e.kind()) {
            tracing::warn!(error = %e, fault = %e.fault(), "lease API call failed (retried; not logged again until calls succeed)");
        }
    }

    fn recovered(&mut self) {
        if !std::mem::take(&mut self.failing).is_empty() {
            tracing::info!(lease = %self.lease, "lease API calls succeed again");
        }
    }

    /// PUT `record` over `lease` (its `resourceVersion` checked by the server).
    async fn replace(&self, action: &'static str, lease: &Lease, record: &Record) -> Result<Answer<Lease>, LeaseError> {
        let mut lease = lease.clone();
        lease.spec = Some(record.to_spec());
        lease.metadata.managed_fields = None;
        let api = self.api.clone();
        let name = self.settings.name.clone();
        self.call(action, async move { api.replace(&name, &PostParams::default(), &lease).await }).await
    }

    /// Runs one call within its time limit: what remains of the renew deadline while leading,
    /// else the renew deadline.
    async fn call<T>(
        &self,
        action: &'static str,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<Answer<T>, LeaseError> {
        let limit = match self.shared.deadline() {
            Some(t) => t.saturating_duration_since(Instant::now()).min(self.settings.renew_deadline()),
            None => self.settings.renew_deadline(),
        };
        let limit = limit.max(Duration::from_millis(1));
        match tokio::time::timeout(limit, call).await {
            Err(_) => Err(LeaseError::Timeout { action, lease: self.lease.clone(), after: limit }),
            Ok(Ok(v)) => Ok(Answer::Done(v)),
            Ok(Err(kube::Error::Api(status))) if status.is_not_found() => Ok(Answer::NotFound),
            Ok(Err(kube::Error::Api(status))) if status.is_conflict() || status.is_already_exists() => {
                Ok(Answer::Conflict)
            }
            Ok(Err(kube::Error::Api(status))) => Err(LeaseError::Refused {
                action,
                lease: self.lease.clone(),
                code: status.code,
                message: crate::text::bounded(&status.message, MAX_TEXT),
            }),
            Ok(Err(e)) => Err(LeaseError::Failed {
                action,
                lease: self.lease.clone(),
                why: crate::text::bounded(&crate::text::chain(&e), MAX_TEXT),
            }),
        }
    }

    /// Gives the lease up if this replica still holds it: not leader from now on, then the
    /// released record written with the version last written, or, when that conflicts, with
    /// the version read again if the lease still names this replica.
    async fn release(mut self) {
        let led = self.shared.step_down();
        let Some(mut lease) = self.last.take() else { return };
        for _ in 0..2 {
            let record = Record::from_spec(lease.spec.as_ref());
            if record.holder != self.settings.identity {
                return;
            }
            match self.replace("releasing", &lease, &record.released(now_micros())).await {
                Ok(Answer::Done(_)) => {
                    tracing::info!(lease = %self.lease, led, "released the lease");
                    return;
                }
                Ok(Answer::NotFound) => return,
                Ok(Answer::Conflict) => match self.call("reading", self.api.get(&self.settings.name)).await {
                    Ok(Answer::Done(read)) => lease = read,
                    Ok(_) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "the lease is not released: another replica takes it once it expires");
                        return;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "the lease is not released: another replica takes it once it expires");
                    return;
                }
            }
        }
    }
}

/// Now, to the microsecond (what a MicroTime keeps), so a record written compares equal to
/// the same record read back.
fn now_micros() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `period` plus up to a fifth of it at random, so that waiting replicas do not ask in step.
fn jittered(period: Duration) -> Duration {
    let fifth = period / 5;
    let nanos = u64::try_from(fifth.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 { period } else { period + Duration::from_nanos(random() % nanos) }
}

#[cfg(test)]
mod tests;
