//! Enrich: run operator-written Wasm components that turn facts into selectors and facts.
//!
//! Invariant: a module sees only what it is handed (the gathered workload, its own config
//! string) and can only answer; its answer is bounded and namespaced before anything else sees
//! it, and a failing non-optional module fails the whole attestation, so a partial selector set
//! never leaves the host.
//!
//! Every module receives the same input, the workload as gathering left it: one module never
//! sees another's output, so order in the config does not change answers.

mod bindings;
pub mod cases;
mod convert;
mod engine;
mod error;
mod host;
mod limits;
mod module;
mod text;
mod ticker;

use std::sync::Arc;

pub use engine::{Allocator, Runtime, RuntimeSettings};
pub use error::{CallError, LoadError};
pub use host::LogLine;
pub use limits::Limits;
pub use module::{CallStats, LoadedModule, ModuleInfo, ModuleOutput, ModuleSpec};
pub use text::{MAX_GUEST_TEXT, guest_text};

/// The WIT package modules are written against (`wit/attestor.wit`), as this host was built with:
/// the same file `bindings.rs` generates the host's side from. `attestor module wit` prints it
/// for authors in languages other than Rust.
pub const WIT_PACKAGE: &str = include_str!("../../../wit/attestor.wit");

use crate::workload::Workload;

/// The record modules receive for `workload`. Build it once and pass it to every
/// [`LoadedModule::attest`] call on that workload.
pub fn wit_workload(workload: &Workload) -> WitWorkload {
    convert::to_wit(workload)
}

/// The WIT `workload` record, as the host-side bindings define it.
pub type WitWorkload = bindings::wit::Workload;

/// Outcome of one module on one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRun {
    /// The module's name.
    pub module: String,
    /// `Ok` with the number of selectors and facts it added, or the error of an optional module
    /// whose output was dropped.
    pub outcome: Result<(usize, usize), CallError>,
    /// Fuel, time and logs.
    pub stats: CallStats,
}

/// A set of loaded modules. Immutable: a new configuration builds a new set.
#[derive(Debug)]
pub struct Sandbox {
    runtime: Arc<Runtime>,
    modules: Vec<LoadedModule>,
}

impl Sandbox {
    /// Load every module; the first failure aborts (a module set is all or nothing).
    pub fn load(runtime: Arc<Runtime>, specs: Vec<ModuleSpec>) -> Result<Self, LoadError> {
        let modules = specs.into_iter().map(|spec| LoadedModule::load(&runtime, spec)).collect::<Result<_, _>>()?;
        Ok(Self { runtime, modules })
    }

    /// The loaded modules, in config order.
    pub fn modules(&self) -> &[LoadedModule] {
        &self.modules
    }

    /// The runtime the modules were loaded into.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Run every module on `workload` and add their selectors and facts to it.
    ///
    /// Blocking: guests run on the calling thread. Call it off the async executor.
    pub fn enrich(&self, workload: &mut Workload) -> Result<Vec<ModuleRun>, CallError> {
        if self.modules.is_empty() {
            return Ok(Vec::new());
        }
        let input = convert::to_wit(workload);
        let mut outputs = Vec::with_capacity(self.modules.len());
        let mut runs = Vec::with_capacity(self.modules.len());
        for m in &self.modules {
            let (result, stats) = m.attest(&self.runtime, &input);
            let outcome = match result {
                Ok(out) => {
                    let counts = (out.selectors.len(), out.facts.len());
                    outputs.push(out);
                    Ok(counts)
                }
                Err(e) if m.spec().optional => {
                    tracing::warn!(module = m.name(), error = %e, "optional module failed; its output is dropped");
                    Err(e)
                }
                Err(e) => return Err(e),
            };
            runs.push(ModuleRun { module: m.name().to_owned(), outcome, stats });
        }
        // Only now, when every required module answered, does anything reach the workload.
        for out in outputs {
            workload.selectors.extend(out.selectors);
            workload.facts.extend(out.facts);
        }
        Ok(runs)
    }
}
