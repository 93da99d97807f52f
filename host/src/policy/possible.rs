//! What a pod's processes may be issued, decided from the pod object alone (the registrar).
//!
//! The registrar knows a pod's object, its namespace's labels and its node, not the process that
//! will ask: its unix facts, its module facts, the sources that gave it selectors and its image's
//! Sigstore verdict are unknown. Each pass runs with those as Cedar unknowns (partial
//! evaluation), and every answer that depends on them counts the way that issues more: an
//! identity rule that may match is taken, a gate or guard that may match is not. An entry that
//! exists for an ID the process is then refused is harmless (its `spiffe-id` selector still
//! needs the runtime decision); a missing entry would refuse an ID the policies allow.
//!
//! Cedar cannot make an entity's tags unknown, so a policy that reads the workload's tags
//! (module and host facts: `principal.hasTag`, `principal.getTag`) is judged whole: an identity
//! rule among them may match any pod, a gate or guard among them never refuses one.
//!
//! A process runs in one of the pod's containers: the passes run once per container (so
//! `{k8s.container}` renders one ID per container) and the IDs are merged. A rule whose
//! templates need what only a process has (`{unix.*}`, `{fact:…}`) cannot give an entry.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use cedar_policy::{Context, Effect, Entities, EntityUid, PartialResponse, Request};

use super::decision::IssuedId;
use super::entities::{self, Known};
use super::error::DecideError;
use super::template::{RenderEnv, RenderSubject, ValueRule, Var};
use super::{IdentityRule, Pass, Policies};
use crate::workload::{ContainerFacts, Facts, Gid, KubernetesFacts, Pid, Uid, UnixFacts, Workload};

/// What the identity rules may issue to the processes of one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDecision {
    /// Every ID a process of the pod may be issued, by ID, with what its SVID carries (merged
    /// over the rules and containers that give it).
    pub ids: Vec<IssuedId>,
    /// Identity rules that may match but whose templates need what only a running process has.
    pub needs_runtime: Vec<String>,
    /// The `attest` gates that refuse the pod whatever the process (empty: not refused).
    pub gated_by: Vec<String>,
}

/// The variables only a running process has.
fn runtime_only(v: &Var) -> bool {
    matches!(v, Var::Uid | Var::Gid | Var::User | Var::Group | Var::Fact(_))
}

/// A process of the pod whose own facts are unknown: what stands in for them is never read
/// (Cedar sees unknowns, and templates that need them are set aside before rendering).
fn unknown_process(pod: &KubernetesFacts, container: &ContainerFacts) -> Workload {
    let unix = UnixFacts {
        pid: Pid(0),
        start_time: None,
        uid: Uid(0),
        euid: Uid(0),
        gid: Gid(0),
        egid: Gid(0),
        supplementary_gids: Vec::new(),
        user: None,
        group: None,
        supplementary_group_names: BTreeMap::new(),
        exe_path: None,
        exe_sha256: None,
    };
    let kubernetes = KubernetesFacts { container: Some(container.clone()), ..pod.clone() };
    Workload { unix, kubernetes: Some(kubernetes), facts: Facts::default(), selectors: Vec::new() }
}

/// One partial answer, reduced to what the registrar needs.
struct Possible {
    /// `forbid`s that hold whatever the unknowns (and do not read tags), or that error.
    refusing: Vec<String>,
    /// `permit`s that hold or may hold.
    permitting: BTreeSet<String>,
}

impl Policies {
    /// What the processes of `pod` (its `container` field ignored) may be issued, for each of
    /// `containers`, as of `now`.
    pub fn possible_ids(
        &self,
        pod: &KubernetesFacts,
        containers: &[ContainerFacts],
        now: SystemTime,
    ) -> Result<PodDecision, DecideError> {
        let mut out = PodDecision::default();
        let mut needs_runtime = BTreeSet::new();
        let mut gated = BTreeSet::new();
        for container in containers {
            let w = unknown_process(pod, container);
            self.possible_for(&w, now, &mut out.ids, &mut needs_runtime, &mut gated)?;
        }
        out.ids.sort_by(|a, b| a.id.cmp(&b.id));
        out.needs_runtime = needs_runtime.into_iter().collect();
        // Refused outright only when every container's process is refused.
        if out.ids.is_empty() {
            out.gated_by = gated.into_iter().collect();
        }
        Ok(out)
    }

