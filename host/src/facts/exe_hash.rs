//! SHA-256 of a process's executable: bounded, and computed once per file version.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::GatherError;
use super::procfs::{FileVersion, ProcDir};

/// Entries kept before the cache is emptied; far above the number of distinct binaries a node runs.
const MAX_ENTRIES: usize = 4096;

/// Hashes executables through `/proc/<pid>/exe`, which opens the very file the process runs even
/// when it lives in another mount namespace or was deleted, and remembers digests per file version.
#[derive(Debug, Default)]
pub(crate) struct ExeHasher {
    cache: Mutex<HashMap<FileVersion, String>>,
}

impl ExeHasher {
    /// Digest of the executable of the process in `dir`; `display` is its reported path, used in
    /// messages; `limit` is the largest size hashed (`0` = unlimited). With `may_read` false, a
    /// digest that is not cached yet is `None` instead of being computed (hashing reads the
    /// whole file: the caller moves to a thread that may block, and asks again).
    pub(crate) fn digest(
        &self,
        dir: &ProcDir,
        display: &Path,
        limit: u64,
        may_read: bool,
    ) -> Result<Option<String>, GatherError> {
        let path = dir.path("exe");
        // `stat` follows the magic link to the very file the process runs: a hit costs one
        // system call, no open and close.
        let seen = dir.version("exe").map_err(|e| dir.classify(path.clone(), e))?;
        if limit > 0 && seen.size > limit {
            return Err(GatherError::ExeTooLarge { path: display.to_owned(), size: seen.size, limit });
        }
        if let Some(hit) = self.lock().get(&seen) {
            return Ok(Some(hit.clone()));
        }
        if !may_read {
            return Ok(None);
        }
        let file = dir.open_file("exe").map_err(|e| dir.classify(path.clone(), e))?;
        // The version of what was opened, which is what gets hashed.
        let version = FileVersion::of_file(&file).map_err(|e| dir.classify(path.clone(), e))?;
        if limit > 0 && version.size > limit {
            return Err(GatherError::ExeTooLarge { path: display.to_owned(), size: version.size, limit });
        }
        let mut hasher = Sha256::new();
        // Never read past the size seen at open: a file that grows while hashed would otherwise
        // make the read unbounded.
        let mut reader = file.take(version.size);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| dir.classify(path.clone(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let digest = hex::encode(hasher.finalize());
        let mut cache = self.lock();
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(version, digest.clone());
        Ok(Some(digest))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FileVersion, String>> {
        // A poisoned cache only means another thread panicked mid-insert; the map is still valid.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
