//! The `Config` service, shared by every role: parse `plugin_data` as SPIRE sends it, build the
//! role's state off the executor, and swap it in; `Validate` only parses. Each role reads its own
//! keys ([`RoleConfig`]); the roles built on attestor's whole configuration share one reading
//! ([`Configurable`]).

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

/// How a role reads `plugin_data` and applies what it read.
pub trait RoleConfig: Send + Sync + 'static {
    /// What a successful parse gives.
    type Parsed: Send + 'static;

    /// Read SPIRE's core configuration and `plugin_data`; every problem is reported.
    fn parse(core: Option<&cfg::CoreConfiguration>, hcl: &str) -> Result<Self::Parsed, ConfigError>;

    /// Swap `parsed` in; on error the old state keeps serving.
    fn apply(&self, parsed: Self::Parsed) -> Result<(), Status>;

    /// What `Validate` says of a configuration that is valid but worth a word (SPIRE's
    /// k8s_psat server: no clusters configured). None by default.
    fn notes(_parsed: &Self::Parsed) -> Vec<String> {
        Vec::new()
    }
}

impl<R: Configurable> RoleConfig for R {
    type Parsed = Configured;

    fn parse(core: Option<&cfg::CoreConfiguration>, hcl: &str) -> Result<Configured, ConfigError> {
        parse(core_trust_domain(core), hcl)
    }

    fn apply(&self, configured: Configured) -> Result<(), Status> {
        Configurable::apply(self, configured).map_err(|e| {
            tracing::error!(error = %e, "configuration refused; the previous configuration (if any) keeps serving");
            super::status::setup(&e)
        })
    }
}

/// The `Config` service over a role.
pub struct ConfigService<R: RoleConfig> {
    role: Arc<R>,
}

impl<R: RoleConfig> ConfigService<R> {
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
    if config.registrar.is_some() {
        return Err(ConfigError::invalid(
            "registrar",
            "is read by `attestor registrar` only, never in plugin mode: move it to the registrar's own configuration file",
        ));
    }
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
impl<R: RoleConfig> cfg::config_server::Config for ConfigService<R> {
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
            let parsed = R::parse(req.core_configuration.as_ref(), &req.hcl_configuration)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            role.apply(parsed)
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
            match R::parse(req.core_configuration.as_ref(), &req.hcl_configuration) {
                Ok(parsed) => cfg::ValidateResponse { valid: true, notes: R::notes(&parsed) },
                Err(e) => cfg::ValidateResponse { valid: false, notes: e.notes() },
            }
        })
        .await
        .map_err(|e| Status::internal(format!("validate task failed: {e}")))?;
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests;
