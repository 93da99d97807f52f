//! Replacing a file that a running plugin may be reading: never in place.
//!
//! The plugin re-reads policy directories every `reload_interval` and on SIGHUP. Writing a file
//! in place lets a reload see it half written (a truncated policy that fails to parse, or, worse,
//! one that parses with a rule missing). The new text goes to a temporary file in the same
//! directory, is flushed to disk, and is renamed over the old one: a reader sees the old file or
//! the new one, never a mix. The temporary name starts with `.` and has no policy extension, so
//! a reload never reads it.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Atomically replace (or create) `path` with `contents`, keeping the old file's permissions.
pub fn replace_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".attestor-").suffix(".tmp").tempfile_in(dir).with_context(|| {
        format!("cannot create a temporary file in {} to replace {}", dir.display(), path.display())
    })?;
    tmp.write_all(contents.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write a temporary file for {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .with_context(|| format!("cannot give the new {} the old file's permissions", path.display()))?;
    }
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot replace {}", path.display()))?;
    // The rename itself reaches the disk with the directory; not being able to sync a directory
    // (some filesystems refuse) does not undo it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
