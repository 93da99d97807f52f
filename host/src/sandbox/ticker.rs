//! The epoch ticker: a dedicated OS thread that advances the engine's epoch while guests run.
//!
//! It is a thread, not an async task, so a spinning guest on an executor thread can never stop
//! the clock that is meant to stop it. It parks after a short idle spell, so an idle host costs
//! nothing, and a busy one does not pay a wake-up per call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One tick. Deadlines are counted in ticks; 1 ms keeps a 50 ms timeout within a few ms even
/// when ticks stretch under load.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Idle ticks before the thread parks.
const IDLE_TICKS_BEFORE_PARK: u32 = 50;

#[derive(Default)]
struct Shared {
    active: AtomicUsize,
    parked: AtomicBool,
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
            let mut idle = 0;
            while !s.stop.load(SeqCst) {
                if s.active.load(SeqCst) == 0 {
                    idle += 1;
                    if idle > IDLE_TICKS_BEFORE_PARK {
                        // Announce the park first, then re-check: an `activate` that saw the
                        // flag unparks us; one that ran before it is seen by the re-check.
                        s.parked.store(true, SeqCst);
                        if s.active.load(SeqCst) == 0 && !s.stop.load(SeqCst) {
                            thread::park();
                        }
                        s.parked.store(false, SeqCst);
                        idle = 0;
                        continue;
                    }
                } else {
                    idle = 0;
                }
                thread::sleep(TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Keep ticking until the returned guard is dropped.
    pub(crate) fn activate(&self) -> Active<'_> {
        self.shared.active.fetch_add(1, SeqCst);
        if self.shared.parked.load(SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        Active(self)
    }
}

/// A call in flight.
pub(crate) struct Active<'a>(&'a Ticker);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, SeqCst);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
