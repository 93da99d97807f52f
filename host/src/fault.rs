//! Who is at fault when something fails. Every error type that crosses a stage says it with a
//! `fault()` method; the plugin's gRPC codes, the audit record's `fault` field and the CLI's
//! wording are derived from it, never from matching on messages.

use std::fmt;

/// The party that must act for a failure to go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The workload: it does not exist, exited, or was replaced while it was read.
    Workload,
    /// The kubelet or the API server: unreachable, refusing, or answering what it should not.
    Kubelet,
    /// An image registry: unreachable, refusing, or answering what it should not.
    Registry,
    /// The operator's configuration: a key, a path or a credential that cannot be used.
    Config,
    /// A Wasm module: it trapped, ran out of a limit, or answered badly.
    Module,
    /// The policy set: it does not load.
    Policy,
    /// This host or attestor itself: an unreadable kernel file, an internal invariant.
    Host,
}

impl Fault {
    /// The name used in logs and audit records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Workload => "workload",
            Self::Kubelet => "kubelet",
            Self::Registry => "registry",
            Self::Config => "config",
            Self::Module => "module",
            Self::Policy => "policy",
            Self::Host => "host",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
