//! # attestor-guest: write an attestor Wasm module
//!
//! A module turns the facts attestor gathered about a workload into selectors and facts of its
//! own. Implement [`Module`] and call [`export_module!`]:
//!
//! ```
//! use attestor_guest::{Attestation, Error, Module, Workload};
//!
//! struct Root;
//!
//! impl Module for Root {
//!     const NAME: &'static str = "root-detector";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const DESCRIPTION: &'static str = "flags processes running as root";
//!
//!     fn attest(_config: &str, workload: &Workload) -> Result<Attestation, Error> {
//!         let mut out = Attestation::new();
//!         if workload.unix.euid == 0 {
//!             out.selector("root").fact("privileged", "true");
//!         }
//!         Ok(out)
//!     }
//! }
//!
//! attestor_guest::export_module!(Root);
//! # fn main() {}
//! ```
//!
//! Unit-test the module's logic natively with plain `cargo test`, no Wasm involved: [`testing`]
//! builds the [`Workload`] the host would pass, runs the module as the host does, and hands back
//! what it logged. Beside the module, in its `src/lib.rs`:
//!
//! ```rust,test_harness
//! # use attestor_guest::{Attestation, Error, Module, Workload};
//! # struct Root;
//! # impl Module for Root {
//! #     const NAME: &'static str = "root-detector";
//! #     const VERSION: &'static str = "0.1.0";
//! #     const DESCRIPTION: &'static str = "flags processes running as root";
//! #     fn attest(_config: &str, workload: &Workload) -> Result<Attestation, Error> {
//! #         let mut out = Attestation::new();
//! #         if workload.unix.euid == 0 {
//! #             attestor_guest::info!("pid {} runs as root", workload.unix.pid);
//! #             out.selector("root").fact("privileged", "true");
//! #         }
//! #         Ok(out)
//! #     }
//! # }
//! #[cfg(test)]
//! mod tests {
//!     use super::*;
//!     use attestor_guest::testing::{self, LogLevel, LogLine};
//!
//!     #[test]
//!     fn root_is_flagged() {
//!         let workload = testing::workload().pid(7).uid(0).build();
//!         let answer = testing::attest::<Root>("", &workload).unwrap();
//!         assert_eq!(answer.selectors(), ["root"]);
//!         assert_eq!(answer.get_fact("privileged"), Some("true"));
//!         assert_eq!(
//!             testing::take_logs(),
//!             [LogLine { level: LogLevel::Info, message: "pid 7 runs as root".into() }]
//!         );
//!     }
//!
//!     #[test]
//!     fn others_are_not() {
//!         let workload = testing::workload().pod("web", "frontend-0").build();
//!         let answer = testing::attest::<Root>("", &workload).unwrap();
//!         assert!(answer.selectors().is_empty());
//!         assert!(testing::take_logs().is_empty());
//!     }
//! }
//! ```
//!
//! `attestor module new NAME` writes a crate set up for this; `attestor module build` builds it
//! for `wasm32-unknown-unknown`, turns the result into a component and prints the block that pins
//! it (inside attestor's repository, `cargo xtask guests` does the same for `guests/`); `attestor
//! module test` runs the component against recorded facts. The guide is attestor's
//! `docs/writing-modules.md`. The host prefixes every selector with the module's configured name, so a module
//! configured as `root` returning `"root"` yields the selector `root:root`, and stores facts as
//! `root.<key>`, where Cedar policies read them as tags (`principal.getTag("root.privileged")`).
//!
//! Each call runs in a fresh instance under fuel, memory and time limits: keep no state between
//! calls, do no I/O (there is none to do), and return quickly.

#[cfg(feature = "arena")]
pub mod arena;

#[cfg(all(feature = "arena", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

