//! The server `NodeAttestor` role, SPIRE's `k8s_psat` server half: `Configure` reads the
//! `clusters` block and the core configuration's trust domain, and attestor's `policy { dir }`
//! and `audit { }` blocks; `Attest` reads the first message of the stream, attests its payload
//! (`crate::psat::attest`, SPIRE's ten steps), asks the node policies when there are any
//! (`crate::psat::policy`), writes one audit record, and answers with one `AgentAttributes`, or
//! with SPIRE's code and message. No challenge is ever sent.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tonic::{Request, Response, Status, Streaming};

use super::configurable::RoleConfig;
use super::proto::spire::plugin::server::nodeattestor::v1 as na;
use super::proto::spire::service::common::config::v1 as cfg;
use crate::audit::{AuditLog, AuditSettings, NodeEnd};
use crate::config::ConfigError;
use crate::policy::NodeDecision;
use crate::psat::attest::{Attested, ClientLookup, Code, MAX_PAYLOAD_BYTES, PsatError, PsatServer, attest};
use crate::psat::client::{ApiClient, ClientError};
use crate::psat::kube_client::{KubeClient, KubeClients};
use crate::psat::policy::{NodePolicy, NodePolicySettings, admit};
use crate::psat::settings::PsatSettings;
use crate::reload::Watch;
use crate::spiffe_id::TrustDomain;

/// The largest `AttestRequest` decoded. A payload over [`MAX_PAYLOAD_BYTES`] is refused with
/// SPIRE's `failed to unmarshal data payload: …`; one more than twice that is refused by gRPC
/// (`OutOfRange`) from its length prefix, before it is buffered, rather than at gRPC's default
/// 4 MiB.
pub const MAX_MESSAGE_BYTES: usize = 2 * MAX_PAYLOAD_BYTES;

/// SPIRE's info note when the `clusters` block is empty or absent (not an error: every
/// attestation is then refused as `not configured for cluster "<name>"`).
pub const NO_CLUSTERS_NOTE: &str = "No clusters configured, PSAT attestation is effectively disabled";

/// The server role's validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeServerSettings {
    /// The `clusters` block.
    pub psat: PsatSettings,
    /// The trust domain agent IDs are issued in (SPIRE's core configuration).
    pub trust_domain: TrustDomain,
    /// attestor's `policy { dir, reload_interval }`: Cedar node policies.
    pub policy: Option<NodePolicySettings>,
    /// attestor's `audit { path, debug }`.
    pub audit: AuditSettings,
}

impl NodeServerSettings {
    /// Read SPIRE's core configuration's trust domain (`None`: no core configuration) and
    /// `plugin_data` (HCL v1 as SPIRE re-prints it), with SPIRE's messages; every problem is
    /// reported at once, the core configuration's first.
    pub fn parse(core_trust_domain: Option<&str>, hcl: &str) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let trust_domain = match core_trust_domain {
            None => {
                problems.push(ConfigError::Rule("server core configuration is required".into()));
                None
            }
            Some("") => {
                problems.push(ConfigError::Rule("server core configuration must contain trust_domain".into()));
                None
            }
            Some(td) => match TrustDomain::new(td) {
                Ok(td) => Some(td),
                Err(e) => {
                    problems
                        .push(ConfigError::Rule(format!("server core configuration trust_domain is malformed: {e}")));
                    None
                }
            },
        };
        let server = match crate::config::psat::parse_server(&super::hcl_v1::normalize(hcl)) {
            Ok(server) => Some(server),
            Err(ConfigError::Problems(all)) => {
                problems.extend(all);
                None
            }
            Err(e) => {
                problems.push(e);
                None
            }
        };
        match (trust_domain, server) {
            (Some(trust_domain), Some(s)) if problems.is_empty() => {
                Ok(Self { psat: s.psat, trust_domain, policy: s.policy, audit: s.audit })
            }
            _ if problems.len() == 1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Problems(problems)),
        }
    }
}

/// What one configuration serves: the attestation logic, the clients it reaches the clusters
/// through (kept to be handed on to the next configuration), the node policies and their
/// watcher, and the audit log.
struct State {
    server: PsatServer,
    clients: Arc<KubeClients>,
    policy: Option<Arc<NodePolicy>>,
    audit: AuditLog,
    /// Stops looking at the policy directory when this state is replaced.
    _watch: Option<Watch>,
}

