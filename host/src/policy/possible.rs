//! What a pod's processes may be issued, decided from the pod object alone (the registrar).
//!
//! The registrar knows a pod's object, its namespace's labels and its node, not the process that
//! will ask: its unix facts, its module facts, the sources that gave it selectors and its image's
//! Sigstore verdict are unknown. Each pass runs with those as Cedar unknowns (partial
//! evaluation), and an answer that depends on them counts the way the entries need:
//!
//! * [`Approximation::Over`], for entries whose `spiffe-id` selector still needs attestor's
//!   runtime decision (`per_node`): an identity rule that may match is taken, a gate or guard
//!   that may match is not. An entry for an ID the process is then refused is harmless; a
//!   missing entry would refuse an ID the policies allow.
//! * [`Approximation::Under`], for entries that are the decision (`per_pod`, for SPIRE's own
//!   `k8s` plugin, which knows nothing of attestor's policies): only a rule that matches
//!   whatever the process is taken, and a gate or guard that may match refuses.
//!
//! A fallback rule's ID is left out when a non-fallback rule gives an ID whatever the process.
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

/// Which way a decision from a pod object errs where it depends on what only a process has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approximation {
    /// Take every ID that may be issued (entries the runtime decision still guards).
    Over,
    /// Take only IDs issued whatever the process (entries that are the decision).
    Under,
}

/// What the identity rules may issue to the processes of one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDecision {
    /// Every ID a process of the pod may be issued, by ID, with what its SVID carries (merged
    /// over the rules and containers that give it).
    pub ids: Vec<IssuedId>,
    /// Identity rules that may match but whose templates need what only a running process has.
    pub needs_runtime: Vec<String>,
    /// Identity rules that match but render no ID for this pod (a label it lacks, a value that
    /// cannot be a path segment).
    pub not_rendered: Vec<String>,
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
    /// `forbid`s that may hold, depending on the unknowns (or that read tags).
    may_refuse: Vec<String>,
    /// `permit`s that hold whatever the unknowns (and do not read tags).
    permitting: BTreeSet<String>,
    /// `permit`s that may hold, depending on the unknowns.
    may_permit: BTreeSet<String>,
}

impl Possible {
    /// Whether the request is refused, erring as `approx` says.
    fn refused(&self, approx: Approximation) -> bool {
        !self.refusing.is_empty() || (approx == Approximation::Under && !self.may_refuse.is_empty())
    }
}

/// One candidate of one container: the ID, whether it is a fallback's, and whether it is issued
/// whatever the process.
struct Found {
    issued: IssuedId,
    fallback: bool,
    certain: bool,
}

/// What one pod's decision gathers over its containers.
#[derive(Default)]
struct Gathered {
    ids: Vec<IssuedId>,
    needs_runtime: BTreeSet<String>,
    not_rendered: BTreeSet<String>,
    gated: BTreeSet<String>,
}

impl Policies {
    /// What the processes of `pod` (its `container` field ignored) may be issued, for each of
    /// `containers`, as of `now`, erring as `approx` says.
    pub fn possible_ids(
        &self,
        pod: &KubernetesFacts,
        containers: &[ContainerFacts],
        now: SystemTime,
        approx: Approximation,
    ) -> Result<PodDecision, DecideError> {
        let mut g = Gathered::default();
        for container in containers {
            let w = unknown_process(pod, container);
            self.possible_for(&w, now, approx, &mut g)?;
        }
        let mut ids = g.ids;
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        // Refused outright only when every container's process is refused.
        let gated_by = if ids.is_empty() { g.gated.into_iter().collect() } else { Vec::new() };
        Ok(PodDecision {
            ids,
            needs_runtime: g.needs_runtime.into_iter().collect(),
            not_rendered: g.not_rendered.into_iter().collect(),
            gated_by,
        })
    }

