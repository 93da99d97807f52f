//! Generated code of spire-api-sdk's Entry API protos (`proto/spire/api/`, see `build.rs`):
//! client and server, both always built (the registrar dials SPIRE server; tests serve a fake).
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// spire-api-sdk's protos.
pub mod spire {
    /// SPIRE's public APIs.
    pub mod api {
        /// Shared types: entries, selectors, SPIFFE IDs, statuses.
        pub mod types {
            tonic::include_proto!("spire.api.types");
        }
        /// SPIRE server's APIs.
        pub mod server {
            /// The Entry API.
            pub mod entry {
                /// Version 1.
                pub mod v1 {
                    tonic::include_proto!("spire.api.server.entry.v1");
                }
            }
        }
    }
}
