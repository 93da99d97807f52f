//! attestor: a workload attestor host for SPIFFE.
//!
//! A process asks for an identity; attestor takes its PID and answers which selectors describe it
//! and which SPIFFE IDs it may hold. The answer flows one way through four stages:
//!
//! ```text
//!  PID ─► gather (facts) ─► Workload ─► enrich (sandbox) ─► decide (policy) ─► Attestation ─► surfaces
//! ```
//!
//! * [`facts`] reads what the kernel knows about the process into a [`Workload`].
//! * [`sandbox`] runs operator-written Wasm components that add selectors and facts, under hard
//!   fuel, memory, time and output limits.
//! * [`policy`] evaluates Cedar policies: which selectors leave the host, which SPIFFE IDs the
//!   workload may hold, and which policy decided.
//! * [`pipeline`] wires the stages together; [`cli`] renders the resulting [`Attestation`].
//!
//! See `ARCHITECTURE.md` at the repository root for the code map and each module's invariant.

pub mod attestation;
pub mod audit;
pub mod cli;
pub mod config;
pub mod facts;
pub mod fault;
pub mod generation;
pub mod pipeline;
pub mod policy;
pub mod psat;
pub mod registrar;
pub mod reload;
pub mod sandbox;
pub mod selector;
pub mod spiffe_id;
pub mod spire;
pub mod text;
pub mod time;
pub mod workload;

pub use attestation::{Attestation, Outcome};
pub use selector::Selector;
pub use spiffe_id::{SpiffeId, TrustDomain};
pub use workload::Workload;