pub mod testing;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "attestor-module",
        pub_export_macro: true,
        export_macro_name: "__export_attestor_world",
        default_bindings_module: "attestor_guest::bindings",
        // So a module's tests can compare whole workloads (`assert_eq!(w, expected)`).
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::attestor::plugin::types::{
    Container, Fact, ImageRef, Kubernetes, Label, OwnerReference, Pod, Unix, Workload,
};

use bindings::attestor::plugin::types::{self as wit};
use testing::LogLevel;

/// What a module answers: selector values and facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attestation {
    selectors: Vec<String>,
    facts: Vec<(String, String)>,
}

impl Attestation {
    /// An empty answer (the module has nothing to say about this workload).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a selector value. The host prefixes it with the module's name.
    pub fn selector(&mut self, value: impl Into<String>) -> &mut Self {
        self.selectors.push(value.into());
        self
    }

    /// Add a fact for policies. The host stores it as `<module>.<key>`; keys are lower-case
    /// words (`a-z`, `0-9`, `-`, `_`, `.`).
    pub fn fact(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.facts.push((key.into(), value.into()));
        self
    }

    /// The selector values added so far, in the order they were added.
    pub fn selectors(&self) -> &[String] {
        &self.selectors
    }

    /// The facts added so far as `(key, value)`, in the order they were added (a key may repeat).
    pub fn facts(&self) -> &[(String, String)] {
        &self.facts
    }

    /// The value of the first fact added with `key`, if any.
    pub fn get_fact(&self, key: &str) -> Option<&str> {
        self.facts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Why a module could not answer. The variant says whose fault it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The operator's configuration string is wrong.
    Config(String),
    /// This workload's facts are not something the module can handle.
    Input(String),
    /// The module itself failed.
    Internal(String),
}

impl Error {
    /// A configuration error.
    pub fn config(msg: impl Into<String>) -> Self {
        Self::Config(msg.into())
    }
    /// An input error.
    pub fn input(msg: impl Into<String>) -> Self {
        Self::Input(msg.into())
    }
    /// An internal error.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

/// Implement this for your module, then call [`export_module!`] with the type.
pub trait Module {
    /// The module's own name (informational: the operator's config names it).
    const NAME: &'static str;
    /// Its version.
    const VERSION: &'static str;
    /// One line on what it does.
    const DESCRIPTION: &'static str;

    /// Check the operator's configuration string once, when the host loads the module.
    fn validate_config(config: &str) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// Attest one workload. `config` is the same string `validate_config` accepted.
    fn attest(config: &str, workload: &Workload) -> Result<Attestation, Error>;
}

/// Lines to the host's log (capped per call by the host).
///
/// In a Wasm module each line goes to the host. Compiled natively (a module's unit tests), each
/// line is kept in a buffer of the calling thread instead, which [`testing::take_logs`] drains.
pub mod log {
    use super::{LogLevel, emit};

    /// Trace-level line.
    pub fn trace(msg: &str) {
        emit(LogLevel::Trace, msg);
    }
    /// Debug-level line.
    pub fn debug(msg: &str) {
        emit(LogLevel::Debug, msg);
    }
    /// Info-level line.
    pub fn info(msg: &str) {
        emit(LogLevel::Info, msg);
    }
    /// Warning.
    pub fn warn(msg: &str) {
        emit(LogLevel::Warn, msg);
    }
    /// Error-level line.
    pub fn error(msg: &str) {
        emit(LogLevel::Error, msg);
    }
}

/// One log line: to the host in Wasm, to this thread's buffer natively.
#[cfg(target_arch = "wasm32")]
fn emit(level: LogLevel, msg: &str) {
    use bindings::attestor::plugin::host::{Level, log};
    let level = match level {
        LogLevel::Trace => Level::Trace,
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warn,
        LogLevel::Error => Level::Error,
    };
    log(level, msg);
}

/// One log line: to the host in Wasm, to this thread's buffer natively.
#[cfg(not(target_arch = "wasm32"))]
fn emit(level: LogLevel, msg: &str) {
    testing::record(level, msg);
}

/// `info!("x = {}", x)`: formatted info line.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::info(&::std::format!($($t)*)) };
}

/// Formatted debug line.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::debug(&::std::format!($($t)*)) };
}

