//! Decide: Cedar policies choose which selectors leave the host and which SPIFFE IDs the
//! workload may hold, and say which policy decided.
//!
//! Invariant: deny wins and errors deny. A gate or guard that fails to evaluate counts as a
//! `forbid` that matched (Cedar itself would skip it, failing open); a selector filter that fails
//! suppresses its selector. A policy generation is immutable once loaded and carries a hash of
//! everything that went into it.
//!
//! Passes per attestation: `attest` (gate), `propose` (identity rules), `issue` (one request per
//! rendered candidate), `emit` (one per selector, memoised when the filters look only at the
//! selector).

mod data;
mod decide;
mod decision;
mod entities;
mod error;
pub mod fixture;
mod load;
mod node;
mod possible;
mod rules;
mod slice;
mod source;
mod template;
mod watched;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use cedar_policy::{Authorizer, Schema};

pub use data::{Link, PrefixTable};
pub use decision::{Candidate, Decision, Fate, IssuedId, SelectorReport, Suppressed, Verdict};
pub use error::{DecideError, Location, PolicyError};
pub use load::{PolicyKind, PolicyMeta, SCHEMA};
pub use node::{NodeDecision, NodeVerdict};
pub use possible::{Approximation, PodDecision};
pub use rules::{AGENT_PATH, IdentityRule, NodeRule};
pub use source::{PolicyFile, Unlistable, default_files, files_under, is_hidden, is_policy_input, read_dir};
pub use template::{RenderEnv, RenderError, RenderSubject, Template, TemplateError, ValueRule, Var};
pub use watched::WatchedPolicies;

use crate::selector::Selector;
use crate::spiffe_id::TrustDomain;
use entities::Types;
use slice::Slice;

/// The decisions, each a Cedar action: four for workloads, one for agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pass {
    /// Gate: may this workload be attested at all?
    Attest,
    /// Identity rules: which IDs are proposed?
    Propose,
    /// Guards: may this candidate be issued?
    Issue,
    /// Selector filters: may this selector leave the host?
    Emit,
    /// Node attestation: may this agent join, and under which agent ID?
    AttestNode,
}

impl Pass {
    /// Every pass.
    pub const ALL: [Pass; 5] = [Pass::Attest, Pass::Propose, Pass::Issue, Pass::Emit, Pass::AttestNode];

    /// The pass of a Cedar action id.
    pub fn from_action(id: &str) -> Option<Self> {
        Some(match id {
            "attest" => Self::Attest,
            "propose" => Self::Propose,
            "issue" => Self::Issue,
            "emit" => Self::Emit,
            "attest_node" => Self::AttestNode,
            _ => return None,
        })
    }
}

/// Where policies come from (the config's `policy { … }` block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySettings {
    /// A directory of `.cedar` files (plus `links.json`, `id-prefixes.json`); `None` uses the
    /// embedded default set.
    pub dir: Option<PathBuf>,
    /// The `{cluster}` template variable.
    pub cluster: Option<String>,
    /// Towards SPIRE, add one `spiffe-id:<id>` selector per issued SPIFFE ID.
    pub spiffe_id_selectors: bool,
    /// Trust domains `@federates_with` may name.
    pub federated_trust_domains: Vec<TrustDomain>,
    /// Cap on `@ttl`.
    pub max_ttl: Option<Duration>,
    /// Cap on `@jwt_ttl`.
    pub max_jwt_ttl: Option<Duration>,
    /// A second policy directory evaluated beside the live one; only differences are logged.
    pub shadow_dir: Option<PathBuf>,
    /// How often the policy directory is checked for changes (plugin mode); SIGHUP checks at once.
    pub reload_interval: Duration,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            dir: None,
            cluster: None,
            spiffe_id_selectors: false,
            federated_trust_domains: Vec::new(),
            max_ttl: None,
            max_jwt_ttl: None,
            shadow_dir: None,
            reload_interval: Duration::from_secs(5),
        }
    }
}

/// Most IDs one workload is issued; more matching rules are dropped (and audited).
pub const MAX_ISSUED: usize = 10;

/// One selector filter outcome: allowed, or suppressed by these policies.
#[derive(Debug)]
pub(crate) struct EmitVerdict {
    pub(crate) allow: bool,
    pub(crate) by: Vec<String>,
}

/// Memoised emit decisions per selector.
type EmitMemo = RwLock<HashMap<Selector, Arc<EmitVerdict>>>;

/// The request context of the current second on one node: `now` changes once a second, and
/// building a `datetime` value is costly enough to be worth sharing between attestations.
type ContextCache = Mutex<Option<(u64, String, cedar_policy::Context)>>;

