//! Running as a plugin: bind, announce, serve every service, exit promptly on `Shutdown`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use super::configurable::ConfigService;
use super::goplugin::{Broker, Controller, Init, Shutdown, Stdio};
use super::guard::{self, CatchPanicLayer};
use super::handshake::{self, HandshakeError};
use super::node_agent::NodeAgentPlugin;
use super::node_server::{self, NodeServerPlugin};
use super::proto::plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer,
    grpc_stdio_server::GrpcStdioServer,
};
use super::proto::spire::plugin::agent::nodeattestor::v1::node_attestor_server::NodeAttestorServer as AgentNodeAttestorServer;
use super::proto::spire::plugin::agent::workloadattestor::v1::workload_attestor_server::WorkloadAttestorServer;
use super::proto::spire::plugin::server::nodeattestor::v1::node_attestor_server::NodeAttestorServer as ServerNodeAttestorServer;
use super::proto::spire::service::common::config::v1::config_server::ConfigServer;
use super::proto::spire::service::private::init::v1::init_server::InitServer;
use super::workload_attestor::WorkloadAttestorPlugin;
use super::{CONFIG_SERVICE, Role};

/// Removes the socket file when dropped.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run the plugin until the host shuts it down.
pub fn run(role: Role) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    if let Err(e) = handshake::check_cookie(role, &env) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    // From here on stderr belongs to hclog: a panic, too, is one JSON line.
    guard::install_panic_hook();
    super::init_logging();
    // One worker per core. Measured against go-plugin's client on 2 cores: 1 worker carried
    // 6,300-7,000 attestations/s where 2 carried 7,500-8,300.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(role, &env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(role: Role, env: &dyn Fn(&str) -> Option<String>) -> Result<(), HandshakeError> {
    let version = handshake::negotiate(env)?;
    let path = handshake::socket_path(env);
    if !handshake::fits(&path) {
        return Err(HandshakeError::PathTooLong { path });
    }
    let listener = UnixListener::bind(&path).map_err(|source| HandshakeError::Listen { path: path.clone(), source })?;
    let socket = SocketFile(path.clone());
    if let Some(group) = env("PLUGIN_UNIX_SOCKET_GROUP").filter(|g| !g.is_empty()) {
        handshake::apply_group(&path, &group)?;
    }
    let shutdown = Shutdown::new();
    signals(shutdown.clone());
    // The host dials as soon as it reads the line: the socket is already listening.
    handshake::announce(version, &path).map_err(HandshakeError::Announce)?;
    tracing::info!(role = role.arg(), socket = %path.display(), "plugin serving");

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;

    // Every method of every service: a handler that panics answers INTERNAL, alone.
    let router = Server::builder()
        .layer(CatchPanicLayer)
        .add_service(health)
        .add_service(GrpcBrokerServer::new(Broker::new(shutdown.clone())))
        .add_service(GrpcControllerServer::new(Controller::new(shutdown.clone())))
        .add_service(GrpcStdioServer::new(Stdio::new(shutdown.clone())));
    let router = match role {
        Role::WorkloadAttestor => {
            let plugin = Arc::new(WorkloadAttestorPlugin::new());
            router
                .add_service(InitServer::new(Init::new(vec![role.service().to_owned(), CONFIG_SERVICE.to_owned()])))
                .add_service(ConfigServer::new(ConfigService::new(Arc::clone(&plugin))))
                .add_service(WorkloadAttestorServer::from_arc(plugin))
        }
        Role::NodeAttestorAgent => {
            let plugin = Arc::new(NodeAgentPlugin::new());
            router
                .add_service(InitServer::new(Init::new(vec![role.service().to_owned(), CONFIG_SERVICE.to_owned()])))
                .add_service(ConfigServer::new(ConfigService::new(Arc::clone(&plugin))))
                .add_service(AgentNodeAttestorServer::from_arc(plugin))
        }
        Role::NodeAttestorServer => {
            let plugin = Arc::new(NodeServerPlugin::new());
            router
                .add_service(InitServer::new(Init::new(vec![role.service().to_owned(), CONFIG_SERVICE.to_owned()])))
                .add_service(ConfigServer::new(ConfigService::new(Arc::clone(&plugin))))
                .add_service(
                    ServerNodeAttestorServer::from_arc(plugin)
                        .max_decoding_message_size(node_server::MAX_MESSAGE_BYTES),
                )
        }
    };
    let stop = shutdown.clone();
    // go-plugin's own controller stops hard: a graceful HTTP/2 drain can wait forever on the
    // stdio stream the host owns. Answer Shutdown, then leave within well under 2 s.
    let exit = shutdown.clone();
    let socket_path = path.clone();
    tokio::spawn(async move {
        exit.wait().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = std::fs::remove_file(&socket_path);
        std::process::exit(0);
    });
    let served =
        router.serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move { stop.wait().await }).await;
    drop(socket);
    served.map_err(HandshakeError::Serve)
}

/// Ignore SIGINT (a Ctrl-C meant for the host must not kill the plugin first); stop on SIGTERM.
/// SIGHUP asks for a reload (each configured attestor listens for it itself); it must never
/// kill the plugin, configured or not.
fn signals(shutdown: Shutdown) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut int) = signal(SignalKind::interrupt()) {
        tokio::spawn(async move { while int.recv().await.is_some() {} });
    }
    if let Ok(mut hup) = signal(SignalKind::hangup()) {
        tokio::spawn(async move { while hup.recv().await.is_some() {} });
    }
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                tracing::info!("SIGTERM: shutting down");
                shutdown.trigger();
            }
        });
    }
}
