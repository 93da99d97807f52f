//! A generation: the module set and policy set that one attestation runs with, and how the next
//! one is built from what is on disk.
//!
//! Invariant: a generation is immutable and complete. A new one is built and fully checked off
//! the hot path, then swapped in whole; if any part fails, none of it is used and the old one
//! keeps serving. An attestation takes one generation at its start and finishes on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use crate::attestation::Outcome;
use crate::audit::AuditError;
use crate::config::ConfigError;
use crate::facts::kubernetes::ClientConfigError;
use crate::fault::Fault;
use crate::policy::{Decision, Policies, PolicyError, PolicyFile, PolicySettings, default_files, read_dir};
use crate::sandbox::{LoadError, ModuleSpec, Runtime, Sandbox};
use crate::spiffe_id::TrustDomain;
use crate::workload::Workload;

/// Setting up an attestor failed: the configuration, a module or the policies are unusable.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A module.
    #[error(transparent)]
    Module(#[from] LoadError),
    /// The policies.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The Kubernetes source (kubelet credentials, API server client).
    #[error(transparent)]
    Kubernetes(#[from] ClientConfigError),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The `sigstore` block's trust material or registry settings cannot be used.
    #[error(transparent)]
    Sigstore(#[from] crate::facts::sigstore::SetupError),
}

impl SetupError {
    /// Who must act for this to go away: the part's own fault (an unreadable module path is
    /// the operator's, a module that is not a component its author's, a broken engine the
    /// host's).
    pub fn fault(&self) -> Fault {
        match self {
            Self::Config(e) => e.fault(),
            Self::Module(e) => e.fault(),
            Self::Policy(e) => e.fault(),
            Self::Sigstore(e) => e.fault(),
            Self::Kubernetes(e) => e.fault(),
            Self::Audit(e) => e.fault(),
        }
    }
}

/// The module set and policies in force.
#[derive(Debug)]
pub struct Generation {
    /// The Wasm modules.
    pub sandbox: Arc<Sandbox>,
    /// The live policies.
    pub policies: Arc<Policies>,
    /// Policies evaluated beside the live ones, whose answers are only compared and logged.
    pub shadow: Option<Arc<Policies>>,
    /// Outcomes already reached in this generation, by the facts they were reached from.
    known: Option<Known>,
    fingerprint: Fingerprint,
}

/// Outcomes by the gathered facts they came from. Modules are deterministic in their input (no
/// clock, files or randomness reach a guest) and, when no policy reads `context.now`, so are
/// decisions: the same facts in the same generation always lead to the same outcome, so a
/// process that attests again (every SVID fetch of a SPIRE agent) skips modules and policies.
/// The key is the whole gathered workload, PID and start time included; equality, not a hash,
/// decides a hit. A new generation starts empty.
#[derive(Debug, Default)]
struct Known(RwLock<HashMap<Workload, Arc<Outcome>, foldhash::fast::RandomState>>);

/// Outcomes kept before the map is emptied: far more processes than a node runs that fetch
/// SVIDs, and a bound on memory (an entry is a few KiB).
const MAX_KNOWN: usize = 1024;

impl Known {
    fn get(&self, facts: &Workload) -> Option<Arc<Outcome>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).get(facts).cloned()
    }

    fn insert(&self, facts: Workload, outcome: &Arc<Outcome>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_KNOWN {
            map.clear();
        }
        map.insert(facts, Arc::clone(outcome));
    }
}

/// What was on disk when a generation was built. Policy files are compared by content (they
/// are small); module files by size and modification time (their pinned digest is checked on
/// every load anyway).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Fingerprint {
    policies: Vec<PolicyFile>,
    shadow: Option<Vec<PolicyFile>>,
    modules: Vec<Option<(u64, SystemTime)>>,
}