/// One loaded, checked policy generation.
pub struct Policies {
    trust_domain: TrustDomain,
    cluster: Option<String>,
    prefixes: data::PrefixTable,
    warnings: Vec<PolicyError>,
    generation: String,
    schema: Schema,
    types: Types,
    metas: BTreeMap<String, PolicyMeta>,
    rules: Vec<IdentityRule>,
    node_rules: Vec<NodeRule>,
    /// Policies that read the workload's tags (judged whole when deciding from a pod object).
    reads_tags: std::collections::BTreeSet<String>,
    slices: HashMap<Pass, Slice>,
    emit_memo: Option<EmitMemo>,
    context_cache: ContextCache,
    /// No policy reads `context` (whose `now` would make an old answer stale): a decision is a
    /// function of the workload alone and may be reused for the same facts.
    context_free: bool,
    authorizer: Authorizer,
    strict_runtime_checks: bool,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("generation", &self.generation)
            .field("policies", &self.metas.len())
            .finish_non_exhaustive()
    }
}

impl Policies {
    /// Load the configured policy set (or the embedded default).
    pub fn load(settings: &PolicySettings, trust_domain: &TrustDomain) -> Result<Self, PolicyError> {
        let files = match &settings.dir {
            Some(dir) => read_dir(dir)?,
            None => default_files(),
        };
        Self::from_files(&files, settings, trust_domain)
    }

    /// Load a policy set from files already read.
    pub fn from_files(
        files: &[PolicyFile],
        settings: &PolicySettings,
        trust_domain: &TrustDomain,
    ) -> Result<Self, PolicyError> {
        let opts = load::LoadOptions {
            trust_domain,
            federated: &settings.federated_trust_domains,
            max_ttl: settings.max_ttl,
            max_jwt_ttl: settings.max_jwt_ttl,
        };
        let loaded = load::load(files, &opts)?;
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        let federated: Vec<&str> = settings.federated_trust_domains.iter().map(TrustDomain::as_str).collect();
        let caps = format!("{:?}/{:?}", settings.max_ttl, settings.max_jwt_ttl);
        let mut extra =
            vec![load::SCHEMA, trust_domain.as_str(), settings.cluster.as_deref().unwrap_or(""), caps.as_str()];
        extra.extend(federated);
        let generation = source::generation(files, &extra);
        Ok(Self {
            trust_domain: trust_domain.clone(),
            cluster: settings.cluster.clone(),
            prefixes: loaded.prefixes,
            warnings: loaded.warnings,
            generation,
            schema: loaded.schema,
            types: Types::new()?,
            metas: loaded.metas,
            rules: loaded.rules,
            node_rules: loaded.node_rules,
            reads_tags: loaded.reads_tags,
            slices: loaded.slices,
            emit_memo: loaded.emit_memoisable.then(|| RwLock::new(HashMap::new())),
            context_cache: Mutex::new(None),
            context_free: loaded.context_free,
            authorizer: Authorizer::new(),
            strict_runtime_checks: false,
        })
    }

    /// Also check every entity store and request against the schema while deciding. The host
    /// builds both by code, so conformance is its own invariant; tests and `explain` turn this
    /// on to prove it, production skips the cost.
    pub fn with_runtime_checks(mut self) -> Self {
        self.strict_runtime_checks = true;
        self
    }

    /// The generation hash.
    pub fn generation(&self) -> &str {
        &self.generation
    }

    /// The trust domain IDs are issued in.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// Every loaded policy by id.
    pub fn policies(&self) -> &BTreeMap<String, PolicyMeta> {
        &self.metas
    }

    /// The identity rules, by id.
    pub fn rules(&self) -> &[IdentityRule] {
        &self.rules
    }

    /// The node identity rules, in the order they are tried (priority, then id).
    pub fn node_rules(&self) -> &[NodeRule] {
        &self.node_rules
    }

    /// Whether any policy (not a host baseline) decides node attestation.
    pub fn decides_nodes(&self) -> bool {
        self.slices.get(&Pass::AttestNode).is_some_and(slice::Slice::has_user_policies)
    }

    /// Lint findings that did not refuse the set.
    pub fn warnings(&self) -> &[PolicyError] {
        &self.warnings
    }

    /// SPIFFE ID prefix ownership, from `id-prefixes.json`.
    pub fn prefixes(&self) -> &data::PrefixTable {
        &self.prefixes
    }

    /// Whether emit decisions are memoised for this generation.
    pub fn emit_memoised(&self) -> bool {
        self.emit_memo.is_some()
    }
}

#[cfg(test)]
mod tests;
