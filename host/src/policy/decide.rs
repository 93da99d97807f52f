//! The four passes for one workload.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cedar_policy::{Context, Decision as CedarDecision, Entities, EntityUid, Request};

use super::decision::{Candidate, Decision, Fate, IssuedId, SelectorReport, Suppressed, Verdict};
use super::entities::{self, Subject};
use super::error::DecideError;
use super::template::{RenderEnv, RenderSubject, ValueRule};
use super::{EmitVerdict, MAX_ISSUED, Pass, Policies};
use crate::selector::Selector;
use crate::spiffe_id::SpiffeId;
use crate::workload::Workload;

/// Memo entries kept before the memo is emptied (a node has a bounded number of distinct
/// selectors; this only stops unbounded growth).
const MAX_MEMO: usize = 65_536;

/// One Cedar answer, reduced to what the passes need.
pub(super) struct Answer {
    pub(super) allow: bool,
    pub(super) determining: Vec<String>,
    pub(super) errors: Vec<String>,
}

/// Everything one request needs besides its action and resource.
pub(super) struct Ask<'a> {
    pub(super) subject: &'a Subject,
    pub(super) context: &'a Context,
    pub(super) namespace: Option<&'a str>,
    pub(super) store: &'a Entities,
}

/// A rendered identity rule, before Cedar says whether it matched.
struct Rendered {
    rule: usize,
    /// The ID and its DNS names, or why they could not be rendered.
    id: Result<(SpiffeId, Vec<String>), String>,
    hint: Option<String>,
}

