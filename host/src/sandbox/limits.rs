//! Per-call limits, and the store limiter that enforces the memory cap.

use std::time::Duration;

/// What one module call may consume. Every entry into a guest (`metadata`, `validate-config`,
/// `attest`) runs under the same limits, armed in one place (`LoadedModule::call`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units per call: the deterministic CPU budget (same input, same outcome).
    pub fuel: u64,
    /// Wall-clock backstop for whatever fuel prices badly (bulk memory operations).
    pub timeout: Duration,
    /// Cap on each linear memory, in bytes.
    pub memory_bytes: u64,
    /// Most selectors one call may return.
    pub max_selectors: usize,
    /// Most facts one call may return.
    pub max_facts: usize,
    /// Longest selector value or fact value, in bytes.
    pub max_value_bytes: usize,
    /// Most bytes of selectors and facts one call may return, all together.
    pub max_output_bytes: usize,
    /// Most `log` lines per call.
    pub max_log_lines: usize,
    /// Most `log` bytes per call.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 5_000_000,
            timeout: Duration::from_millis(50),
            memory_bytes: 16 << 20,
            max_selectors: 64,
            max_facts: 64,
            max_value_bytes: 1024,
            max_output_bytes: 64 << 10,
            max_log_lines: 100,
            max_log_bytes: 16 << 10,
        }
    }
}

/// Raised from inside the guest when it asks for more memory than its cap. Returning an error
/// (rather than refusing the growth) stops the guest at once with a cause we can name, instead
/// of letting Rust's allocator abort with a bare `unreachable`.
#[derive(Debug, thiserror::Error)]
#[error("memory cap exceeded: asked for {desired} bytes")]
pub(crate) struct MemoryCapExceeded {
    pub(crate) desired: usize,
}

/// Tables only hold function references; this many entries is far beyond what a module needs.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// What one component may hold, the same in the pool's slots and in each store.
pub(crate) struct ComponentShape {
    /// Core module instances, the component's own and its shims'.
    pub(crate) core_instances: u32,
    /// Linear memories.
    pub(crate) memories: u32,
    /// Tables.
    pub(crate) tables: u32,
}

/// A component from wit-component holds the guest's core module plus small shim and fixup
/// modules (3 core instances, 1 memory, 2 tables for the Rust guests here); componentize-py's
/// Python components hold 38 core instances (17 instantiated per call) and 1 memory. Memories
/// are what cost address space (each pool slot reserves `max_memory_size` plus guards), so they
/// stay few; instance and table slots cost little. A component needing more is refused at load.
pub(crate) const PER_COMPONENT: ComponentShape = ComponentShape { core_instances: 64, memories: 2, tables: 64 };

/// The store's resource limiter.
#[derive(Debug)]
pub(crate) struct StoreLimiter {
    memory_bytes: u64,
}

impl StoreLimiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        Self { memory_bytes }
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryCapExceeded { desired }));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    // The same bounds as the pool's slots (`PER_COMPONENT`), for the on-demand allocator too.
    fn instances(&self) -> usize {
        PER_COMPONENT.core_instances as usize
    }

    fn tables(&self) -> usize {
        PER_COMPONENT.tables as usize
    }

    fn memories(&self) -> usize {
        PER_COMPONENT.memories as usize
    }
}
