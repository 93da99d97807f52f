//! User and group names from the `passwd` and `group` files.
//!
//! The files are read directly rather than through NSS: attestation must not block on a
//! directory server, and the answer must be the same for every caller on the host.

use std::collections::HashMap;
use std::path::Path;

use crate::workload::{Gid, Uid};

/// Names by id. First entry wins, as with `getpwuid`.
#[derive(Debug, Default)]
pub(crate) struct UserDb {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl UserDb {
    /// Read both files; an unreadable file simply resolves no names.
    pub(crate) fn read(passwd: &Path, group: &Path) -> Self {
        let load = |p: &Path| std::fs::read_to_string(p).map(|s| parse(&s)).unwrap_or_default();
        Self { users: load(passwd), groups: load(group) }
    }

    /// Name of a user id.
    pub(crate) fn user_name(&self, uid: Uid) -> Option<String> {
        self.users.get(&uid.0).cloned()
    }

    /// Name of a group id.
    pub(crate) fn group_name(&self, gid: Gid) -> Option<String> {
        self.groups.get(&gid.0).cloned()
    }
}

/// `name:password:id:…` lines; comments, blanks and malformed lines are skipped.
fn parse(text: &str) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let (false, Ok(id)) = (name.is_empty(), id.parse::<u32>()) {
            map.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    map
}

#[cfg(test)]
mod tests;
