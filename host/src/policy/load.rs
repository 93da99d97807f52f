//! Loading one policy generation: parse every file, name policies by `@id`, lint, check
//! templates, validate strictly against the schema, and slice the set by pass.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, Policy, PolicyId, PolicySet, PrincipalConstraint, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;

use super::Pass;
use super::error::{Location, PolicyError};
use super::rules::{self, IdentityRule};
use super::slice::Slice;
use super::source::PolicyFile;

/// The schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../../../policies/attestor.cedarschema");

/// Baseline permits the host adds so that `forbid`s are the only thing authors write for the
/// attest, issue and emit passes (deny wins; absent a forbid, the answer is yes).
const BASELINE: &str = r#"
@id("baseline-attest") permit (principal, action == Attest::Action::"attest", resource);
@id("baseline-issue") permit (principal, action == Attest::Action::"issue", resource);
@id("baseline-emit") permit (principal, action == Attest::Action::"emit", resource);
"#;

/// Everything known about one loaded policy.
#[derive(Clone, Debug)]
pub struct PolicyMeta {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub at: Location,
    /// `permit` or `forbid`.
    pub effect: Effect,
    /// Passes it applies to.
    pub passes: Vec<Pass>,
    /// Its `@reason`.
    pub reason: Option<String>,
    /// Its source text, for explanations.
    pub text: String,
}

/// The result of loading: slices ready for evaluation.
pub(crate) struct Loaded {
    pub(crate) schema: Schema,
    pub(crate) metas: BTreeMap<String, PolicyMeta>,
    pub(crate) rules: Vec<IdentityRule>,
    pub(crate) slices: HashMap<Pass, Slice>,
    pub(crate) emit_memoisable: bool,
    /// No policy reads `context`: a decision depends on the workload alone.
    pub(crate) context_free: bool,
}

/// Parse the embedded schema.
pub fn schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA).map(|(s, _warnings)| s).map_err(|e| PolicyError::Schema(e.to_string()))
}

/// Load a policy set from files. Every problem found is reported, not just the first.
pub(crate) fn load(files: &[PolicyFile], trust_domain: &crate::TrustDomain) -> Result<Loaded, PolicyError> {
    let schema = schema()?;
    let mut problems = Vec::new();
    let mut metas: BTreeMap<String, PolicyMeta> = BTreeMap::new();
    let mut policies: Vec<(Policy, PolicyMeta)> = Vec::new();
    for file in files {
        let parsed = match PolicySet::from_str(&file.text) {
            Ok(p) => p,
            Err(e) => {
                let offset = e.labels().and_then(|mut l| l.next()).map_or(0, |l| l.offset());
                problems.push(PolicyError::Syntax { at: at(file, offset), message: diagnostic_text(&e) });
                continue;
            }
        };
        let offsets = file.statement_offsets();
        // Cedar names policies policy0, policy1… in source order; sort to walk them that way.
        let mut in_order: Vec<&Policy> = parsed.policies().collect();
        in_order
            .sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX));
        if parsed.templates().next().is_some() {
            problems.push(PolicyError::Invalid {
                at: at(file, 0),
                id: "-".into(),
                message: "templates (policies with ?principal / ?resource slots) are not supported yet".into(),
            });
        }
        for (n, policy) in in_order.into_iter().enumerate() {
            let offset = offsets.get(n).copied().unwrap_or(0);
            let location = at(file, offset);
            let Some(id) = policy.annotation("id").map(str::to_owned) else {
                problems.push(PolicyError::MissingId { at: location });
                continue;
            };
            if let Some(first) = metas.get(&id) {
                problems.push(PolicyError::DuplicateId { id, at: location, first: first.at.clone() });
                continue;
            }
            if id.starts_with("baseline-") {
                problems.push(PolicyError::Invalid {
                    at: location,
                    id,
                    message: "ids starting with `baseline-` are reserved for attestor's built-in permits".into(),
                });
                continue;
            }
            let end = offsets.get(n + 1).copied().unwrap_or(file.text.len());
            let meta = PolicyMeta {
                id: id.clone(),
                at: location,
                effect: policy.effect(),
                passes: passes_of(policy),
                reason: policy.annotation("reason").map(str::to_owned),
                text: file.text[offset..end].trim_end().to_owned(),
            };
            metas.insert(id.clone(), meta.clone());
            policies.push((policy.new_id(PolicyId::new(id)), meta));
        }
    }

    let mut rules = Vec::new();
    for (policy, meta) in &policies {
        match rules::check(policy, meta, trust_domain) {
            Ok(Some(rule)) => rules.push(rule),
            Ok(None) => {}
            Err(message) => problems.push(PolicyError::Invalid { at: meta.at.clone(), id: meta.id.clone(), message }),
        }
    }

    let mut all = PolicySet::new();
    for (policy, _) in &policies {
        // Ids were checked for uniqueness above, so adding cannot fail on a duplicate.
        if let Err(e) = all.add(policy.clone()) {
            problems.push(PolicyError::Schema(e.to_string()));
        }
    }
    let baseline = PolicySet::from_str(BASELINE).map_err(|e| PolicyError::Schema(e.to_string()))?;
    let baseline: Vec<Policy> =
        baseline.policies().filter_map(|p| p.annotation("id").map(|id| p.new_id(PolicyId::new(id)))).collect();
    if problems.is_empty() {
        let result = Validator::new(schema.clone()).validate(&all, ValidationMode::Strict);
        for e in result.validation_errors() {
            problems.push(invalid(files, &metas, e.policy_id(), e));
        }
        for w in result.validation_warnings() {
            problems.push(invalid(files, &metas, w.policy_id(), w));
        }
    }
    if !problems.is_empty() {
        return Err(if problems.len() == 1 { problems.remove(0) } else { PolicyError::Many(problems) });
    }

    let mut per_pass: HashMap<Pass, Vec<(&Policy, bool)>> = HashMap::new();
    let mut emit_memoisable = true;
    let user = policies.iter().map(|(p, m)| (p, m.passes.clone(), false));
    let builtin = baseline.iter().map(|p| (p, passes_of(p), true));
    for (policy, passes, is_baseline) in user.chain(builtin) {
        for pass in passes {
            if pass == Pass::Emit && !is_baseline {
                emit_memoisable &= selector_only(policy);
            }
            per_pass.entry(pass).or_default().push((policy, is_baseline));
        }
    }
    let mut slices = HashMap::new();
    for pass in Pass::ALL {
        slices.insert(pass, Slice::build(per_pass.remove(&pass).unwrap_or_default())?);
    }
    let context_free = !policies.iter().any(|(p, _)| rules::reads_var(p, "context"));
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Loaded { schema, metas, rules, slices, emit_memoisable, context_free })
}

