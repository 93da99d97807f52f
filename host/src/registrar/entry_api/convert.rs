//! Between the registrar's [`Entry`] and spire-api-sdk's `spire.api.types.Entry`.

use crate::registrar::entry::{Entry, EntrySelector};
use crate::registrar::proto::spire::api::types as pb;

/// A SPIFFE ID in SPIRE's wire form: `spiffe://td/a/b` → (`td`, `/a/b`). `None` when the
/// string does not start with `spiffe://` or has no trust domain.
pub(super) fn split_spiffe_id(id: &str) -> Option<pb::Spiffeid> {
    let rest = id.strip_prefix("spiffe://")?;
    let (trust_domain, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if trust_domain.is_empty() {
        return None;
    }
    Some(pb::Spiffeid { trust_domain: trust_domain.to_owned(), path: path.to_owned() })
}

/// The string form of a wire SPIFFE ID: `spiffe://<trust_domain><path>`.
pub(super) fn join_spiffe_id(id: &pb::Spiffeid) -> String {
    format!("spiffe://{}{}", id.trust_domain, id.path)
}

/// What is wrong with an entry that cannot be converted.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadEntry {
    /// The entry's ID.
    pub id: String,
    /// Which field, and why.
    pub why: String,
}

/// The wire form of an entry the registrar writes. Only the fields [`Entry`] has are set; the
/// others (admin, downstream, expires_at, store_svid) are zero, and `revision_number` is the
/// server's to keep.
pub(super) fn to_proto(entry: &Entry) -> Result<pb::Entry, BadEntry> {
    let spiffe_id = split_spiffe_id(&entry.spiffe_id).ok_or_else(|| BadEntry {
        id: entry.id.clone(),
        why: format!("spiffe_id {:?} is not a SPIFFE ID", entry.spiffe_id),
    })?;
    let parent_id = split_spiffe_id(&entry.parent_id).ok_or_else(|| BadEntry {
        id: entry.id.clone(),
        why: format!("parent_id {:?} is not a SPIFFE ID", entry.parent_id),
    })?;
    Ok(pb::Entry {
        id: entry.id.clone(),
        spiffe_id: Some(spiffe_id),
        parent_id: Some(parent_id),
        selectors: entry
            .selectors
            .iter()
            .map(|s| pb::Selector { r#type: s.kind.clone(), value: s.value.clone() })
            .collect(),
        x509_svid_ttl: entry.x509_svid_ttl,
        jwt_svid_ttl: entry.jwt_svid_ttl,
        federates_with: entry.federates_with.clone(),
        dns_names: entry.dns_names.clone(),
        hint: entry.hint.clone(),
        ..pb::Entry::default()
    })
}

/// The registrar's view of an entry the server listed. Selectors and trust domains come back
/// sorted (the order the registrar keeps them in); a `spiffe://` prefix on a federated trust
/// domain is dropped. An entry without a SPIFFE ID or parent ID is refused.
pub(super) fn from_proto(entry: pb::Entry) -> Result<Entry, BadEntry> {
    let Some(spiffe_id) = entry.spiffe_id.as_ref() else {
        return Err(BadEntry { id: entry.id, why: "it has no spiffe_id".into() });
    };
    let Some(parent_id) = entry.parent_id.as_ref() else {
        return Err(BadEntry { id: entry.id, why: "it has no parent_id".into() });
    };
    let spiffe_id = join_spiffe_id(spiffe_id);
    let parent_id = join_spiffe_id(parent_id);
    let mut selectors: Vec<EntrySelector> =
        entry.selectors.into_iter().map(|s| EntrySelector { kind: s.r#type, value: s.value }).collect();
    selectors.sort();
    let mut federates_with: Vec<String> = entry
        .federates_with
        .into_iter()
        .map(|td| td.strip_prefix("spiffe://").map(str::to_owned).unwrap_or(td))
        .collect();
    federates_with.sort();
    Ok(Entry {
        id: entry.id,
        spiffe_id,
        parent_id,
        selectors,
        x509_svid_ttl: entry.x509_svid_ttl,
        jwt_svid_ttl: entry.jwt_svid_ttl,
        federates_with,
        dns_names: entry.dns_names,
        hint: entry.hint,
        revision_number: entry.revision_number,
    })
}
