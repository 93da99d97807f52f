//! The four passes for one workload.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Instant, SystemTime};

use cedar_policy::{Context, Decision as CedarDecision, Entities, EntityUid, Request, Response};

use super::decision::{Candidate, Decision, IssuedId, SelectorReport, Suppressed, Verdict};
use super::entities::{self, Subject};
use super::error::DecideError;
use super::template::{RenderEnv, ValueRule};
use super::{MAX_ISSUED, Pass, Policies};
use crate::selector::Selector;
use crate::spiffe_id::SpiffeId;
use crate::workload::Workload;

/// Memo entries kept before the memo is emptied (selector strings are bounded in size and a
/// node has a bounded number of distinct ones; this only stops unbounded growth).
const MAX_MEMO: usize = 65_536;

/// One Cedar answer, reduced to what the passes need.
struct Answer {
    allow: bool,
    determining: Vec<String>,
    errors: Vec<String>,
}

impl Policies {
    /// Decide for `workload` now.
    pub fn decide(&self, workload: &Workload) -> Result<Decision, DecideError> {
        self.decide_at(workload, SystemTime::now())
    }

    /// Decide for `workload` as of `now` (the `context.now` policies see).
    pub fn decide_at(&self, workload: &Workload, now: SystemTime) -> Result<Decision, DecideError> {
        let started = Instant::now();
        let subject = entities::subject(workload, &self.trust_domain, &self.types, now)?;
        let schema = self.strict_runtime_checks.then_some(&self.schema);
        let store = Entities::from_entities(subject.entities.iter().cloned(), schema)
            .map_err(|e| DecideError(e.to_string()))?;
        let mut errors = Vec::new();

        // Gate: a deny (or an error) refuses everything.
        let gate = self.ask(Pass::Attest, &subject, self.types.attest.clone(), subject.trust_domain.clone(), &store)?;
        let gate = verdict(gate);
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
        let proposed =
            self.ask(Pass::Propose, &subject, self.types.propose.clone(), subject.trust_domain.clone(), &store)?;
        errors.extend(proposed.errors.iter().cloned());
        let matched: BTreeSet<&str> = proposed.determining.iter().map(String::as_str).collect();
        let env = RenderEnv { workload, trust_domain: &self.trust_domain, cluster: self.cluster.as_deref() };
        let mut candidates = Vec::new();
        let mut to_issue: Vec<(usize, SpiffeId)> = Vec::new();
        for rule in self.rules.iter().filter(|r| matched.contains(r.id.as_str())) {
            let mut c = Candidate {
                rule: rule.id.clone(),
                spiffe_id: None,
                hint: None,
                fallback: rule.fallback,
                decision: "not_rendered",
                determining: Vec::new(),
                reasons: Vec::new(),
                why: None,
                priority: rule.priority,
            };
            match rule.spiffe_id.render(&env, ValueRule::PathSegment).map_err(|e| e.to_string()).and_then(|s| {
                let id: SpiffeId = s.parse().map_err(|e| format!("render failed: {s:?} is not a SPIFFE ID: {e}"))?;
                if id.trust_domain() == &self.trust_domain {
                    Ok(id)
                } else {
                    Err(format!("render failed: {id} is outside trust domain {}", self.trust_domain))
                }
            }) {
                Ok(id) => {
                    c.hint = rule.hint.as_ref().and_then(|h| h.render(&env, ValueRule::Text).ok());
                    to_issue.push((candidates.len(), id.clone()));
                    c.spiffe_id = Some(id);
                }
                Err(why) => c.why = Some(why),
            }
            candidates.push(c);
        }

        // Issue: one request per candidate against the guards.
        let mut store = store;
        if !to_issue.is_empty() {
            let extra = to_issue
                .iter()
                .map(|(n, id)| entities::candidate(&self.types, *n, id, &candidates[*n].rule))
                .collect::<Result<Vec<_>, _>>()?;
            store = store.add_entities(extra, schema).map_err(|e| DecideError(e.to_string()))?;
        }
        for (n, _) in &to_issue {
            let a = self.ask(Pass::Issue, &subject, self.types.issue.clone(), self.types.candidate_uid(*n), &store)?;
            let c = &mut candidates[*n];
            if a.allow && a.errors.is_empty() {
                c.decision = "issued";
            } else {
                c.decision = "denied";
                c.reasons = a.determining.iter().filter_map(|id| self.metas.get(id)?.reason.clone()).collect();
                c.determining = a.determining;
                if !a.errors.is_empty() {
                    c.why = Some(format!("evaluation error (fails closed): {}", a.errors.join("; ")));
                    errors.extend(a.errors);
                }
            }
        }

        // Order and trim: fallbacks only when nothing else was issued; priority, then rule id.
        let any_primary = candidates.iter().any(|c| c.decision == "issued" && !c.fallback);
        if any_primary {
            for c in candidates.iter_mut().filter(|c| c.decision == "issued" && c.fallback) {
                c.decision = "dropped";
                c.why = Some("fallback rule, and a non-fallback identity was issued".into());
            }
        }
        let mut order: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].decision == "issued").collect();
        order.sort_by(|&a, &b| {
            candidates[b]
                .priority
                .cmp(&candidates[a].priority)
                .then_with(|| candidates[a].rule.cmp(&candidates[b].rule))
        });
        let mut issued: Vec<IssuedId> = Vec::new();
        for i in order {
            let c = &mut candidates[i];
            let Some(id) = c.spiffe_id.clone() else {
                continue;
            };
            if let Some(existing) = issued.iter_mut().find(|x| x.id == id) {
                existing.policies.push(c.rule.clone());
                continue;
            }
            if issued.len() >= MAX_ISSUED {
                c.decision = "dropped";
                c.why = Some(format!("over the cap of {MAX_ISSUED} identities per workload"));
                continue;
            }
            issued.push(IssuedId { id, policies: vec![c.rule.clone()], hint: c.hint.clone() });
        }

        // Emit: which selectors leave the host.
        let (emitted, suppressed) = self.emit(&subject, &workload.selectors, store, &mut errors)?;
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

    fn emit(
        &self,
        subject: &Subject,
        selectors: &[Selector],
        store: Entities,
        errors: &mut Vec<String>,
    ) -> Result<(Vec<Selector>, Vec<Suppressed>), DecideError> {
        let only_baseline = self
            .slices
            .get(&Pass::Emit)
            .is_none_or(|s| s.policies().all(|p| p.id().to_string().starts_with("baseline-")));
        if only_baseline {
            return Ok((selectors.to_vec(), Vec::new()));
        }
        let keys: Vec<String> = selectors.iter().map(ToString::to_string).collect();
        let mut verdicts: BTreeMap<&str, (bool, Vec<String>)> = BTreeMap::new();
        if let Some(memo) = &self.emit_memo {
            let mut misses = Vec::new();
            {
                let memo = memo.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (k, sel) in keys.iter().zip(selectors) {
                    match memo.get(k) {
                        Some(v) => {
                            verdicts.insert(k, v.clone());
                        }
                        None => misses.push((k, sel)),
                    }
                }
            }
            let mut fresh = Vec::new();
            for (k, sel) in misses {
                // The filters ignore principal and context, so a store holding only the selector
                // gives the same answer as the full one.
                let (uid, entity) = entities::selector(&self.types, sel)?;
                let one = Entities::from_entities([entity], None).map_err(|e| DecideError(e.to_string()))?;
                let a = self.ask(Pass::Emit, subject, self.types.emit.clone(), uid, &one)?;
                errors.extend(a.errors.iter().cloned());
                let v = (a.allow && a.errors.is_empty(), a.determining);
                // Erroring answers are not memoised: they are reported every time.
                if a.errors.is_empty() {
                    fresh.push((k.clone(), v.clone()));
                }
                verdicts.insert(k, v);
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
            for (k, sel) in keys.iter().zip(selectors) {
                let (uid, entity) = entities::selector(&self.types, sel)?;
                if seen.insert(k.as_str()) {
                    extra.push(entity);
                }
                uids.push(uid);
            }
            let schema = self.strict_runtime_checks.then_some(&self.schema);
            let store = store.add_entities(extra, schema).map_err(|e| DecideError(e.to_string()))?;
            for (k, uid) in keys.iter().zip(uids) {
                if verdicts.contains_key(k.as_str()) {
                    continue;
                }
                let a = self.ask(Pass::Emit, subject, self.types.emit.clone(), uid, &store)?;
                errors.extend(a.errors.iter().cloned());
                verdicts.insert(k, (a.allow && a.errors.is_empty(), a.determining));
            }
        }
        let mut emitted = Vec::new();
        let mut suppressed = Vec::new();
        for (k, sel) in keys.iter().zip(selectors) {
            match verdicts.get(k.as_str()) {
                Some((true, _)) => emitted.push(sel.clone()),
                Some((false, by)) => suppressed.push(Suppressed { selector: sel.clone(), by: by.clone() }),
                None => suppressed.push(Suppressed { selector: sel.clone(), by: Vec::new() }),
            }
        }
        Ok((emitted, suppressed))
    }

    /// One Cedar request against one pass's slice.
    fn ask(
        &self,
        pass: Pass,
        subject: &Subject,
        action: EntityUid,
        resource: EntityUid,
        store: &Entities,
    ) -> Result<Answer, DecideError> {
        let schema = self.strict_runtime_checks.then_some(&self.schema);
        let context: Context = subject.context.clone();
        let request = Request::new(subject.principal.clone(), action, resource, context, schema)
            .map_err(|e| DecideError(e.to_string()))?;
        let Some(slice) = self.slices.get(&pass) else {
            return Err(DecideError(format!("no policy slice for {pass:?}")));
        };
        let response: Response = self.authorizer.is_authorized(&request, slice, store);
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

fn verdict(a: Answer) -> Verdict {
    let allow = a.allow && a.errors.is_empty();
    Verdict { decision: if allow { "allow" } else { "deny" }, determining: a.determining, errors: a.errors }
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}
