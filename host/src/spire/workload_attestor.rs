//! The `WorkloadAttestor` role: SPIRE's agent asks for a PID's selectors.

use std::sync::{Arc, Mutex, RwLock};

use tonic::{Request, Response, Status};

use super::configurable::{Configurable, Configured};
use super::proto::spire::plugin::agent::workloadattestor::v1 as wa;
use super::status;
use crate::attestation::Attestation;
use crate::facts::kubernetes::SourceMode;
use crate::generation::SetupError;
use crate::pipeline::Attestor;
use crate::sandbox::{Runtime, RuntimeSettings};
use crate::workload::Pid;

/// One configuration generation.
struct Generation {
    attestor: Arc<Attestor>,
    spiffe_id_selectors: bool,
    /// Reloads policies and modules from disk while this configuration is in force.
    _watch: Option<crate::reload::Watch>,
}

/// The workload attestor plugin. Configuration is swapped atomically: calls in flight finish on
/// the generation they started with.
pub struct WorkloadAttestorPlugin {
    /// The Wasm runtime of the last configuration, reused while its `sandbox { … }` settings
    /// stay the same (an engine and its instance pool are built once, not per `Configure`).
    runtime: Mutex<Option<Arc<Runtime>>>,
    current: RwLock<Option<Arc<Generation>>>,
}

impl Default for WorkloadAttestorPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkloadAttestorPlugin {
    /// A plugin that answers "not configured" until its first `Configure`.
    pub fn new() -> Self {
        Self { runtime: Mutex::new(None), current: RwLock::new(None) }
    }

    /// The runtime for `settings`: the current one when its settings are the same, else a new
    /// one (the old one lives on until the last generation using it is gone).
    fn runtime(&self, settings: &RuntimeSettings) -> Result<Arc<Runtime>, SetupError> {
        let mut slot = self.runtime.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = slot.as_ref().filter(|r| r.settings() == settings) {
            return Ok(Arc::clone(r));
        }
        let runtime = Arc::new(Runtime::new(settings.clone())?);
        *slot = Some(Arc::clone(&runtime));
        Ok(runtime)
    }

    fn current(&self) -> Option<Arc<Generation>> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// SPIFFE IDs, comma-separated, rendered on demand.
struct IdList<'a>(&'a [crate::policy::IssuedId]);

impl std::fmt::Display for IdList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, i) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", i.id)?;
        }
        Ok(())
    }
}

/// What SPIRE gets: the `k8s` source's values bare (SPIRE prefixes the block's name, so a block
/// named `k8s` matches existing entries), other sources' values with their own kind, and one
/// `spiffe-id:<id>` per issued ID when configured.
pub fn selector_values(a: &Attestation, spiffe_id_selectors: bool) -> Vec<String> {
    let mut values: Vec<String> = a
        .selectors()
        .iter()
        .map(|s| if s.kind().as_str() == "k8s" { s.value().to_owned() } else { s.to_string() })
        .collect();
    if spiffe_id_selectors {
        values.extend(a.spiffe_ids().iter().map(|i| format!("spiffe-id:{}", i.id)));
    }
    values
}

impl Configurable for WorkloadAttestorPlugin {
    fn apply(&self, configured: Configured) -> Result<(), SetupError> {
        let Configured { config, proc_root } = configured;
        let runtime = self.runtime(&config.sandbox)?;
        let attestor = Arc::new(Attestor::new(&config, runtime, proc_root, SourceMode::Enabled)?);
        let watch = crate::reload::watch(&attestor);
        let generation = Generation { attestor, spiffe_id_selectors: config.policy.spiffe_id_selectors, _watch: watch };
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(generation));
        Ok(())
    }
}

#[tonic::async_trait]
impl wa::workload_attestor_server::WorkloadAttestor for WorkloadAttestorPlugin {
    async fn attest(&self, request: Request<wa::AttestRequest>) -> Result<Response<wa::AttestResponse>, Status> {
        super::guard::test_panic("attest");
        let Some(generation) = self.current() else { return Err(Status::failed_precondition("not configured")) };
        let pid = request.into_inner().pid;
        let pid = u32::try_from(pid)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Status::invalid_argument(format!("invalid pid {pid}")))?;
        match generation.attestor.attest(Pid(pid)).await {
            Ok(a) => {
                let values = selector_values(&a, generation.spiffe_id_selectors);
                // Field values are only rendered when the line is enabled.
                tracing::debug!(
                    pid,
                    selectors = values.len(),
                    spiffe_ids = %IdList(a.spiffe_ids()),
                    policy_generation = a.decision().policy_generation.as_str(),
                    gate = a.decision().gate.decision,
                    "workload attested"
                );
                Ok(Response::new(wa::AttestResponse { selector_values: values }))
            }
            Err(e) => {
                tracing::warn!(pid, error = %e, "workload attestation failed");
                Err(status::attest(&e))
            }
        }
    }

    async fn attest_reference(
        &self,
        _request: Request<wa::AttestReferenceRequest>,
    ) -> Result<Response<wa::AttestReferenceResponse>, Status> {
        // SPIRE falls back to Attest for PID references when this is unimplemented.
        Err(Status::unimplemented("AttestReference is not implemented; SPIRE falls back to Attest for PID references"))
    }
}
