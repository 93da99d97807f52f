//! The epoch ticker: a dedicated OS thread that advances the engine's epoch while guests run.
//!
//! It is a thread, not an async task, so a spinning guest on an executor thread can never stop
//! the clock that is meant to stop it. It parks while no call is in flight, so an idle host
//! costs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One tick. Deadlines are counted in ticks; 1 ms keeps a 50 ms timeout within a few ms even
/// when ticks stretch under load.
pub(crate) const TICK: Duration = Duration::from_millis(1);

#[derive(Default)]
struct Shared {
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Owns the ticker thread; stops it on drop.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Start ticking `engine`.
    pub(crate) fn start(engine: wasmtime::Engine) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let thread = thread::Builder::new().name("attestor-epoch".into()).spawn(move || {
            while !s.stop.load(Ordering::Acquire) {
                if s.active.load(Ordering::Acquire) == 0 {
                    thread::park();
                    continue;
                }
                thread::sleep(TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Keep ticking until the returned guard is dropped.
    pub(crate) fn activate(&self) -> Active<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        Active(self)
    }
}

/// A call in flight.
pub(crate) struct Active<'a>(&'a Ticker);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
