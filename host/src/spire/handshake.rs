//! go-plugin's launch contract: the magic cookie, version negotiation, the socket, and the one
//! line on stdout that tells the host where to dial.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Role;

/// go-plugin's core protocol version.
const CORE_PROTOCOL_VERSION: u32 = 1;
/// SPIRE's application protocol version, the same for every plugin type.
const APP_PROTOCOL_VERSION: u32 = 1;
/// `sun_path` holds 108 bytes with its NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Why the plugin cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Not launched by SPIRE.
    #[error(
        "this is attestor's SPIRE plugin mode ({role}); it is meant to be launched by SPIRE, which sets {cookie}={cookie}.\n\
         Configure it as plugin_cmd of a `{cookie}` block (see examples/spire/), or attest a process by hand with `attestor attest --pid PID`."
    )]
    NoCookie {
        /// The role asked for.
        role: &'static str,
        /// The cookie variable.
        cookie: &'static str,
    },
    /// The host speaks no version we do.
    #[error(
        "incompatible plugin protocol versions: the host offers {offered:?}, attestor speaks {APP_PROTOCOL_VERSION}"
    )]
    Version {
        /// `PLUGIN_PROTOCOL_VERSIONS`.
        offered: String,
    },
    /// The socket cannot be created.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `PLUGIN_UNIX_SOCKET_GROUP` names no group, or the socket cannot be given to it.
    #[error("PLUGIN_UNIX_SOCKET_GROUP {group:?}: {problem}")]
    Group {
        /// The group asked for.
        group: String,
        /// What went wrong.
        problem: String,
    },
    /// The socket path does not fit in a `sockaddr_un`.
    #[error(
        "cannot listen on {path}: the socket path is longer than 107 bytes; set PLUGIN_UNIX_SOCKET_DIR to a shorter directory"
    )]
    PathTooLong {
        /// The socket path.
        path: PathBuf,
    },
    /// The handshake line cannot be written to stdout.
    #[error("cannot write the handshake line to stdout: {0}")]
    Announce(#[source] std::io::Error),
    /// The gRPC server stopped with an error.
    #[error("the plugin's gRPC server failed: {0}")]
    Serve(#[source] tonic::transport::Error),
}

/// Check the magic cookie: `<PluginType>=<PluginType>`.
pub fn check_cookie(role: Role, env: &dyn Fn(&str) -> Option<String>) -> Result<(), HandshakeError> {
    let cookie = role.cookie();
    match env(cookie) {
        Some(v) if v == cookie => Ok(()),
        _ => Err(HandshakeError::NoCookie { role: role.arg(), cookie }),
    }
}

/// Pick the application protocol version: 1, if the host offers it (or says nothing).
pub fn negotiate(env: &dyn Fn(&str) -> Option<String>) -> Result<u32, HandshakeError> {
    match env("PLUGIN_PROTOCOL_VERSIONS") {
        None => Ok(APP_PROTOCOL_VERSION),
        Some(list) if list.trim().is_empty() => Ok(APP_PROTOCOL_VERSION),
        Some(list) => {
            if list.split(',').any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION)) {
                Ok(APP_PROTOCOL_VERSION)
            } else {
                Err(HandshakeError::Version { offered: list })
            }
        }
    }
}

/// A fresh socket path `plugin<digits>` in `PLUGIN_UNIX_SOCKET_DIR`, else `$TMPDIR`, else `/tmp`.
pub fn socket_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let dir = env("PLUGIN_UNIX_SOCKET_DIR")
        .filter(|d| !d.is_empty())
        .or_else(|| env("TMPDIR").filter(|d| !d.is_empty()))
        .unwrap_or_else(|| "/tmp".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(std::process::id()) << 32 | u64::from(nanos);
    // Mix the bits so two plugins started in the same instant still differ.
    let digits = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000_000;
    Path::new(&dir).join(format!("plugin{digits}"))
}

/// Hand the socket to `PLUGIN_UNIX_SOCKET_GROUP` (name or gid), mode 0660.
pub fn apply_group(path: &Path, group: &str) -> Result<(), HandshakeError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |problem: String| HandshakeError::Group { group: group.to_owned(), problem };
    let gid = match group.parse::<u32>() {
        Ok(g) => g,
        Err(_) => {
            crate::facts::userdb::group_id(Path::new("/etc/group"), group).ok_or_else(|| err("no such group".into()))?
        }
    };
    std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| err(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| err(e.to_string()))
}

/// The handshake line: `1|1|unix|<path>|grpc|` (six fields, empty server certificate).
pub fn line(version: u32, path: &Path) -> String {
    format!("{CORE_PROTOCOL_VERSION}|{version}|unix|{}|grpc|", path.display())
}

/// Print the handshake and flush. Nothing else is ever written to stdout.
pub fn announce(version: u32, path: &Path) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line(version, path))?;
    out.flush()
}

/// Whether a socket path fits `sun_path`.
pub fn fits(path: &Path) -> bool {
    path.as_os_str().len() <= MAX_SOCKET_PATH
}

#[cfg(test)]
mod tests;
