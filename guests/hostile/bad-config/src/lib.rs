//! Rejects every configuration: the host must refuse to load it, naming the module and reason.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct BadConfig;

impl Module for BadConfig {
    const NAME: &'static str = "hostile-bad-config";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "accepts no configuration at all";

    fn validate_config(config: &str) -> Result<(), Error> {
        Err(Error::config(format!("`threshold` is required (got {config:?})")))
    }

    fn attest(_: &str, _: &Workload) -> Result<Attestation, Error> {
        Ok(Attestation::new())
    }
}

export_module!(BadConfig);