fn at(file: &PolicyFile, offset: usize) -> Location {
    Location { file: file.name.clone(), line: file.line_col(offset).0 }
}

/// A validation problem, located at the offending expression when Cedar says where it is
/// (diagnostic offsets count from the start of the policy's own file), else at the policy.
fn invalid(
    files: &[PolicyFile],
    metas: &BTreeMap<String, PolicyMeta>,
    id: &PolicyId,
    d: &(dyn Diagnostic + Send + Sync),
) -> PolicyError {
    let id = id.to_string();
    let at = match metas.get(&id) {
        None => Location { file: "<unknown>".into(), line: 0 },
        Some(m) => {
            let file = files.iter().find(|f| f.name == m.at.file);
            let label = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
            match (file, label) {
                (Some(f), Some(offset)) => at(f, offset),
                _ => m.at.clone(),
            }
        }
    };
    let text = diagnostic_text(d);
    // Cedar repeats the policy id inside its message; ours already leads with it.
    let message = text.strip_prefix(&format!("for policy `{id}`, ")).map_or(text.clone(), str::to_owned);
    PolicyError::Invalid { at, id, message }
}

/// Message plus Cedar's help, on one line.
fn diagnostic_text(d: &(dyn Diagnostic + Send + Sync)) -> String {
    let mut s = d.to_string();
    if let Some(help) = d.help() {
        s.push_str(&format!(" ({help})"));
    }
    s
}

/// Passes a policy's action scope covers.
pub(crate) fn passes_of(policy: &Policy) -> Vec<Pass> {
    let name = |uid: &cedar_policy::EntityUid| Pass::from_action(uid.id().unescaped());
    match policy.action_constraint() {
        ActionConstraint::Any => Pass::ALL.to_vec(),
        ActionConstraint::Eq(uid) => name(&uid).into_iter().collect(),
        ActionConstraint::In(uids) => uids.iter().filter_map(name).collect(),
    }
}

/// Whether an emit policy's outcome depends on the selector alone: it neither constrains nor
/// reads the principal, and never reads the context. Such decisions can be memoised per
/// selector string for the whole generation.
fn selector_only(policy: &Policy) -> bool {
    let scope_ok = match policy.principal_constraint() {
        PrincipalConstraint::Any => true,
        PrincipalConstraint::Is(t) => t.to_string() == "Attest::Workload",
        _ => false,
    };
    scope_ok && !rules::reads_var(policy, "principal") && !rules::reads_var(policy, "context")
}
