//! Sandbox errors: `LoadError` is the operator's to fix (config, module file); `CallError` is a
//! module misbehaving on one call. Messages name the module and the cause in words.

use std::path::PathBuf;
use std::time::Duration;

use crate::fault::Fault;

/// A module could not be loaded. Raised at start-up or reload; nothing is attested with a
/// module set that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Host: the Wasm engine could not be created.
    #[error("cannot create the Wasm engine: {0}")]
    Engine(String),
    /// Config: the module file cannot be read.
    #[error("module `{module}`: cannot read {path}: {source}")]
    Read {
        /// Module name.
        module: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Config: the file is not the one the config pins.
    #[error("module `{module}`: {path} has SHA-256 {actual}, but the config pins {expected}; refusing to load it")]
    DigestMismatch {
        /// Module name.
        module: String,
        /// The file.
        path: PathBuf,
        /// Digest in the config.
        expected: String,
        /// Digest of the file.
        actual: String,
    },
    /// Module: a core module where a component is required.
    #[error(
        "module `{module}`: {path} is a core WebAssembly module, not a component; build it with `cargo xtask guests` (or `wasm-tools component new`)"
    )]
    CoreModule {
        /// Module name.
        module: String,
        /// The file.
        path: PathBuf,
    },
    /// Module: not valid WebAssembly, or it failed to compile.
    #[error("module `{module}`: {path} is not a valid WebAssembly component: {reason}")]
    Invalid {
        /// Module name.
        module: String,
        /// The file.
        path: PathBuf,
        /// The engine's message.
        reason: String,
    },
    /// Module: it imports something the host does not grant.
    #[error("module `{module}` imports {}, which attestor does not provide; a module may import only `attestor:plugin/host@0.1` and `attestor:plugin/types@0.1` (build it for wasm32-unknown-unknown, not a WASI target)", .imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "))]
    ForbiddenImports {
        /// Module name.
        module: String,
        /// The offending import names.
        imports: Vec<String>,
    },
    /// Module: it does not export the interface attestor calls.
    #[error("module `{module}` does not export `attestor:plugin/module@0.1` (it exports: {})", if .exports.is_empty() { "nothing".to_owned() } else { .exports.join(", ") })]
    MissingExport {
        /// Module name.
        module: String,
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// Module: linking or pre-instantiation failed for another reason.
    #[error("module `{module}` cannot be linked: {reason}")]
    Link {
        /// Module name.
        module: String,
        /// The engine's message.
        reason: String,
    },
    /// Config: the module's `validate-config` refused the configuration string.
    #[error("module `{module}` rejected its configuration: {message}")]
    ConfigRejected {
        /// Module name.
        module: String,
        /// The module's explanation.
        message: String,
    },
    /// Config: a limit above the runtime's ceiling.
    #[error(
        "module `{module}`: memory cap of {cap} bytes is above the sandbox ceiling of {ceiling} bytes (sandbox.max_memory_mib)"
    )]
    MemoryCeiling {
        /// Module name.
        module: String,
        /// The module's cap.
        cap: u64,
        /// The runtime's ceiling.
        ceiling: u64,
    },
    /// Module: a load-time call (`metadata`, `validate-config`) misbehaved.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// One call into a module failed. With `optional = false` (the default) the attestation fails
/// with this error; nothing the module or later stages produced is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// It ran out of fuel: an endless or too expensive computation.
    #[error("module `{module}` exceeded its fuel budget ({fuel})")]
    OutOfFuel {
        /// Module name.
        module: String,
        /// The budget.
        fuel: u64,
    },
    /// The wall-clock backstop fired.
    #[error("module `{module}` exceeded its time limit ({} ms)", .timeout.as_millis())]
    Timeout {
        /// Module name.
        module: String,
        /// The limit.
        timeout: Duration,
    },
    /// It asked for more memory than its cap.
    #[error("module `{module}` exceeded its memory cap ({} MiB)", .cap >> 20)]
    OutOfMemory {
        /// Module name.
        module: String,
        /// The cap in bytes.
        cap: u64,
    },
    /// It overflowed the Wasm stack.
    #[error("module `{module}` overflowed its stack")]
    StackOverflow {
        /// Module name.
        module: String,
    },
    /// It logged more than its budget.
    #[error("module `{module}` exceeded its log budget ({lines} lines or {bytes} bytes per call)")]
    LogFlood {
        /// Module name.
        module: String,
        /// Line budget.
        lines: usize,
        /// Byte budget.
        bytes: usize,
    },
    /// It trapped (a panic, `unreachable`, an out-of-bounds access…).
    #[error("module `{module}` trapped: {detail}")]
    Trap {
        /// Module name.
        module: String,
        /// The trap, the guest's panic message when it sent one, and the innermost frames.
        detail: String,
    },
    /// It answered with an error of its own.
    #[error("module `{module}` failed ({kind}): {message}")]
    Refused {
        /// Module name.
        module: String,
        /// `invalid-config`, `invalid-input` or `internal`.
        kind: &'static str,
        /// The module's message.
        message: String,
    },
    /// Its answer broke an output limit or rule.
    #[error("module `{module}` returned {problem}")]
    BadOutput {
        /// Module name.
        module: String,
        /// What was wrong.
        problem: String,
    },
    /// The host could not instantiate it (pool exhausted, engine failure).
    #[error("module `{module}` could not be instantiated: {reason}")]
    Instantiate {
        /// Module name.
        module: String,
        /// The engine's message.
        reason: String,
    },
}

impl LoadError {
    /// Who must act: the operator for paths, pins and limits, the module's author for what
    /// the module itself is or refuses, the host for its engine.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Engine(_) => Fault::Host,
            Self::Read { .. }
            | Self::DigestMismatch { .. }
            | Self::ConfigRejected { .. }
            | Self::MemoryCeiling { .. } => Fault::Config,
            Self::CoreModule { .. }
            | Self::Invalid { .. }
            | Self::ForbiddenImports { .. }
            | Self::MissingExport { .. }
            | Self::Link { .. } => Fault::Module,
            Self::Call(e) => e.fault(),
        }
    }
}

impl CallError {
    /// Who must act: the module, unless the host could not give it an instance.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Instantiate { .. } => Fault::Host,
            _ => Fault::Module,
        }
    }

    /// The module the error is about.
    pub fn module(&self) -> &str {
        match self {
            Self::OutOfFuel { module, .. }
            | Self::Timeout { module, .. }
            | Self::OutOfMemory { module, .. }
            | Self::StackOverflow { module }
            | Self::LogFlood { module, .. }
            | Self::Trap { module, .. }
            | Self::Refused { module, .. }
            | Self::BadOutput { module, .. }
            | Self::Instantiate { module, .. } => module,
        }
    }
}
