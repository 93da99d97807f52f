//! From what is wanted and what SPIRE holds to what to write: entries to create, entries to
//! update, entries to delete once they have been unwanted for the grace period. Only entries
//! the registrar owns (their ID carries its prefix) are ever compared, so no other entry can be
//! changed or deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::desired::Desired;
use super::entry::Entry;

/// Entries no longer wanted, and since when (kept in memory: after a restart the grace period
/// starts again, which only delays a deletion).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Orphans(BTreeMap<String, SystemTime>);

impl Orphans {
    /// How many entries are waiting out their grace period.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One change, and the rules that caused it (none for a deletion: nothing wants the entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The entry as it is to be (for a deletion, as it was).
    pub entry: Entry,
    /// The identity rules behind it.
    pub rules: Vec<String>,
}

/// What one reconciliation will write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Wanted entries SPIRE does not hold.
    pub create: Vec<Change>,
    /// Wanted entries SPIRE holds with other content.
    pub update: Vec<Change>,
    /// Owned entries unwanted for at least the grace period.
    pub delete: Vec<Change>,
    /// Owned entries unwanted for less than the grace period, and how long they have left.
    pub waiting: Vec<(String, Duration)>,
    /// Wanted entries SPIRE already holds as they should be.
    pub unchanged: usize,
}

impl Plan {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The plan for `desired` against the owned entries SPIRE holds (`current`), as of `now`.
/// `orphans` remembers when each unwanted entry was first seen unwanted; an entry wanted again
/// is forgotten there.
pub fn plan(desired: &Desired, current: &[Entry], orphans: &mut Orphans, now: SystemTime, grace: Duration) -> Plan {
    let mut p = Plan::default();
    let held: BTreeMap<&str, &Entry> = current.iter().map(|e| (e.id.as_str(), e)).collect();
    for (id, wanted) in &desired.entries {
        match held.get(id.as_str()) {
            None => p.create.push(Change { entry: wanted.entry.clone(), rules: wanted.rules.clone() }),
            Some(e) if !e.same_content(&wanted.entry) => {
                p.update.push(Change { entry: wanted.entry.clone(), rules: wanted.rules.clone() });
            }
            Some(_) => p.unchanged += 1,
        }
    }
    let unwanted: BTreeSet<&str> = held.keys().copied().filter(|id| !desired.entries.contains_key(*id)).collect();
    orphans.0.retain(|id, _| unwanted.contains(id.as_str()));
    for id in unwanted {
        let since = *orphans.0.entry(id.to_owned()).or_insert(now);
        let waited = now.duration_since(since).unwrap_or_default();
        if waited >= grace {
            if let Some(e) = held.get(id) {
                p.delete.push(Change { entry: (*e).clone(), rules: Vec::new() });
            }
        } else {
            p.waiting.push((id.to_owned(), grace - waited));
        }
    }
    p
}

#[cfg(test)]
mod tests;
