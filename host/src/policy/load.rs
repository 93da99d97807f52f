//! Loading one policy generation: parse every file, name policies by `@id`, lint, check
//! templates, validate strictly against the schema, and slice the set by pass.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, Policy, PolicyId, PolicySet, PrincipalConstraint, Schema, Template, ValidationMode,
    Validator,
};
use miette::Diagnostic;

use super::Pass;
use super::data::{self, PrefixTable};
use super::error::{Location, PolicyError};
use super::rules::{self, IdentityRule, NodeRule, Rule};
use super::slice::{Slice, SliceItem};
use super::source::PolicyFile;

/// The schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../../../policies/attestor.cedarschema");

/// Baseline permits the host adds so that `forbid`s are the only thing authors write for the
/// attest, issue, emit and attest_node passes (deny wins; absent a forbid, the answer is yes).
const BASELINE: &str = r#"
@id("baseline-attest") permit (principal, action == Attest::Action::"attest", resource);
@id("baseline-issue") permit (principal, action == Attest::Action::"issue", resource);
@id("baseline-emit") permit (principal, action == Attest::Action::"emit", resource);
@id("baseline-attest-node") permit (principal, action == Attest::Action::"attest_node", resource);
"#;

/// How a policy came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Written in a `.cedar` file.
    Static,
    /// A template in a `.cedar` file (decides nothing until linked).
    Template,
    /// A template linked to entities in a links file.
    Link,
}

/// Everything known about one loaded policy.
#[derive(Clone, Debug)]
pub struct PolicyMeta {
    /// Its id.
    pub id: String,
    /// Static, template or link.
    pub kind: PolicyKind,
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
    pub(crate) node_rules: Vec<NodeRule>,
    /// Policies (and links of templates) that read the workload's tags.
    pub(crate) reads_tags: std::collections::BTreeSet<String>,
    pub(crate) slices: HashMap<Pass, Slice>,
    pub(crate) emit_memoisable: bool,
    /// No policy reads `context`: a decision depends on the workload alone.
    pub(crate) context_free: bool,
    pub(crate) prefixes: PrefixTable,
    /// Lint findings that do not refuse the set.
    pub(crate) warnings: Vec<PolicyError>,
}

/// What loading needs besides the files.
pub(crate) struct LoadOptions<'a> {
    pub(crate) trust_domain: &'a crate::TrustDomain,
    pub(crate) federated: &'a [crate::TrustDomain],
    pub(crate) max_ttl: Option<std::time::Duration>,
    pub(crate) max_jwt_ttl: Option<std::time::Duration>,
}

/// Parse the embedded schema.
pub fn schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA).map(|(s, _warnings)| s).map_err(|e| PolicyError::Schema(e.to_string()))
}

/// What a file kind is, from its name.
fn is_cedar(f: &PolicyFile) -> bool {
    f.name.ends_with(".cedar")
}

fn is_links(f: &PolicyFile) -> bool {
    f.name.ends_with("links.json")
}

fn is_prefixes(f: &PolicyFile) -> bool {
    f.name.ends_with("id-prefixes.json")
}

/// One parsed statement, static or template, before naming.
enum Statement<'a> {
    Static(&'a Policy),
    Template(&'a Template),
}

impl Statement<'_> {
    fn index(&self) -> usize {
        let id = match self {
            Self::Static(p) => p.id(),
            Self::Template(t) => t.id(),
        };
        id.to_string().trim_start_matches("policy").parse().unwrap_or(usize::MAX)
    }

    fn annotation(&self, key: &str) -> Option<String> {
        match self {
            Self::Static(p) => p.annotation(key).map(str::to_owned),
            Self::Template(t) => t.annotation(key).map(str::to_owned),
        }
    }

    fn kind(&self) -> PolicyKind {
        match self {
            Self::Static(_) => PolicyKind::Static,
            Self::Template(_) => PolicyKind::Template,
        }
    }

    fn effect(&self) -> Effect {
        match self {
            Self::Static(p) => p.effect(),
            Self::Template(t) => t.effect(),
        }
    }

    fn passes(&self) -> Vec<Pass> {
        match self {
            Self::Static(p) => passes_of(p.action_constraint()),
            Self::Template(t) => passes_of(t.action_constraint()),
        }
    }
}

