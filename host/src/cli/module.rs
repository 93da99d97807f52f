//! `attestor module new|build|test|inspect|run|bench|wit`: tooling for module authors.

mod build;
mod new;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Output;
use super::out;
use crate::config::ranges;
use crate::facts::{Gatherer, UnixConfig};
use crate::sandbox::{Limits, LoadedModule, ModuleSpec, Runtime, RuntimeSettings};
use crate::selector::SelectorKind;
use crate::workload::{Pid, Workload};

/// Module subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ModuleCommand {
    /// Write a new module crate (its own workspace): a working module that reads its
    /// configuration, native unit tests, recorded-facts cases, a README.
    New(new::NewArgs),
    /// Build a module crate for wasm32, turn it into a component, check it loads as the host
    /// will, and print its `module { path, sha256 }` block.
    Build(build::BuildArgs),
    /// Run a component against recorded facts files and expected answers: `N passed, M failed`.
    Test(test::TestArgs),
    /// Show a component's digest, imports, exports and metadata, and check it loads.
    Inspect {
        /// The component file.
        file: PathBuf,
        /// Configuration string to validate.
        #[arg(long, default_value = "")]
        module_config: String,
        /// Limits of the check's calls (`metadata`, `validate-config`).
        #[command(flatten)]
        limits: LimitArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run `attest` once on recorded facts (or a live PID): selectors, facts, fuel, logs.
    Run(RunArgs),
    /// Time fresh-instance `attest` calls: median, p99 and calls per second.
    Bench {
        #[command(flatten)]
        run: RunArgs,
        /// Calls to time (after 10% warm-up).
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
    /// Print the WIT package modules implement (`attestor:plugin`), exactly as this host was
    /// built with: for writing a module in any language that targets components.
    Wit,
}

/// What to run and on which facts.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component file.
    pub file: PathBuf,
    /// Facts file (JSON, as `attestor attest --dump-facts` writes it).
    #[arg(long, value_name = "FILE", conflicts_with = "pid", required_unless_present = "pid")]
    pub facts: Option<PathBuf>,
    /// Gather facts from this live process instead.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Module name (selector kind); defaults to the file stem.
    #[arg(long)]
    pub name: Option<String>,
    /// Configuration string passed to the module.
    #[arg(long, default_value = "")]
    pub module_config: String,
    /// Per-call limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Per-call limits of a developer command: a module's `fuel`, `memory_mib` and `timeout` keys,
/// same ranges, same defaults.
#[derive(Debug, Default, clap::Args)]
pub struct LimitArgs {
    /// Fuel budget per call (the range of a module's `fuel` key).
    #[arg(long, value_parser = clap::value_parser!(u64).range(ranges::FUEL.start().unsigned_abs()..=ranges::FUEL.end().unsigned_abs()))]
    pub fuel: Option<u64>,
    /// Memory cap per call, in MiB (the range of a module's `memory_mib` key).
    #[arg(long, value_parser = clap::value_parser!(u64).range(u64::from(*ranges::MEMORY_MIB.start())..=u64::from(*ranges::MEMORY_MIB.end())))]
    pub memory_mib: Option<u64>,
    /// Time limit per call (Go duration, e.g. `50ms`).
    #[arg(long)]
    pub timeout: Option<String>,
}

impl LimitArgs {
    /// The limits, the defaults where a flag is absent.
    fn limits(&self) -> anyhow::Result<Limits> {
        let mut limits = Limits::default();
        if let Some(f) = self.fuel {
            limits.fuel = f;
        }
        if let Some(m) = self.memory_mib {
            limits.memory_bytes = m << 20;
        }
        if let Some(t) = &self.timeout {
            limits.timeout = ranges::MODULE_TIMEOUT
                .check(t)
                .map_err(|e| anyhow::anyhow!("--timeout {e}"))?
                .unwrap_or(limits.timeout);
        }
        Ok(limits)
    }
}

pub(super) fn run(cmd: ModuleCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModuleCommand::New(args) => new::run(args),
        ModuleCommand::Build(args) => build::run(args),
        ModuleCommand::Test(args) => test::run(args),
        ModuleCommand::Inspect { file, module_config, limits, output } => {
            inspect(&file, module_config, &limits.limits()?, output)
        }
        ModuleCommand::Run(args) => run_once(&args),
        ModuleCommand::Bench { run, iterations } => bench(&run, iterations),
        ModuleCommand::Wit => {
            super::emit_text(crate::sandbox::WIT_PACKAGE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn default_name(file: &Path) -> String {
    let stem = file.file_stem().map(|s| s.to_string_lossy().to_lowercase().replace('_', "-")).unwrap_or_default();
    if SelectorKind::new(stem.clone()).is_ok_and(|k| !k.is_reserved()) { stem } else { "module".to_owned() }
}

/// An engine for a developer command whose modules run under `limits`: its memory ceiling is
/// the sandbox's default, or the module's cap when that is higher (a config raises the ceiling
/// with `sandbox.max_memory_mib`; here the flag alone says it).
fn runtime(limits: &Limits) -> anyhow::Result<Runtime> {
    let defaults = RuntimeSettings::default();
    Ok(Runtime::new(RuntimeSettings {
        max_concurrent_calls: 2,
        max_memory_bytes: defaults.max_memory_bytes.max(limits.memory_bytes),
    })?)
}

fn inspect(file: &Path, config: String, limits: &Limits, output: Output) -> anyhow::Result<ExitCode> {
    let runtime = runtime(limits)?;
    let spec = ModuleSpec {
        name: SelectorKind::new(default_name(file))?,
        path: file.to_owned(),
        sha256: None,
        config,
        limits: limits.clone(),
        optional: false,
    };
    let m = LoadedModule::load(&runtime, spec)?;
    let json = serde_json::json!({
        "file": file.display().to_string(),
        "size": m.size(),
        "sha256": m.digest(),
        "imports": m.imports(),
        "exports": m.exports(),
        "metadata": m.info(),
    });
    match output {
        Output::Json => out!("{}", serde_json::to_string_pretty(&json)?),
        Output::Text => {
            out!("file:        {}", file.display());
            out!("size:        {} bytes", m.size());
            out!("sha256:      {}", m.digest());
            out!("name:        {} {}", m.info().name, m.info().version);
            out!("description: {}", m.info().description);
            out!("imports:     {}", m.imports().join(", "));
            out!("exports:     {}", m.exports().join(", "));
            out!("config:      accepted by validate-config");
            out!(
                "\nconfig block:\nmodule \"{}\" {{\n  path   = \"{}\"\n  sha256 = \"{}\"\n}}",
                default_name(file),
                file.display(),
                m.digest()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_for_run(args: &RunArgs, runtime: &Runtime) -> anyhow::Result<(LoadedModule, Workload)> {
    let limits = args.limits.limits()?;
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.file));
    let spec = ModuleSpec {
        name: SelectorKind::new(name)?,
        path: args.file.clone(),
        sha256: None,
        config: args.module_config.clone(),
        limits,
        optional: false,
    };
    let module = LoadedModule::load(runtime, spec)?;
    let workload = match (&args.facts, args.pid) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read facts file {}", path.display()))?;
            let recorded: Workload = serde_json::from_str(&text)
                .with_context(|| format!("facts file {} is not a workload", path.display()))?;
            // `attest --dump-facts` records modules' output too; a module never sees any.
            recorded.as_gathered()
        }
        (None, Some(pid)) => {
            let gatherer = Gatherer::new("/proc", UnixConfig::default(), None);
            super::tokio_runtime()?.block_on(gatherer.gather(Pid(pid)))?
        }
        (None, None) => anyhow::bail!("give --facts FILE or --pid PID"),
    };
    Ok((module, workload))
}

fn run_once(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime(&args.limits.limits()?)?;
    let (module, workload) = load_for_run(args, &runtime)?;
    let input = crate::sandbox::wit_workload(&workload);
    let (result, stats) = module.attest(&runtime, &input);
    let out = result?;
    match args.output {
        Output::Json => {
            let json = serde_json::json!({
                "module": module.name(),
                "selectors": out.selectors,
                "facts": out.facts.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                "fuel_used": stats.fuel_used,
                "elapsed_us": stats.elapsed.as_micros(),
                "logs": stats.logs,
            });
            out!("{}", serde_json::to_string_pretty(&json)?);
        }
        Output::Text => {
            out!("selectors:");
            for s in &out.selectors {
                out!("  {s}");
            }
            if !out.facts.is_empty() {
                out!("facts:");
                for (k, v) in &out.facts {
                    out!("  {k} = {v}");
                }
            }
            out!("fuel used: {} of {}", stats.fuel_used, module.spec().limits.fuel);
            out!("time:      {} µs (fresh instance)", stats.elapsed.as_micros());
            if !stats.logs.is_empty() {
                out!("logs:");
                for l in &stats.logs {
                    out!("  [{}] {}", l.level, l.message);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(args: &RunArgs, iterations: usize) -> anyhow::Result<ExitCode> {
    let runtime = Arc::new(runtime(&args.limits.limits()?)?);
    let (module, workload) = load_for_run(args, &runtime)?;
    let input = crate::sandbox::wit_workload(&workload);
    let warmup = (iterations / 10).max(1);
    let mut samples = Vec::with_capacity(iterations);
    let mut fuel = 0;
    for i in 0..warmup + iterations {
        let t = Instant::now();
        let (r, stats) = module.attest(&runtime, &input);
        let dt = t.elapsed();
        r?;
        fuel = stats.fuel_used;
        if i >= warmup {
            samples.push(dt);
        }
    }
    samples.sort();
    let pct = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    let total: Duration = samples.iter().sum();
    let per_sec = samples.len() as f64 / total.as_secs_f64();
    let summary = serde_json::json!({
        "module": module.name(),
        "iterations": samples.len(),
        "allocator": runtime.allocator(),
        "median_us": pct(50).as_secs_f64() * 1e6,
        "p99_us": pct(99).as_secs_f64() * 1e6,
        "min_us": samples[0].as_secs_f64() * 1e6,
        "calls_per_sec": per_sec,
        "fuel_per_call": fuel,
    });
    match args.output {
        Output::Json => out!("{}", serde_json::to_string_pretty(&summary)?),
        Output::Text => out!(
            "{}: {} fresh-instance calls ({:?} allocator): median {:.1} µs, p99 {:.1} µs, min {:.1} µs, {:.0} calls/s, {} fuel/call",
            module.name(),
            samples.len(),
            runtime.allocator(),
            pct(50).as_secs_f64() * 1e6,
            pct(99).as_secs_f64() * 1e6,
            samples[0].as_secs_f64() * 1e6,
            per_sec,
            fuel
        ),
    }
    Ok(ExitCode::SUCCESS)
}
