//! The SPIRE external-plugin surface: go-plugin's handshake and services over a unix socket, and
//! SPIRE's plugin protocols over gRPC.
//!
//! Invariant: stdout carries exactly one line, the handshake; everything else is hclog JSON on
//! stderr. A role answers "not configured" until its first successful `Configure`, and a later
//! `Configure` replaces its state atomically (a bad one is refused and the old state keeps
//! serving).

mod configurable;
mod goplugin;
mod guard;
mod handshake;
mod hcl_v1;
pub mod hclog;
pub mod node_agent;
pub mod node_server;
pub mod proto;
mod serve;
mod status;
mod workload_attestor;

pub use guard::{payload_text as panic_text, test_panic};
pub use hcl_v1::normalize as normalize_hcl_v1;
pub use serve::run;
pub use workload_attestor::selector_values;

/// The config service's full name.
pub const CONFIG_SERVICE: &str = "spire.service.common.config.v1.Config";

/// Which SPIRE plugin attestor acts as (the first of `plugin_args`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Agent `WorkloadAttestor` (drop-in for SPIRE's `k8s`).
    WorkloadAttestor,
    /// Server `NodeAttestor` (`k8s_psat`).
    NodeAttestorServer,
    /// Agent `NodeAttestor` (`k8s_psat`).
    NodeAttestorAgent,
}

impl Role {
    /// The argument that selects it.
    pub fn arg(self) -> &'static str {
        match self {
            Self::WorkloadAttestor => "workload-attestor",
            Self::NodeAttestorServer => "node-attestor-server",
            Self::NodeAttestorAgent => "node-attestor-agent",
        }
    }

    /// The magic cookie (key and value) SPIRE sets for this plugin type.
    pub fn cookie(self) -> &'static str {
        match self {
            Self::WorkloadAttestor => "WorkloadAttestor",
            Self::NodeAttestorServer | Self::NodeAttestorAgent => "NodeAttestor",
        }
    }

    /// The gRPC service SPIRE binds for this plugin type.
    pub fn service(self) -> &'static str {
        match self {
            Self::WorkloadAttestor => "spire.plugin.agent.workloadattestor.v1.WorkloadAttestor",
            Self::NodeAttestorServer => "spire.plugin.server.nodeattestor.v1.NodeAttestor",
            Self::NodeAttestorAgent => "spire.plugin.agent.nodeattestor.v1.NodeAttestor",
        }
    }
}

/// hclog JSON on stderr; `ATTESTOR_LOG` sets the filter (default: attestor's info lines, others'
/// warnings). Per-attestation lines are debug: set `ATTESTOR_LOG=attestor=debug`, and run SPIRE at
/// DEBUG, to see them.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATTESTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,attestor=info"));
    let _ = tracing_subscriber::registry().with(filter).with(hclog::HclogLayer).try_init();
}