/// Formatted warning.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::warn(&::std::format!($($t)*)) };
}

/// Formatted error-level line.
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::error(&::std::format!($($t)*)) };
}

/// Formatted trace-level line.
#[macro_export]
macro_rules! trace {
    ($($t:tt)*) => { $crate::log::trace(&::std::format!($($t)*)) };
}

impl Workload {
    /// The pod, when the process runs in Kubernetes.
    pub fn pod(&self) -> Option<&Pod> {
        self.kubernetes.as_ref().map(|k| &k.pod)
    }

    /// The container, when known.
    pub fn container(&self) -> Option<&Container> {
        self.kubernetes.as_ref().and_then(|k| k.container.as_ref())
    }

    /// A pod label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.pod().and_then(|p| find(&p.labels, key))
    }

    /// A pod annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.pod().and_then(|p| find(&p.annotations, key))
    }

    /// A host fact's value (`host.name`).
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts.iter().find(|f| f.key == key).map(|f| f.value.as_str())
    }
}

fn find<'a>(labels: &'a [Label], key: &str) -> Option<&'a str> {
    labels.iter().find(|l| l.key == key).map(|l| l.value.as_str())
}

/// Glue between the WIT exports and [`Module`]; used by [`export_module!`].
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Route panics through `log` before the abort, so the host can say what went wrong instead
    /// of reporting a bare `unreachable` trap.
    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                // `PanicHookInfo::payload_as_str` is newer than Debian's wasm toolchain (1.85).
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(panic payload is not a string)");
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                emit(LogLevel::Error, &format!("panic: {msg}{at}"));
            }));
        });
    }

    fn to_wit(e: Error) -> wit::ModuleError {
        match e {
            Error::Config(m) => wit::ModuleError::InvalidConfig(m),
            Error::Input(m) => wit::ModuleError::InvalidInput(m),
            Error::Internal(m) => wit::ModuleError::Internal(m),
        }
    }

    pub fn metadata<M: Module>() -> wit::ModuleInfo {
        wit::ModuleInfo { name: M::NAME.into(), version: M::VERSION.into(), description: M::DESCRIPTION.into() }
    }

    pub fn validate_config<M: Module>(config: &str) -> Result<(), wit::ModuleError> {
        install_panic_hook();
        M::validate_config(config).map_err(to_wit)
    }

    pub fn attest<M: Module>(config: &str, workload: &Workload) -> Result<wit::Attestation, wit::ModuleError> {
        install_panic_hook();
        let a = M::attest(config, workload).map_err(to_wit)?;
        Ok(wit::Attestation {
            selectors: a.selectors,
            facts: a.facts.into_iter().map(|(key, value)| Fact { key, value }).collect(),
        })
    }
}

/// Export a [`Module`] implementation as the component's `attestor:plugin/module` interface.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        #[doc(hidden)]
        pub struct __AttestorGuestExport;

        impl $crate::bindings::exports::attestor::plugin::module::Guest for __AttestorGuestExport {
            fn metadata() -> $crate::bindings::attestor::plugin::types::ModuleInfo {
                $crate::__private::metadata::<$module>()
            }

            fn validate_config(config: ::std::string::String) -> ::std::result::Result<(), $crate::bindings::attestor::plugin::types::ModuleError> {
                $crate::__private::validate_config::<$module>(&config)
            }

            fn attest(
                config: ::std::string::String,
                workload: $crate::Workload,
            ) -> ::std::result::Result<$crate::bindings::attestor::plugin::types::Attestation, $crate::bindings::attestor::plugin::types::ModuleError> {
                $crate::__private::attest::<$module>(&config, &workload)
            }
        }

        $crate::bindings::__export_attestor_world!(__AttestorGuestExport with_types_in $crate::bindings);
    };
}
