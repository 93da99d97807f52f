//! Loading a module (pin, compile, import check, pre-link, validate) and calling it under limits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, Trap};

use super::bindings::{AttestorModule, AttestorModulePre, wit};
use super::engine::Runtime;
use super::error::{CallError, LoadError};
use super::host::{HostState, LogBudgetExceeded, LogLine};
use super::limits::{Limits, MemoryCapExceeded};
use super::text::guest_text;
use super::ticker::TICK;
use crate::selector::{Selector, SelectorKind};
use crate::workload::FactKey;

/// Interfaces a module may import. `types` is a type-only interface every module imports.
const ALLOWED_IMPORTS: &[&str] = &["attestor:plugin/host@0.1.", "attestor:plugin/types@0.1."];
/// The interface a module must export.
const REQUIRED_EXPORT: &str = "attestor:plugin/module@0.1.";

/// How the config describes one module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    /// The module's name: the kind of every selector it emits and the prefix of its facts.
    pub name: SelectorKind,
    /// The component file.
    pub path: PathBuf,
    /// Lower-case hex SHA-256 the file must have. `None` only for developer tools
    /// (`attestor module inspect|run`), never from a config file.
    pub sha256: Option<String>,
    /// Opaque configuration string passed to the module.
    pub config: String,
    /// Per-call limits.
    pub limits: Limits,
    /// When true, a failing call drops this module's output instead of failing the attestation.
    pub optional: bool,
}

/// What `metadata` returned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModuleInfo {
    /// The name the module gives itself (informational; the config's name is what counts).
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
}

/// A module's answer after the host checked it: selectors already carry the module's kind,
/// facts the module's prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleOutput {
    /// Selectors, `<module>:<value>`.
    pub selectors: Vec<Selector>,
    /// Facts, `<module>.<key>`.
    pub facts: Vec<(FactKey, String)>,
}

/// Cost and side output of one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time, instantiation included.
    pub elapsed: std::time::Duration,
    /// Lines the module logged.
    pub logs: Vec<LogLine>,
}

/// A module ready to be called: checked, compiled and pre-linked. Immutable; shared by all calls.
pub struct LoadedModule {
    spec: ModuleSpec,
    name: Arc<str>,
    digest: String,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    pre: AttestorModulePre<HostState>,
    info: ModuleInfo,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule").field("name", &self.name).field("digest", &self.digest).finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// Load and check a module; call `metadata` and `validate-config` once, in throwaway instances.
    pub fn load(runtime: &Runtime, spec: ModuleSpec) -> Result<Self, LoadError> {
        let loaded = Self::compile(runtime, spec)?;
        loaded.validate_config(runtime)?;
        Ok(loaded)
    }

