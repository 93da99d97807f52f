//! The `Workload`: every fact about one process, carried from gathering to decision.
//!
//! Invariant: a `Workload` is plain data. It is built by `facts` (gather), extended by `sandbox`
//! (enrich: module selectors and facts), and only read by `policy` (decide). Nothing in it refers
//! back to the process: re-reading `/proc` after gathering would let a process that exits or
//! changes between stages be judged on facts from two different moments.
//!
//! `AgentFacts` (`agent.rs`) is the same kind of plain data for the other subject policies decide
//! on: a SPIRE agent in node attestation.

mod agent;
mod facts;
mod kubernetes;
mod recorded;
pub mod sample;
mod unix;

use serde::{Deserialize, Serialize};

pub use agent::AgentFacts;
pub use facts::{FactKey, Facts, InvalidFactKey};
pub use kubernetes::{
    ContainerFacts, ContainerId, ImageRef, InvalidId, KubernetesFacts, OwnerReference, PodFacts, PodUid,
    SignatureFacts, SigstoreFacts,
};
pub use recorded::read_recorded;
pub use unix::{Gid, Pid, Uid, UnixFacts};

use crate::selector::Selector;

/// Everything known about one workload.
///
/// Serialised, this is the "facts file" that `attestor attest --dump-facts` writes and that
/// `attestor module run --facts` and policy fixtures read back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// What the kernel says about the process.
    pub unix: UnixFacts,
    /// The pod and container, for processes that run in Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesFacts>,
    /// Free-form facts keyed `<source>.<key>`: host facts and module facts.
    #[serde(default)]
    pub facts: Facts,
    /// Selectors gathered so far, in the order the sources produced them.
    #[serde(default)]
    pub selectors: Vec<Selector>,
}

impl Workload {
    /// A workload with only unix facts, and no selectors yet.
    pub fn new(unix: UnixFacts) -> Self {
        Self { unix, kubernetes: None, facts: Facts::default(), selectors: Vec::new() }
    }

    /// The workload as gathering left it, before any module ran: the facts and selectors of
    /// sources that are not attestor's own (modules; their names are never reserved kinds)
    /// removed. What a module receives in production, from a recorded workload that
    /// `attest --dump-facts` wrote after enrichment.
    pub fn as_gathered(&self) -> Self {
        let own = |source: &str| crate::selector::SelectorKind::RESERVED.contains(&source);
        Self {
            unix: self.unix.clone(),
            kubernetes: self.kubernetes.clone(),
            facts: self.facts.iter().filter(|(k, _)| own(k.source())).map(|(k, v)| (k.clone(), v.clone())).collect(),
            selectors: self.selectors.iter().filter(|s| s.kind().is_reserved()).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
