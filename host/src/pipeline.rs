//! The pipeline: gather → enrich → decide, for one PID, under one configuration.
//!
//! Invariant: stages run in order and each sees only the previous stage's output; any stage's
//! error ends the attestation with that error and nothing else (fail closed).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::attestation::{Attestation, ModuleReport};
use crate::audit::{AuditError, AuditLog};
use crate::config::{Config, ConfigError};
use crate::facts::kubernetes::{ClientConfigError, KubernetesSource, SourceMode};
use crate::facts::{GatherError, Gatherer, LocalFacts};
use crate::generation::{Generation, Recipe, Reloaded};
use crate::policy::{DecideError, Decision, Policies, PolicyError};
use crate::sandbox::{CallError, LoadError, Runtime, Sandbox};
use crate::workload::{Pid, Workload};

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
}

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

/// A configured attestor: a gatherer, the generation (modules and policies) in force, and the
/// audit log. The generation can be replaced while attestations run ([`Attestor::reload`]).
#[derive(Debug)]
pub struct Attestor {
    gatherer: Gatherer,
    current: RwLock<Arc<Generation>>,
    recipe: Option<Recipe>,
    audit: AuditLog,
}

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
        let audit = AuditLog::open(&config.audit)?;
        Ok(Self {
            gatherer: Gatherer::new(proc_root, config.unix.clone(), kubernetes),
            current: RwLock::new(Arc::new(generation)),
            recipe: Some(recipe),
            audit,
        })
    }

    /// Assemble an attestor from stages built elsewhere. It never reloads; records go to the log.
    pub fn from_parts(gatherer: Gatherer, sandbox: Sandbox, policies: Policies) -> Self {
        Self {
            gatherer,
            current: RwLock::new(Arc::new(Generation::from_parts(sandbox, policies))),
            recipe: None,
            audit: AuditLog::to_log(),
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
        let Some(recipe) = &self.recipe else { return Ok(Reloaded::Unchanged) };
        let current = self.generation();
        let Some(next) = recipe.rebuild(&current, force)? else { return Ok(Reloaded::Unchanged) };
        let from = current.policies.generation().to_owned();
        let to = next.policies.generation().to_owned();
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(Reloaded::Swapped { from, to })
    }

    /// Attest one process. The blocking stages (procfs, guests) run on the blocking pool, never
    /// on an executor thread; the kubelet lookup is async and shared between callers.
    ///
    /// A process whose facts are all at hand (a host process, or a pod in the cached pod list)
    /// is attested in one trip to the blocking pool; only a kubelet request makes it two.
    /// Every attestation, answered or failed, leaves one audit record.
    pub async fn attest(self: &Arc<Self>, pid: Pid) -> Result<Attestation, AttestError> {
        let generation = self.generation();
        let result = self.attest_with(&generation, pid).await;
        if let Err(e) = &result {
            self.audit.failed(pid, generation.policies.generation(), e);
        }
        result
    }

    async fn attest_with(self: &Arc<Self>, generation: &Arc<Generation>, pid: Pid) -> Result<Attestation, AttestError> {
        let me = Arc::clone(self);
        let g = Arc::clone(generation);
        let first = tokio::task::spawn_blocking(move || -> Result<Result<Attestation, LocalFacts>, AttestError> {
            let local = me.gatherer.gather_local(pid)?;
            match me.gatherer.finish_now(local)? {
                Ok(workload) => me.enrich_and_decide_with(&g, workload).map(Ok),
                Err(pending) => Ok(Err(pending)),
            }
        })
        .await
        .map_err(task)??;
        let local = match first {
            Ok(attestation) => return Ok(attestation),
            Err(local) => local,
        };
        let workload = self.gatherer.finish(local).await?;
        let me = Arc::clone(self);
        let g = Arc::clone(generation);
        tokio::task::spawn_blocking(move || me.enrich_and_decide_with(&g, workload)).await.map_err(task)?
    }

    /// Run the modules and the policies on gathered facts, with the generation in force.
    /// Blocking. Leaves an audit record only when it succeeds (see [`Attestor::attest`]).
    pub fn enrich_and_decide(&self, workload: Workload) -> Result<Attestation, AttestError> {
        self.enrich_and_decide_with(&self.generation(), workload)
    }

    fn enrich_and_decide_with(&self, g: &Arc<Generation>, mut workload: Workload) -> Result<Attestation, AttestError> {
        let runs = g.sandbox.enrich(&mut workload)?;
        let decision = g.policies.decide(&workload)?;
        if g.shadow.is_some() {
            self.shadow(g, &workload, &decision);
        }
        let attestation =
            Attestation { workload, modules: runs.into_iter().map(ModuleReport::from).collect(), decision };
        self.audit.attested(&attestation);
        Ok(attestation)
    }

    /// Shadow policies never delay the answer: they run on another blocking thread when there
    /// is a runtime, inline otherwise (tools).
    fn shadow(&self, g: &Arc<Generation>, workload: &Workload, decision: &Decision) {
        let (g, workload, decision) = (Arc::clone(g), workload.clone(), decision.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || g.compare_shadow(&workload, &decision));
            }
            Err(_) => g.compare_shadow(&workload, &decision),
        }
    }
}

fn task(e: tokio::task::JoinError) -> AttestError {
    AttestError::Task(e.to_string())
}