    /// [`load`](Self::load) without `validate-config`: for developer tools that then try
    /// several configurations with [`with_config`](Self::with_config). The host always loads.
    pub fn compile(runtime: &Runtime, spec: ModuleSpec) -> Result<Self, LoadError> {
        let module = spec.name.to_string();
        if spec.limits.memory_bytes > runtime.settings().max_memory_bytes {
            return Err(LoadError::MemoryCeiling {
                module,
                cap: spec.limits.memory_bytes,
                ceiling: runtime.settings().max_memory_bytes,
            });
        }
        let bytes = std::fs::read(&spec.path).map_err(|source| LoadError::Read {
            module: module.clone(),
            path: spec.path.clone(),
            source,
        })?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = &spec.sha256
            && !expected.eq_ignore_ascii_case(&digest)
        {
            return Err(LoadError::DigestMismatch {
                module,
                path: spec.path.clone(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        if wasmparser_is_core_module(&bytes) {
            return Err(LoadError::CoreModule { module, path: spec.path.clone() });
        }
        let engine = runtime.engine();
        let component = Component::new(engine, &bytes).map_err(|e| LoadError::Invalid {
            module: module.clone(),
            path: spec.path.clone(),
            reason: format!("{e:#}"),
        })?;
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_owned()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_owned()).collect();
        let forbidden: Vec<String> =
            imports.iter().filter(|i| !ALLOWED_IMPORTS.iter().any(|a| i.starts_with(a))).cloned().collect();
        if !forbidden.is_empty() {
            return Err(LoadError::ForbiddenImports { module, imports: forbidden });
        }
        if !exports.iter().any(|e| e.starts_with(REQUIRED_EXPORT)) {
            return Err(LoadError::MissingExport { module, exports });
        }
        let mut linker = Linker::<HostState>::new(engine);
        AttestorModule::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Link { module: module.clone(), reason: format!("{e:#}") })?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(AttestorModulePre::new)
            .map_err(|e| LoadError::Link { module: module.clone(), reason: format!("{e:#}") })?;
        let placeholder = ModuleInfo { name: String::new(), version: String::new(), description: String::new() };
        let mut loaded = Self {
            name: Arc::from(module.as_str()),
            spec,
            digest,
            size: bytes.len(),
            imports,
            exports,
            pre,
            info: placeholder,
        };
        let (info, _) = loaded.call(runtime, |store, m| m.attestor_plugin_module().call_metadata(store))?;
        loaded.info = ModuleInfo {
            name: guest_text(&info.name),
            version: guest_text(&info.version),
            description: guest_text(&info.description),
        };
        Ok(loaded)
    }

    /// The same compiled module under another configuration string, checked by
    /// `validate-config` as [`load`](Self::load) checks it; nothing is read or compiled again
    /// (`attestor module test` runs cases with several configurations: a componentize-py
    /// component takes about two minutes to compile in a debug build).
    pub fn with_config(&self, runtime: &Runtime, config: String) -> Result<Self, LoadError> {
        let mut spec = self.spec.clone();
        spec.config = config;
        let other = Self {
            spec,
            name: self.name.clone(),
            digest: self.digest.clone(),
            size: self.size,
            imports: self.imports.clone(),
            exports: self.exports.clone(),
            pre: self.pre.clone(),
            info: self.info.clone(),
        };
        other.validate_config(runtime)?;
        Ok(other)
    }

    /// `validate-config` with this module's configuration string, in a throwaway instance.
    fn validate_config(&self, runtime: &Runtime) -> Result<(), LoadError> {
        let config = self.spec.config.clone();
        let (verdict, _) =
            self.call(runtime, |store, m| m.attestor_plugin_module().call_validate_config(store, &config))?;
        if let Err(e) = verdict {
            let (_, message) = split_module_error(e);
            return Err(LoadError::ConfigRejected { module: self.name.to_string(), message });
        }
        Ok(())
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration it was loaded with.
    pub fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    /// SHA-256 of the component file.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component file in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Names of the component's imports.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// Names of the component's exports.
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// What the module says about itself.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// Attest one workload in a fresh instance, and check the answer.
    pub fn attest(&self, runtime: &Runtime, workload: &wit::Workload) -> (Result<ModuleOutput, CallError>, CallStats) {
        let config = self.spec.config.as_str();
        match self.call(runtime, |store, m| m.attestor_plugin_module().call_attest(store, config, workload)) {
            Ok((Ok(answer), stats)) => (self.check_output(answer), stats),
            Ok((Err(e), stats)) => {
                let (kind, message) = split_module_error(e);
                (Err(CallError::Refused { module: self.name.to_string(), kind, message }), stats)
            }
            Err(e) => (Err(e), CallStats::default()),
        }
    }

    /// Run `f` against a fresh instance with every limit armed. This is the only way into a
    /// guest, so no entry point can forget a limit.
    fn call<R>(
        &self,
        runtime: &Runtime,
        f: impl FnOnce(&mut Store<HostState>, &AttestorModule) -> wasmtime::Result<R>,
    ) -> Result<(R, CallStats), CallError> {
        let limits = &self.spec.limits;
        let _slot = runtime.slot();
        let _ticking = runtime.ticker().activate();
        let started = Instant::now();
        let mut store = Store::new(runtime.engine(), HostState::new(Arc::clone(&self.name), limits));
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel).map_err(|e| self.instantiate_error(&e))?;
        let ticks = (limits.timeout.as_micros() / TICK.as_micros()).max(1) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        let instance = self.pre.instantiate(&mut store).map_err(|e| self.classify(&e, store.data(), false))?;
        let outcome = f(&mut store, &instance);
        let fuel_left = store.get_fuel().unwrap_or(0);
        match outcome {
            Ok(r) => {
                let stats = CallStats {
                    fuel_used: limits.fuel.saturating_sub(fuel_left),
                    elapsed: started.elapsed(),
                    logs: std::mem::take(&mut store.data_mut().logs),
                };
                Ok((r, stats))
            }
            Err(e) => Err(self.classify(&e, store.data(), true)),
        }
    }

    fn instantiate_error(&self, e: &wasmtime::Error) -> CallError {
        CallError::Instantiate { module: self.name.to_string(), reason: format!("{e:#}") }
    }

    /// Turn an engine error into a cause a human can act on. `called`: the instance was made
    /// and the error came from the call, where an error that is not a trap is the canonical ABI
    /// refusing what the guest returned (a string that is not UTF-8, a list out of bounds).
    fn classify(&self, e: &wasmtime::Error, state: &HostState, called: bool) -> CallError {
        let module = self.name.to_string();
        let limits = &self.spec.limits;
        if find::<MemoryCapExceeded>(e).is_some() {
            return CallError::OutOfMemory { module, cap: limits.memory_bytes };
        }
        if find::<LogBudgetExceeded>(e).is_some() {
            return CallError::LogFlood { module, lines: limits.max_log_lines, bytes: limits.max_log_bytes };
        }
        match find::<Trap>(e) {
            Some(Trap::OutOfFuel) => CallError::OutOfFuel { module, fuel: limits.fuel },
            Some(Trap::Interrupt) => CallError::Timeout { module, timeout: limits.timeout },
            Some(Trap::StackOverflow) => CallError::StackOverflow { module },
            Some(trap) => {
                // A panic message says more than any frame of Rust's panic machinery would.
                let detail = match state.panic_message() {
                    Some(msg) => format!("panicked: {}", guest_text(msg)),
                    None => with_frames(trap.to_string(), e),
                };
                CallError::Trap { module, detail }
            }
            None if called => CallError::BadOutput {
                module,
                problem: format!("a value the component model refuses: {}", guest_text(&format!("{e:#}"))),
            },
            None => CallError::Instantiate { module, reason: format!("{e:#}") },
        }
    }

    /// Enforce output limits and turn values into namespaced selectors and facts.
    fn check_output(&self, answer: wit::Attestation) -> Result<ModuleOutput, CallError> {
        let limits = &self.spec.limits;
        let bad = |problem: String| CallError::BadOutput { module: self.name.to_string(), problem };
        if answer.selectors.len() > limits.max_selectors {
            return Err(bad(format!("{} selectors, over the cap of {}", answer.selectors.len(), limits.max_selectors)));
        }
        if answer.facts.len() > limits.max_facts {
            return Err(bad(format!("{} facts, over the cap of {}", answer.facts.len(), limits.max_facts)));
        }
        let total: usize = answer.selectors.iter().map(String::len).sum::<usize>()
            + answer.facts.iter().map(|f| f.key.len() + f.value.len()).sum::<usize>();
        if total > limits.max_output_bytes {
            return Err(bad(format!(
                "{total} bytes of selectors and facts, over the cap of {}",
                limits.max_output_bytes
            )));
        }
        let mut out = ModuleOutput::default();
        for value in answer.selectors {
            check_value(&value, limits.max_value_bytes)
                .map_err(|why| bad(format!("selector \"{}\": {why}", truncate(&value))))?;
            out.selectors.push(Selector::new(self.spec.name.clone(), value));
        }
        for fact in answer.facts {
            let key = FactKey::join(&self.name, &fact.key)
                .map_err(|e| bad(format!("fact key \"{}\": {e}", truncate(&fact.key))))?;
            check_value(&fact.value, limits.max_value_bytes).map_err(|why| bad(format!("fact `{key}`: {why}")))?;
            out.facts.push((key, fact.value));
        }
        Ok(out)
    }
}

fn check_value(v: &str, max: usize) -> Result<(), String> {
    if v.is_empty() {
        return Err("empty".into());
    }
    if v.len() > max {
        return Err(format!("{} bytes, over the cap of {max}", v.len()));
    }
    if v.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

/// A guest's string cut to 40 characters and made printable (control characters escaped once:
/// the caller quotes it with `"{}"`, never `{:?}`, which would escape the escapes again).
fn truncate(s: &str) -> String {
    guest_text(&s.chars().take(40).collect::<String>())
}

/// The kind of a module's error and its message, made fit for an error of ours.
fn split_module_error(e: wit::ModuleError) -> (&'static str, String) {
    let (kind, message) = match e {
        wit::ModuleError::InvalidConfig(m) => ("invalid-config", m),
        wit::ModuleError::InvalidInput(m) => ("invalid-input", m),
        wit::ModuleError::Internal(m) => ("internal", m),
    };
    (kind, guest_text(&message))
}

/// Append the innermost guest frames (demangled) to a trap message.
fn with_frames(mut detail: String, e: &wasmtime::Error) -> String {
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames: Vec<String> = bt
            .frames()
            .iter()
            .take(3)
            .filter_map(|f| f.func_name().map(|n| format!("{:#}", rustc_demangle::demangle(n))))
            .collect();
        if !frames.is_empty() {
            detail.push_str(&format!(" (in {})", frames.join(" ← ")));
        }
    }
    detail
}

/// The first error of type `T` in the chain.
fn find<T: std::error::Error + Send + Sync + 'static>(e: &wasmtime::Error) -> Option<&T> {
    e.downcast_ref::<T>().or_else(|| e.chain().find_map(|c| c.downcast_ref::<T>()))
}

/// A core module's preamble is version 1, layer 0; a component's is layer 1.
fn wasmparser_is_core_module(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x01\0\0\0")
}
