//! The pipeline: gather → enrich → decide, for one PID, under one configuration.
//!
//! Invariant: stages run in order and each sees only the previous stage's output; any stage's
//! error ends the attestation with that error and nothing else (fail closed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

use crate::attestation::{Attestation, ModuleReport, Outcome};
use crate::audit::AuditLog;
use crate::config::Config;
use crate::facts::kubernetes::{KubernetesSource, SourceMode};
use crate::facts::sigstore::ImageVerifier;
use crate::facts::{GatherError, Gatherer};
use crate::fault::Fault;
use crate::generation::{Generation, Recipe, Reloaded, SetupError};
use crate::policy::{DecideError, Policies};
use crate::sandbox::{CallError, Runtime, Sandbox};
use crate::workload::{Pid, Workload};

/// One attestation failed. Nothing is emitted.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// Facts could not be gathered.
    #[error(transparent)]
    Gather(#[from] GatherError),
    /// A required module failed.
    #[error(transparent)]
    Module(#[from] CallError),
    /// The policy stage failed.
    #[error(transparent)]
    Decide(#[from] DecideError),
    /// A blocking task panicked or was cancelled (a host bug).
    #[error("attestation task failed: {0}")]
    Task(String),
}

impl AttestError {
    /// Who must act for this to go away; the plugin's status code and the audit record's
    /// `fault` follow from it.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Gather(e) => e.fault(),
            Self::Module(e) => e.fault(),
            Self::Decide(e) => e.fault(),
            Self::Task(_) => Fault::Host,
        }
    }
}

/// A configured attestor: a gatherer, the generation (modules and policies) in force, and the
/// audit log. The generation can be replaced while attestations run ([`Attestor::reload`]).
#[derive(Debug)]
pub struct Attestor {
    gatherer: Gatherer,
    current: RwLock<Arc<Generation>>,
    recipe: Option<Recipe>,
    audit: AuditLog,
    shadow_slots: Arc<Semaphore>,
    shadow_dropped: AtomicU64,
}

/// Shadow comparisons running at once, at most: one per core of the machine this was tuned on;
/// a comparison costs what a decision costs.
pub const MAX_SHADOW_IN_FLIGHT: usize = 2;

impl Attestor {
    /// Build every stage from a configuration. `runtime` is shared by all attestors of a
    /// process so that a reload does not create a second engine.
    ///
    /// `k8s_mode` applies when the config does not set `k8s_source`.
    pub fn new(
        config: &Config,
        runtime: Arc<Runtime>,
        proc_root: impl Into<PathBuf>,
        k8s_mode: SourceMode,
    ) -> Result<Self, SetupError> {
        let recipe = Recipe::new(runtime, config.policy.clone(), config.trust_domain.clone(), config.modules.clone());
        let generation = recipe.build()?;
        let kubernetes = KubernetesSource::new(&config.kubernetes, k8s_mode)?;
        let sigstore = match &config.sigstore {
            Some(settings) => Some(Arc::new(ImageVerifier::new(settings)?)),
            None => None,
        };
        let audit = AuditLog::open(&config.audit)?;
        Ok(Self {
            gatherer: Gatherer::new(proc_root, config.unix.clone(), kubernetes).with_sigstore(sigstore),
            current: RwLock::new(Arc::new(generation)),
            recipe: Some(recipe),
            audit,
            shadow_slots: Arc::new(Semaphore::new(MAX_SHADOW_IN_FLIGHT)),
            shadow_dropped: AtomicU64::new(0),
        })
    }

    /// Assemble an attestor from stages built elsewhere. It never reloads; records go to the log.
    pub fn from_parts(gatherer: Gatherer, sandbox: Sandbox, policies: Policies) -> Self {
        Self {
            gatherer,
            current: RwLock::new(Arc::new(Generation::from_parts(sandbox, policies))),
            recipe: None,
            audit: AuditLog::to_log(),
            shadow_slots: Arc::new(Semaphore::new(MAX_SHADOW_IN_FLIGHT)),
            shadow_dropped: AtomicU64::new(0),
        }
    }

    /// The generation in force.
    pub fn generation(&self) -> Arc<Generation> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The policy generation in force.
    pub fn policies(&self) -> Arc<Policies> {
        Arc::clone(&self.generation().policies)
    }

    /// The module set in force.
    pub fn sandbox(&self) -> Arc<Sandbox> {
        Arc::clone(&self.generation().sandbox)
    }

    /// The gatherer.
    pub fn gatherer(&self) -> &Gatherer {
        &self.gatherer
    }

    /// How this attestor's inputs are rebuilt from disk, when they come from disk.
    pub fn recipe(&self) -> Option<&Recipe> {
        self.recipe.as_ref()
    }

