//! One [`KubeClient`] per configured cluster, kept across reconfigurations when the cluster's
//! kubeconfig file and time limit are the same.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::KubeClient;

/// The clients of the configured clusters, by cluster name.
#[derive(Debug, Default)]
pub struct KubeClients {
    clients: HashMap<String, Arc<KubeClient>>,
}

impl KubeClients {
    /// A client for each `(cluster, kube_config_file)`; an empty file means in-cluster.
    pub fn new<'a>(clusters: impl IntoIterator<Item = (&'a str, &'a str)>, timeout: Duration) -> Self {
        Self::default().reconfigured(clusters, timeout)
    }

    /// The clients for a new configuration: a cluster whose kubeconfig file and time limit are
    /// unchanged keeps its client (and its connections); the others get new ones.
    pub fn reconfigured<'a>(&self, clusters: impl IntoIterator<Item = (&'a str, &'a str)>, timeout: Duration) -> Self {
        let clients = clusters
            .into_iter()
            .map(|(cluster, file)| {
                let client = match self.clients.get(cluster) {
                    Some(old) if old.kube_config_file() == file && old.timeout() == timeout => old.clone(),
                    _ => Arc::new(KubeClient::new(file, timeout)),
                };
                (cluster.to_owned(), client)
            })
            .collect();
        Self { clients }
    }

    /// The client of `cluster`.
    pub fn get(&self, cluster: &str) -> Option<Arc<KubeClient>> {
        self.clients.get(cluster).cloned()
    }

    /// How many clusters have a client.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no cluster is configured.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests;
