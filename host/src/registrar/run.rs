//! The long-running registrar: the cluster watched, a reconciliation after every burst of
//! changes, on the resync interval and after a policy reload, written only while this replica
//! holds the lease; metrics and readiness served on `metrics_addr`.
//!
//! A round that fails (the Entry API, the policies) is retried with a doubling delay (1 s up to
//! the resync interval); the watches restart themselves. Nothing here ends the process but the
//! shutdown signal, which releases the lease so a standby takes over at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::cluster::{ApiServer, ClusterError, ClusterWatch};
use super::desired::{DecisionCache, desired_with};
use super::entry_api::{EntryApiError, EntryClient};
use super::lease::{Leadership, LeaseSettings};
use super::metrics::{Metrics, MetricsError, serve};
use super::plan::Orphans;
use super::reconcile::reconcile;
use super::settings::RegistrarSettings;
use crate::audit::AuditLog;
use crate::fault::Fault;
use crate::policy::WatchedPolicies;

/// How long after a change the round starts: a rollout changes many pods within a second, and
/// one round for the burst costs less than one per pod.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// The first retry delay after a failed round.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Why the registrar could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The API server cannot be reached with the configured credentials.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The metrics address cannot be served.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The SPIRE server socket cannot be used.
    #[error(transparent)]
    EntryApi(#[from] EntryApiError),
}

impl RunError {
    /// Who must act.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Cluster(e) => e.fault(),
            Self::Metrics(e) => e.fault(),
            Self::EntryApi(e) => e.fault(),
        }
    }
}

/// What the loop works with.
pub struct Registrar {
    /// The `registrar { }` settings.
    pub settings: RegistrarSettings,
    /// The identity rules, reloaded every `policy.reload_interval`.
    pub policies: Arc<WatchedPolicies>,
    /// Where change records go.
    pub audit: AuditLog,
    /// Plan and log, write nothing.
    pub dry_run: bool,
}

/// Why a round runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Change,
    Resync,
    Leadership,
    Policy,
    Retry,
}