/// An RFC 1123 subdomain, lower case, as Kubernetes and X.509 SANs expect.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl Policies {
    /// Decide for `workload` now.
    pub fn decide(&self, workload: &Workload) -> Result<Decision, DecideError> {
        self.decide_at(workload, SystemTime::now())
    }

    /// Whether a decision depends on the workload alone (no policy reads `context.now`), so the
    /// same facts may be answered with an earlier decision.
    pub fn decisions_are_reusable(&self) -> bool {
        self.context_free
    }

    /// Decide for `workload` as of `now` (the `context.now` policies see).
    pub fn decide_at(&self, workload: &Workload, now: SystemTime) -> Result<Decision, DecideError> {
        let started = Instant::now();
        let namespace = workload.kubernetes.as_ref().map(|k| k.pod.namespace.as_str());
        let subject = entities::subject(workload, &self.trust_domain, &self.types)?;
        let context = self.context(now, entities::agent_node(workload))?;
        let rendered = self.render(workload, namespace)?;
        let store = self.store(&subject, &rendered)?;
        let ask = Ask { subject: &subject, context: &context, namespace, store: &store };
        let mut errors = Vec::new();

        // Gate: a deny (or an error) refuses everything.
        let gate = verdict(
            self.ask(Pass::Attest, &ask, self.types.attest.clone(), subject.trust_domain.clone())?,
            &self.metas,
        );
        if !gate.allowed() {
            errors.extend(gate.errors.iter().cloned());
            return Ok(Decision {
                policy_generation: self.generation.clone(),
                gate,
                candidates: Vec::new(),
                issued: Vec::new(),
                selectors: SelectorReport { gathered: workload.selectors.len(), emitted: 0, suppressed: Vec::new() },
                emitted: Vec::new(),
                errors,
                eval_us: elapsed_us(started),
            });
        }

        // Propose: with only permits in the slice, Cedar lists every matching rule.
        let proposed = self.ask(Pass::Propose, &ask, self.types.propose.clone(), subject.trust_domain.clone())?;
        errors.extend(proposed.errors.iter().cloned());
        let matched: BTreeSet<&str> = proposed.determining.iter().map(String::as_str).collect();

        let mut candidates = self.issue(&ask, &rendered, &matched, &mut errors)?;
        let issued = order_and_trim(&mut candidates, &self.rules);

        // Emit: which selectors leave the host.
        let (emitted, suppressed) = self.emit(&ask, &workload.selectors, &mut errors)?;
        Ok(Decision {
            policy_generation: self.generation.clone(),
            gate,
            candidates,
            issued,
            selectors: SelectorReport { gathered: workload.selectors.len(), emitted: emitted.len(), suppressed },
            emitted,
            errors,
            eval_us: elapsed_us(started),
        })
    }

    /// Render every identity rule the propose slice holds for this namespace.
    fn render(&self, workload: &Workload, namespace: Option<&str>) -> Result<Vec<Rendered>, DecideError> {
        // Render every identity rule that can apply here before asking Cedar anything, so the
        // candidates go into the one entity store this attestation builds.
        let env = RenderEnv {
            subject: RenderSubject::Workload(workload),
            trust_domain: &self.trust_domain,
            cluster: self.cluster.as_deref(),
        };
        let propose_set = self.slice(Pass::Propose)?.for_namespace(namespace);
        Ok(self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| propose_set.policy(&r.policy_id).is_some())
            .map(|(i, r)| Rendered {
                rule: i,
                id: self.render_id(r, &env).and_then(|id| Ok((id, render_dns(r, &env)?))),
                hint: r.hint.as_ref().and_then(|h| h.render(&env, ValueRule::Text).ok()),
            })
            .collect())
    }

    /// The attestation's one entity store: the subject's entities, every rendered candidate and
    /// the ID prefixes they fall under.
    fn store(&self, subject: &Subject, rendered: &[Rendered]) -> Result<Entities, DecideError> {
        let mut all = subject.entities.clone();
        let mut prefixes_used = BTreeSet::new();
        for (n, r) in rendered.iter().enumerate() {
            if let Ok((id, _)) = &r.id {
                // Prefix ownership: the longest registered prefix, matched segment by segment
                // (string work Cedar cannot do), goes on the candidate for guards to check.
                let prefix = self.prefixes.longest(id.path());
                if let Some((p, owners)) = prefix
                    && prefixes_used.insert(p)
                {
                    all.push(entities::id_prefix(&self.types, p, owners)?);
                }
                all.push(entities::candidate(&self.types, n, id, &self.rules[r.rule].id, prefix.map(|(p, _)| p))?);
            }
        }
        let schema = self.strict_runtime_checks.then_some(&self.schema);
        Entities::from_entities(all, schema).map_err(DecideError::facts)
    }

    /// Issue: one request per rendered candidate of a matching rule, against the guards.
    fn issue(
        &self,
        ask: &Ask<'_>,
        rendered: &[Rendered],
        matched: &BTreeSet<&str>,
        errors: &mut Vec<String>,
    ) -> Result<Vec<Candidate>, DecideError> {
        let mut candidates = Vec::new();
        for (n, r) in rendered.iter().enumerate() {
            let rule = &self.rules[r.rule];
            if !matched.contains(rule.id.as_str()) {
                continue;
            }
            let mut c = Candidate {
                rule: rule.id.clone(),
                spiffe_id: r.id.as_ref().ok().map(|(id, _)| id.clone()),
                hint: r.hint.clone(),
                fallback: rule.fallback,
                decision: Fate::NotRendered,
                determining: Vec::new(),
                reasons: Vec::new(),
                why: r.id.as_ref().err().cloned(),
                dns_names: r.id.as_ref().map(|(_, d)| d.clone()).unwrap_or_default(),
                priority: rule.priority,
                rule_index: r.rule,
            };
            if c.spiffe_id.is_some() {
                let a = self.ask(Pass::Issue, ask, self.types.issue.clone(), self.types.candidate_uid(n))?;
                if a.allow && a.errors.is_empty() {
                    c.decision = Fate::Allow;
                } else {
                    c.decision = Fate::Deny;
                    c.reasons = a.determining.iter().filter_map(|id| self.metas.get(id)?.reason.clone()).collect();
                    c.determining = a.determining;
                    if !a.errors.is_empty() {
                        c.why = Some(format!("evaluation error (fails closed): {}", a.errors.join("; ")));
                        errors.extend(a.errors);
                    }
                }
            }
            candidates.push(c);
        }
        Ok(candidates)
    }

    /// Render a rule's ID template and check the result is an ID in our trust domain.
    pub(super) fn render_id(&self, rule: &super::IdentityRule, env: &RenderEnv<'_>) -> Result<SpiffeId, String> {
        let s = rule.spiffe_id.render(env, ValueRule::PathSegment).map_err(|e| e.to_string())?;
        let id: SpiffeId = s.parse().map_err(|e| format!("render failed: {s:?} is not a SPIFFE ID: {e}"))?;
        if id.trust_domain() == &self.trust_domain {
            Ok(id)
        } else {
            Err(format!("render failed: {id} is outside trust domain {}", self.trust_domain))
        }
    }

    /// The request context, shared by every attestation in the same second on the same node.
    fn context(&self, now: SystemTime, agent_node: &str) -> Result<Context, DecideError> {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut cache = self.context_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((s, node, ctx)) = cache.as_ref()
            && *s == second
            && node == agent_node
        {
            return Ok(ctx.clone());
        }
        let ctx =
            entities::context(UNIX_EPOCH + std::time::Duration::from_secs(second), &self.trust_domain, agent_node)?;
        *cache = Some((second, agent_node.to_owned(), ctx.clone()));
        Ok(ctx)
    }

    pub(super) fn slice(&self, pass: Pass) -> Result<&super::slice::Slice, DecideError> {
        self.slices.get(&pass).ok_or(DecideError::NoSlice(pass))
    }

    fn emit(
        &self,
        ask: &Ask<'_>,
        selectors: &[Selector],
        errors: &mut Vec<String>,
    ) -> Result<(Vec<Selector>, Vec<Suppressed>), DecideError> {
        if !self.slice(Pass::Emit)?.has_user_policies() {
            return Ok((selectors.to_vec(), Vec::new()));
        }
        let mut verdicts: HashMap<&Selector, Arc<EmitVerdict>> = HashMap::with_capacity(selectors.len());
        if let Some(memo) = &self.emit_memo {
            let mut misses = Vec::new();
            {
                let memo = memo.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                for sel in selectors {
                    match memo.get(sel) {
                        Some(v) => {
                            verdicts.insert(sel, Arc::clone(v));
                        }
                        None => misses.push(sel),
                    }
                }
            }
            let mut fresh = Vec::new();
            for sel in misses {
                if verdicts.contains_key(sel) {
                    continue;
                }
                // The filters ignore principal and context, so a store holding only the selector
                // gives the same answer as the full one.
                let (uid, entity) = entities::selector(&self.types, sel)?;
                let one = Entities::from_entities([entity], None).map_err(DecideError::facts)?;
                let a = self.ask(Pass::Emit, &Ask { store: &one, ..*ask }, self.types.emit.clone(), uid)?;
                let v = Arc::new(EmitVerdict { allow: a.allow && a.errors.is_empty(), by: a.determining });
                // Erroring answers are not memoised: they are reported every time.
                if a.errors.is_empty() {
                    fresh.push((sel.clone(), Arc::clone(&v)));
                }
                errors.extend(a.errors);
                verdicts.insert(sel, v);
            }
            if !fresh.is_empty() {
                let mut memo = memo.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                if memo.len() + fresh.len() > MAX_MEMO {
                    memo.clear();
                }
                memo.extend(fresh);
            }
        } else {
            let mut extra = Vec::with_capacity(selectors.len());
            let mut uids = Vec::with_capacity(selectors.len());
            let mut seen = BTreeSet::new();
            for sel in selectors {
                let (uid, entity) = entities::selector(&self.types, sel)?;
                if seen.insert(sel) {
                    extra.push(entity);
                    uids.push((sel, uid));
                }
            }
            let schema = self.strict_runtime_checks.then_some(&self.schema);
            let store = ask.store.clone().add_entities(extra, schema).map_err(DecideError::facts)?;
            for (sel, uid) in uids {
                let a = self.ask(Pass::Emit, &Ask { store: &store, ..*ask }, self.types.emit.clone(), uid)?;
                verdicts
                    .insert(sel, Arc::new(EmitVerdict { allow: a.allow && a.errors.is_empty(), by: a.determining }));
                errors.extend(a.errors);
            }
        }
        let mut emitted = Vec::with_capacity(selectors.len());
        let mut suppressed = Vec::new();
        for sel in selectors {
            match verdicts.get(sel) {
                Some(v) if v.allow => emitted.push(sel.clone()),
                Some(v) => suppressed.push(Suppressed { selector: sel.clone(), by: v.by.clone() }),
                None => suppressed.push(Suppressed { selector: sel.clone(), by: Vec::new() }),
            }
        }
        Ok((emitted, suppressed))
    }

    /// One Cedar request against the pass's policies for the workload's namespace.
    pub(super) fn ask(
        &self,
        pass: Pass,
        ask: &Ask<'_>,
        action: EntityUid,
        resource: EntityUid,
    ) -> Result<Answer, DecideError> {
        let schema = self.strict_runtime_checks.then_some(&self.schema);
        let request = Request::new(ask.subject.principal.clone(), action, resource, ask.context.clone(), schema)
            .map_err(|e| DecideError::Request(Box::new(e)))?;
        let set = self.slice(pass)?.for_namespace(ask.namespace);
        let response = self.authorizer.is_authorized(&request, set, ask.store);
        let mut determining: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .filter(|id| !id.starts_with("baseline-"))
            .collect();
        determining.sort();
        let errors = response.diagnostics().errors().map(ToString::to_string).collect();
        Ok(Answer { allow: response.decision() == CedarDecision::Allow, determining, errors })
    }
}

