//! The plugin as a hostile client (or an operator's typo) finds it: malformed configuration,
//! a handler that panics, configuration keys that must take effect. In every case the answer is
//! a clean gRPC status, stderr stays one hclog JSON object per line, and the plugin keeps serving.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::time::Duration;

use attestor::spire::proto::plugin::{Empty, grpc_controller_client::GrpcControllerClient};
use attestor::spire::proto::spire::service::common::config::v1::{self as cfg, config_client::ConfigClient};
use common::plugin::{Plugin, attest, configure};
use common::{STATUS_1000, fake_proc, guest, sha256};
use tonic::Code;
use tonic::transport::Channel;

/// A minimal plugin_data: host processes only, from a fake proc root.
fn host_only(proc_root: &Path, extra: &str) -> String {
    format!(
        "k8s_source = \"disabled\"\nproc_root = \"{}\"\nunix {{\n  discover_workload_path = false\n  passwd_file = \"/dev/null\"\n  group_file = \"/dev/null\"\n}}\n{extra}",
        proc_root.display()
    )
}

async fn shutdown(plugin: &mut Plugin, ch: Channel) {
    GrpcControllerClient::new(ch).shutdown(Empty {}).await.unwrap();
    assert!(plugin.wait_exit(Duration::from_secs(2)).is_some(), "exits after Shutdown");
}

/// `node_name = "é` (an unterminated string ending in a multi-byte character) once panicked
/// the HCL v1 normaliser: the stream was reset and a Rust backtrace landed on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_configuration_is_a_clean_error_whatever_the_bytes() {
    let sockets = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let hostile = [
        "node_name = \"é",
        "\"é",
        "\"node_name\" = \"\\é",
        "module \"m\" {\n path = <<EOT\né",
        "/* é",
        "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
        "\u{0}\u{1}\u{7f}",
    ];
    for text in hostile {
        let err = configure(&ch, text).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{text:?}: {err:?}");
        assert!(err.message().starts_with("unable to decode configuration: "), "{text:?}: {}", err.message());
        let valid = ConfigClient::new(ch.clone())
            .validate(cfg::ValidateRequest { core_configuration: None, hcl_configuration: text.into() })
            .await
            .unwrap()
            .into_inner();
        assert!(!valid.valid, "{text:?}");
    }
    // Still serving, still unconfigured.
    assert_eq!(attest(&ch, 1).await.unwrap_err().code(), Code::FailedPrecondition);
    shutdown(&mut plugin, ch).await;
    plugin.check_logs();
}

/// A bug that panics in a handler answers that request with INTERNAL; the panic is one hclog
/// line (with the backtrace as a field), and the plugin keeps serving. The panic is injected
/// with a debug-build-only switch, since no input reaches one any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_internal_and_stderr_stays_hclog() {
    let sockets = tempfile::tempdir().unwrap();
    let proc_root = tempfile::tempdir().unwrap();
    fake_proc(proc_root.path(), 4242, 7, Some(STATUS_1000), None, None);
    let mut plugin = Plugin::start_with_env(
        "workload-attestor",
        "WorkloadAttestor",
        sockets.path(),
        "attestor=info",
        &[("ATTESTOR_TEST_PANIC", "configure"), ("RUST_BACKTRACE", "1")],
    );
    let ch = plugin.channel().await;
    for _ in 0..3 {
        let err = configure(&ch, &host_only(proc_root.path(), "")).await.unwrap_err();
        assert_eq!(err.code(), Code::Internal);
        assert!(
            err.message().contains("the request handler panicked (ATTESTOR_TEST_PANIC=configure)"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("attestor keeps serving"), "{}", err.message());
    }
    // Other methods are unaffected.
    assert_eq!(attest(&ch, 4242).await.unwrap_err().code(), Code::FailedPrecondition);
    shutdown(&mut plugin, ch).await;
    let logs = plugin.check_logs();
    let panics: Vec<_> = logs.iter().filter(|l| l["panic"] == "ATTESTOR_TEST_PANIC=configure").collect();
    assert_eq!(panics.len(), 3, "{logs:?}");
    for p in panics {
        assert_eq!(p["@level"], "error");
        assert!(p["at"].as_str().unwrap().contains("guard.rs"), "{p}");
        assert!(p["backtrace"].as_str().is_some_and(|b| b.contains('\n')), "the backtrace is one field: {p}");
    }
}

