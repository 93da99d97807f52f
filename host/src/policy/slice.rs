//! One pass's policies, split by namespace scope at load time.
//!
//! Cedar evaluates every policy it is handed, even one whose scope cannot match. A policy
//! scoped `principal in Attest::Namespace::"x"` (or to a service account in `x`) can only match
//! workloads in `x`, so each namespace gets a set holding the unscoped policies plus its own,
//! and every other workload gets the unscoped set. Removing policies that cannot be satisfied
//! does not change Cedar's answer; it only stops paying for them.

use std::collections::HashMap;

use cedar_policy::{Policy, PolicySet, PrincipalConstraint};

use super::PolicyError;

/// A pass's policies.
pub(crate) struct Slice {
    unscoped: PolicySet,
    by_namespace: HashMap<String, PolicySet>,
    user_policies: usize,
}

impl Slice {
    /// Split `policies` (with a flag marking host baselines).
    pub(crate) fn build<'a>(policies: impl IntoIterator<Item = (&'a Policy, bool)>) -> Result<Self, PolicyError> {
        let mut unscoped = Vec::new();
        let mut scoped: HashMap<String, Vec<&Policy>> = HashMap::new();
        let mut user_policies = 0;
        for (p, baseline) in policies {
            user_policies += usize::from(!baseline);
            match namespace_scope(p) {
                Some(ns) => scoped.entry(ns).or_default().push(p),
                None => unscoped.push(p),
            }
        }
        let set = |ps: &mut dyn Iterator<Item = &Policy>| -> Result<PolicySet, PolicyError> {
            let mut s = PolicySet::new();
            for p in ps {
                s.add(p.clone()).map_err(|e| PolicyError::Schema(e.to_string()))?;
            }
            Ok(s)
        };
        let by_namespace = scoped
            .iter()
            .map(|(ns, own)| Ok((ns.clone(), set(&mut unscoped.iter().copied().chain(own.iter().copied()))?)))
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self { unscoped: set(&mut unscoped.iter().copied())?, by_namespace, user_policies })
    }

    /// The policies that can apply to a workload in `namespace` (`None`: not a pod).
    pub(crate) fn for_namespace(&self, namespace: Option<&str>) -> &PolicySet {
        namespace.and_then(|ns| self.by_namespace.get(ns)).unwrap_or(&self.unscoped)
    }

    /// Whether any user policy (not a host baseline) is in this pass.
    pub(crate) fn has_user_policies(&self) -> bool {
        self.user_policies > 0
    }
}

/// The namespace a policy's principal scope confines it to, if any.
fn namespace_scope(p: &Policy) -> Option<String> {
    let uid = match p.principal_constraint() {
        PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => uid,
        _ => return None,
    };
    let id = uid.id().unescaped();
    match uid.type_name().to_string().as_str() {
        "Attest::Namespace" => Some(id.to_owned()),
        "Attest::ServiceAccount" => id.split_once('/').map(|(ns, _)| ns.to_owned()),
        _ => None,
    }
}
