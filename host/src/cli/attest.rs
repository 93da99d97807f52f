//! `attestor attest`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::out;
use super::{ConfigArgs, Output, load_config, text};
use crate::facts::kubernetes::SourceMode;
use crate::pipeline::Attestor;
use crate::sandbox::Runtime;
use crate::workload::Pid;

/// `attestor attest --pid PID`.
#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// The process to attest.
    #[arg(long)]
    pub pid: u32,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where `<pid>/status`, `<pid>/cgroup`… are read (default: the config's `proc_root`, `/proc`).
    #[arg(long, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Also write the gathered and enriched facts (the input policies saw) to FILE, for
    /// `attestor module run --facts` and policy fixtures.
    #[arg(long, value_name = "FILE")]
    pub dump_facts: Option<PathBuf>,
}

pub(super) fn run(args: AttestArgs) -> anyhow::Result<ExitCode> {
    crate::spire::test_panic("cli-attest");
    let config = load_config(&args.config)?;
    let wasm = Arc::new(Runtime::new(config.sandbox.clone())?);
    let tokio = super::tokio_runtime()?;
    // Inside the runtime: building the Kubernetes source may create async clients.
    let attestation = tokio.block_on(async {
        // On the command line a config without `k8s_source` uses the kubelet only where there is one.
        let proc_root = args.proc_root.clone().unwrap_or_else(|| config.proc_root.clone());
        let attestor = Arc::new(Attestor::new(&config, wasm, proc_root, SourceMode::Auto)?);
        anyhow::Ok(attestor.attest(Pid(args.pid)).await?)
    })?;
    if let Some(path) = &args.dump_facts {
        let json = serde_json::to_string_pretty(attestation.workload())?;
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    match args.output {
        Output::Json => out!("{}", serde_json::to_string_pretty(&attestation.to_json())?),
        Output::Text => super::emit_text(&text::attestation(&attestation)),
    }
    Ok(ExitCode::SUCCESS)
}
