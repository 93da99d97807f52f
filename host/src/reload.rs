//! Reload: a running attestor looks at its policy directories, module files and Sigstore
//! trust files (`trusted_root`, `public_keys`) every
//! `policy.reload_interval`, and at once on SIGHUP, and swaps in a new generation when they
//! changed. The node attestor server role's node policies are watched the same way
//! ([`spawn`]).
//!
//! Invariant: reloading never touches the hot path. Files are read and generations built on the
//! blocking pool; attestations keep running on the generation they started with; a refused
//! generation is logged once and the old one keeps serving.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::generation::Reloaded;
use crate::pipeline::Attestor;

/// A watcher that stops when dropped.
#[derive(Debug)]
pub struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one look at the inputs found: nothing new, or a new generation swapped in (`from`,
/// `to`). A refused generation is the `Err` beside it, its message.
pub type Looked = Result<Option<(String, String)>, String>;

/// Start watching `attestor`'s inputs, when any of them live on disk. Must be called inside a
/// tokio runtime. The watcher holds the attestor weakly: it ends when the attestor is dropped.
pub fn watch(attestor: &Arc<Attestor>) -> Option<Watch> {
    let recipe = attestor.recipe()?;
    let sigstore_files = attestor.gatherer().sigstore().is_some_and(|v| v.watches_files());
    if !recipe.watches_disk() && !sigstore_files {
        return None;
    }
    Some(spawn("policy and module", recipe.interval(), Arc::downgrade(attestor), |a: &Attestor, force| {
        match a.reload(force) {
            Ok(Reloaded::Unchanged) => Ok(None),
            Ok(Reloaded::Swapped { from, to }) => Ok(Some((from, to))),
            Err(e) => Err(e.to_string()),
        }
    }))
}

/// Look at `target`'s inputs with `look` every `period` and at once on SIGHUP (`force`), on the
/// blocking pool, logging what changed as `new <what> generation in force` or `new generation
/// refused`. Must be called inside a tokio runtime; the watcher ends when `target` is dropped.
pub fn spawn<T, F>(what: &'static str, period: Duration, target: Weak<T>, look: F) -> Watch
where
    T: Send + Sync + 'static,
    F: Fn(&T, bool) -> Looked + Send + Sync + Copy + 'static,
{
    // Registering a SIGHUP handler also stops SIGHUP from terminating the process.
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloading on the interval only");
            None
        }
    };
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let force = tokio::select! {
                _ = ticks.tick() => false,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading {what}");
                    true
                }
            };
            let Some(target) = target.upgrade() else { break };
            match tokio::task::spawn_blocking(move || look(&target, force)).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some((from, to)))) => {
                    tracing::info!(from = from.as_str(), to = to.as_str(), "new {what} generation in force");
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "new generation refused; the previous one keeps serving");
                }
                Err(e) => tracing::error!(error = %e, "reload task failed; the previous generation keeps serving"),
            }
        }
    });
    Watch(task)
}
