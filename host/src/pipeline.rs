//! The pipeline: gather → enrich → decide, for one PID, under one configuration.
//!
//! Invariant: stages run in order and each sees only the previous stage's output; any stage's
//! error ends the attestation with that error and nothing else (fail closed).

use std::path::PathBuf;
use std::sync::Arc;

use crate::attestation::{Attestation, ModuleReport};
use crate::config::{Config, ConfigError};
use crate::facts::kubernetes::{ClientConfigError, KubernetesSource, SourceMode};
use crate::facts::{GatherError, Gatherer, LocalFacts};
use crate::policy::{DecideError, Policies, PolicyError};
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

/// A configured attestor: gatherer, module set and policy generation, ready to attest.
#[derive(Debug)]
pub struct Attestor {
    gatherer: Gatherer,
    sandbox: Sandbox,
    policies: Policies,
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
        let policies = Policies::load(&config.policy, &config.trust_domain)?;
        let sandbox = Sandbox::load(runtime, config.modules.clone())?;
        let kubernetes = KubernetesSource::new(&config.kubernetes, k8s_mode)?;
        Ok(Self { gatherer: Gatherer::new(proc_root, config.unix.clone(), kubernetes), sandbox, policies })
    }

    /// Assemble an attestor from stages built elsewhere.
    pub fn from_parts(gatherer: Gatherer, sandbox: Sandbox, policies: Policies) -> Self {
        Self { gatherer, sandbox, policies }
    }

    /// The policy generation.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The module set.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The gatherer.
    pub fn gatherer(&self) -> &Gatherer {
        &self.gatherer
    }

    /// Attest one process. The blocking stages (procfs, guests) run on the blocking pool, never
    /// on an executor thread; the kubelet lookup is async and shared between callers.
    ///
    /// A process whose facts are all at hand (a host process, or a pod in the cached pod list)
    /// is attested in one trip to the blocking pool; only a kubelet request makes it two.
    pub async fn attest(self: &Arc<Self>, pid: Pid) -> Result<Attestation, AttestError> {
        let me = Arc::clone(self);
        let first = tokio::task::spawn_blocking(move || -> Result<Result<Attestation, LocalFacts>, AttestError> {
            let local = me.gatherer.gather_local(pid)?;
            match me.gatherer.finish_now(local)? {
                Ok(workload) => me.enrich_and_decide(workload).map(Ok),
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
        tokio::task::spawn_blocking(move || me.enrich_and_decide(workload)).await.map_err(task)?
    }

    /// Run the modules and the policies on gathered facts. Blocking.
    pub fn enrich_and_decide(&self, mut workload: Workload) -> Result<Attestation, AttestError> {
        let runs = self.sandbox.enrich(&mut workload)?;
        let decision = self.policies.decide(&workload)?;
        Ok(Attestation { workload, modules: runs.into_iter().map(ModuleReport::from).collect(), decision })
    }
}

fn task(e: tokio::task::JoinError) -> AttestError {
    AttestError::Task(e.to_string())
}
