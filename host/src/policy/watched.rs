//! A policy set read from a directory that can be read again while it serves: the node
//! attestor's node policies and the registrar's identity rules. The set in force is swapped
//! whole when a file changed and the new set loads; a set that does not load leaves the old one
//! serving and is refused once, until its files change again.

use std::sync::{Arc, PoisonError, RwLock};

use super::{Policies, PolicyError, PolicyFile, PolicySettings, read_dir};
use crate::spiffe_id::TrustDomain;

/// The set in force, and the files it was built from (or the files last refused).
struct Loaded {
    files: Vec<PolicyFile>,
    policies: Arc<Policies>,
}

/// A reloadable policy set (`settings.dir` must be set: the embedded set never changes).
pub struct WatchedPolicies {
    settings: PolicySettings,
    trust_domain: TrustDomain,
    current: RwLock<Loaded>,
}

impl std::fmt::Debug for WatchedPolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedPolicies").field("dir", &self.settings.dir).finish_non_exhaustive()
    }
}

impl WatchedPolicies {
    /// Read and check the set `settings` names (its directory, else the embedded default).
    pub fn load(settings: PolicySettings, trust_domain: TrustDomain) -> Result<Self, PolicyError> {
        let files = Self::files(&settings)?;
        let policies = Arc::new(Policies::from_files(&files, &settings, &trust_domain)?);
        Ok(Self { settings, trust_domain, current: RwLock::new(Loaded { files, policies }) })
    }

    fn files(settings: &PolicySettings) -> Result<Vec<PolicyFile>, PolicyError> {
        match &settings.dir {
            Some(dir) => read_dir(dir),
            None => Ok(super::default_files()),
        }
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> &PolicySettings {
        &self.settings
    }

    /// The set in force.
    pub fn policies(&self) -> Arc<Policies> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner).policies)
    }

    /// Read the files again; when one changed, load the set and swap it in. Returns the
    /// generations (`from`, `to`) when a new set is in force.
    pub fn reload(&self) -> Result<Option<(String, String)>, PolicyError> {
        let files = Self::files(&self.settings)?;
        let (same, from) = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            (current.files == files, current.policies.generation().to_owned())
        };
        if same {
            return Ok(None);
        }
        let loaded = Policies::from_files(&files, &self.settings, &self.trust_domain);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        match loaded {
            Ok(policies) => {
                let to = policies.generation().to_owned();
                *current = Loaded { files, policies: Arc::new(policies) };
                Ok((to != from).then_some((from, to)))
            }
            Err(e) => {
                // Remember the refused files, so the refusal is reported once, not every look.
                current.files = files;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