/// DNS names of a rule, each a valid lower-case DNS name, or why not.
pub(super) fn render_dns(rule: &super::IdentityRule, env: &RenderEnv<'_>) -> Result<Vec<String>, String> {
    rule.dns
        .iter()
        .map(|t| {
            let name = t.render(env, ValueRule::Text).map_err(|e| e.to_string())?;
            if is_dns_name(&name) {
                Ok(name)
            } else {
                Err(format!("render failed: DNS name {name:?} is not a valid lower-case DNS name"))
            }
        })
        .collect()
}

/// Fallbacks only when nothing else was issued; then priority (higher first), then rule id;
/// merge rules that rendered the same ID; cap the count.
fn order_and_trim(candidates: &mut [Candidate], rules: &[super::IdentityRule]) -> Vec<IssuedId> {
    let any_primary = candidates.iter().any(|c| c.decision == Fate::Allow && !c.fallback);
    if any_primary {
        for c in candidates.iter_mut().filter(|c| c.decision == Fate::Allow && c.fallback) {
            c.decision = Fate::Dropped;
            c.why = Some("fallback rule, and a non-fallback identity was issued".into());
        }
    }
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].decision == Fate::Allow).collect();
    order.sort_by(|&a, &b| {
        candidates[b].priority.cmp(&candidates[a].priority).then_with(|| candidates[a].rule.cmp(&candidates[b].rule))
    });
    let mut issued: Vec<IssuedId> = Vec::new();
    for i in order {
        let c = &mut candidates[i];
        let Some(id) = c.spiffe_id.clone() else { continue };
        let rule = &rules[c.rule_index];
        let this = IssuedId {
            id,
            policies: vec![c.rule.clone()],
            hint: c.hint.clone(),
            dns_names: c.dns_names.clone(),
            ttl_seconds: rule.ttl.map(|d| d.as_secs()),
            jwt_ttl_seconds: rule.jwt_ttl.map(|d| d.as_secs()),
            federates_with: rule.federates_with.clone(),
        };
        if let Some(existing) = issued.iter_mut().find(|x| x.id == this.id) {
            // Several rules, one ID: the SVID carries what all of them ask for.
            existing.absorb(this);
            continue;
        }
        if issued.len() >= MAX_ISSUED {
            c.decision = Fate::Dropped;
            c.why = Some(format!("over the cap of {MAX_ISSUED} identities per workload"));
            continue;
        }
        issued.push(this);
    }
    issued
}

fn verdict(a: Answer, metas: &std::collections::BTreeMap<String, super::PolicyMeta>) -> Verdict {
    let allow = a.allow && a.errors.is_empty();
    let reasons = a.determining.iter().filter_map(|id| metas.get(id)?.reason.clone()).collect();
    Verdict { decision: if allow { "allow" } else { "deny" }, determining: a.determining, reasons, errors: a.errors }
}

pub(super) fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}
