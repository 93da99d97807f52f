//! The entries the policies want for the cluster, by entry ID: every ID the processes of each
//! pod may be issued (`Policies::possible_ids`), shaped by the mode, parented to the pod's node's
//! agent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use sha2::{Digest, Sha256};

use super::entry::{Entry, EntrySelector};
use super::pods::{self, Skipped};
use super::settings::{Mode, RegistrarSettings};
use crate::policy::{Approximation, DecideError, IssuedId, PodDecision, Policies};
use crate::spiffe_id::{SpiffeId, TrustDomain};

/// The selector type entries carry: the name SPIRE gives the workload attestor plugin.
pub const SELECTOR_TYPE: &str = "k8s";

/// One wanted entry and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The entry.
    pub entry: Entry,
    /// The identity rules that give its ID.
    pub rules: Vec<String>,
    /// How many pods want it.
    pub pods: usize,
}

/// What the cluster wants, and what could not be turned into entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Wanted entries by entry ID.
    pub entries: BTreeMap<String, Wanted>,
    /// Identity rules that may match but need what only a running process has (reported once).
    pub needs_runtime: BTreeSet<String>,
    /// Identity rules that match some pod but render no ID for it, with how many pods.
    pub not_rendered: BTreeMap<String, usize>,
    /// Pods given no entry, by reason (`unscheduled`, `finished`, `terminating`, `incomplete`,
    /// `node unknown`, `gated`).
    pub skipped: BTreeMap<&'static str, usize>,
    /// Pods seen.
    pub pods: usize,
}

/// A node's name and UID.
fn node_uids(nodes: &[Node]) -> BTreeMap<&str, &str> {
    nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, n.metadata.uid.as_deref().filter(|u| !u.is_empty())?)))
        .collect()
}

/// The parent ID of a node's entries.
pub fn parent_id(
    settings: &RegistrarSettings,
    td: &TrustDomain,
    node_name: &str,
    node_uid: &str,
) -> Result<SpiffeId, String> {
    let rendered = settings
        .parent_id_template
        .replace("{trust_domain}", td.as_str())
        .replace("{cluster}", &settings.cluster)
        .replace("{node_uid}", node_uid)
        .replace("{node_name}", node_name);
    rendered.parse().map_err(|e| format!("parent ID {rendered:?} is not a SPIFFE ID: {e}"))
}

/// A stable entry ID: the prefix, then 32 hex characters of SHA-256 over what makes the entry
/// itself (so a pod restart, or a registrar restart, finds the same ID).
pub fn entry_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("{prefix}{}", &hex::encode(h.finalize())[..32])
}

/// Pods' decisions kept between rounds of the long-running registrar, by pod UID with a digest
/// of what the policies saw of the pod. Deciding costs 300–450 µs per pod (Cedar partial
/// evaluation per container; `cargo bench -- registrar`), so without this one changed pod among
/// 10,000 took 3.5–5 s to reach its entry, almost all of it deciding the 9,999 unchanged ones
/// again. A decision is reused only under the same policy generation, and only when no policy
/// reads `context` (whose `now` changes every second).
#[derive(Debug, Default)]
pub struct DecisionCache {
    generation: String,
    by_pod: HashMap<String, (u64, PodDecision)>,
    /// Decisions reused and made in the last round.
    pub last: (usize, usize),
}

/// The entries `pods` want under `policies` as of `now`.
pub fn desired(
    policies: &Policies,
    settings: &RegistrarSettings,
    pods: &[Pod],
    namespaces: &[Namespace],
    nodes: &[Node],
    now: SystemTime,
) -> Result<Desired, DecideError> {
    desired_with(policies, settings, pods, namespaces, nodes, now, &mut DecisionCache::default())
}

