//! Generated gRPC code for the protocols in `proto/` (see `build.rs`).
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// go-plugin's internal services.
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// SPIRE's plugin protocols.
pub mod spire {
    /// Services every plugin offers.
    pub mod service {
        /// SPIRE-private services.
        pub mod private {
            /// `Init` / `Deinit`.
            pub mod init {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.service.private.init.v1");
                }
            }
        }
        /// Common services.
        pub mod common {
            /// `Configure` / `Validate`.
            pub mod config {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.service.common.config.v1");
                }
            }
        }
    }
    /// Plugin types.
    pub mod plugin {
        /// Agent-side plugins.
        pub mod agent {
            /// Workload attestors.
            pub mod workloadattestor {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.plugin.agent.workloadattestor.v1");
                }
            }
            /// Agent node attestors.
            pub mod nodeattestor {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.plugin.agent.nodeattestor.v1");
                }
            }
        }
        /// Server-side plugins.
        pub mod server {
            /// Server node attestors.
            pub mod nodeattestor {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.plugin.server.nodeattestor.v1");
                }
            }
        }
    }
}