/// The `sandbox { }` block takes effect in plugin mode: a module may use the memory the
/// operator's ceiling allows (it was once checked against the built-in 64 MiB), and a
/// reconfiguration with other settings builds a runtime with those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_block_takes_effect_in_plugin_mode() {
    let sockets = tempfile::tempdir().unwrap();
    let proc_root = tempfile::tempdir().unwrap();
    fake_proc(proc_root.path(), 4242, 7, Some(STATUS_1000), None, None);
    let team = guest("team-owner");
    let module = |memory: u32| {
        format!(
            "module \"team\" {{\n  path = \"{}\"\n  sha256 = \"{}\"\n  config = \"uid:1000 = payments\"\n  memory_mib = {memory}\n}}\n",
            team.display(),
            sha256(&team)
        )
    };
    let mut plugin = Plugin::start("workload-attestor", "WorkloadAttestor", sockets.path());
    let ch = plugin.channel().await;
    let big = host_only(proc_root.path(), &format!("sandbox {{\n  max_memory_mib = 128\n}}\n{}", module(100)));
    configure(&ch, &big).await.unwrap();
    let values = attest(&ch, 4242).await.unwrap();
    assert!(values.contains(&"team:payments".to_owned()), "{values:?}");
    // A lower ceiling refuses the same module, naming the key; the old configuration serves on.
    let small = host_only(proc_root.path(), &format!("sandbox {{\n  max_memory_mib = 32\n}}\n{}", module(100)));
    let err = configure(&ch, &small).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("above sandbox.max_memory_mib (32 MiB)"), "{}", err.message());
    assert!(attest(&ch, 4242).await.unwrap().contains(&"team:payments".to_owned()));
    let one_call = host_only(proc_root.path(), &format!("sandbox {{\n  max_concurrent_calls = 1\n}}\n{}", module(16)));
    configure(&ch, &one_call).await.unwrap();
    let all = futures_util::future::join_all((0..8).map(|_| attest(&ch, 4242))).await;
    assert!(all.iter().all(|r| r.as_ref().is_ok_and(|v| v.contains(&"team:payments".to_owned()))), "{all:?}");
    shutdown(&mut plugin, ch).await;
    plugin.check_logs();
}

/// In plugin mode an audit record is one hclog line whose fields are the record's (log pipelines
/// index them), not JSON escaped into `@message`; a repeated attestation of the same facts is a
/// short record naming the outcome of the full one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_structured_hclog_lines() {
    let sockets = tempfile::tempdir().unwrap();
    let proc_root = tempfile::tempdir().unwrap();
    fake_proc(proc_root.path(), 4242, 7, Some(STATUS_1000), None, None);
    let mut plugin =
        Plugin::start_with_env("workload-attestor", "WorkloadAttestor", sockets.path(), "warn,attestor=info", &[]);
    let ch = plugin.channel().await;
    configure(&ch, &host_only(proc_root.path(), "")).await.unwrap();
    for _ in 0..3 {
        attest(&ch, 4242).await.unwrap();
    }
    assert_eq!(attest(&ch, 99999).await.unwrap_err().code(), Code::NotFound);
    shutdown(&mut plugin, ch).await;
    let logs = plugin.check_logs();
    let audit: Vec<_> = logs.iter().filter(|l| l["@module"] == "attestor.audit").collect();
    assert_eq!(audit.len(), 4, "one record per attestation: {logs:?}");
    let full = audit[0];
    assert_eq!(full["@message"], "attestation");
    assert_eq!(full["pid"], 4242);
    assert_eq!(full["issued"][0], "spiffe://example.org/unix/uid/1000");
    assert!(full["candidates"].is_array() && full["policy_generation"].is_string(), "{full}");
    assert!(full["workload"]["uid"] == 1000, "{full}");
    for short in &audit[1..3] {
        assert_eq!(short["reused"], true, "{short}");
        assert_eq!(short["outcome"], full["outcome"]);
        assert_eq!(short["issued"], full["issued"]);
        assert!(short.get("candidates").is_none(), "short: {short}");
    }
    assert!(audit[3]["failed"].as_str().unwrap().contains("99999"), "{}", audit[3]);
}

