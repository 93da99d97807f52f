//! The registrar's view of the cluster: every pod, namespace and node, read through the API
//! server with kube's client.
//!
//! [`client`] (or [`ApiServer::connect`]) builds the client from a kubeconfig or the in-cluster
//! service account; [`list_once`] lists all three collections once, page by page (`attestor
//! registrar --once`); [`ClusterWatch`] (`watch.rs`) keeps them in reflector stores with kube's
//! watcher, relisting after a 410 Gone and retrying with backoff, and says when all three have
//! had their first list. Objects are stripped of what the registrar never reads before they are
//! kept (`strip.rs`).

mod strip;
#[cfg(test)]
mod tests;
mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::de::DeserializeOwned;

use crate::fault::Fault;

pub use strip::{strip_namespace, strip_node, strip_pod};
pub use watch::{ClusterWatch, WatchSettings};

/// The longest piece of outside text (a kube error, an API server's message) kept in an error.
const MAX_TEXT: usize = 1024;

/// How long connecting to the API server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one page of a list may take in [`list_once`].
pub const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many objects [`list_once`] asks for per page (client-go's pager's size).
pub const PAGE_SIZE: u32 = 500;

/// Why the cluster could not be read; [`ClusterError::fault`] says who must act.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig cannot be read or used.
    #[error("kubeconfig {}: {why}", path.display())]
    Kubeconfig {
        /// The configured path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The in-cluster service account's files or environment cannot be used.
    #[error("in-cluster service account: {why}")]
    InCluster {
        /// Why.
        why: String,
    },
    /// A client cannot be made from the configuration (TLS material, proxy…).
    #[error("a client for {server}: {why}")]
    Client {
        /// The API server (`the API server at https://…`).
        server: String,
        /// Why.
        why: String,
    },
    /// A list call failed.
    #[error("listing {resource} from {server}: {why}")]
    List {
        /// The API server (`the API server at https://…`).
        server: String,
        /// `pods`, `namespaces` or `nodes`.
        resource: &'static str,
        /// The HTTP status when the server answered with one (0: none).
        code: u16,
        /// Why.
        why: String,
    },
}

impl ClusterError {
    /// Who must act: a kubeconfig, in-cluster account or client configuration that cannot be
    /// used, and a server refusing the caller (401, 403: its credentials or RBAC), are the
    /// operator's ([`Fault::Config`]); every other failure of the API server (unreachable, an
    /// error status, a broken answer, no answer in time) is the API server's, which
    /// [`Fault::Kubelet`] stands for (as in the `k8s_psat` client).
    pub fn fault(&self) -> Fault {
        match self {
            Self::Kubeconfig { .. } | Self::InCluster { .. } | Self::Client { .. } => Fault::Config,
            Self::List { code: 401 | 403, .. } => Fault::Config,
            Self::List { .. } => Fault::Kubelet,
        }
    }
}

/// A kube client and the URL of the API server it talks to (for messages).
#[derive(Clone)]
pub struct ApiServer {
    /// The client.
    pub client: kube::Client,
    /// The API server's URL (`https://10.0.0.1:443`); `None` when made from a bare client.
    pub url: Option<String>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").field("url", &self.url).finish_non_exhaustive()
    }
}

impl ApiServer {
    /// The API server of the kubeconfig at `kube_config_file` (its current context), or of the
    /// in-cluster service account when `None`.
    pub async fn connect(kube_config_file: Option<&Path>) -> Result<Self, ClusterError> {
        let mut config = match kube_config_file {
            Some(path) => {
                let failed = |e: &dyn std::error::Error| ClusterError::Kubeconfig {
                    path: path.to_owned(),
                    why: crate::text::bounded(&crate::text::chain(e), MAX_TEXT),
                };
                // kube's own message for a file it cannot open repeats the path; this one does not.
                std::fs::File::open(path).map_err(|e| failed(&e))?;
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| failed(&e))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| failed(&e))?
            }
            None => kube::Config::incluster().map_err(|e| ClusterError::InCluster {
                why: crate::text::bounded(&crate::text::chain(&e), MAX_TEXT),
            })?,
        };
        // Watches stay idle for minutes: kube's watcher bounds them itself (`timeoutSeconds`
        // plus a margin), so no read timeout; lists are bounded by the caller.
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = None;
        let url = config.cluster_url.to_string().trim_end_matches('/').to_owned();
        let client = kube::Client::try_from(config).map_err(|e| ClusterError::Client {
            server: format!("the API server at {}", crate::text::bounded(&url, 256)),
            why: crate::text::bounded(&crate::text::chain(&e), MAX_TEXT),
        })?;
        Ok(Self { client, url: Some(url) })
    }

    /// `the API server at <url>`, or `the API server`.
    pub fn name(&self) -> String {
        match &self.url {
            Some(url) => format!("the API server at {}", crate::text::bounded(url, 256)),
            None => "the API server".to_owned(),
        }
    }
}