/// What the files hold once parsed and named: policies, templates, links and prefixes.
#[derive(Default)]
struct Parsed {
    metas: BTreeMap<String, PolicyMeta>,
    statics: Vec<(Policy, PolicyMeta)>,
    templates: Vec<(Template, PolicyMeta)>,
    links: Vec<data::Link>,
    prefixes: PrefixTable,
}

impl Parsed {
    /// Record a named statement under its `@id`.
    fn add(&mut self, statement: Statement<'_>, meta: PolicyMeta) {
        self.metas.insert(meta.id.clone(), meta.clone());
        let id = PolicyId::new(&meta.id);
        match statement {
            Statement::Static(p) => self.statics.push((p.new_id(id), meta)),
            Statement::Template(t) => self.templates.push((t.new_id(id), meta)),
        }
    }
}

/// Identity rules found among the static policies, and the lint findings that do not refuse.
struct Linted {
    rules: Vec<IdentityRule>,
    node_rules: Vec<NodeRule>,
    warnings: Vec<PolicyError>,
}

/// Load a policy set from files. Every problem found is reported, not just the first.
pub(crate) fn load(files: &[PolicyFile], opts: &LoadOptions<'_>) -> Result<Loaded, PolicyError> {
    let schema = schema()?;
    let mut problems = Vec::new();
    let Parsed { mut metas, statics, templates, links, prefixes } = parse(files, &mut problems);
    let Linted { mut rules, mut node_rules, warnings } = lint(&statics, &templates, opts, &mut problems);
    let linked = link(&templates, &links, &mut metas, &mut problems);
    let all = assemble(&statics, &templates, &linked, &mut problems);
    let baseline = baseline()?;
    if problems.is_empty() {
        validate(&schema, &all, files, &metas, &mut problems);
    }
    if !problems.is_empty() {
        return Err(if problems.len() == 1 { problems.remove(0) } else { PolicyError::Many(problems) });
    }
    let slices = slice(&statics, &linked, &baseline)?;
    let emit_memoisable = emit_memoisable(&statics, &linked);
    let context_free = !statics.iter().any(|(p, _)| rules::reads_var(p.to_json().ok(), "context"))
        && !templates.iter().any(|(t, _)| rules::reads_var(t.to_json().ok(), "context"));
    let mut reads_tags: std::collections::BTreeSet<String> = statics
        .iter()
        .filter(|(p, _)| rules::reads_principal_tags(p.to_json().ok()))
        .map(|(_, m)| m.id.clone())
        .collect();
    for (template, link) in &linked {
        if rules::reads_principal_tags(template.to_json().ok()) {
            reads_tags.insert(link.link_id.clone());
        }
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    // The order an agent's matching rules are tried in: priority, higher first, then id.
    node_rules.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    Ok(Loaded {
        schema,
        metas,
        rules,
        node_rules,
        reads_tags,
        slices,
        emit_memoisable,
        context_free,
        prefixes,
        warnings,
    })
}

/// Parse every file by kind: links, ID prefixes, and `.cedar` statements named by `@id`.
fn parse(files: &[PolicyFile], problems: &mut Vec<PolicyError>) -> Parsed {
    let mut parsed = Parsed::default();
    for file in files {
        if is_links(file) {
            match data::links(file) {
                Ok(l) => parsed.links.extend(l),
                Err(e) => problems.push(e),
            }
        } else if is_prefixes(file) {
            if let Err(e) = parsed.prefixes.add_file(file) {
                problems.push(e);
            }
        } else if is_cedar(file) {
            parse_cedar(file, &mut parsed, problems);
        }
    }
    parsed
}

/// Parse one `.cedar` file and add its statements, in source order, under their `@id`s.
fn parse_cedar(file: &PolicyFile, parsed: &mut Parsed, problems: &mut Vec<PolicyError>) {
    let set = match PolicySet::from_str(&file.text) {
        Ok(p) => p,
        Err(e) => {
            let offset = e.labels().and_then(|mut l| l.next()).map_or(0, |l| l.offset());
            problems.push(PolicyError::Syntax { at: at(file, offset), message: diagnostic_text(&e) });
            return;
        }
    };
    let offsets = file.statement_offsets();
    // Cedar names statements policy0, policy1… in source order, templates included.
    let mut in_order: Vec<Statement<'_>> =
        set.policies().map(Statement::Static).chain(set.templates().map(Statement::Template)).collect();
    in_order.sort_by_key(Statement::index);
    for (n, statement) in in_order.into_iter().enumerate() {
        let offset = offsets.get(n).copied().unwrap_or(0);
        let end = offsets.get(n + 1).copied().unwrap_or(file.text.len());
        match describe(&statement, at(file, offset), &file.text[offset..end], &parsed.metas) {
            Ok(meta) => parsed.add(statement, meta),
            Err(problem) => problems.push(problem),
        }
    }
}

/// Name one statement by its `@id` (present, unique, not reserved) and describe it.
fn describe(
    statement: &Statement<'_>,
    location: Location,
    span: &str,
    metas: &BTreeMap<String, PolicyMeta>,
) -> Result<PolicyMeta, PolicyError> {
    let Some(id) = statement.annotation("id") else {
        return Err(PolicyError::MissingId { at: location });
    };
    if let Some(first) = metas.get(&id) {
        return Err(PolicyError::DuplicateId { id, at: location, first: first.at.clone() });
    }
    if id.starts_with("baseline-") {
        return Err(PolicyError::Invalid {
            at: location,
            id,
            message: "ids starting with `baseline-` are reserved for attestor's built-in permits".into(),
        });
    }
    Ok(PolicyMeta {
        id,
        kind: statement.kind(),
        at: location,
        effect: statement.effect(),
        passes: statement.passes(),
        reason: statement.annotation("reason"),
        text: statement_text(span),
    })
}

/// Check identity rules and templates: refusals go to `problems`, lint findings to warnings.
fn lint(
    statics: &[(Policy, PolicyMeta)],
    templates: &[(Template, PolicyMeta)],
    opts: &LoadOptions<'_>,
    problems: &mut Vec<PolicyError>,
) -> Linted {
    let mut linted = Linted { rules: Vec::new(), node_rules: Vec::new(), warnings: Vec::new() };
    for (policy, meta) in statics {
        match rules::check(policy, meta, opts) {
            Ok(Some(Rule::Workload(rule))) => linted.rules.push(rule),
            Ok(Some(Rule::Node(rule))) => linted.node_rules.push(rule),
            Ok(None) => {}
            Err(message) => problems.push(PolicyError::Invalid { at: meta.at.clone(), id: meta.id.clone(), message }),
        }
        let templates: Vec<&str> = ["spiffe_id", "hint", "dns"].iter().filter_map(|k| policy.annotation(k)).collect();
        for message in rules::warnings(policy.to_json().ok(), meta, &templates) {
            linted.warnings.push(PolicyError::Invalid { at: meta.at.clone(), id: meta.id.clone(), message });
        }
    }
    for (template, meta) in templates {
        if let Err(message) = rules::check_template(template, meta) {
            problems.push(PolicyError::Invalid { at: meta.at.clone(), id: meta.id.clone(), message });
        }
    }
    linted
}

/// Match each link to its template and name it; the links that can be made, in file order.
fn link<'a>(
    templates: &'a [(Template, PolicyMeta)],
    links: &'a [data::Link],
    metas: &mut BTreeMap<String, PolicyMeta>,
    problems: &mut Vec<PolicyError>,
) -> Vec<(&'a Template, &'a data::Link)> {
    let mut linked = Vec::new();
    for link in links {
        let Some((template, tmeta)) = templates.iter().find(|(t, _)| t.id() == &link.template_id) else {
            problems.push(PolicyError::Invalid {
                at: link.at.clone(),
                id: link.link_id.clone(),
                message: format!("links template `{}`, which no policy file defines", link.template_id),
            });
            continue;
        };
        if let Some(first) = metas.get(&link.link_id) {
            problems.push(PolicyError::DuplicateId {
                id: link.link_id.clone(),
                at: link.at.clone(),
                first: first.at.clone(),
            });
            continue;
        }
        let args: Vec<String> = link.args.iter().map(|(k, v)| format!("{k:?} = {v}")).collect();
        let meta = PolicyMeta {
            id: link.link_id.clone(),
            kind: PolicyKind::Link,
            at: link.at.clone(),
            effect: tmeta.effect,
            passes: tmeta.passes.clone(),
            reason: tmeta.reason.clone(),
            text: format!("// template `{}` linked with {}\n{}", tmeta.id, args.join(", "), tmeta.text),
        };
        metas.insert(link.link_id.clone(), meta);
        linked.push((template, link));
    }
    linked
}

