//! One reconciliation: list the entries SPIRE holds under the prefix, plan against what is
//! wanted, and write the plan in batches (creations first, so an ID never lacks its entry while
//! it moves), one log line and one audit record per change with the rules behind it. A dry run
//! plans and writes nothing.
//!
//! Idempotent: the plan is made from what SPIRE holds now, so a reconciliation interrupted
//! halfway, or a batch that half failed, is finished by the next one; entry IDs are stable, so
//! a restarted registrar finds its own entries and creates no duplicates.

use std::time::SystemTime;

use serde_json::json;

use super::desired::Desired;
use super::entry_api::{EntryApiError, EntryClient, ItemResult};
use super::plan::{Change, Orphans, Plan, plan};
use crate::audit::AuditLog;

/// Entries per batch call: SPIRE applies a batch in one transaction per entry, and 50 keeps one
/// call's answer small while 10,000 entries still take 200 calls.
pub const BATCH: usize = 50;
/// Entries per `ListEntries` page.
pub const PAGE: u32 = 500;

/// What one reconciliation found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The plan.
    pub plan: Plan,
    /// Entries under other prefixes (never touched).
    pub foreign: usize,
    /// Entries created, updated and deleted.
    pub created: usize,
    /// Entries updated.
    pub updated: usize,
    /// Entries deleted.
    pub deleted: usize,
    /// Items the server refused, with its status: retried by the next reconciliation.
    pub failed: Vec<(&'static str, ItemResult)>,
}

/// Reconcile once: `desired` against what SPIRE holds now.
pub async fn reconcile(
    client: &EntryClient,
    prefix: &str,
    desired: &Desired,
    orphans: &mut Orphans,
    grace: std::time::Duration,
    dry_run: bool,
    audit: &AuditLog,
) -> Result<Reconciled, EntryApiError> {
    let owned = client.list_owned(prefix, PAGE).await?;
    let plan = plan(desired, &owned.entries, orphans, SystemTime::now(), grace);
    let mut done = Reconciled { foreign: owned.foreign, ..Reconciled::default() };
    if !dry_run {
        let entries = |c: &[Change]| c.iter().map(|c| c.entry.clone()).collect::<Vec<_>>();
        let created = client.create(&entries(&plan.create), BATCH).await?;
        done.created = record("create", &plan.create, &created, &mut done.failed, audit);
        let updated = client.update(&entries(&plan.update), BATCH).await?;
        done.updated = record("update", &plan.update, &updated, &mut done.failed, audit);
        let ids: Vec<String> = plan.delete.iter().map(|c| c.entry.id.clone()).collect();
        let deleted = client.delete(&ids, BATCH).await?;
        done.deleted = record("delete", &plan.delete, &deleted, &mut done.failed, audit);
    }
    done.plan = plan;
    Ok(done)
}

/// Log and audit each change the server made; keep the refused ones. Returns how many were made.
fn record(
    action: &'static str,
    changes: &[Change],
    results: &[ItemResult],
    failed: &mut Vec<(&'static str, ItemResult)>,
    audit: &AuditLog,
) -> usize {
    let mut made = 0;
    for (change, result) in changes.iter().zip(results) {
        let e = &change.entry;
        if result.ok() {
            made += 1;
            tracing::info!(
                action,
                entry_id = %e.id,
                spiffe_id = %e.spiffe_id,
                parent_id = %e.parent_id,
                rules = %change.rules.join(","),
                "registration entry {action}d"
            );
            audit.event(json!({
                "event": "registrar_change",
                "action": action,
                "entry_id": e.id,
                "spiffe_id": e.spiffe_id,
                "parent_id": e.parent_id,
                "rules": change.rules,
            }));
        } else {
            tracing::warn!(
                action,
                entry_id = %e.id,
                spiffe_id = %e.spiffe_id,
                code = result.code,
                message = %crate::text::bounded(&result.message, 512),
                "SPIRE server refused the change; the next reconciliation retries it"
            );
            failed.push((action, result.clone()));
        }
    }
    made
}
