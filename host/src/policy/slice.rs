//! One pass's policies, split by namespace scope at load time.
//!
//! Cedar evaluates every policy it is handed, even one whose scope cannot match. A policy
//! scoped `principal in Attest::Namespace::"x"` (or to a service account in `x`), or a template
//! linked to one, can only match workloads in `x`, so each namespace gets a set holding the
//! unscoped policies plus its own, and every other workload gets the unscoped set. Removing
//! policies that cannot be satisfied does not change Cedar's answer; it only stops paying for them.

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    EntityUid, Policy, PolicyId, PolicySet, PrincipalConstraint, SlotId, Template, TemplatePrincipalConstraint,
};

use super::PolicyError;
use super::data::Link;

/// A policy as it enters a slice.
#[derive(Clone, Copy)]
pub(crate) enum SliceItem<'a> {
    /// A static policy.
    Static(&'a Policy),
    /// A template and one of its links.
    Linked(&'a Template, &'a Link),
}

impl SliceItem<'_> {
    fn namespace(&self) -> Option<String> {
        match self {
            Self::Static(p) => match p.principal_constraint() {
                PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => namespace_of(&uid),
                _ => None,
            },
            Self::Linked(t, link) => match t.principal_constraint() {
                TemplatePrincipalConstraint::In(None) | TemplatePrincipalConstraint::IsIn(_, None) => {
                    link.args.get(&SlotId::principal()).and_then(namespace_of)
                }
                TemplatePrincipalConstraint::In(Some(uid)) | TemplatePrincipalConstraint::IsIn(_, Some(uid)) => {
                    namespace_of(&uid)
                }
                _ => None,
            },
        }
    }

    fn add_to(&self, set: &mut PolicySet, templates: &mut HashSet<PolicyId>) -> Result<(), PolicyError> {
        let err = |e: cedar_policy::PolicySetError| PolicyError::Assemble(Box::new(e));
        match self {
            Self::Static(p) => set.add((*p).clone()).map_err(err),
            Self::Linked(t, link) => {
                if templates.insert(t.id().clone()) {
                    set.add_template((*t).clone()).map_err(err)?;
                }
                set.link(t.id().clone(), PolicyId::new(&link.link_id), link.args.clone()).map_err(err)
            }
        }
    }
}

/// The namespace an entity confines a scope to.
fn namespace_of(uid: &EntityUid) -> Option<String> {
    let id = uid.id().unescaped();
    match uid.type_name().to_string().as_str() {
        "Attest::Namespace" => Some(id.to_owned()),
        "Attest::ServiceAccount" => id.split_once('/').map(|(ns, _)| ns.to_owned()),
        _ => None,
    }
}

/// A pass's policies.
pub(crate) struct Slice {
    unscoped: PolicySet,
    by_namespace: HashMap<String, PolicySet>,
    user_policies: usize,
}

impl Slice {
    /// Split `items` (each with a flag marking host baselines).
    pub(crate) fn build<'a>(items: impl IntoIterator<Item = (SliceItem<'a>, bool)>) -> Result<Self, PolicyError> {
        let mut unscoped = Vec::new();
        let mut scoped: HashMap<String, Vec<SliceItem<'a>>> = HashMap::new();
        let mut user_policies = 0;
        for (item, baseline) in items {
            user_policies += usize::from(!baseline);
            match item.namespace() {
                Some(ns) => scoped.entry(ns).or_default().push(item),
                None => unscoped.push(item),
            }
        }
        let set = |items: &mut dyn Iterator<Item = &SliceItem<'a>>| -> Result<PolicySet, PolicyError> {
            let mut s = PolicySet::new();
            let mut templates = HashSet::new();
            for i in items {
                i.add_to(&mut s, &mut templates)?;
            }
            Ok(s)
        };
        let by_namespace = scoped
            .iter()
            .map(|(ns, own)| Ok((ns.clone(), set(&mut unscoped.iter().chain(own.iter()))?)))
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self { unscoped: set(&mut unscoped.iter())?, by_namespace, user_policies })
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