/// The whole set as one Cedar `PolicySet`: policies, templates, then links.
fn assemble(
    statics: &[(Policy, PolicyMeta)],
    templates: &[(Template, PolicyMeta)],
    linked: &[(&Template, &data::Link)],
    problems: &mut Vec<PolicyError>,
) -> PolicySet {
    let mut all = PolicySet::new();
    for (policy, _) in statics {
        // Ids were checked for uniqueness above, so adding cannot fail on a duplicate.
        if let Err(e) = all.add(policy.clone()) {
            problems.push(PolicyError::Assemble(Box::new(e)));
        }
    }
    for (template, _) in templates {
        if let Err(e) = all.add_template(template.clone()) {
            problems.push(PolicyError::Assemble(Box::new(e)));
        }
    }
    for (_, link) in linked {
        if let Err(e) = all.link(link.template_id.clone(), PolicyId::new(&link.link_id), link.args.clone()) {
            problems.push(PolicyError::Invalid {
                at: link.at.clone(),
                id: link.link_id.clone(),
                message: e.to_string(),
            });
        }
    }
    all
}

/// The built-in permits, named by their `@id`.
fn baseline() -> Result<Vec<Policy>, PolicyError> {
    let baseline = PolicySet::from_str(BASELINE).map_err(|e| PolicyError::Schema(e.to_string()))?;
    Ok(baseline.policies().filter_map(|p| p.annotation("id").map(|id| p.new_id(PolicyId::new(id)))).collect())
}

