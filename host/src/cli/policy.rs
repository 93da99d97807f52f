//! `attestor policy check|fmt|test|explain|link|unlink|schema`: the policy author's tools.
//!
//! Every command loads a policy set exactly as the host does (same files, same lint, same
//! strict validation, same decision code), so a set that passes here behaves the same when
//! deployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use super::ConfigArgs;
use super::out;
use crate::attestation::Outcome;
use crate::config::Config;
use crate::policy::fixture::{self, Subject};
use crate::policy::{
    Policies, PolicyError, PolicyFile, PolicyKind, PolicySettings, default_files, files_under, is_hidden, read_dir,
};
use crate::spiffe_id::TrustDomain;
use crate::workload::{AgentFacts, Workload};

/// Policy authoring commands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Parse, lint and strictly validate a policy set; print every problem with file, line and
    /// policy id. Exits 1 when the host would refuse the set.
    #[command(visible_alias = "validate")]
    Check {
        #[command(flatten)]
        set: SetArgs,
        /// Treat lint warnings as problems.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Format `.cedar` files as `cedar format` does.
    Fmt {
        /// Files or directories (default: the policy directory, else `.`).
        paths: Vec<PathBuf>,
        /// Change nothing; list files that are not formatted and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Run fixture tests (`*.yaml` under the policy directory) through the real decision path;
    /// prints `N passed, M failed` and exits 1 on any failure.
    Test {
        #[command(flatten)]
        set: SetArgs,
        /// Fixture files or directories (default: the policy directory).
        #[arg(long = "fixtures", value_name = "PATH")]
        fixtures: Vec<PathBuf>,
    },
    /// Decide recorded facts and print the audit record, with the text of every policy that
    /// took part.
    Explain {
        #[command(flatten)]
        set: SetArgs,
        /// Facts (JSON or YAML): a workload's, as `attestor attest --dump-facts` writes them, or
        /// an agent's in node attestation (`cluster`, `namespace`, `service_account`, `pod_name`,
        /// `pod_uid`, `node_name`, `node_uid`, labels…), decided on `attest_node`.
        #[arg(long, value_name = "FILE")]
        facts: PathBuf,
        /// Also say what happened to this selector.
        #[arg(long, value_name = "SELECTOR")]
        selector: Option<String>,
        /// `context.now` (RFC 3339, UTC), default the current time.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Decide every fixture's facts with two policy sets and print where they differ (a dry
    /// run of a change). Exits 1 when any decision differs, like `diff`.
    Diff {
        #[command(flatten)]
        set: SetArgs,
        /// The candidate policy directory, loaded with the same settings.
        #[arg(long, value_name = "DIR")]
        against: PathBuf,
        /// Fixture files or directories whose facts both sets decide (default: the policy
        /// directory).
        #[arg(long = "fixtures", value_name = "PATH")]
        fixtures: Vec<PathBuf>,
    },
    /// Link a template (e.g. a quarantine) to an entity, in the set's links file. The new set is
    /// checked before the file is written.
    Link {
        /// The template's `@id`.
        template: String,
        /// The new policy's id.
        link_id: String,
        /// Entity for `?principal`, e.g. `Attest::Namespace::"web"`.
        #[arg(long, value_name = "ENTITY")]
        principal: Option<String>,
        /// Entity for `?resource`.
        #[arg(long, value_name = "ENTITY")]
        resource: Option<String>,
        #[command(flatten)]
        set: SetArgs,
    },
    /// Remove a link from the set's links file.
    Unlink {
        /// The linked policy's id.
        link_id: String,
        #[command(flatten)]
        set: SetArgs,
    },
    /// Print the Cedar schema policies are validated against (for `cedar validate`).
    Schema,
}

/// Which policy set, and the host settings it is loaded with.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The policy directory (default: the config's `policy.dir`, else the embedded default set).
    pub dir: Option<PathBuf>,
    /// Host settings (`trust_domain`, `policy { … }`). Without `--config`, an `attestor.hcl`
    /// in the policy directory is used when there is one.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// A policy set on disk (or embedded) and the settings to load it with.
struct Set {
    settings: PolicySettings,
    trust_domain: TrustDomain,
}

impl Set {
    fn resolve(args: &SetArgs) -> anyhow::Result<Self> {
        let beside = args.dir.as_ref().map(|d| d.join("attestor.hcl")).filter(|p| p.is_file());
        let config = match args.config.config.as_ref().or(beside.as_ref()) {
            Some(path) => Config::from_file(path)?,
            None => Config::embedded_default()?,
        };
        let mut settings = config.policy;
        if let Some(dir) = &args.dir {
            settings.dir = Some(dir.clone());
        }
        Ok(Self { settings, trust_domain: config.trust_domain })
    }

    fn files(&self) -> Result<Vec<PolicyFile>, PolicyError> {
        match &self.settings.dir {
            Some(dir) => read_dir(dir),
            None => Ok(default_files()),
        }
    }

    fn load_files(&self, files: &[PolicyFile]) -> Result<Policies, PolicyError> {
        Policies::from_files(files, &self.settings, &self.trust_domain).map(Policies::with_runtime_checks)
    }

    fn load(&self) -> Result<Policies, PolicyError> {
        self.load_files(&self.files()?)
    }

    fn name(&self) -> String {
        self.settings.dir.as_ref().map_or_else(|| "the embedded default set".to_owned(), |d| d.display().to_string())
    }
}

/// Each problem of a refused set, one per line.
fn problems(e: &PolicyError) -> Vec<String> {
    match e {
        PolicyError::Many(all) => all.iter().flat_map(problems).collect(),
        other => vec![other.to_string()],
    }
}

pub(super) fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { set, deny_warnings } => check(&Set::resolve(&set)?, deny_warnings),
        PolicyCommand::Fmt { paths, check } => fmt(paths, check),
        PolicyCommand::Test { set, fixtures } => test(&Set::resolve(&set)?, fixtures),
        PolicyCommand::Explain { set, facts, selector, now } => {
            explain(&Set::resolve(&set)?, &facts, selector.as_deref(), now.as_deref())
        }
        PolicyCommand::Diff { set, against, fixtures } => diff(&Set::resolve(&set)?, &against, fixtures),
        PolicyCommand::Link { template, link_id, principal, resource, set } => {
            let mut args = serde_json::Map::new();
            if let Some(p) = principal {
                args.insert("?principal".into(), json!(p));
            }
            if let Some(r) = resource {
                args.insert("?resource".into(), json!(r));
            }
            if args.is_empty() {
                anyhow::bail!("give --principal and/or --resource: the entities the template's slots take");
            }
            let entry = json!({"template_id": template, "link_id": link_id, "args": args});
            edit_links(&Set::resolve(&set)?, &link_id, Some(entry))
        }
        PolicyCommand::Unlink { link_id, set } => edit_links(&Set::resolve(&set)?, &link_id, None),
        PolicyCommand::Schema => {
            super::emit_text(crate::policy::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(set: &Set, deny_warnings: bool) -> anyhow::Result<ExitCode> {
    let policies = match set.load() {
        Ok(p) => p,
        Err(e) => {
            let all = problems(&e);
            for p in &all {
                out!("{p}");
            }
            out!("{}: {} problem{}; the host would refuse this set", set.name(), all.len(), plural(all.len()));
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in policies.warnings() {
        out!("{w}");
    }
    let count = |k: PolicyKind| policies.policies().values().filter(|m| m.kind == k).count();
    let node_rules = match policies.node_rules().len() {
        0 => String::new(),
        n => format!(", {n} node identity rule{}", plural(n)),
    };
    out!(
        "{}: ok: {} policies ({} identity rules{node_rules}), {} templates, {} links, {} ID prefixes; generation {}",
        set.name(),
        count(PolicyKind::Static),
        policies.rules().len(),
        count(PolicyKind::Template),
        count(PolicyKind::Link),
        policies.prefixes().entries().len(),
        policies.generation()
    );
    if deny_warnings && !policies.warnings().is_empty() {
        out!("{} warning{} denied (--deny-warnings)", policies.warnings().len(), plural(policies.warnings().len()));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `.cedar` files under `path` (or `path` itself), hidden files and directories skipped.
fn cedar_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let cedar = |p: &Path| !is_hidden(p) && p.extension().is_some_and(|e| e == "cedar");
    let found =
        files_under(path, &cedar).map_err(|e| anyhow::anyhow!("cannot read {}: {}", e.path.display(), e.source))?;
    out.extend(found);
    Ok(())
}

/// A file's header comment: the leading comment lines that a blank line separates from the
/// first policy. `cedar format` attaches every comment to the policy after it, so a header would
/// otherwise be glued to the first policy's own comment. Returns the header (without its
/// trailing blank lines) and the rest of the text.
fn split_header(text: &str) -> (&str, &str) {
    let mut end_of_header = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if offset > 0 {
                end_of_header = Some(offset);
            }
        } else if !trimmed.starts_with("//") {
            break;
        }
        offset += line.len();
    }
    match end_of_header {
        Some(end) if !text[..end].trim().is_empty() => (text[..end].trim_end(), &text[end..]),
        _ => ("", text),
    }
}

/// The formatted text of one Cedar file (the Cedar CLI's defaults: 80 columns, 2 spaces). A
/// header comment is kept as written, separated from the first policy by one blank line.
pub fn format_cedar(text: &str) -> Result<String, String> {
    let (header, body) = split_header(text);
    let mut out = if body.trim().is_empty() { String::new() } else { format_body(body)? };
    if !header.is_empty() {
        let sep = if out.is_empty() { "\n" } else { "\n\n" };
        out = format!("{header}{sep}{out}");
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn format_body(text: &str) -> Result<String, String> {
    let config = cedar_policy_formatter::Config { line_width: 80, indent_width: 2 };
    cedar_policy_formatter::policies_str_to_pretty(text, &config).map_err(|e| {
        // The formatter only says that parsing failed; Cedar's parser says where and why.
        use miette::Diagnostic;
        match text.parse::<cedar_policy::PolicySet>() {
            Err(p) => {
                let offset = p.labels().and_then(|mut l| l.next()).map_or(0, |l| l.offset());
                let file = PolicyFile { name: String::new(), text: text.to_owned() };
                format!("line {}: {p}", file.line_col(offset).0)
            }
            Ok(_) => e.to_string(),
        }
    })
}

fn fmt(paths: Vec<PathBuf>, check: bool) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths };
    let mut files = Vec::new();
    for p in &paths {
        cedar_files(p, &mut files)?;
    }
    files.sort();
    let (mut unformatted, mut failed) = (0, 0);
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let pretty = match format_cedar(&text) {
            Ok(p) => p,
            Err(e) => {
                out!("{}: cannot format: {}", file.display(), e.replace('\n', " "));
                failed += 1;
                continue;
            }
        };
        if pretty == text {
            continue;
        }
        unformatted += 1;
        if check {
            out!("{}: not formatted", file.display());
        } else {
            super::replace::replace_file(file, &pretty)?;
            out!("{}: formatted", file.display());
        }
    }
    if check {
        out!("{} of {} files not formatted", unformatted, files.len());
    }
    Ok(if failed > 0 || (check && unformatted > 0) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Fixture files: those named, or every `*.yaml` under the policy directory.
fn fixture_files(set: &Set, paths: Vec<PathBuf>) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let paths = match (paths.is_empty(), &set.settings.dir) {
        (false, _) => paths,
        (true, Some(dir)) => vec![dir.clone()],
        (true, None) => anyhow::bail!("no fixtures: give a policy directory or --fixtures PATH"),
    };
    let mut files = Vec::new();
    for p in &paths {
        if p.is_dir() {
            files.extend(fixture::find(p)?);
        } else {
            files.push(p.clone());
        }
    }
    Ok((paths, files))
}

fn diff(set: &Set, against: &Path, fixtures: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let (_, files) = fixture_files(set, fixtures)?;
    let live = set.load().map_err(|e| anyhow::anyhow!("{}: {}", set.name(), problems(&e).join("; ")))?;
    let candidate = Set {
        settings: PolicySettings { dir: Some(against.to_owned()), ..set.settings.clone() },
        trust_domain: set.trust_domain.clone(),
    };
    let next = candidate.load().map_err(|e| anyhow::anyhow!("{}: {}", candidate.name(), problems(&e).join("; ")))?;
    let (mut same, mut differ) = (0, 0);
    for file in &files {
        for f in fixture::read(file)? {
            let now = f.now.unwrap_or_else(std::time::SystemTime::now);
            let d = match &f.subject {
                Subject::Workload(w) => {
                    let a = live.decide_at(w, now)?;
                    let b = next.decide_at(w, now)?;
                    crate::generation::differences(&a, &b, ["current", "candidate"])
                }
                Subject::Agent(agent) => {
                    node_differences(&live.decide_node_at(agent, now)?, &next.decide_node_at(agent, now)?)
                }
            };
            if d.is_empty() {
                out!("same {}: {}", file.display(), f.name);
                same += 1;
            } else {
                out!("DIFF {}: {}", file.display(), f.name);
                for line in d {
                    out!("       {line}");
                }
                differ += 1;
            }
        }
    }
    out!("{same} same, {differ} differ");
    Ok(if differ == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where two node decisions differ: the verdict (with the chosen ID), then the policies that
/// determined it.
fn node_differences(a: &crate::policy::NodeDecision, b: &crate::policy::NodeDecision) -> Vec<String> {
    let mut out = Vec::new();
    if a.verdict != b.verdict {
        out.push(format!("node: current {}, candidate {}", json!(a.verdict), json!(b.verdict)));
    }
    if a.determining != b.determining {
        out.push(format!("node_by: current {:?}, candidate {:?}", a.determining, b.determining));
    }
    out
}

fn test(set: &Set, paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let (paths, files) = fixture_files(set, paths)?;
    let policies = match set.load() {
        Ok(p) => p,
        Err(e) => {
            for p in problems(&e) {
                out!("{p}");
            }
            out!("0 passed, {} failed (the policy set does not load)", files.len().max(1));
            return Ok(ExitCode::FAILURE);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let fixtures = match fixture::read(file) {
            Ok(f) => f,
            Err(e) => {
                out!("FAIL {e}");
                failed += 1;
                continue;
            }
        };
        for f in &fixtures {
            let label = format!("{}: {}", file.display(), f.name);
            match fixture::run(&policies, f) {
                Ok(o) if o.failures.is_empty() => {
                    out!("ok   {label}");
                    passed += 1;
                }
                Ok(o) => {
                    out!("FAIL {label}");
                    for why in &o.failures {
                        out!("       {why}");
                    }
                    failed += 1;
                }
                Err(e) => {
                    out!("FAIL {label}\n       {e}");
                    failed += 1;
                }
            }
        }
    }
    if passed + failed == 0 {
        out!(
            "no fixtures found under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    out!("{passed} passed, {failed} failed");
    Ok(if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A facts file's subject: a workload (it has `unix`) or an agent.
fn read_subject(facts: &Path) -> anyhow::Result<Subject> {
    let text = std::fs::read_to_string(facts).with_context(|| format!("cannot read facts file {}", facts.display()))?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("facts file {} is not JSON or YAML", facts.display()))?;
    if value.get("unix").is_some() {
        let w: Workload = serde_yaml_ng::from_value(value)
            .with_context(|| format!("facts file {} is not a workload", facts.display()))?;
        return Ok(Subject::Workload(Box::new(w)));
    }
    let a: AgentFacts = serde_yaml_ng::from_value(value).with_context(|| {
        format!("facts file {} is neither a workload (no `unix`) nor an agent's facts", facts.display())
    })?;
    Ok(Subject::Agent(Box::new(a)))
}

/// `explain` for an agent: the node decision as its audit record shows it, with every policy
/// that took part.
fn explain_node(policies: &Policies, agent: &AgentFacts, now: std::time::SystemTime) -> anyhow::Result<ExitCode> {
    let decision = policies.decide_node_at(agent, now)?;
    let mut record = crate::audit::node_record(Some(agent), Some(&decision), None, true, now);
    record["policies"] = policy_texts(policies, decision.determining.iter().map(String::as_str));
    out!("{}", serde_json::to_string_pretty(&record)?);
    Ok(ExitCode::SUCCESS)
}

/// `{id: {at, text}}` of each of `ids` the set holds.
fn policy_texts<'a>(policies: &Policies, ids: impl Iterator<Item = &'a str>) -> Value {
    let mut texts = BTreeMap::new();
    for id in ids {
        if let Some(meta) = policies.policies().get(id) {
            texts.insert(id.to_owned(), json!({"at": meta.at.to_string(), "text": meta.text}));
        }
    }
    Value::Object(texts.into_iter().collect())
}

fn explain(set: &Set, facts: &Path, selector: Option<&str>, now: Option<&str>) -> anyhow::Result<ExitCode> {
    let policies = set.load().map_err(|e| anyhow::anyhow!(problems(&e).join("\n")))?;
    let subject = read_subject(facts)?;
    let now = match now {
        Some(n) => crate::time::clock::parse_rfc3339_seconds(n)
            .ok_or_else(|| anyhow::anyhow!("--now {n:?} is not RFC 3339 UTC (2026-03-01T12:00:00Z)"))?,
        None => std::time::SystemTime::now(),
    };
    let workload = match subject {
        Subject::Workload(w) => *w,
        Subject::Agent(agent) => {
            if selector.is_some() {
                anyhow::bail!("--selector is for workloads: an agent's node decision emits no selectors");
            }
            return explain_node(&policies, &agent, now);
        }
    };
    let decision = policies.decide_at(&workload, now)?;
    let outcome = Outcome::new(workload, Vec::new(), decision);
    let mut record = crate::audit::record(&outcome, true, now);
    let d = &outcome.decision;

    // Every policy that took part: the gate's, the identity rules that matched, the guards
    // that denied, the filters that suppressed.
    let mut ids: Vec<&str> = d.gate.determining.iter().map(String::as_str).collect();
    for c in &d.candidates {
        ids.push(&c.rule);
        ids.extend(c.determining.iter().map(String::as_str));
    }
    for s in &d.selectors.suppressed {
        ids.extend(s.by.iter().map(String::as_str));
    }
    if let Some(sel) = selector {
        let emitted = d.emitted.iter().any(|s| s.to_string() == sel);
        let suppressed = d.selectors.suppressed.iter().find(|s| s.selector.to_string() == sel);
        record["selector"] = match (emitted, suppressed) {
            (true, _) => json!({"selector": sel, "decision": "emitted"}),
            (false, Some(s)) => json!({"selector": sel, "decision": "suppressed", "by": s.by}),
            (false, None) => json!({"selector": sel, "decision": "not gathered"}),
        };
    }
    record["policies"] = policy_texts(&policies, ids.into_iter());
    out!("{}", serde_json::to_string_pretty(&record)?);
    Ok(ExitCode::SUCCESS)
}

/// Add (`Some`) or remove (`None`) one link, check the whole set with the change, then write.
fn edit_links(set: &Set, link_id: &str, entry: Option<Value>) -> anyhow::Result<ExitCode> {
    let Some(dir) = &set.settings.dir else {
        anyhow::bail!("the embedded default set cannot be edited: give a policy directory");
    };
    let mut files = read_dir(dir)?;
    let links: Vec<usize> = (0..files.len()).filter(|&i| files[i].name.ends_with("links.json")).collect();
    let index = match links.as_slice() {
        [] => {
            files.push(PolicyFile { name: dir.join("links.json").display().to_string(), text: "[]".into() });
            files.len() - 1
        }
        [one] => *one,
        _ => anyhow::bail!(
            "several links files in {}: {}; edit the one you mean by hand",
            dir.display(),
            links.iter().map(|&i| files[i].name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    let path = PathBuf::from(&files[index].name);
    let mut list: Vec<Value> = serde_json::from_str(&files[index].text)
        .with_context(|| format!("{} is not a links file (a JSON list)", path.display()))?;
    let before = list.len();
    list.retain(|l| l.get("link_id").and_then(Value::as_str) != Some(link_id));
    let message = match entry {
        Some(e) => {
            if before != list.len() {
                anyhow::bail!("{link_id} is already linked in {}; unlink it first", path.display());
            }
            list.push(e);
            format!("linked {link_id} in {}", path.display())
        }
        None => {
            if before == list.len() {
                anyhow::bail!("no link {link_id} in {}", path.display());
            }
            format!("unlinked {link_id} from {}", path.display())
        }
    };
    files[index].text = serde_json::to_string_pretty(&list)? + "\n";
    if let Err(e) = set.load_files(&files) {
        for p in problems(&e) {
            out!("{p}");
        }
        out!("not written: the host would refuse the set with this change");
        return Ok(ExitCode::FAILURE);
    }
    super::replace::replace_file(&path, &files[index].text)?;
    out!("{message}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
