//! Namespace labels from the API server (`enable_namespace_labels`), through the `kube` client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

use super::error::{ClientConfigError, K8sError};
use super::settings::ApiServerSettings;

type Labels = BTreeMap<String, String>;

/// Reads namespace labels, remembering each for `ttl`.
pub(crate) struct NamespaceLabels {
    config: kube::Config,
    /// `kube::Client` spawns its request buffer's task on the current Tokio runtime, so it can
    /// only be built inside one: at set-up when there is a runtime (the plugin, the CLI), else
    /// at the first lookup, which always runs in one.
    client: OnceLock<Result<kube::Client, String>>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Labels)>>,
}

impl std::fmt::Debug for NamespaceLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceLabels").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl NamespaceLabels {
    /// A client with in-cluster credentials, each overridable.
    pub(crate) fn new(api: &ApiServerSettings, ttl: Duration) -> Result<Self, ClientConfigError> {
        let err = |e: &dyn std::fmt::Display| ClientConfigError::ApiServer(e.to_string());
        let mut config = match &api.url {
            Some(url) => {
                let uri = url.parse().map_err(|e| ClientConfigError::ApiServer(format!("{e}")))?;
                let mut c = kube::Config::new(uri);
                c.root_cert_file = Some(super::settings::SERVICE_ACCOUNT_CA.into());
                c.auth_info.token_file = Some(super::settings::SERVICE_ACCOUNT_TOKEN.into());
                c
            }
            None => kube::Config::incluster().map_err(|e| err(&e))?,
        };
        if let Some(ca) = &api.ca_path {
            config.root_cert_file = Some(ca.clone());
            config.root_cert = None;
        }
        if let Some(token) = &api.token_path {
            config.auth_info.token_file = Some(token.display().to_string());
            config.auth_info.token = None;
        }
        let client = OnceLock::new();
        if tokio::runtime::Handle::try_current().is_ok() {
            // Set-up errors (an unreadable CA, say) are configuration errors: report them now.
            let built = kube::Client::try_from(config.clone()).map_err(|e| err(&e))?;
            let _ = client.set(Ok(built));
        }
        Ok(Self { config, client, ttl, cache: Mutex::new(HashMap::new()) })
    }

    /// The client, built on first use when set-up had no runtime.
    fn client(&self) -> Result<&kube::Client, String> {
        let built = self.client.get_or_init(|| {
            kube::Client::try_from(self.config.clone())
                .map_err(|e| format!("unable to create the API server client: {e}"))
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// The labels of `namespace` if they are cached and fresh.
    pub(crate) fn cached(&self, namespace: &str) -> Option<Labels> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, labels) = cache.get(namespace)?;
        (at.elapsed() < self.ttl).then(|| labels.clone())
    }

    /// The labels of `namespace`.
    pub(crate) async fn get(&self, namespace: &str) -> Result<Labels, K8sError> {
        if let Some((at, labels)) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(namespace)
            && at.elapsed() < self.ttl
        {
            return Ok(labels.clone());
        }
        let client =
            self.client().map_err(|problem| K8sError::NamespaceLabels { namespace: namespace.to_owned(), problem })?;
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = api
            .get_metadata(namespace)
            .await
            .map_err(|e| K8sError::NamespaceLabels { namespace: namespace.to_owned(), problem: e.to_string() })?;
        let labels: Labels = ns.metadata.labels.unwrap_or_default().into_iter().collect();
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(namespace.to_owned(), (Instant::now(), labels.clone()));
        Ok(labels)
    }
}