/// The server node attestor. State is swapped whole by `Configure`.
pub struct NodeServerPlugin {
    current: RwLock<Option<Arc<State>>>,
    timeout: Duration,
}

impl Default for NodeServerPlugin {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeServerPlugin {
    /// A plugin that answers "not configured" until its first `Configure`; each API server call
    /// is bounded by [`KubeClient::DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self::with_timeout(KubeClient::DEFAULT_TIMEOUT)
    }

    /// The same, each API server call bounded by `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { current: RwLock::new(None), timeout }
    }

    fn state(&self) -> Option<Arc<State>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Apply settings as `Configure` does, without gRPC (for embedding and benchmarks): on
    /// error the old state keeps serving.
    pub fn configure(&self, settings: NodeServerSettings) -> Result<(), Status> {
        RoleConfig::apply(self, settings)
    }

    /// The clients of the current configuration (`None` before the first `Configure`).
    pub fn clients(&self) -> Option<Arc<KubeClients>> {
        self.state().map(|s| Arc::clone(&s.clients))
    }

    /// Attest the agent whose stream began with `first` (`None`: the stream ended before any
    /// message). Only a payload counts: a challenge response first is SPIRE's `missing
    /// attestation payload`, as is an empty stream (where SPIRE answers the `EOF` its `Recv`
    /// returned, as `Unknown`).
    ///
    /// Every answer leaves one audit record (to the log unless `audit { path }` says otherwise;
    /// none before the first `Configure`).
    pub async fn answer(&self, first: Option<na::AttestRequest>) -> Result<Attested, PsatError> {
        let payload = match first.and_then(|r| r.request) {
            Some(na::attest_request::Request::Payload(payload)) => Some(payload),
            Some(na::attest_request::Request::ChallengeResponse(_)) | None => None,
        };
        let state = self.state();
        let attested = attest(state.as_ref().map(|s| &s.server), payload.as_deref()).await;
        let Some(state) = state else { return attested };
        let (result, facts, decision) = match attested {
            Err(e) => (Err(e), None, None),
            Ok(attested) => match &state.policy {
                None => {
                    let facts = attested.facts.clone();
                    (Ok(attested), Some(facts), None)
                }
                Some(policy) => {
                    let facts = attested.facts.clone();
                    match policy.decide(&attested) {
                        Ok(decision) => (admit(attested, &decision), Some(facts), Some(decision)),
                        Err(e) => (Err(e), Some(facts), None),
                    }
                }
            },
        };
        audit(&state.audit, &result, facts.as_ref(), decision.as_ref());
        result
    }

    /// Build the state for `settings`, keeping the clients of clusters whose kubeconfig is the
    /// same as in `old`; the node policies are read and checked, and a set that does not load
    /// refuses the configuration (the old state keeps serving).
    fn build(&self, settings: NodeServerSettings, old: Option<&State>) -> Result<State, Status> {
        let policy = match &settings.policy {
            None => None,
            Some(p) => Some(Arc::new(
                NodePolicy::load(p.clone(), settings.trust_domain.clone())
                    .map_err(|e| Status::invalid_argument(format!("node policies in {}: {e}", p.dir.display())))?,
            )),
        };
        let audit = AuditLog::open(&settings.audit).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Watching needs the runtime (Configure runs on its blocking pool); outside one (unit
        // tests), the set is simply not reloaded.
        let watch = policy.as_ref().filter(|_| tokio::runtime::Handle::try_current().is_ok()).map(|p| {
            crate::reload::spawn("node policy", p.settings().reload_interval, Arc::downgrade(p), |p: &NodePolicy, _| {
                p.reload().map_err(|e| e.to_string())
            })
        });
        let files: Vec<(String, String)> = settings
            .psat
            .clusters
            .iter()
            .map(|(name, c)| {
                let file = c.kube_config_file.as_deref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                (name.clone(), file)
            })
            .collect();
        let pairs = files.iter().map(|(n, f)| (n.as_str(), f.as_str()));
        let clients = Arc::new(match old {
            Some(old) => old.clients.reconfigured(pairs, self.timeout),
            None => KubeClients::new(pairs, self.timeout),
        });
        let lookup_clients = Arc::clone(&clients);
        let lookup: ClientLookup = Arc::new(move |name, _settings| {
            // Built from the same settings, so every configured cluster has a client.
            lookup_clients
                .get(name)
                .map(|c| c as Arc<dyn ApiClient>)
                .ok_or_else(|| ClientError::new(format!("no client for cluster {name:?}")))
        });
        let server = PsatServer::new(settings.psat, settings.trust_domain, lookup);
        Ok(State { server, clients, policy, audit, _watch: watch })
    }
}