    /// The passes for one container's unknown process; IDs merged into `g.ids`.
    fn possible_for(
        &self,
        w: &Workload,
        now: SystemTime,
        approx: Approximation,
        g: &mut Gathered,
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
        if gate.refused(approx) {
            g.gated.extend(gate.refusing);
            if approx == Approximation::Under {
                g.gated.extend(gate.may_refuse);
            }
            return Ok(());
        }
        let proposed = ask(Pass::Propose, &base, &self.types.propose, subject.trust_domain.clone())?;
        let env = RenderEnv {
            subject: RenderSubject::Workload(w),
            trust_domain: &self.trust_domain,
            cluster: self.cluster.as_deref(),
        };
        let mut found: Vec<Found> = Vec::new();
        for (n, rule) in self.rules.iter().enumerate() {
            let certain = proposed.permitting.contains(&rule.id);
            let possible = proposed.may_permit.contains(&rule.id) || self.reads_tags.contains(&rule.id);
            if !(certain || (possible && approx == Approximation::Over)) {
                continue;
            }
            if rule_needs_runtime(rule) {
                g.needs_runtime.insert(rule.id.clone());
                continue;
            }
            let Some(issued) = self.render_possible(rule, &env) else {
                g.not_rendered.insert(rule.id.clone());
                continue;
            };
            let prefix = self.prefixes.longest(issued.id.path());
            let mut all = vec![entities::candidate(&self.types, n, &issued.id, &rule.id, prefix.map(|(p, _)| p))?];
            if let Some((p, owners)) = prefix {
                all.push(entities::id_prefix(&self.types, p, owners)?);
            }
            let store = base.clone().add_entities(all, None).map_err(DecideError::facts)?;
            let guards = ask(Pass::Issue, &store, &self.types.issue, self.types.candidate_uid(n))?;
            if guards.refused(approx) {
                continue;
            }
            found.push(Found { issued, fallback: rule.fallback, certain: certain && guards.may_refuse.is_empty() });
        }
        // Fallbacks only where no other rule gives an ID whatever the process.
        let primary = found.iter().any(|f| !f.fallback && f.certain);
        for f in found.into_iter().filter(|f| !(primary && f.fallback)) {
            match g.ids.iter_mut().find(|x| x.id == f.issued.id) {
                Some(existing) => existing.absorb(f.issued),
                None => g.ids.push(f.issued),
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
        let id = |p: &cedar_policy::Policy| p.id().to_string();
        let counts = |id: &String| !id.starts_with("baseline-");
        let (mut refusing, mut may_refuse, mut permitting, mut may_permit) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for p in response.definitely_satisfied() {
            let (sure, maybe) = match p.effect() {
                Effect::Forbid => (&mut refusing, &mut may_refuse),
                Effect::Permit => (&mut permitting, &mut may_permit),
            };
            // A policy reading tags saw none: its answer says nothing about a real process.
            if self.reads_tags.contains(&id(&p)) {
                maybe.insert(id(&p))
            } else {
                sure.insert(id(&p))
            };
        }
        for p in response.nontrivial_residuals() {
            match p.effect() {
                Effect::Forbid => may_refuse.insert(id(&p)),
                Effect::Permit => may_permit.insert(id(&p)),
            };
        }
        for e in response.definitely_errored() {
            let e = e.to_string();
            if self.reads_tags.contains(&e) {
                may_refuse.insert(e)
            } else {
                refusing.insert(e)
            };
        }
        // Tag readers the evaluation judged false may still hold for a real process.
        for tagged in &self.reads_tags {
            if let Some(p) = response.get(&cedar_policy::PolicyId::new(tagged)) {
                match p.effect() {
                    Effect::Forbid => may_refuse.insert(tagged.clone()),
                    Effect::Permit => may_permit.insert(tagged.clone()),
                };
            }
        }
        let refusing: Vec<String> = refusing.into_iter().filter(counts).collect();
        let may_refuse: Vec<String> = may_refuse.into_iter().filter(counts).collect();
        Ok(Possible { refusing, may_refuse, permitting, may_permit })
    }
}

/// Whether any of a rule's templates needs what only a running process has.
fn rule_needs_runtime(rule: &IdentityRule) -> bool {
    std::iter::once(&rule.spiffe_id).chain(rule.hint.iter()).chain(rule.dns.iter()).any(|t| t.vars().any(runtime_only))
}

#[cfg(test)]
mod tests;
