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

    // A component built by wit-component has a handful of core instances and tables; these
    // bounds leave room for that and nothing more.
    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        2
    }
}
