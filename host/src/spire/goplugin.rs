//! go-plugin's internal services and SPIRE's `Init`: what every plugin serves besides its role.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::proto::plugin;
use super::proto::spire::service::private::init::v1 as init;

/// Signals shutdown to every long-lived stream and to the server.
#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A fresh signal.
    pub fn new() -> Self {
        Self { tx: watch::channel(false).0 }
    }

    /// Trigger it.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    /// Resolves once triggered.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream that yields nothing and ends at shutdown.
fn idle<T: Send + 'static>(shutdown: &Shutdown) -> BoxStream<T> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<T, Status>>(1);
    let s = shutdown.clone();
    tokio::spawn(async move {
        s.wait().await;
        drop(tx);
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// `plugin.GRPCBroker`: remembers every `ConnInfo` the host offers (SPIRE: its host services).
pub struct Broker {
    offers: Arc<Mutex<BTreeMap<u32, plugin::ConnInfo>>>,
    shutdown: Shutdown,
}

impl Broker {
    /// A broker that stops its streams at `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self { offers: Arc::default(), shutdown }
    }
}

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = BoxStream<plugin::ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let offers = Arc::clone(&self.offers);
        tokio::spawn(async move {
            while let Some(Ok(info)) = incoming.next().await {
                tracing::debug!(service_id = info.service_id, network = %info.network, address = %info.address, "broker connection offered");
                offers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(info.service_id, info);
            }
        });
        Ok(Response::new(idle(&self.shutdown)))
    }
}

/// `plugin.GRPCController`: `Shutdown` answers at once, then the process exits.
pub struct Controller {
    shutdown: Shutdown,
}

impl Controller {
    /// A controller that triggers `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _request: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        tracing::info!("shutdown requested by the host");
        self.shutdown.trigger();
        Ok(Response::new(plugin::Empty {}))
    }
}

/// `plugin.GRPCStdio`: held open, never written (all output goes to stderr as hclog JSON).
pub struct Stdio {
    shutdown: Shutdown,
}

impl Stdio {
    /// A stdio stream that ends at `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl plugin::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<plugin::StdioData>;

    async fn stream_stdio(&self, _request: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(idle(&self.shutdown)))
    }
}

/// SPIRE's `Init`/`Deinit`: name the services this role implements.
pub struct Init {
    services: Vec<String>,
}

impl Init {
    /// An `Init` answering with `services`.
    pub fn new(services: Vec<String>) -> Self {
        Self { services }
    }
}

#[tonic::async_trait]
impl init::init_server::Init for Init {
    async fn init(&self, request: Request<init::InitRequest>) -> Result<Response<init::InitResponse>, Status> {
        tracing::debug!(host_services = request.get_ref().host_service_names.join(","), "init");
        Ok(Response::new(init::InitResponse { plugin_service_names: self.services.clone() }))
    }

    async fn deinit(&self, _request: Request<init::DeinitRequest>) -> Result<Response<init::DeinitResponse>, Status> {
        tracing::debug!("deinit");
        Ok(Response::new(init::DeinitResponse {}))
    }
}
