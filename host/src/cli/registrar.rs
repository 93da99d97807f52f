//! `attestor registrar --config FILE [--once] [--dry-run]`: keep SPIRE server's registration
//! entries in step with the identity rules. Without `--once` it runs until SIGTERM or Ctrl-C
//! (`registrar::run`: watches, leader lease, metrics); `--once` lists the cluster, reconciles
//! once, prints the plan and what was done, and exits (1 when the server refused an entry);
//! `--dry-run` plans and writes nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow, bail};

use super::out;
use crate::audit::AuditLog;
use crate::config::Config;
use crate::policy::{Policies, WatchedPolicies};
use crate::registrar::desired::{Desired, desired};
use crate::registrar::entry_api::EntryClient;
use crate::registrar::plan::{Change, Orphans};
use crate::registrar::reconcile::{Reconciled, reconcile};
use crate::registrar::run::Registrar;
use crate::registrar::settings::RegistrarSettings;

/// How long one Entry API call may take: a page of 500 entries or a batch of 50 is answered in
/// milliseconds by a healthy server.
const ENTRY_API_TIMEOUT: Duration = Duration::from_secs(30);

/// `attestor registrar` arguments.
#[derive(Debug, clap::Args)]
pub struct RegistrarArgs {
    /// The registrar's configuration: `trust_domain`, `policy { }` (the same policies the
    /// plugin uses) and `registrar { }`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Reconcile once, print the plan and what was done, and exit (without it: run until SIGTERM).
    #[arg(long)]
    pub once: bool,
    /// Print the plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run the command.
pub(super) fn run(args: RegistrarArgs) -> anyhow::Result<ExitCode> {
    let config = Config::from_file(&args.config)?;
    let settings = config.registrar.clone().ok_or_else(|| {
        anyhow!("{}: no registrar {{ }} block (at least `registrar {{ cluster = \"<name>\" }}`)", args.config.display())
    })?;
    let policies = Arc::new(load_policies(&config, &settings)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if args.once {
        return runtime.block_on(once(&config, &settings, &policies.policies(), args.dry_run));
    }
    let registrar = Registrar { settings, policies, audit: AuditLog::open(&config.audit)?, dry_run: args.dry_run };
    runtime.block_on(registrar.run(shutdown()))?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The policies with `{cluster}` set from `registrar.cluster` unless `policy.cluster` says the
/// same; read again every `policy.reload_interval` by the long-running registrar.
fn load_policies(config: &Config, settings: &RegistrarSettings) -> anyhow::Result<WatchedPolicies> {
    let mut policy = config.policy.clone();
    match &policy.cluster {
        Some(c) if *c != settings.cluster => {
            bail!("policy.cluster is {c:?} but registrar.cluster is {:?}: they name the same cluster", settings.cluster)
        }
        _ => policy.cluster = Some(settings.cluster.clone()),
    }
    WatchedPolicies::load(policy, config.trust_domain.clone()).map_err(|e| anyhow!("{e}"))
}

/// One reconciliation: list, decide, plan, write (unless `dry_run`), print.
async fn once(
    config: &Config,
    settings: &RegistrarSettings,
    policies: &Policies,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let server = crate::registrar::cluster::ApiServer::connect(settings.kube_config_file.as_deref()).await?;
    let snapshot = crate::registrar::cluster::list_once(&server).await?;
    let wanted = desired(policies, settings, &snapshot.pods, &snapshot.namespaces, &snapshot.nodes, SystemTime::now())?;
    print_wanted(&wanted);
    let entries = EntryClient::new(&settings.spire_server_socket, ENTRY_API_TIMEOUT)?;
    let audit = AuditLog::open(&config.audit)?;
    let mut orphans = Orphans::default();
    let done = reconcile(
        &entries,
        &settings.entry_id_prefix,
        &wanted,
        &mut orphans,
        settings.delete_grace_period,
        dry_run,
        &audit,
    )
    .await
    .context("reconciling with SPIRE server")?;
    print_done(&done, dry_run);
    Ok(if done.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_wanted(w: &Desired) {
    let skipped: Vec<String> = w.skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
    let skipped = if skipped.is_empty() { String::new() } else { format!(" (no entries for {})", skipped.join(", ")) };
    out!("pods: {} seen{skipped}; {} entries wanted", w.pods, w.entries.len());
    for (rule, pods) in &w.not_rendered {
        out!(
            "rule {rule}: matches {pods} pod(s) but renders no ID for them (a label they lack, or a value that cannot be a path segment)"
        );
    }
    for rule in &w.needs_runtime {
        out!(
            "rule {rule}: its templates need what only a running process has ({{unix.…}} or {{fact:…}}): no entry can be made for it"
        );
    }
}

fn line(action: &str, c: &Change) -> String {
    let e = &c.entry;
    let rules = if c.rules.is_empty() { String::new() } else { format!(" (rules: {})", c.rules.join(", ")) };
    format!("{action} {} {} parent {}{rules}", e.id, e.spiffe_id, e.parent_id)
}

fn print_done(r: &Reconciled, dry_run: bool) {
    let p = &r.plan;
    out!(
        "plan: {} to create, {} to update, {} to delete, {} waiting out the grace period, {} unchanged; {} entries of others untouched",
        p.create.len(),
        p.update.len(),
        p.delete.len(),
        p.waiting.len(),
        p.unchanged,
        r.foreign
    );
    for c in &p.create {
        out!("{}", line("create", c));
    }
    for c in &p.update {
        out!("{}", line("update", c));
    }
    for c in &p.delete {
        out!("{}", line("delete", c));
    }
    for (id, left) in &p.waiting {
        out!("wait {id} ({}s of grace left; --once deletes only with delete_grace_period = \"0s\")", left.as_secs());
    }
    if dry_run {
        out!("dry run: nothing written");
        return;
    }
    out!("done: {} created, {} updated, {} deleted, {} refused", r.created, r.updated, r.deleted, r.failed.len());
    for (action, item) in &r.failed {
        out!("refused {action} {}: code {} {}", item.id, item.code, crate::text::bounded(&item.message, 512));
    }
}
