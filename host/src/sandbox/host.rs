//! The store's data and the one capability modules get: `log`.

use std::sync::Arc;

use super::bindings::{self, Level};
use super::limits::{Limits, StoreLimiter};

/// One line a module logged.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// Severity, lower case (`info`).
    pub level: &'static str,
    /// The message.
    pub message: String,
}

/// Raised from the `log` import when a module exceeds its log budget.
#[derive(Debug, thiserror::Error)]
#[error("log budget exceeded")]
pub(crate) struct LogBudgetExceeded;

/// What a store carries during one call.
pub(crate) struct HostState {
    pub(crate) module: Arc<str>,
    pub(crate) limiter: StoreLimiter,
    pub(crate) logs: Vec<LogLine>,
    log_bytes: usize,
    max_log_lines: usize,
    max_log_bytes: usize,
}

impl HostState {
    pub(crate) fn new(module: Arc<str>, limits: &Limits) -> Self {
        Self {
            module,
            limiter: StoreLimiter::new(limits.memory_bytes),
            logs: Vec::new(),
            log_bytes: 0,
            max_log_lines: limits.max_log_lines,
            max_log_bytes: limits.max_log_bytes,
        }
    }

    /// The message of the guest SDK's panic hook, if the guest panicked.
    pub(crate) fn panic_message(&self) -> Option<&str> {
        self.logs.iter().rev().find_map(|l| l.message.strip_prefix("panic: "))
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl bindings::attestor::plugin::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_bytes += message.len();
        if self.logs.len() >= self.max_log_lines || self.log_bytes > self.max_log_bytes {
            return Err(wasmtime::Error::new(LogBudgetExceeded));
        }
        let module = &*self.module;
        match level {
            Level::Trace => tracing::trace!(module, "{message}"),
            Level::Debug => tracing::debug!(module, "{message}"),
            Level::Info => tracing::info!(module, "{message}"),
            Level::Warn => tracing::warn!(module, "{message}"),
            Level::Error => tracing::error!(module, "{message}"),
        }
        self.logs.push(LogLine { level: level_name(level), message });
        Ok(())
    }
}

impl bindings::attestor::plugin::types::Host for HostState {}
