//! Launching `attestor plugin <role>` exactly as SPIRE's loader does, and talking to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestor::spire::proto::spire::plugin::agent::workloadattestor::v1 as wa;
use attestor::spire::proto::spire::service::common::config::v1 as cfg;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// A plugin process under test.
pub struct Plugin {
    pub child: Child,
    pub socket: PathBuf,
    pub handshake: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Anything written to stdout after the handshake (must stay empty).
    pub extra_stdout: Arc<Mutex<String>>,
}

/// SPIRE's launch environment for `cookie` (`WorkloadAttestor` or `NodeAttestor`).
pub fn spire_env(cmd: &mut Command, cookie: &str, socket_dir: &Path) {
    cmd.env(cookie, cookie)
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir);
}

impl Plugin {
    /// Start `attestor plugin <role>` and read the handshake (go-plugin: first stdout line,
    /// within a minute; here five seconds is plenty).
    pub fn start(role: &str, cookie: &str, socket_dir: &Path) -> Self {
        Self::start_logging(role, cookie, socket_dir, "attestor=debug")
    }

    /// The same, with `ATTESTOR_LOG` set to `log`.
    pub fn start_logging(role: &str, cookie: &str, socket_dir: &Path, log: &str) -> Self {
        Self::start_with_env(role, cookie, socket_dir, log, &[])
    }

    /// The same, with more environment variables.
    pub fn start_with_env(role: &str, cookie: &str, socket_dir: &Path, log: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attestor"));
        cmd.envs(env.iter().copied());
        cmd.args(["plugin", role]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        spire_env(&mut cmd, cookie, socket_dir);
        cmd.env("ATTESTOR_LOG", log);
        let mut child = cmd.spawn().expect("spawn plugin");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let extra_stdout = Arc::new(Mutex::new(String::new()));
        let extra = Arc::clone(&extra_stdout);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            // Keep draining (the host does), and keep anything else to report it.
            let mut rest = String::new();
            while reader.read_line(&mut rest).unwrap_or(0) > 0 {
                extra.lock().unwrap().push_str(&rest);
                rest.clear();
            }
        });
        let handshake = rx.recv_timeout(Duration::from_secs(10)).expect("handshake line within 10 s");
        let fields: Vec<&str> = handshake.trim_end_matches('\n').split('|').collect();
        assert_eq!(fields.len(), 6, "six fields: {handshake:?}");
        assert_eq!(
            (fields[0], fields[1], fields[2], fields[4], fields[5]),
            ("1", "1", "unix", "grpc", ""),
            "{handshake:?}"
        );
        let socket = PathBuf::from(fields[3]);
        assert!(socket.starts_with(socket_dir), "socket {socket:?} in PLUGIN_UNIX_SOCKET_DIR");
        Self { child, socket, handshake, stderr, extra_stdout }
    }

    /// A gRPC channel over the socket (h2c, authority `unused`, as go-plugin dials).
    pub async fn channel(&self) -> Channel {
        let path = self.socket.clone();
        Endpoint::try_from("http://unused")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?)) }
            }))
            .await
            .expect("dial the plugin socket")
    }

    /// Wait for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Every stderr line, each checked as hclog JSON; and nothing but the handshake on stdout.
    pub fn check_logs(&self) -> Vec<serde_json::Value> {
        let extra = self.extra_stdout.lock().unwrap().clone();
        assert!(extra.is_empty(), "the plugin wrote more than the handshake to stdout: {extra:?}");
        let lines = self.stderr.lock().unwrap().clone();
        lines
            .iter()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"));
                let level = v["@level"].as_str().unwrap_or_else(|| panic!("no @level: {l}"));
                assert!(["trace", "debug", "info", "warn", "error"].contains(&level), "{l}");
                assert!(v["@message"].is_string(), "{l}");
                let ts = v["@timestamp"].as_str().unwrap_or_else(|| panic!("no @timestamp: {l}"));
                // Go layout 2006-01-02T15:04:05.000000Z07:00 with Z.
                let b = ts.as_bytes();
                assert!(ts.len() == 27 && b[10] == b'T' && b[19] == b'.' && b[26] == b'Z', "bad @timestamp {ts}");
                v
            })
            .collect()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Configure` as SPIRE sends it (trust domain `example.org` in the core configuration).
pub async fn configure(ch: &Channel, hcl: &str) -> Result<(), tonic::Status> {
    cfg::config_client::ConfigClient::new(ch.clone())
        .configure(cfg::ConfigureRequest {
            core_configuration: Some(cfg::CoreConfiguration { trust_domain: "example.org".into() }),
            hcl_configuration: hcl.into(),
        })
        .await
        .map(|_| ())
}

/// `Attest` one PID; the selector values.
pub async fn attest(ch: &Channel, pid: i32) -> Result<Vec<String>, tonic::Status> {
    wa::workload_attestor_client::WorkloadAttestorClient::new(ch.clone())
        .attest(wa::AttestRequest { pid })
        .await
        .map(|r| r.into_inner().selector_values)
}

/// The container id of fake pod `n`.
pub fn cid(n: usize) -> String {
    format!("{n:064x}")
}

/// The pod UID of fake pod `n`.
pub fn uid(n: usize) -> String {
    format!("{n:08x}-1b1a-4b1e-9c1e-1234567890ab")
}

/// A fake node: `n` processes in `n` pods under `root`.
pub fn fake_node(root: &Path, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let cgroup = format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{}.scope\n", uid(i).replace('-', "_"), cid(i));
            super::fake_proc(root, 10_000 + i as u32, 77, Some(super::STATUS_1000), None, Some(&cgroup));
            super::kubelet::pod(&uid(i), "team", &format!("app-{i}"), "app", &cid(i))
        })
        .collect()
}

/// plugin_data as SPIRE's HCL v1 printer re-prints it (quoted keys), pointing at `kubelet`.
pub fn plugin_data(kubelet: u16, proc_root: &Path, extra: &str) -> String {
    format!(
        "\"kubelet_read_only_port\" = {kubelet}\n\"max_poll_attempts\" = 2\n\"poll_retry_interval\" = \"20ms\"\n\"proc_root\" = \"{}\"\n\"unix\" {{\n  \"discover_workload_path\" = false\n  \"passwd_file\" = \"/dev/null\"\n  \"group_file\" = \"/dev/null\"\n}}\n{extra}",
        proc_root.display()
    )
}
