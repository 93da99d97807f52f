//! The process-wide Wasm runtime: one engine, its epoch ticker, and the call slots.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, PoisonError};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::PER_COMPONENT;

use super::error::LoadError;
use super::ticker::Ticker;

/// Engine-wide settings (the config's `sandbox { … }` block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Module calls that may run at once; further calls wait for a slot. Also sizes the
    /// instance pool.
    pub max_concurrent_calls: u32,
    /// Ceiling for any module's memory cap, in bytes; sizes the pool's memory slots.
    pub max_memory_bytes: u64,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self { max_concurrent_calls: 16, max_memory_bytes: 64 << 20 }
    }
}

/// Which instance allocator the engine ended up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Pre-reserved slots: fastest instantiation.
    Pooling,
    /// Plain allocation per instance, used when the pool's address space cannot be reserved.
    OnDemand,
}

/// One engine per process. Modules compiled by it can be instantiated by any thread.
pub struct Runtime {
    engine: Engine,
    ticker: Ticker,
    allocator: Allocator,
    settings: RuntimeSettings,
    slots: Slots,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("allocator", &self.allocator).field("settings", &self.settings).finish()
    }
}

impl Runtime {
    /// Build the engine: fuel and epochs on, pooling allocator if the address space allows it.
    pub fn new(settings: RuntimeSettings) -> Result<Self, LoadError> {
        let (engine, allocator) = match Engine::new(&engine_config(&settings, true)) {
            Ok(engine) => (engine, Allocator::Pooling),
            Err(e) => {
                // Small address spaces (RLIMIT_AS, 39-bit VA, strict overcommit) cannot reserve
                // the pool; on-demand allocation is slower but equally safe.
                tracing::warn!(error = %e, "wasm instance pool unavailable; using on-demand allocation");
                let engine =
                    Engine::new(&engine_config(&settings, false)).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
                (engine, Allocator::OnDemand)
            }
        };
        let ticker = Ticker::start(engine.clone())
            .map_err(|e| LoadError::Engine(format!("cannot start the epoch thread: {e}")))?;
        let slots = Slots::new(settings.max_concurrent_calls as usize);
        Ok(Self { engine, ticker, allocator, settings, slots })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The allocator in use.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// The settings the runtime was built with.
    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    pub(crate) fn ticker(&self) -> &Ticker {
        &self.ticker
    }

    pub(crate) fn slot(&self) -> SlotGuard<'_> {
        self.slots.acquire()
    }
}

fn engine_config(settings: &RuntimeSettings, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    if pooling {
        let n = settings.max_concurrent_calls.max(1);
        let mut pool = PoolingAllocationConfig::default();
        // Each call slot may hold one component of at most PER_COMPONENT core instances,
        // memories and tables; the caps per component make a component that needs more fail at load,
        // never later by exhausting the pool under concurrent calls.
        pool.total_component_instances(n)
            .total_core_instances(n * PER_COMPONENT.core_instances)
            .total_memories(n * PER_COMPONENT.memories)
            .total_tables(n * PER_COMPONENT.tables)
            .max_core_instances_per_component(PER_COMPONENT.core_instances)
            .max_memories_per_component(PER_COMPONENT.memories)
            .max_tables_per_component(PER_COMPONENT.tables)
            .max_memory_size(usize::try_from(settings.max_memory_bytes).unwrap_or(usize::MAX));
        // Reset the low part of a memory with memset instead of madvise + page faults: guests
        // built by `cargo xtask guests` keep stack, data and first heap pages in the first few
        // hundred KiB. Batch the remaining decommits so most calls make no madvise syscall.
        pool.linear_memory_keep_resident(256 << 10).table_keep_resident(64 << 10).decommit_batch_size(8);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// A counting semaphore for blocking threads: the pool fails instantiation when full instead of
/// waiting, so callers wait here first. The uncontended path is one atomic operation; the lock
/// and condition variable are touched only when a caller has to wait.
struct Slots {
    free: AtomicUsize,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: AtomicUsize::new(n.max(1)),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        loop {
            let free = self.free.load(SeqCst);
            if free > 0 {
                if self.free.compare_exchange_weak(free, free - 1, SeqCst, SeqCst).is_ok() {
                    return SlotGuard(self);
                }
                continue;
            }
            let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            // Register before re-checking, so a release either sees us or we see its slot.
            self.waiters.fetch_add(1, SeqCst);
            while self.free.load(SeqCst) == 0 {
                guard = self.cv.wait(guard).unwrap_or_else(PoisonError::into_inner);
            }
            self.waiters.fetch_sub(1, SeqCst);
        }
    }
}

/// A held call slot.
pub(crate) struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.free.fetch_add(1, SeqCst);
        if self.0.waiters.load(SeqCst) > 0 {
            let _guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.0.cv.notify_one();
        }
    }
}
