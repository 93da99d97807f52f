//! Where a cluster's client comes from (a kubeconfig file, or the in-cluster service account),
//! building it, and the stamps of the files it was built from, which say when to build again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::MAX_TEXT;
use crate::psat::client::ClientError;

/// The in-cluster service account's files, which `kube::Config::incluster` reads.
const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const IN_CLUSTER_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A kubeconfig file (SPIRE's `kube_config_file`).
    Kubeconfig(PathBuf),
    /// The pod's own service account (`kube_config_file` empty).
    InCluster,
}

/// What identifies a version of a file: its length, modification time and inode (a Secret
/// volume replaces files by renaming a new directory over the old one, which changes the inode
/// even when length and mtime do not). `None`: the file could not be read.
type Stamp = Option<(u64, SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?, meta.ino()))
}

/// A client (or why it could not be built) and the stamps of the files it came from.
pub(super) struct Built {
    stamps: Vec<(PathBuf, Stamp)>,
    client: Result<kube::Client, ClientError>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("stamps", &self.stamps)
            .field("client", &self.client.as_ref().map(|_| "kube::Client"))
            .finish()
    }
}

impl Built {
    /// Whether every file it came from is as it was.
    pub(super) fn unchanged(&self) -> bool {
        self.stamps.iter().all(|(path, was)| stamp(path) == *was)
    }

    /// The client, or SPIRE's `unable to get clientset: …`.
    pub(super) fn client(&self) -> Result<kube::Client, ClientError> {
        self.client.clone()
    }
}

impl Source {
    pub(super) fn new(kube_config_file: &str) -> Self {
        if kube_config_file.is_empty() { Self::InCluster } else { Self::Kubeconfig(kube_config_file.into()) }
    }

    pub(super) fn kube_config_file(&self) -> &str {
        match self {
            Self::Kubeconfig(path) => path.to_str().unwrap_or_default(),
            Self::InCluster => "",
        }
    }

    /// Builds the client. Files are stamped before they are read, so a change racing the read
    /// shows as a changed stamp at the next call, never as a stale client kept for good.
    pub(super) async fn build(&self, timeout: Duration) -> Built {
        let (stamps, config) = match self {
            Self::InCluster => {
                let stamps = stamps([IN_CLUSTER_TOKEN, IN_CLUSTER_CA].map(PathBuf::from).into());
                (stamps, kube::Config::incluster().map_err(|e| config_error(&e)))
            }
            Self::Kubeconfig(path) => {
                let first = (path.clone(), stamp(path));
                // A small file read on the executor: it happens once per change of the file.
                match Kubeconfig::read_from(path) {
                    Err(e) => (vec![first], Err(config_error(&e))),
                    Ok(kubeconfig) => {
                        let mut stamps = vec![first];
                        stamps.extend(self::stamps(referenced_files(&kubeconfig)));
                        let options = KubeConfigOptions::default();
                        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await;
                        (stamps, config.map_err(|e| config_error(&e)))
                    }
                }
            }
        };
        let client = config.and_then(|mut config| {
            // kube's own limits apply per connection step; the whole call is bounded by the
            // caller (`KubeClient::within`), these only make a hung socket fail sooner.
            config.connect_timeout = Some(config.connect_timeout.map_or(timeout, |t| t.min(timeout)));
            config.read_timeout = Some(timeout);
            config.write_timeout = Some(config.write_timeout.map_or(timeout, |t| t.min(timeout)));
            kube::Client::try_from(config).map_err(|e| {
                ClientError::new(format!(
                    "unable to get clientset: unable to create clientset for the given config: {}",
                    crate::text::bounded(&crate::text::chain(&e), MAX_TEXT)
                ))
            })
        });
        Built { stamps, client }
    }
}

fn stamps(paths: Vec<PathBuf>) -> Vec<(PathBuf, Stamp)> {
    paths.into_iter().map(|p| (p.clone(), stamp(&p))).collect()
}

/// SPIRE's words for a configuration that cannot be read.
fn config_error(e: &dyn std::error::Error) -> ClientError {
    ClientError::new(format!(
        "unable to get clientset: unable to create client config: {}",
        crate::text::bounded(&crate::text::chain(e), MAX_TEXT)
    ))
}

/// The files a kubeconfig names (CA, client certificate and key, token file: `read_from` made
/// them absolute), of every cluster and user: a change to any of them rebuilds the client.
/// kube also re-reads a token file by itself, once a minute.
fn referenced_files(kubeconfig: &Kubeconfig) -> Vec<PathBuf> {
    let clusters =
        kubeconfig.clusters.iter().filter_map(|c| c.cluster.as_ref()).filter_map(|c| c.certificate_authority.clone());
    let users =
        kubeconfig.auth_infos.iter().filter_map(|a| a.auth_info.as_ref()).flat_map(|a| {
            [a.client_certificate.clone(), a.client_key.clone(), a.token_file.clone()].into_iter().flatten()
        });
    clusters.chain(users).map(PathBuf::from).collect()
}

#[cfg(test)]
mod tests;