impl From<kube::Client> for ApiServer {
    fn from(client: kube::Client) -> Self {
        Self { client, url: None }
    }
}

impl From<&kube::Client> for ApiServer {
    fn from(client: &kube::Client) -> Self {
        Self { client: client.clone(), url: None }
    }
}

impl From<&ApiServer> for ApiServer {
    fn from(server: &ApiServer) -> Self {
        server.clone()
    }
}

/// A kube client for the registrar: the kubeconfig at `path`, or the in-cluster service account
/// when `None`. [`ApiServer::connect`] also keeps the server's URL for messages.
pub async fn client(kube_config_file: Option<&Path>) -> Result<kube::Client, ClusterError> {
    Ok(ApiServer::connect(kube_config_file).await?.client)
}

/// The cluster at one moment: every pod, namespace and node, each sorted by namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every pod.
    pub pods: Vec<Pod>,
    /// Every namespace.
    pub namespaces: Vec<Namespace>,
    /// Every node.
    pub nodes: Vec<Node>,
}

/// Sorts objects by namespace, then name.
fn sorted<K: kube::Resource>(mut objects: Vec<K>) -> Vec<K> {
    objects.sort_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
    objects
}

/// Lists all three collections once, each fully paged ([`PAGE_SIZE`] per page, each page within
/// [`LIST_TIMEOUT`]), stripped as the watch strips them. A list whose continue token expired
/// (410) is started again from the first page, three attempts in all.
pub async fn list_once(server: impl Into<ApiServer>) -> Result<Snapshot, ClusterError> {
    let server = server.into();
    let mut pods = list_all::<Pod>(&server, "pods").await?;
    pods.iter_mut().for_each(strip_pod);
    let mut namespaces = list_all::<Namespace>(&server, "namespaces").await?;
    namespaces.iter_mut().for_each(strip_namespace);
    let mut nodes = list_all::<Node>(&server, "nodes").await?;
    nodes.iter_mut().for_each(strip_node);
    Ok(Snapshot { pods: sorted(pods), namespaces: sorted(namespaces), nodes: sorted(nodes) })
}

/// Every object of `resource`, page by page.
async fn list_all<K>(server: &ApiServer, resource: &'static str) -> Result<Vec<K>, ClusterError>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(server.client.clone());
    let failed = |code: u16, why: String| ClusterError::List { server: server.name(), resource, code, why };
    let mut attempts = 0;
    'list: loop {
        attempts += 1;
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(PAGE_SIZE);
            params.continue_token = token.clone();
            let page = match tokio::time::timeout(LIST_TIMEOUT, api.list(&params)).await {
                Err(_) => return Err(failed(0, format!("no answer within {LIST_TIMEOUT:?}"))),
                Ok(Err(kube::Error::Api(status))) if status.code == 410 && token.is_some() && attempts < 3 => {
                    continue 'list;
                }
                Ok(Err(e)) => return Err(failed(code_of(&e), describe(&e))),
                Ok(Ok(page)) => page,
            };
            objects.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                None => return Ok(objects),
                Some(next) if token.as_ref() == Some(&next) => {
                    return Err(failed(0, "the API server repeated a continue token".to_owned()));
                }
                Some(next) => token = Some(next),
            }
        }
    }
}

/// The HTTP status of an API server's refusal (0: none).
fn code_of(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(status) => status.code,
        _ => 0,
    }
}

/// A kube error on one line, bounded: an API server's refusal is its `Status` message then the
/// code and reason (`(403 Forbidden)`).
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() { "no message" } else { status.message.as_str() };
            let mut text = crate::text::bounded(message, MAX_TEXT);
            let reason = crate::text::bounded(&status.reason, 64);
            match (status.code, reason.is_empty()) {
                (0, true) => {}
                (0, false) => text.push_str(&format!(" ({reason})")),
                (code, true) => text.push_str(&format!(" ({code})")),
                (code, false) => text.push_str(&format!(" ({code} {reason})")),
            }
            text
        }
        other => crate::text::bounded(&crate::text::chain(other), MAX_TEXT),
    }
}
