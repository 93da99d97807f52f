//! One verification per image, shared by every attestation that needs it.
//!
//! A slot per key holds a [`tokio::sync::OnceCell`]: the first caller runs the verification,
//! concurrent callers for the same key wait on the same cell (one registry round-trip set in
//! flight per image), and later callers read the stored answer until it expires. Successes live
//! for `ttl`, failures for `failure_ttl` (a few seconds: enough that a registry outage does not
//! become a request per attestation). If the caller running the verification is cancelled, the
//! cell lets the next waiter run it instead.
//!
//! Bounded, unlike SPIRE's map: beyond `max` keys the oldest is evicted first (first in, first
//! out; with a TTL on every entry, recency buys little and would cost a write on every hit).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// A bounded, expiring, single-flight map from image to answer.
#[derive(Debug)]
pub(crate) struct VerdictCache<V> {
    inner: Mutex<Inner<V>>,
    ttl: Duration,
    failure_ttl: Duration,
    max: usize,
}

#[derive(Debug)]
struct Inner<V> {
    slots: HashMap<String, Arc<Slot<V>>>,
    /// Keys in insertion order, with the slot's birth, so an entry replaced since is skipped.
    order: VecDeque<(String, Instant)>,
}

#[derive(Debug)]
struct Slot<V> {
    born: Instant,
    cell: OnceCell<Stored<V>>,
}

#[derive(Debug)]
struct Stored<V> {
    value: Arc<V>,
    expires: Instant,
}

impl<V> VerdictCache<V> {
    /// A cache keeping successes for `ttl`, failures for `failure_ttl`, at most `max` keys.
    pub(crate) fn new(ttl: Duration, failure_ttl: Duration, max: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { slots: HashMap::new(), order: VecDeque::new() }),
            ttl,
            failure_ttl: failure_ttl.min(ttl),
            max: max.max(1),
        }
    }

    /// The stored answer for `key`, when there is a fresh one; never waits.
    pub(crate) fn get_now(&self, key: &str) -> Option<Arc<V>> {
        let inner = self.lock();
        let stored = inner.slots.get(key)?.cell.get()?;
        (stored.expires > Instant::now()).then(|| Arc::clone(&stored.value))
    }

    /// The answer for `key`: the stored one when fresh, the one being computed when another
    /// caller is computing it, else `run()`'s, which returns the answer and whether it is a
    /// success (kept for `ttl`) or a failure (kept for `failure_ttl`).
    pub(crate) async fn get_or_run<F, Fut>(&self, key: &str, run: F) -> Arc<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (V, bool)>,
    {
        let slot = self.slot(key);
        let stored = slot
            .cell
            .get_or_init(|| async {
                let (value, success) = run().await;
                let ttl = if success { self.ttl } else { self.failure_ttl };
                Stored { value: Arc::new(value), expires: Instant::now() + ttl }
            })
            .await;
        Arc::clone(&stored.value)
    }

    /// Forgets every answer (new trust material: answers reached under the old one must go).
    /// A computation in flight still completes for its waiters, but is not kept.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.slots.clear();
        inner.order.clear();
    }

    /// How many keys are held (fresh, expired or being computed).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// The slot for `key`: the current one unless it holds an expired answer, else a new one.
    fn slot(&self, key: &str) -> Arc<Slot<V>> {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get(key) {
            let expired = slot.cell.get().is_some_and(|s| s.expires <= now);
            if !expired {
                return Arc::clone(slot);
            }
        }
        let slot = Arc::new(Slot { born: now, cell: OnceCell::new() });
        if inner.slots.insert(key.to_owned(), Arc::clone(&slot)).is_none() {
            inner.evict(self.max);
        }
        inner.order.push_back((key.to_owned(), now));
        slot
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // Nothing panics while the lock is held; a poisoned map is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V> Inner<V> {
    /// Drops the oldest keys until at most `max` remain. A queue entry whose key has since
    /// been replaced (a younger slot) only leaves the queue.
    fn evict(&mut self, max: usize) {
        while self.slots.len() > max {
            let Some((key, born)) = self.order.pop_front() else { return };
            if self.slots.get(&key).is_some_and(|s| s.born == born) {
                self.slots.remove(&key);
            }
        }
        // Replaced slots leave stale queue entries behind; keep the queue near the map's size.
        if self.order.len() > 2 * max.max(self.slots.len()) {
            let slots = &self.slots;
            self.order.retain(|(key, born)| slots.get(key).is_some_and(|s| s.born == *born));
        }
    }
}

#[cfg(test)]
mod tests;
