//! Reload: a running attestor looks at its policy directories, module files and Sigstore
//! trust files (`trusted_root`, `public_keys`) every
//! `policy.reload_interval`, and at once on SIGHUP, and swaps in a new generation when they
//! changed.
//!
//! Invariant: reloading never touches the hot path. Files are read and generations built on the
//! blocking pool; attestations keep running on the generation they started with; a refused
//! generation is logged once and the old one keeps serving.

use std::sync::Arc;

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

/// Start watching `attestor`'s inputs, when any of them live on disk. Must be called inside a
/// tokio runtime. The watcher holds the attestor weakly: it ends when the attestor is dropped.
pub fn watch(attestor: &Arc<Attestor>) -> Option<Watch> {
    let recipe = attestor.recipe()?;
    let sigstore_files = attestor.gatherer().sigstore().is_some_and(|v| v.watches_files());
    if !recipe.watches_disk() && !sigstore_files {
        return None;
    }
    let period = recipe.interval();
    let weak = Arc::downgrade(attestor);
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
                    tracing::info!("SIGHUP: reloading policies and modules");
                    true
                }
            };
            let Some(attestor) = weak.upgrade() else { break };
            match tokio::task::spawn_blocking(move || attestor.reload(force)).await {
                Ok(Ok(Reloaded::Unchanged)) => {}
                Ok(Ok(Reloaded::Swapped { from, to })) => {
                    tracing::info!(from = from.as_str(), to = to.as_str(), "new policy and module generation in force");
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "new generation refused; the previous one keeps serving");
                }
                Err(e) => tracing::error!(error = %e, "reload task failed; the previous generation keeps serving"),
            }
        }
    });
    Some(Watch(task))
}