    /// The passes for one container's unknown process; IDs merged into `ids`.
    fn possible_for(
        &self,
        w: &Workload,
        now: SystemTime,
        ids: &mut Vec<IssuedId>,
        needs_runtime: &mut BTreeSet<String>,
        gated: &mut BTreeSet<String>,
    ) -> Result<(), DecideError> {
        let namespace = w.kubernetes.as_ref().map(|k| k.pod.namespace.as_str());
        let subject = entities::subject_as(w, &self.trust_domain, &self.types, Known::PodObject)?;
        let node = w.kubernetes.as_ref().map_or("", |k| k.pod.node_name.as_str());
        let context = entities::context(now, &self.trust_domain, node)?;
        let ask = |pass: Pass, store: &Entities, action: &EntityUid, resource: EntityUid| {
            self.partial(pass, namespace, store, &subject.principal, action, resource, &context)
        };
        let base = Entities::from_entities(subject.entities.clone(), None).map_err(DecideError::facts)?;
        let gate = ask(Pass::Attest, &base, &self.types.attest, subject.trust_domain.clone())?;
        if !gate.refusing.is_empty() {
            gated.extend(gate.refusing);
            return Ok(());
        }
        let proposed = ask(Pass::Propose, &base, &self.types.propose, subject.trust_domain.clone())?;
        let env = RenderEnv {
            subject: RenderSubject::Workload(w),
            trust_domain: &self.trust_domain,
            cluster: self.cluster.as_deref(),
        };
        for (n, rule) in self.rules.iter().enumerate() {
            if !proposed.permitting.contains(&rule.id) && !self.reads_tags.contains(&rule.id) {
                continue;
            }
            if rule_needs_runtime(rule) {
                needs_runtime.insert(rule.id.clone());
                continue;
            }
            let Some(issued) = self.render_possible(rule, &env) else { continue };
            let candidate = entities::candidate(
                &self.types,
                n,
                &issued.id,
                &rule.id,
                self.prefixes.longest(issued.id.path()).map(|(p, _)| p),
            )?;
            let mut all = vec![candidate];
            if let Some((p, owners)) = self.prefixes.longest(issued.id.path()) {
                all.push(entities::id_prefix(&self.types, p, owners)?);
            }
            let store = base.clone().add_entities(all, None).map_err(DecideError::facts)?;
            if !ask(Pass::Issue, &store, &self.types.issue, self.types.candidate_uid(n))?.refusing.is_empty() {
                continue;
            }
            match ids.iter_mut().find(|x| x.id == issued.id) {
                Some(existing) => existing.absorb(issued),
                None => ids.push(issued),
            }
        }
        Ok(())
    }

    /// The ID, DNS names and hint a rule renders for `env`, or `None` when it renders none.
    fn render_possible(&self, rule: &IdentityRule, env: &RenderEnv<'_>) -> Option<IssuedId> {
        let id = self.render_id(rule, env).ok()?;
        let dns_names = super::decide::render_dns(rule, env).ok()?;
        Some(IssuedId {
            id,
            policies: vec![rule.id.clone()],
            hint: rule.hint.as_ref().and_then(|h| h.render(env, ValueRule::Text).ok()),
            dns_names,
            ttl_seconds: rule.ttl.map(|d| d.as_secs()),
            jwt_ttl_seconds: rule.jwt_ttl.map(|d| d.as_secs()),
            federates_with: rule.federates_with.clone(),
        })
    }

    /// One partially evaluated request against the pass's policies for `namespace`.
    #[allow(clippy::too_many_arguments)]
    fn partial(
        &self,
        pass: Pass,
        namespace: Option<&str>,
        store: &Entities,
        principal: &EntityUid,
        action: &EntityUid,
        resource: EntityUid,
        context: &Context,
    ) -> Result<Possible, DecideError> {
        let request = Request::new(principal.clone(), action.clone(), resource, context.clone(), None)
            .map_err(|e| DecideError::Request(Box::new(e)))?;
        let set = self.slice(pass)?.for_namespace(namespace);
        let response: PartialResponse = self.authorizer.is_authorized_partial(&request, set, store);
        let mut refusing: Vec<String> = response
            .definitely_satisfied()
            .filter(|p| p.effect() == Effect::Forbid)
            .map(|p| p.id().to_string())
            .chain(response.definitely_errored().map(ToString::to_string))
            .filter(|id| !self.reads_tags.contains(id) && !id.starts_with("baseline-"))
            .collect();
        refusing.sort();
        refusing.dedup();
        let permitting = response
            .definitely_satisfied()
            .chain(response.nontrivial_residuals())
            .filter(|p| p.effect() == Effect::Permit)
            .map(|p| p.id().to_string())
            .collect();
        Ok(Possible { refusing, permitting })
    }
}

/// Whether any of a rule's templates needs what only a running process has.
fn rule_needs_runtime(rule: &IdentityRule) -> bool {
    std::iter::once(&rule.spiffe_id).chain(rule.hint.iter()).chain(rule.dns.iter()).any(|t| t.vars().any(runtime_only))
}

#[cfg(test)]
mod tests;