impl Registrar {
    /// Run until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        let server = ApiServer::connect(self.settings.kube_config_file.as_deref()).await?;
        let metrics = Metrics::new();
        let _http = match self.settings.metrics_addr {
            Some(addr) => Some(serve(addr, Arc::clone(&metrics)).await?),
            None => None,
        };
        let entries = EntryClient::new(&self.settings.spire_server_socket, Duration::from_secs(30))?;
        let watch = ClusterWatch::start(&server);
        let leadership = Leadership::start(server.client.clone(), LeaseSettings::for_cluster(&self.settings.cluster));
        tracing::info!(cluster = %self.settings.cluster, mode = self.settings.mode.as_str(), dry_run = self.dry_run, "registrar started");
        self.serve(&watch, &leadership, &entries, &metrics, shutdown).await;
        leadership.release().await;
        tracing::info!("registrar stopped; lease released");
        Ok(())
    }

    /// The loop: wait for a reason, then reconcile when leading and the watches are listed.
    async fn serve(
        &self,
        watch: &ClusterWatch,
        leadership: &Leadership,
        entries: &EntryClient,
        metrics: &Metrics,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut changes = watch.changes();
        let mut leading = leadership.changes();
        let mut resync = tokio::time::interval(self.settings.resync_interval);
        let mut reload = tokio::time::interval(self.policies.settings().reload_interval);
        let mut orphans = Orphans::default();
        let mut retry: Option<(Instant, Duration)> = None;
        let mut watch_errors = std::collections::BTreeMap::new();
        let mut reported = std::collections::BTreeSet::new();
        let cache = Arc::new(std::sync::Mutex::new(DecisionCache::default()));
        let mut listed = false;
        loop {
            let retry_at = retry.map(|(at, _)| tokio::time::Instant::from_std(at));
            let wake = tokio::select! {
                () = &mut shutdown => return,
                () = watch.ready(), if !listed => { listed = true; Wake::Change }
                Ok(()) = changes.changed() => { tokio::time::sleep(DEBOUNCE).await; Wake::Change }
                Ok(()) = leading.changed() => Wake::Leadership,
                _ = resync.tick() => Wake::Resync,
                _ = reload.tick() => if self.reload_policies().await { Wake::Policy } else { continue },
                () = async { match retry_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => Wake::Retry,
            };
            let leader = leadership.is_leader();
            metrics.set_leader(leader);
            metrics.set_ready(watch.is_ready());
            for (resource, total) in watch.errors() {
                let new = total.saturating_sub(watch_errors.insert(resource, total).unwrap_or(0));
                metrics.add_watch_errors(resource, new);
                for _ in 0..new {
                    metrics.add_error("kubernetes");
                }
            }
            if !leader || !watch.is_ready() {
                continue;
            }
            match self.round(watch, entries, metrics, &mut orphans, &mut reported, &cache).await {
                Ok(()) => retry = None,
                Err(kind) => {
                    let delay = retry.map_or(FIRST_RETRY, |(_, d)| (d * 2).min(self.settings.resync_interval));
                    tracing::warn!(?wake, kind, retry_in = ?delay, "reconciliation failed; retrying");
                    retry = Some((Instant::now() + delay, delay));
                }
            }
        }
    }

    /// Look at the policy directory again (on the blocking pool); whether a new set is in force.
    async fn reload_policies(&self) -> bool {
        let policies = Arc::clone(&self.policies);
        match tokio::task::spawn_blocking(move || policies.reload()).await {
            Ok(Ok(Some((from, to)))) => {
                tracing::info!(from = from.as_str(), to = to.as_str(), "new policy generation in force");
                true
            }
            Ok(Ok(None)) => false,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "new generation refused; the previous one keeps serving");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "policy reload task failed");
                false
            }
        }
    }

    /// One reconciliation; on failure, which part failed.
    async fn round(
        &self,
        watch: &ClusterWatch,
        entries: &EntryClient,
        metrics: &Metrics,
        orphans: &mut Orphans,
        reported: &mut std::collections::BTreeSet<String>,
        cache: &Arc<std::sync::Mutex<DecisionCache>>,
    ) -> Result<(), &'static str> {
        let started = Instant::now();
        let snapshot = watch.snapshot();
        let policies = self.policies.policies();
        let settings = self.settings.clone();
        let cache = Arc::clone(cache);
        // Deciding for every changed pod is CPU work: off the executor.
        let wanted = tokio::task::spawn_blocking(move || {
            let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (pods, namespaces, nodes) = (&snapshot.pods, &snapshot.namespaces, &snapshot.nodes);
            desired_with(&policies, &settings, pods, namespaces, nodes, SystemTime::now(), &mut cache)
        })
        .await;
        let wanted = match wanted {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "deciding the wanted entries failed");
                metrics.add_error("policy");
                return Err("policy");
            }
            Err(e) => {
                tracing::error!(error = %e, "deciding the wanted entries panicked");
                metrics.add_error("policy");
                return Err("policy");
            }
        };
        metrics.set_pods(wanted.pods as u64);
        metrics.set_rules_needing_process(wanted.needs_runtime.len() as u64);
        // Each rule that can never give an entry is reported once per process, by its id.
        for rule in wanted.needs_runtime.iter().filter(|r| reported.insert((*r).clone())) {
            tracing::warn!(rule = %rule, "identity rule needs what only a running process has ({{unix.…}} or {{fact:…}}): the registrar can make no entry for it");
        }
        let calls_before = entries.calls();
        let result = reconcile(
            entries,
            &self.settings.entry_id_prefix,
            &wanted,
            orphans,
            self.settings.delete_grace_period,
            self.dry_run,
            &self.audit,
        )
        .await;
        for (method, n) in entries.calls() {
            metrics.add_entry_api_calls(method, n.saturating_sub(calls_before.get(method).copied().unwrap_or(0)));
        }
        metrics.observe_reconcile(started.elapsed());
        match result {
            Ok(r) => {
                metrics.add_changes(r.created as u64, r.updated as u64, r.deleted as u64);
                for (action, _) in &r.failed {
                    metrics.add_refused(action, 1);
                }
                let p = &r.plan;
                let held = p.unchanged + p.update.len() + p.delete.len() + p.waiting.len();
                metrics.set_entries_owned((held + r.created).saturating_sub(r.deleted) as u64);
                if !r.plan.is_empty() || !r.failed.is_empty() {
                    tracing::info!(
                        created = r.created,
                        updated = r.updated,
                        deleted = r.deleted,
                        refused = r.failed.len(),
                        waiting = r.plan.waiting.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "reconciled"
                    );
                }
                if r.failed.is_empty() { Ok(()) } else { Err("entry_api") }
            }
            Err(e) => {
                tracing::error!(error = %e, "reconciliation with SPIRE server failed");
                metrics.add_error("entry_api");
                Err("entry_api")
            }
        }
    }
}