/// Validate the assembled set strictly against the schema; errors, then warnings, are problems.
fn validate(
    schema: &Schema,
    all: &PolicySet,
    files: &[PolicyFile],
    metas: &BTreeMap<String, PolicyMeta>,
    problems: &mut Vec<PolicyError>,
) {
    let result = Validator::new(schema.clone()).validate(all, ValidationMode::Strict);
    for e in result.validation_errors() {
        problems.push(invalid(files, metas, e.policy_id(), e));
    }
    for w in result.validation_warnings() {
        problems.push(invalid(files, metas, w.policy_id(), w));
    }
}

/// Every pass's slice: its static policies, its links, then the baseline permits.
fn slice(
    statics: &[(Policy, PolicyMeta)],
    linked: &[(&Template, &data::Link)],
    baseline: &[Policy],
) -> Result<HashMap<Pass, Slice>, PolicyError> {
    let mut per_pass: HashMap<Pass, Vec<(SliceItem<'_>, bool)>> = HashMap::new();
    for (policy, meta) in statics {
        for pass in &meta.passes {
            per_pass.entry(*pass).or_default().push((SliceItem::Static(policy), false));
        }
    }
    for (template, link) in linked {
        for pass in passes_of(template.action_constraint()) {
            per_pass.entry(pass).or_default().push((SliceItem::Linked(template, link), false));
        }
    }
    for policy in baseline {
        for pass in passes_of(policy.action_constraint()) {
            per_pass.entry(pass).or_default().push((SliceItem::Static(policy), true));
        }
    }
    let mut slices = HashMap::new();
    for pass in Pass::ALL {
        slices.insert(pass, Slice::build(per_pass.remove(&pass).unwrap_or_default())?);
    }
    Ok(slices)
}

/// Whether every emit decision depends on the selector alone (see [`selector_only`]).
fn emit_memoisable(statics: &[(Policy, PolicyMeta)], linked: &[(&Template, &data::Link)]) -> bool {
    let emits = |passes: &[Pass]| passes.contains(&Pass::Emit);
    statics.iter().all(|(policy, meta)| !emits(&meta.passes) || selector_only(policy))
        // A linked policy is scoped to the entity it was linked with: never selector-only.
        && !linked.iter().any(|(template, _)| emits(&passes_of(template.action_constraint())))
}

/// A statement's source: up to the next statement, without the comments that introduce the next
/// one (they belong to it, not to this one).
fn statement_text(span: &str) -> String {
    let mut lines: Vec<&str> = span.trim_end().lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty() || l.trim_start().starts_with("//")) {
        lines.pop();
    }
    lines.join("\n")
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

/// Passes an action scope covers.
pub(crate) fn passes_of(constraint: ActionConstraint) -> Vec<Pass> {
    let name = |uid: &cedar_policy::EntityUid| Pass::from_action(uid.id().unescaped());
    match constraint {
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
    let json = policy.to_json().ok();
    scope_ok && !rules::reads_var(json.clone(), "principal") && !rules::reads_var(json, "context")
}
