//! A registration entry as the registrar sees it: the fields of spire-api-sdk's
//! `spire.api.types.Entry` it writes and compares, in plain types (SPIRE validates what it
//! stores, and entries the registrar does not own are never converted back into anything).

/// One selector of an entry: SPIRE's `type` and `value` (`k8s`, `spiffe-id:spiffe://…`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntrySelector {
    /// The selector type (the plugin's name: `k8s`).
    pub kind: String,
    /// The value after the type.
    pub value: String,
}

/// A registration entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The entry ID: for entries the registrar owns, the configured prefix then a stable suffix.
    pub id: String,
    /// The SPIFFE ID issued (`spiffe://td/path`).
    pub spiffe_id: String,
    /// The parent ID: an agent's ID (or a node alias).
    pub parent_id: String,
    /// Selectors, all of which a workload must have; kept sorted.
    pub selectors: Vec<EntrySelector>,
    /// X.509-SVID TTL in seconds; 0: the server's default.
    pub x509_svid_ttl: i32,
    /// JWT-SVID TTL in seconds; 0: the server's default.
    pub jwt_svid_ttl: i32,
    /// Trust domains the SVID federates with (`example.com`, without scheme), sorted.
    pub federates_with: Vec<String>,
    /// DNS SANs, in order.
    pub dns_names: Vec<String>,
    /// The Workload API hint; empty for none.
    pub hint: String,
    /// The server's revision of the entry (read only; 0 for an entry not yet stored).
    pub revision_number: i64,
}

impl Entry {
    /// Whether two entries say the same thing (everything but the server's revision).
    pub fn same_content(&self, other: &Entry) -> bool {
        Entry { revision_number: 0, ..self.clone() } == Entry { revision_number: 0, ..other.clone() }
    }
}