/// The audit record of one answer.
fn audit(
    log: &AuditLog,
    result: &Result<Attested, PsatError>,
    facts: Option<&crate::workload::AgentFacts>,
    decision: Option<&NodeDecision>,
) {
    match result {
        Ok(a) => log.node(facts, decision, NodeEnd::Admitted { agent_id: &a.agent_id.to_string() }),
        Err(e) => log.node(
            facts,
            decision,
            NodeEnd::Refused { message: &e.to_string(), code: e.code().as_str(), fault: e.fault() },
        ),
    }
}

/// SPIRE's gRPC status for a refusal: its code, its message.
pub fn status(e: &PsatError) -> Status {
    let message = e.to_string();
    match e.code() {
        Code::InvalidArgument => Status::invalid_argument(message),
        Code::FailedPrecondition => Status::failed_precondition(message),
        Code::PermissionDenied => Status::permission_denied(message),
        Code::Internal => Status::internal(message),
    }
}

/// SPIRE's `AgentAttributes` for an attested agent.
pub fn agent_attributes(attested: &Attested) -> na::AttestResponse {
    na::AttestResponse {
        response: Some(na::attest_response::Response::AgentAttributes(na::AgentAttributes {
            spiffe_id: attested.agent_id.to_string(),
            selector_values: attested.selectors.clone(),
            can_reattest: attested.can_reattest,
        })),
    }
}

impl RoleConfig for NodeServerPlugin {
    type Parsed = NodeServerSettings;

    fn parse(core: Option<&cfg::CoreConfiguration>, hcl: &str) -> Result<NodeServerSettings, ConfigError> {
        NodeServerSettings::parse(core.map(|c| c.trust_domain.as_str()), hcl)
    }

    fn notes(settings: &NodeServerSettings) -> Vec<String> {
        if settings.psat.clusters.is_empty() { vec![NO_CLUSTERS_NOTE.to_owned()] } else { Vec::new() }
    }

    fn apply(&self, settings: NodeServerSettings) -> Result<(), Status> {
        if settings.psat.clusters.is_empty() {
            tracing::info!("{NO_CLUSTERS_NOTE}");
        }
        // Held across the build (clients read nothing until their first call; the node policy
        // files, a few kilobytes, are read here), so two concurrent Configures cannot both start
        // from the same old clients.
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let state = self.build(settings, current.as_deref())?;
        *current = Some(Arc::new(state));
        Ok(())
    }
}

#[tonic::async_trait]
impl na::node_attestor_server::NodeAttestor for NodeServerPlugin {
    type AttestStream = tokio_stream::Once<Result<na::AttestResponse, Status>>;

    async fn attest(
        &self,
        request: Request<Streaming<na::AttestRequest>>,
    ) -> Result<Response<Self::AttestStream>, Status> {
        super::guard::test_panic("node_attest");
        // A message over MAX_MESSAGE_BYTES, or a broken stream, is gRPC's own status.
        let first = request.into_inner().message().await?;
        match self.answer(first).await {
            Ok(attested) => {
                tracing::debug!(agent_id = %attested.agent_id, selectors = attested.selectors.len(), "k8s_psat agent attested");
                Ok(Response::new(tokio_stream::once(Ok(agent_attributes(&attested)))))
            }
            Err(e) => {
                tracing::warn!(error = %e, code = %e.code(), fault = ?e.fault(), "k8s_psat agent refused");
                Err(status(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests;