/// How generations are built: the parts of the configuration whose inputs live on disk.
#[derive(Debug)]
pub struct Recipe {
    runtime: Arc<Runtime>,
    policy: PolicySettings,
    trust_domain: TrustDomain,
    modules: Vec<ModuleSpec>,
    /// The inputs of the last refused generation: the same files are not rebuilt (nor the same
    /// error logged) every interval until something changes again.
    refused: Mutex<Option<Fingerprint>>,
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// Nothing on disk changed.
    Unchanged,
    /// A new generation is in force.
    Swapped {
        /// The previous policy generation hash.
        from: String,
        /// The new one.
        to: String,
    },
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn read_policies(dir: Option<&PathBuf>) -> Result<Vec<PolicyFile>, crate::policy::PolicyError> {
    match dir {
        Some(dir) => read_dir(dir),
        None => Ok(default_files()),
    }
}

impl Recipe {
    /// A recipe from configuration parts.
    pub fn new(
        runtime: Arc<Runtime>,
        policy: PolicySettings,
        trust_domain: TrustDomain,
        modules: Vec<ModuleSpec>,
    ) -> Self {
        Self { runtime, policy, trust_domain, modules, refused: Mutex::new(None) }
    }

    /// Whether anything this recipe reads can change on disk (otherwise nobody needs to watch).
    pub fn watches_disk(&self) -> bool {
        self.policy.dir.is_some() || self.policy.shadow_dir.is_some() || !self.modules.is_empty()
    }

    /// How often to look for changes.
    pub fn interval(&self) -> std::time::Duration {
        self.policy.reload_interval
    }

    fn fingerprint(&self) -> Result<Fingerprint, SetupError> {
        Ok(Fingerprint {
            policies: read_policies(self.policy.dir.as_ref())?,
            // A shadow directory that cannot be read is reported when it is loaded.
            shadow: self.policy.shadow_dir.as_ref().map(|d| read_dir(d).unwrap_or_default()),
            modules: self.modules.iter().map(|m| stamp(&m.path)).collect(),
        })
    }

    /// Build the first generation. Every part must load.
    pub fn build(&self) -> Result<Generation, SetupError> {
        let fingerprint = self.fingerprint()?;
        let policies = Arc::new(self.policies(&fingerprint.policies)?);
        let sandbox = Arc::new(Sandbox::load(Arc::clone(&self.runtime), self.modules.clone())?);
        let shadow = self.shadow(fingerprint.shadow.as_deref())?;
        Ok(Generation::new(sandbox, policies, shadow, fingerprint))
    }

    fn policies(&self, files: &[PolicyFile]) -> Result<Policies, SetupError> {
        Ok(Policies::from_files(files, &self.policy, &self.trust_domain)?)
    }

    fn shadow(&self, files: Option<&[PolicyFile]>) -> Result<Option<Arc<Policies>>, SetupError> {
        let Some(dir) = &self.policy.shadow_dir else { return Ok(None) };
        let files = match files {
            Some(f) if !f.is_empty() => f.to_vec(),
            // Read again to report why it cannot be read.
            _ => read_dir(dir)?,
        };
        let settings = PolicySettings { dir: Some(dir.clone()), ..self.policy.clone() };
        Ok(Some(Arc::new(Policies::from_files(&files, &settings, &self.trust_domain)?)))
    }

    /// Build the generation that should follow `current`, reusing every part whose inputs did
    /// not change. `Ok(None)`: nothing changed (and `force` was not set). `force` (SIGHUP)
    /// reloads module files even when their size and time look unchanged.
    pub fn rebuild(&self, current: &Generation, force: bool) -> Result<Option<Generation>, SetupError> {
        let fingerprint = self.fingerprint()?;
        let mut refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !force && (fingerprint == current.fingerprint || refused.as_ref() == Some(&fingerprint)) {
            return Ok(None);
        }
        match self.next(current, fingerprint.clone(), force) {
            Ok(next) => {
                *refused = None;
                Ok(Some(next))
            }
            Err(e) => {
                *refused = Some(fingerprint);
                Err(e)
            }
        }
    }