    /// Look at the policy directories and module files; if anything changed, build and check a
    /// whole new generation and swap it in. On error the old generation keeps serving. Blocking
    /// (it reads files and may compile modules): call it off the async executor.
    pub fn reload(&self, force: bool) -> Result<Reloaded, SetupError> {
        // The Sigstore trust material (`trusted_root`, `public_keys`) is re-read on the same
        // tick; a file that no longer loads leaves the old material serving, as a refused
        // generation does.
        if let Some(verifier) = self.gatherer.sigstore() {
            match verifier.refresh(force) {
                Ok(true) => tracing::info!("new Sigstore trust material in force; cached image verdicts dropped"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "Sigstore trust material refused; the previous one keeps serving")
                }
            }
        }
        let Some(recipe) = &self.recipe else { return Ok(Reloaded::Unchanged) };
        let current = self.generation();
        let Some(next) = recipe.rebuild(&current, force)? else { return Ok(Reloaded::Unchanged) };
        let from = current.policies.generation().to_owned();
        let to = next.policies.generation().to_owned();
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(Reloaded::Swapped { from, to })
    }

    /// Attest one process. Every attestation, answered or failed, leaves one audit record.
    ///
    /// The common case runs on the calling task without a trip to the blocking pool: reading
    /// the small procfs files the kernel answers from memory, matching the cached pod list, and
    /// finding the outcome these facts led to before in this generation. Handing each
    /// attestation to a blocking thread and back cost two context switches and futex wake-ups,
    /// the largest item (15 % of samples) in a profile of the plugin at 8 streams. Only what can
    /// take long goes to the blocking pool: hashing an executable seen for the first time,
    /// running modules, and evaluating policies for facts not seen before. The kubelet lookup is
    /// async and shared between callers.
    pub async fn attest(self: &Arc<Self>, pid: Pid) -> Result<Attestation, AttestError> {
        let generation = self.generation();
        let result = self.attest_with(&generation, pid).await;
        match &result {
            Ok(a) => self.audit.attested(a),
            Err(e) => self.audit.failed(pid, generation.policies.generation(), e, e.fault()),
        }
        result
    }

    async fn attest_with(self: &Arc<Self>, generation: &Arc<Generation>, pid: Pid) -> Result<Attestation, AttestError> {
        let local = match self.gatherer.gather_local_now(pid)? {
            Some(local) => local,
            None => {
                let me = Arc::clone(self);
                tokio::task::spawn_blocking(move || me.gatherer.gather_local(pid)).await.map_err(task)??
            }
        };
        let facts = match self.gatherer.finish_now(local)? {
            Ok(facts) => facts,
            Err(local) => self.gatherer.finish(local).await?,
        };
        if let Some(known) = generation.known(&facts) {
            return Ok(Attestation::reused(known));
        }
        let me = Arc::clone(self);
        let g = Arc::clone(generation);
        tokio::task::spawn_blocking(move || me.evaluate(&g, facts)).await.map_err(task)?
    }

    /// Run the modules and the policies on gathered facts, with the generation in force, and
    /// leave an audit record. Blocking.
    pub fn enrich_and_decide(&self, workload: Workload) -> Result<Attestation, AttestError> {
        let result = self.evaluate(&self.generation(), workload);
        if let Ok(a) = &result {
            self.audit.attested(a);
        }
        result
    }

    /// Modules, then policies, then the shadow comparison; the outcome is remembered for the
    /// same facts. Blocking: guests run on the calling thread.
    fn evaluate(&self, g: &Arc<Generation>, facts: Workload) -> Result<Attestation, AttestError> {
        let mut workload = facts.clone();
        let runs = g.sandbox.enrich(&mut workload)?;
        let decision = g.policies.decide(&workload)?;
        let outcome = Arc::new(Outcome::new(workload, runs.into_iter().map(ModuleReport::from).collect(), decision));
        if g.shadow.is_some() {
            self.shadow(g, &outcome);
        }
        g.remember(facts, &outcome);
        Ok(Attestation::decided(outcome))
    }

    /// Shadow policies never delay the answer: they run on another blocking thread when there
    /// is a runtime (at most [`MAX_SHADOW_IN_FLIGHT`] at once: beyond that a comparison is
    /// dropped and counted, so a slow shadow set cannot take the blocking pool from
    /// attestations), inline otherwise (tools).
    fn shadow(&self, g: &Arc<Generation>, outcome: &Arc<Outcome>) {
        let (g, outcome) = (Arc::clone(g), Arc::clone(outcome));
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            g.compare_shadow(&outcome.workload, &outcome.decision);
            return;
        };
        let Ok(permit) = Arc::clone(&self.shadow_slots).try_acquire_owned() else {
            let dropped = self.shadow_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    target: "attestor::shadow",
                    dropped,
                    "shadow comparisons dropped: the shadow policies cannot keep up with attestations"
                );
            }
            return;
        };
        handle.spawn_blocking(move || {
            g.compare_shadow(&outcome.workload, &outcome.decision);
            drop(permit);
        });
    }

    /// Shadow comparisons dropped because [`MAX_SHADOW_IN_FLIGHT`] were already running.
    pub fn shadow_dropped(&self) -> u64 {
        self.shadow_dropped.load(Ordering::Relaxed)
    }
}

fn task(e: tokio::task::JoinError) -> AttestError {
    AttestError::Task(e.to_string())
}

#[cfg(test)]
mod tests;
