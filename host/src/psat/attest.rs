//! The `k8s_psat` server attestation: SPIRE's ten steps in SPIRE's order, each refusal with its
//! code and message ([`PsatError`]).
//!
//! 1. not configured; 2. the payload (present, JSON, cluster, token, a configured cluster);
//! 3. TokenReview with the cluster's audiences, authenticated; 4. namespace and service account
//!    from the username; 5. the allow-list; 6. pod name and UID from the review; 7. GET the pod;
//!    8. the pod's UID is the token's (SPIRE after 1.15.3); 9. GET the pod's node, whose UID must
//!    not be empty; 10. the agent ID, the selectors, `can_reattest`.
//!
//! The API server is asked only through [`ApiClient`], at most three questions per attestation,
//! one after another (each needs the previous answer).

mod agent;
mod error;
mod payload;
mod review;

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::authentication::v1::TokenReviewStatus;
use k8s_openapi::api::core::v1::Pod;

pub use agent::{SELECTOR_TYPE, agent_id, selector_values};
pub(crate) use error::quoted_list;
pub use error::{Code, PsatError};
pub use payload::{AttestationData, MAX_PAYLOAD_BYTES, PayloadError};
pub use review::{POD_NAME_KEY, POD_UID_KEY, ReviewError};

use super::client::{ApiClient, ClientError};
use super::settings::{ClusterSettings, PsatSettings};
use crate::spiffe_id::{SpiffeId, TrustDomain};
pub use crate::workload::AgentFacts;
use crate::workload::OwnerReference;

/// How the server reaches a cluster's API server: given the cluster's name and settings, its
/// client. A closure, so the caller decides how clients are built, kept and rebuilt (SPIRE
/// builds one per call from `kube_config_file`); an error here is reported as the TokenReview's.
pub type ClientLookup = Arc<dyn Fn(&str, &ClusterSettings) -> Result<Arc<dyn ApiClient>, ClientError> + Send + Sync>;

/// A configured server role: the settings, the trust domain agent IDs are issued in, and the
/// way to each cluster's API server.
#[derive(Clone)]
pub struct PsatServer {
    settings: PsatSettings,
    trust_domain: TrustDomain,
    clients: ClientLookup,
}

impl fmt::Debug for PsatServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsatServer")
            .field("settings", &self.settings)
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl PsatServer {
    /// A server role for these settings (from SPIRE's `Configure`: the `clusters` block and the
    /// core configuration's trust domain).
    pub fn new(settings: PsatSettings, trust_domain: TrustDomain, clients: ClientLookup) -> Self {
        Self { settings, trust_domain, clients }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &PsatSettings {
        &self.settings
    }

    /// The trust domain agent IDs are issued in.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }
}

/// An attested agent: SPIRE's `AgentAttributes` and the facts a policy may decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// `spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node UID>` (or `…/pod/<pod UID>`).
    pub agent_id: SpiffeId,
    /// Selector values, all of type [`SELECTOR_TYPE`], in SPIRE's order.
    pub selectors: Vec<String>,
    /// Always true: an agent re-attests with a fresh token rather than renewing.
    pub can_reattest: bool,
    /// Everything learnt about the agent.
    pub facts: AgentFacts,
}

/// Attest an agent from its payload (`None`: the request carried none). `server` is `None`
/// until a configuration has been applied.
pub async fn attest(server: Option<&PsatServer>, payload: Option<&[u8]>) -> Result<Attested, PsatError> {
    let server = server.ok_or(PsatError::NotConfigured)?;
    let data = AttestationData::parse(payload.ok_or(PsatError::MissingPayload)?)?;
    if data.cluster.is_empty() {
        return Err(PsatError::MissingCluster);
    }
    if data.token.is_empty() {
        return Err(PsatError::MissingToken);
    }
    let name = data.cluster;
    let Some(cluster) = server.settings.clusters.get(&name) else {
        return Err(PsatError::UnknownCluster { cluster: name });
    };
    let review_failed = |source| PsatError::TokenReview { cluster: name.clone(), source };
    let client = (server.clients)(&name, cluster).map_err(review_failed)?;
    let status = client.validate_token(&data.token, &cluster.audience).await.map_err(review_failed)?;
    let facts = check_review(&name, cluster, &status)?;
    let facts = read_pod_and_node(client.as_ref(), facts).await?;
    let agent_id = agent_id(&server.trust_domain, &name, cluster.use_pod_uid_for_agent_id, &facts)?;
    Ok(Attested { agent_id, selectors: selector_values(cluster, &facts), can_reattest: true, facts })
}

/// Steps 3 to 6 on the review: authenticated, a service account, allowed, bound to one pod.
fn check_review(name: &str, cluster: &ClusterSettings, status: &TokenReviewStatus) -> Result<AgentFacts, PsatError> {
    let cluster_name = || name.to_owned();
    if status.authenticated != Some(true) {
        return Err(PsatError::NotAuthenticated { cluster: cluster_name() });
    }
    let (namespace, service_account) =
        review::names(status).map_err(|source| PsatError::Username { cluster: cluster_name(), source })?;
    if !cluster.allows(namespace, service_account) {
        return Err(PsatError::NotAllowed {
            service_account: format!("{namespace}:{service_account}"),
            cluster: cluster_name(),
        });
    }
    let pod_name = review::pod_name(status).map_err(|source| PsatError::PodName { cluster: cluster_name(), source })?;
    let pod_uid = review::pod_uid(status).map_err(|source| PsatError::PodUid { cluster: cluster_name(), source })?;
    Ok(AgentFacts {
        cluster: cluster_name(),
        namespace: namespace.to_owned(),
        service_account: service_account.to_owned(),
        pod_name: pod_name.to_owned(),
        pod_uid: pod_uid.to_owned(),
        audiences: status.audiences.clone().unwrap_or_default(),
        ..AgentFacts::default()
    })
}

/// Steps 7 to 9: the pod (which must be the token's), then its node (which must have a UID).
async fn read_pod_and_node(client: &dyn ApiClient, mut facts: AgentFacts) -> Result<AgentFacts, PsatError> {
    let pod = client
        .get_pod(&facts.namespace, &facts.pod_name)
        .await
        .map_err(|source| PsatError::GetPod { cluster: facts.cluster.clone(), source })?;
    if pod.metadata.uid.as_deref() != Some(facts.pod_uid.as_str()) {
        return Err(PsatError::PodUidMismatch {
            pod: facts.pod_name,
            cluster: facts.cluster,
            token_pod_uid: facts.pod_uid,
        });
    }
    let Pod { metadata, spec, status } = pod;
    let spec_host_network = spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    facts.node_name = spec.and_then(|s| s.node_name).unwrap_or_default();
    facts.node_ip = status.and_then(|s| s.host_ip).unwrap_or_default();
    facts.host_network = spec_host_network;
    facts.pod_labels = metadata.labels.unwrap_or_default();
    facts.pod_annotations = metadata.annotations.unwrap_or_default();
    facts.owner = metadata.owner_references.and_then(|o| o.into_iter().next()).map(|o| OwnerReference {
        kind: o.kind,
        name: o.name,
        uid: o.uid,
    });
    let node = client
        .get_node(&facts.node_name)
        .await
        .map_err(|source| PsatError::GetNode { cluster: facts.cluster.clone(), source })?;
    facts.node_uid = node.metadata.uid.unwrap_or_default();
    if facts.node_uid.is_empty() {
        return Err(PsatError::EmptyNodeUid { cluster: facts.cluster });
    }
    facts.node_labels = node.metadata.labels.unwrap_or_default();
    Ok(facts)
}

#[cfg(test)]
mod tests;