    fn next(&self, current: &Generation, fingerprint: Fingerprint, force: bool) -> Result<Generation, SetupError> {
        let policies = if fingerprint.policies == current.fingerprint.policies {
            Arc::clone(&current.policies)
        } else {
            Arc::new(self.policies(&fingerprint.policies)?)
        };
        let sandbox = if fingerprint.modules == current.fingerprint.modules && !force {
            Arc::clone(&current.sandbox)
        } else {
            Arc::new(Sandbox::load(Arc::clone(&self.runtime), self.modules.clone())?)
        };
        let shadow = if fingerprint.shadow == current.fingerprint.shadow {
            current.shadow.clone()
        } else {
            self.shadow(fingerprint.shadow.as_deref())?
        };
        Ok(Generation::new(sandbox, policies, shadow, fingerprint))
    }
}

impl Generation {
    fn new(
        sandbox: Arc<Sandbox>,
        policies: Arc<Policies>,
        shadow: Option<Arc<Policies>>,
        fingerprint: Fingerprint,
    ) -> Self {
        let known = policies.decisions_are_reusable().then(Known::default);
        Self { sandbox, policies, shadow, known, fingerprint }
    }

    /// A generation assembled from parts built elsewhere (benchmarks, tools); never rebuilt.
    pub fn from_parts(sandbox: Sandbox, policies: Policies) -> Self {
        Self::new(Arc::new(sandbox), Arc::new(policies), None, Fingerprint::default())
    }

    /// The outcome these gathered facts led to earlier in this generation, if any.
    pub fn known(&self, facts: &Workload) -> Option<Arc<Outcome>> {
        self.known.as_ref()?.get(facts)
    }

    /// Remember the outcome `facts` led to, when it may be reused (see [`Outcome::reusable`]).
    pub fn remember(&self, facts: Workload, outcome: &Arc<Outcome>) {
        if let Some(known) = &self.known
            && outcome.reusable()
        {
            known.insert(facts, outcome);
        }
    }

    /// Decide `workload` with the shadow policies too and log where the answers differ. The
    /// live answer is never changed by this.
    pub fn compare_shadow(&self, workload: &Workload, live: &Decision) {
        let Some(shadow) = &self.shadow else { return };
        let pid = workload.unix.pid.0;
        match shadow.decide(workload) {
            Err(e) => tracing::warn!(target: "attestor::shadow", pid, error = %e, "shadow policies failed to decide"),
            Ok(other) => {
                let differences = differences(live, &other, ["live", "shadow"]);
                if !differences.is_empty() {
                    tracing::info!(
                        target: "attestor::shadow",
                        pid,
                        live_generation = live.policy_generation.as_str(),
                        shadow_generation = other.policy_generation.as_str(),
                        differences = differences.join("; ").as_str(),
                        "shadow policies decide differently"
                    );
                }
            }
        }
    }
}

/// Where two decisions for one workload differ, in words; `names` says what to call each side
/// (`["live", "shadow"]`).
pub fn differences(a: &Decision, b: &Decision, names: [&str; 2]) -> Vec<String> {
    let [na, nb] = names;
    let mut out = Vec::new();
    if a.gate.decision != b.gate.decision {
        out.push(format!("gate: {na} {}, {nb} {}", a.gate.decision, b.gate.decision));
    }
    let ids = |d: &Decision| d.issued.iter().map(|i| i.id.to_string()).collect::<Vec<_>>();
    let (ia, ib) = (ids(a), ids(b));
    for id in ia.iter().filter(|i| !ib.contains(i)) {
        out.push(format!("{id}: issued by {na}, not by {nb}"));
    }
    for id in ib.iter().filter(|i| !ia.contains(i)) {
        out.push(format!("{id}: issued by {nb}, not by {na}"));
    }
    if ia.first() != ib.first() && !ia.is_empty() && !ib.is_empty() {
        out.push(format!("default ID: {na} {}, {nb} {}", ia[0], ib[0]));
    }
    for s in a.emitted.iter().filter(|s| !b.emitted.contains(s)) {
        out.push(format!("selector {s}: emitted by {na}, suppressed by {nb}"));
    }
    for s in b.emitted.iter().filter(|s| !a.emitted.contains(s)) {
        out.push(format!("selector {s}: emitted by {nb}, suppressed by {na}"));
    }
    out
}

#[cfg(test)]
mod tests;
