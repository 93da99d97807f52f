//! User and group names from the `passwd` and `group` files.
//!
//! The files are read directly rather than through NSS: attestation must not block on a
//! directory server, and the answer must be the same for every caller on the host.
//!
//! Each file is parsed once per version (device, inode, size, modification and change time, as
//! for executable digests) and the parsed table is shared: reading and parsing both files on every
//! attestation cost about 6 % of the plugin's CPU at 8 streams (a `perf` profile of the plugin
//! serving go-plugin's client). The version is compared at most once a second.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::workload::{Gid, Uid};

/// Names by id. First entry wins, as with `getpwuid`.
pub(crate) type Names = HashMap<u32, Arc<str>>;

/// Identity of one version of a file; `None` when it cannot be read (it then names nobody).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Version {
    /// File times tick coarsely (a jiffy), so two writes of the same size within one tick look
    /// alike: a version younger than this is re-read every time until it is older.
    const SETTLE_NS: i128 = 1_000_000_000;

    fn settled(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        now - self.ctime_ns.max(self.mtime_ns) >= Self::SETTLE_NS
    }

    fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

/// One file's parsed table, re-read when the file's version changes.
#[derive(Debug)]
struct CachedFile {
    path: PathBuf,
    parsed: Mutex<Option<Parsed>>,
}

/// A parsed version of the file, and when its version was last compared with the file's.
#[derive(Debug)]
struct Parsed {
    version: Option<Version>,
    names: Arc<Names>,
    checked: Instant,
}

/// How long a settled version is trusted before the file is looked at again: a renamed user
/// or group shows up within this, and most attestations make no system call for names.
const RECHECK: Duration = Duration::from_secs(1);

impl CachedFile {
    fn new(path: PathBuf) -> Self {
        Self { path, parsed: Mutex::new(None) }
    }

    fn names(&self) -> Arc<Names> {
        let mut slot = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = slot.as_ref()
            && p.checked.elapsed() < RECHECK
            && p.version.is_none_or(|v| v.settled())
        {
            return Arc::clone(&p.names);
        }
        let version = Version::of(&self.path);
        if let Some(p) = slot.as_mut()
            && p.version == version
            && version.is_none_or(|v| v.settled())
        {
            p.checked = Instant::now();
            return Arc::clone(&p.names);
        }
        // An unreadable file simply resolves no names.
        let text = version.and_then(|_| std::fs::read_to_string(&self.path).ok());
        let names = Arc::new(text.map_or_else(Names::default, |t| parse(&t)));
        *slot = Some(Parsed { version, names: Arc::clone(&names), checked: Instant::now() });
        names
    }
}

/// The user and group databases of one configuration.
#[derive(Debug)]
pub(crate) struct UserDb {
    passwd: CachedFile,
    group: CachedFile,
}

/// One consistent view of both files, for one attestation.
#[derive(Debug, Default)]
pub(crate) struct NameTables {
    users: Arc<Names>,
    groups: Arc<Names>,
}

impl UserDb {
    /// The databases in these two files.
    pub(crate) fn new(passwd: &Path, group: &Path) -> Self {
        Self { passwd: CachedFile::new(passwd.to_owned()), group: CachedFile::new(group.to_owned()) }
    }

    /// The current tables (re-parsed only when a file changed).
    pub(crate) fn tables(&self) -> NameTables {
        NameTables { users: self.passwd.names(), groups: self.group.names() }
    }
}

impl NameTables {
    /// Name of a user id.
    pub(crate) fn user_name(&self, uid: Uid) -> Option<String> {
        self.users.get(&uid.0).map(|n| n.to_string())
    }

    /// Name of a group id.
    pub(crate) fn group_name(&self, gid: Gid) -> Option<String> {
        self.groups.get(&gid.0).map(|n| n.to_string())
    }
}

/// The `(name, id)` of each `name:password:id:…` line of `/etc/passwd` or `/etc/group`, in
/// order; comments, blanks and malformed lines are skipped.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32)> {
    text.lines().filter(|line| !line.starts_with('#')).filter_map(|line| {
        let mut fields = line.split(':');
        let (name, _, id) = (fields.next()?, fields.next()?, fields.next()?);
        let id = id.parse::<u32>().ok()?;
        (!name.is_empty()).then_some((name, id))
    })
}

/// Id → name; the first line for an id wins, as getpwuid(3) and getgrgid(3) answer.
fn parse(text: &str) -> Names {
    let mut map = Names::new();
    for (name, id) in entries(text) {
        map.entry(id).or_insert_with(|| Arc::from(name));
    }
    map
}

/// The id of group `name` in the group file at `path` (the first line naming it, as
/// getgrnam(3) answers); `None` when the file cannot be read or has no such group.
pub(crate) fn group_id(path: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    entries(&text).find_map(|(n, id)| (n == name).then_some(id))
}

#[cfg(test)]
mod tests;
