//! The `Config` service, shared by every role: parse `plugin_data` as SPIRE sends it, build the
//! role's state off the executor, and swap it in; `Validate` only parses.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::proto::spire::service::common::config::v1 as cfg;
use crate::config::{Config, ConfigError};
use crate::generation::SetupError;

/// A configuration ready to apply.
pub struct Configured {
    /// The parsed configuration.
    pub config: Config,
    /// Where processes are read.
    pub proc_root: PathBuf,
}

/// A role that can be (re)configured.
pub trait Configurable: Send + Sync + 'static {
    /// Build new state from `configured` and swap it in; on error the old state keeps serving.
    fn apply(&self, configured: Configured) -> Result<(), SetupError>;
}

/// The `Config` service over a role.
pub struct ConfigService<R: Configurable> {
    role: Arc<R>,
}

impl<R: Configurable> ConfigService<R> {
    /// Serve `role`'s configuration.
    pub fn new(role: Arc<R>) -> Self {
        Self { role }
    }
}

/// Read `plugin_data` as SPIRE sends it (HCL v1, re-printed), for any role: `trust_domain` from
/// SPIRE's core configuration wins over one in `plugin_data`.
fn parse(core_trust_domain: &str, hcl: &str) -> Result<Configured, ConfigError> {
    let text = super::hcl_v1::normalize(hcl);
    let mut config = Config::parse(&text, std::path::Path::new("."))?;
    if !core_trust_domain.is_empty() {
        let td = crate::TrustDomain::new(core_trust_domain)
            .map_err(|e| ConfigError::invalid("trust_domain", e.to_string()))?;
        if td != config.trust_domain && hcl.contains("trust_domain") {
            tracing::warn!(plugin_data = %config.trust_domain, spire = %td, "plugin_data trust_domain ignored: SPIRE's trust domain wins");
        }
        config.trust_domain = td;
    }
    let proc_root = config.proc_root.clone();
    Ok(Configured { config, proc_root })
}

fn core_trust_domain(core: Option<&cfg::CoreConfiguration>) -> &str {
    core.map_or("", |c| c.trust_domain.as_str())
}

#[tonic::async_trait]
impl<R: Configurable> cfg::config_server::Config for ConfigService<R> {
    async fn configure(
        &self,
        request: Request<cfg::ConfigureRequest>,
    ) -> Result<Response<cfg::ConfigureResponse>, Status> {
        super::guard::test_panic("configure");
        let req = request.into_inner();
        let role = Arc::clone(&self.role);
        // Parsing reads text from the host, and loading compiles Wasm modules and policies:
        // neither runs on an executor thread.
        let result = tokio::task::spawn_blocking(move || {
            let td = core_trust_domain(req.core_configuration.as_ref());
            let configured = parse(td, &req.hcl_configuration).map_err(|e| Status::invalid_argument(e.to_string()))?;
            role.apply(configured).map_err(|e| {
                tracing::error!(error = %e, "configuration refused; the previous configuration (if any) keeps serving");
                super::status::setup(&e)
            })
        })
        .await
        .map_err(|e| Status::internal(format!("configure task failed: {e}")))?;
        result?;
        tracing::info!("configured");
        Ok(Response::new(cfg::ConfigureResponse {}))
    }

    async fn validate(
        &self,
        request: Request<cfg::ValidateRequest>,
    ) -> Result<Response<cfg::ValidateResponse>, Status> {
        let req = request.into_inner();
        let response = tokio::task::spawn_blocking(move || {
            let td = core_trust_domain(req.core_configuration.as_ref());
            match parse(td, &req.hcl_configuration) {
                Ok(_) => cfg::ValidateResponse { valid: true, notes: Vec::new() },
                Err(e) => cfg::ValidateResponse { valid: false, notes: e.notes() },
            }
        })
        .await
        .map_err(|e| Status::internal(format!("validate task failed: {e}")))?;
        Ok(Response::new(response))
    }
}