/// Every method of every service the plugin serves (and some it does not), as a hostile client
/// would call them: random messages, truncated frames, frames claiming 4 GiB, the compressed
/// flag, bodies that are not gRPC at all. Each call ends in a gRPC status or a reset stream; the
/// plugin never dies, stderr stays hclog, and a normal `Configure` and `Attest` work afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_truncated_messages_on_every_method() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    const METHODS: &[&str] = &[
        "/plugin.GRPCBroker/StartStream",
        "/plugin.GRPCStdio/StreamStdio",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/spire.service.private.init.v1.Init/Init",
        "/spire.service.private.init.v1.Init/Deinit",
        "/spire.service.common.config.v1.Config/Configure",
        "/spire.service.common.config.v1.Config/Validate",
        "/spire.plugin.agent.workloadattestor.v1.WorkloadAttestor/Attest",
        "/spire.plugin.agent.workloadattestor.v1.WorkloadAttestor/AttestReference",
        "/spire.plugin.server.nodeattestor.v1.NodeAttestor/Attest",
        "/no.such.Service/Method",
        "/",
    ];

    /// A gRPC frame: compressed flag, declared length, payload (possibly shorter than declared).
    fn frame(compressed: bool, declared: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![u8::from(compressed)];
        f.extend_from_slice(&declared.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    let sockets = tempfile::tempdir().unwrap();
    let proc_root = tempfile::tempdir().unwrap();
    fake_proc(proc_root.path(), 4242, 7, Some(STATUS_1000), None, None);
    let mut plugin = Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn");
    let ch = plugin.channel().await;
    configure(&ch, &host_only(proc_root.path(), "")).await.unwrap();

    let io = TokioIo::new(tokio::net::UnixStream::connect(&plugin.socket).await.unwrap());
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(conn);

    let mut runner = TestRunner::deterministic();
    let random = proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..200);
    let mut calls = 0;
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for method in METHODS {
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        for _ in 0..12 {
            let payload = random.new_tree(&mut runner).unwrap().current();
            bodies.push(frame(false, payload.len() as u32, &payload));
        }
        let payload = random.new_tree(&mut runner).unwrap().current();
        bodies.extend([
            frame(false, payload.len() as u32 + 10, &payload),
            frame(false, u32::MAX, &payload),
            frame(true, payload.len() as u32, &payload),
            payload[..payload.len().min(3)].to_vec(),
            Vec::new(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ]);
        for body in bodies {
            let request = http::Request::post(format!("http://unused{method}"))
                .header("content-type", if calls % 7 == 3 { "text/plain" } else { "application/grpc" })
                .header("te", "trailers")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            calls += 1;
            let answer = tokio::time::timeout(Duration::from_secs(5), async {
                let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
                let grpc_status =
                    |h: &http::HeaderMap| h.get("grpc-status").map(|v| v.to_str().unwrap_or("?").to_owned());
                let head = grpc_status(response.headers());
                // Streams the server keeps open (StartStream, StreamStdio, Watch) count as answered.
                let collected = tokio::time::timeout(Duration::from_millis(500), response.into_body().collect()).await;
                let trailers = match collected {
                    Ok(Ok(body)) => body.trailers().and_then(grpc_status),
                    Ok(Err(e)) => Some(format!("reset: {e}")),
                    Err(_) => Some("open stream".to_owned()),
                };
                Ok::<_, String>(head.or(trailers).unwrap_or_else(|| "no status".into()))
            })
            .await;
            let key = match answer {
                Ok(Ok(status)) => status,
                Ok(Err(e)) => e,
                Err(_) => panic!("{method}: no answer within 5 s"),
            };
            *statuses.entry(key.chars().take(40).collect()).or_default() += 1;
            // The plugin is alive after every call.
            assert!(plugin.child.try_wait().unwrap().is_none(), "{method}: the plugin died");
        }
    }
    eprintln!("{calls} hostile calls: {statuses:?}");
    // Still serving: a normal configuration and attestation work.
    configure(&ch, &host_only(proc_root.path(), "")).await.unwrap();
    let values = attest(&ch, 4242).await.unwrap();
    assert!(values.contains(&"unix:uid:1000".to_owned()), "{values:?}");
    shutdown(&mut plugin, ch).await;
    let logs = plugin.check_logs();
    assert!(logs.iter().all(|l| l.get("panic").is_none()), "no handler panicked: {logs:?}");
}

/// `verbose_container_locator_logs` logs where each process was located, as SPIRE does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_container_locator_logs_says_where_each_process_is() {
    use common::kubelet::{Behaviour, FakeKubelet, Transport, pod_list};
    use common::plugin::{fake_node, plugin_data};
    let sockets = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let pods = fake_node(node.path(), 1);
    let kubelet =
        FakeKubelet::start(Transport::Plain, Behaviour { body: pod_list(&pods), ..Behaviour::default() }).await;
    let mut plugin =
        Plugin::start_logging("workload-attestor", "WorkloadAttestor", sockets.path(), "warn,attestor=info");
    let ch = plugin.channel().await;
    let quiet = plugin_data(kubelet.port(), node.path(), "");
    configure(&ch, &quiet).await.unwrap();
    attest(&ch, 10_000).await.unwrap();
    let verbose = plugin_data(kubelet.port(), node.path(), "\"verbose_container_locator_logs\" = true\n");
    configure(&ch, &verbose).await.unwrap();
    attest(&ch, 10_000).await.unwrap();
    shutdown(&mut plugin, ch).await;
    let logs = plugin.check_logs();
    let located: Vec<_> = logs.iter().filter(|l| l["@message"] == "container locator").collect();
    assert_eq!(located.len(), 1, "only with the key set: {logs:?}");
    assert!(located[0]["container_id"].as_str().unwrap().contains(&common::plugin::cid(0)), "{}", located[0]);
}
