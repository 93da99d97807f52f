//! `{{name}}`: an attestor module, written with the `attestor-guest` SDK.
//!
//! Configuration: the file names of trusted programs, separated by spaces or new lines
//! (`nginx envoy`). An empty configuration trusts nothing.
//!
//! What it answers, for a module configured as `module "{{name}}" { … }`:
//! - selector `exe:<file name>` (`{{name}}:exe:nginx`) when the kernel named the executable,
//!   and `trusted` (`{{name}}:trusted`) when that name is in the configuration;
//! - selector `namespace:<namespace>` for a process in a Kubernetes pod;
//! - facts `program` and `trusted`, which policies read as `principal.getTag("{{name}}.trusted")`
//!   and identity templates as `{fact:{{name}}.program}`.
//!
//! A module sees only its arguments: no files, network, clock or randomness. The same
//! configuration and facts always give the same answer.

use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct {{type}};

/// The trusted program names of a configuration.
fn trusted_programs(config: &str) -> Result<Vec<&str>, Error> {
    config
        .split_whitespace()
        .map(|name| {
            if name.contains('/') {
                Err(Error::config(format!("{name:?}: give the program's file name, not a path")))
            } else {
                Ok(name)
            }
        })
        .collect()
}

/// The executable's file name, when the kernel named one.
fn program(workload: &Workload) -> Option<&str> {
    let path = workload.unix.exe_path.as_deref()?;
    path.rsplit('/').next().filter(|name| !name.is_empty())
}

impl Module for {{type}} {
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "names the program a process runs and whether it is trusted";

    // Called once when attestor loads the module: a bad configuration is refused before any
    // workload is attested.
    fn validate_config(config: &str) -> Result<(), Error> {
        trusted_programs(config).map(|_| ())
    }

    fn attest(config: &str, workload: &Workload) -> Result<Attestation, Error> {
        let trusted = trusted_programs(config)?;
        let mut out = Attestation::new();
        if let Some(program) = program(workload) {
            let is_trusted = trusted.contains(&program);
            out.selector(format!("exe:{program}")).fact("program", program).fact("trusted", is_trusted.to_string());
            if is_trusted {
                out.selector("trusted");
            }
        }
        if let Some(pod) = workload.pod() {
            out.selector(format!("namespace:{}", pod.namespace));
        }
        attestor_guest::debug!("pid {}: {} selectors", workload.unix.pid, out.selectors().len());
        Ok(out)
    }
}

export_module!({{type}});

#[cfg(test)]
mod tests;