/// The same, reusing the decisions of pods unchanged since the last round (`cache`).
pub fn desired_with(
    policies: &Policies,
    settings: &RegistrarSettings,
    pods: &[Pod],
    namespaces: &[Namespace],
    nodes: &[Node],
    now: SystemTime,
    cache: &mut DecisionCache,
) -> Result<Desired, DecideError> {
    if cache.generation != policies.generation() || !policies.decisions_are_reusable() {
        cache.by_pod.clear();
        cache.generation = policies.generation().to_owned();
    }
    let mut seen = BTreeSet::new();
    cache.last = (0, 0);
    let td = policies.trust_domain();
    let labels: BTreeMap<&str, BTreeMap<String, String>> = namespaces
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, n.metadata.labels.clone().unwrap_or_default())))
        .collect();
    let uids = node_uids(nodes);
    let mut out = Desired { pods: pods.len(), ..Desired::default() };
    // Pods in name order: entries merged from several pods come out the same every time.
    let mut ordered: Vec<&Pod> = pods.iter().collect();
    ordered.sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
    let empty = BTreeMap::new();
    let mut wanted: BTreeMap<String, Acc> = BTreeMap::new();
    for pod in ordered {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let view = match pods::view(pod, labels.get(ns).unwrap_or(&empty)) {
            Ok(v) => v,
            Err(why) => {
                *out.skipped.entry(skipped_name(why)).or_default() += 1;
                continue;
            }
        };
        let node = &view.facts.pod.node_name;
        let Some(parent) = uids.get(node.as_str()).and_then(|uid| parent_id(settings, td, node, uid).ok()) else {
            *out.skipped.entry("node unknown").or_default() += 1;
            continue;
        };
        let digest = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&view.facts, &view.containers, settings.mode.as_str()).hash(&mut h);
            h.finish()
        };
        let uid = view.facts.pod.uid.0.clone();
        seen.insert(uid.clone());
        let decision = match cache.by_pod.get(&uid) {
            Some((d, decision)) if *d == digest => {
                cache.last.0 += 1;
                decision.clone()
            }
            _ => {
                let decision =
                    policies.possible_ids(&view.facts, &view.containers, now, approximation(settings.mode))?;
                cache.last.1 += 1;
                cache.by_pod.insert(uid, (digest, decision.clone()));
                decision
            }
        };
        out.needs_runtime.extend(decision.needs_runtime);
        for rule in decision.not_rendered {
            *out.not_rendered.entry(rule).or_default() += 1;
        }
        if decision.ids.is_empty() && !decision.gated_by.is_empty() {
            *out.skipped.entry("gated").or_default() += 1;
            continue;
        }
        for issued in decision.ids {
            add(&mut wanted, settings, &view.facts.pod, &parent, issued);
        }
    }
    cache.by_pod.retain(|uid, _| seen.contains(uid));
    out.entries = wanted
        .into_iter()
        .map(|(id, acc)| {
            let mut rules = acc.issued.policies.clone();
            rules.sort();
            let entry = entry(id.clone(), acc.parent_id, acc.selectors, &acc.issued);
            (id, Wanted { entry, rules, pods: acc.pods })
        })
        .collect();
    Ok(out)
}

/// How decisions from a pod object err per mode: `per_node` entries carry the `spiffe-id`
/// selector, so attestor's runtime decision still guards them and they may be too many;
/// `per_pod` entries are SPIRE's only check, so they may only be too few.
pub fn approximation(mode: Mode) -> Approximation {
    match mode {
        Mode::PerNode => Approximation::Over,
        Mode::PerPod => Approximation::Under,
    }
}

fn skipped_name(why: Skipped) -> &'static str {
    match why {
        Skipped::Unscheduled => "unscheduled",
        Skipped::Finished => "finished",
        Skipped::Terminating => "terminating",
        Skipped::Incomplete => "incomplete",
    }
}

/// A wanted entry while pods are added: the merged ID and where it goes.
struct Acc {
    issued: IssuedId,
    parent_id: String,
    selectors: Vec<EntrySelector>,
    pods: usize,
}

/// Add one pod's ID to the wanted entries (merged with the same entry from other pods).
fn add(
    entries: &mut BTreeMap<String, Acc>,
    settings: &RegistrarSettings,
    pod: &crate::workload::PodFacts,
    parent: &SpiffeId,
    issued: IssuedId,
) {
    let spiffe_id = issued.id.to_string();
    let parent_id = parent.to_string();
    let (id, selectors) = match settings.mode {
        Mode::PerNode => (
            entry_id(&settings.entry_id_prefix, &["node", &spiffe_id, &parent_id]),
            vec![EntrySelector { kind: SELECTOR_TYPE.into(), value: format!("spiffe-id:{spiffe_id}") }],
        ),
        Mode::PerPod => (
            entry_id(&settings.entry_id_prefix, &["pod", &pod.uid.0, &spiffe_id]),
            vec![
                EntrySelector { kind: SELECTOR_TYPE.into(), value: format!("ns:{}", pod.namespace) },
                EntrySelector { kind: SELECTOR_TYPE.into(), value: format!("pod-uid:{}", pod.uid.0) },
            ],
        ),
    };
    match entries.get_mut(&id) {
        // The same ID on the same node from another pod: what the SVID carries is merged.
        Some(acc) => {
            acc.issued.absorb(issued);
            acc.pods += 1;
        }
        None => {
            entries.insert(id, Acc { issued, parent_id, selectors, pods: 1 });
        }
    }
}

fn entry(id: String, parent_id: String, selectors: Vec<EntrySelector>, issued: &IssuedId) -> Entry {
    let seconds = |s: Option<u64>| s.map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX));
    let mut federates_with: Vec<String> = issued.federates_with.iter().map(|t| t.as_str().to_owned()).collect();
    federates_with.sort();
    Entry {
        id,
        spiffe_id: issued.id.to_string(),
        parent_id,
        selectors,
        x509_svid_ttl: seconds(issued.ttl_seconds),
        jwt_svid_ttl: seconds(issued.jwt_ttl_seconds),
        federates_with,
        dns_names: issued.dns_names.clone(),
        hint: issued.hint.clone().unwrap_or_default(),
        revision_number: 0,
    }
}

#[cfg(test)]
mod tests;
