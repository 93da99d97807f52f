//! The non-Cedar inputs of a policy generation: template links (`links.json`, in the Cedar
//! CLI's format) and SPIFFE ID prefix ownership (`id-prefixes.json`).

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{EntityUid, PolicyId, SlotId};
use serde::Deserialize;

use super::error::{Location, PolicyError};
use super::source::PolicyFile;

/// One link of a template to entities, as `cedar link` writes it.
#[derive(Clone, Debug)]
pub struct Link {
    /// The template.
    pub template_id: PolicyId,
    /// The linked policy's id.
    pub link_id: String,
    /// Slot values.
    pub args: HashMap<SlotId, EntityUid>,
    /// Where the link is written.
    pub at: Location,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    template_id: String,
    link_id: String,
    args: HashMap<String, String>,
}

fn at(file: &PolicyFile, needle: &str) -> Location {
    let offset = file.text.find(needle).unwrap_or(0);
    Location { file: file.name.clone(), line: file.line_col(offset).0 }
}

/// Parse a `links.json` file.
pub(crate) fn links(file: &PolicyFile) -> Result<Vec<Link>, PolicyError> {
    let raw: Vec<RawLink> = serde_json::from_str(&file.text).map_err(|e| PolicyError::Invalid {
        at: Location { file: file.name.clone(), line: e.line() },
        id: "-".into(),
        message: format!("not a links file (a JSON list of {{template_id, link_id, args}}): {e}"),
    })?;
    raw.into_iter()
        .map(|r| {
            let location = at(file, &format!("\"{}\"", r.link_id));
            let bad = |message: String| PolicyError::Invalid { at: location.clone(), id: r.link_id.clone(), message };
            let mut args = HashMap::new();
            for (slot, value) in &r.args {
                let slot = match slot.as_str() {
                    "?principal" => SlotId::principal(),
                    "?resource" => SlotId::resource(),
                    other => return Err(bad(format!("unknown slot {other:?}; use \"?principal\" or \"?resource\""))),
                };
                let uid = EntityUid::from_str(value).map_err(|e| bad(format!("{value:?} is not an entity: {e}")))?;
                args.insert(slot, uid);
            }
            Ok(Link { template_id: PolicyId::new(&r.template_id), link_id: r.link_id.clone(), args, at: location })
        })
        .collect()
}

/// SPIFFE ID path prefixes and the namespaces that own them.
#[derive(Clone, Debug, Default)]
pub struct PrefixTable {
    entries: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefix {
    prefix: String,
    owners: Vec<String>,
}

impl PrefixTable {
    /// Add the entries of an `id-prefixes.json` file.
    pub(crate) fn add_file(&mut self, file: &PolicyFile) -> Result<(), PolicyError> {
        let raw: Vec<RawPrefix> = serde_json::from_str(&file.text).map_err(|e| PolicyError::Invalid {
            at: Location { file: file.name.clone(), line: e.line() },
            id: "-".into(),
            message: format!("not a prefix file (a JSON list of {{prefix, owners}}): {e}"),
        })?;
        for r in raw {
            let location = at(file, &format!("\"{}\"", r.prefix));
            let bad = |message: String| PolicyError::Invalid { at: location.clone(), id: r.prefix.clone(), message };
            let valid =
                r.prefix.starts_with('/') && format!("spiffe://x{}", r.prefix).parse::<crate::SpiffeId>().is_ok();
            if !valid {
                return Err(bad("a prefix is a SPIFFE ID path: `/segment[/segment…]`".into()));
            }
            if self.entries.iter().any(|(p, _)| *p == r.prefix) {
                return Err(bad("prefix listed twice".into()));
            }
            if r.owners.is_empty() || r.owners.iter().any(String::is_empty) {
                return Err(bad("owners must list at least one namespace, none empty".into()));
            }
            self.entries.push((r.prefix, r.owners));
        }
        Ok(())
    }

    /// The longest registered prefix of `path`, segment-wise (`/payments` owns
    /// `/payments/x` but not `/paymentsx`).
    pub fn longest(&self, path: &str) -> Option<(&str, &[String])> {
        self.entries
            .iter()
            .filter(|(p, _)| path == p || path.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('/')))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, o)| (p.as_str(), o.as_slice()))
    }

    /// Every entry.
    pub fn entries(&self) -> &[(String, Vec<String>)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests;
