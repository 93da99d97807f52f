//! `attestor module test FILE --facts DIR`: a component against recorded facts, each case's
//! answer compared with its expectation (`sandbox::cases`); `N passed, M failed`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::super::out;
use super::default_name;
use crate::sandbox::cases::{self, Answer, Case};
use crate::sandbox::{LoadedModule, ModuleSpec, Runtime, wit_workload};
use crate::selector::SelectorKind;

/// `module test` arguments.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The component file.
    pub file: PathBuf,
    /// The cases: a directory of YAML case files (or one file), each naming a facts file as
    /// `attestor attest --dump-facts` writes it and the selectors and facts expected.
    #[arg(long, value_name = "DIR")]
    pub facts: PathBuf,
    /// Module name (the selector kind the host would prefix); defaults to the file stem.
    #[arg(long)]
    pub name: Option<String>,
    /// Configuration string for cases that give none.
    #[arg(long, default_value = "")]
    pub module_config: String,
    /// Per-call limits (a module's `fuel`, `memory_mib` and `timeout` keys).
    #[command(flatten)]
    pub limits: super::LimitArgs,
}

/// The module loaded under one configuration, or why it did not load (a case may expect it).
type Loaded = Result<LoadedModule, (&'static str, String)>;

pub(super) fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let limits = args.limits.limits()?;
    let runtime = super::runtime(&limits)?;
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.file));
    let kind = SelectorKind::new(name.clone())?;
    // Compiled once, up front: a file that is no module fails the run before any case. Each
    // configuration is then checked by `validate-config`, as loading does.
    let spec = ModuleSpec {
        name: kind,
        path: args.file.clone(),
        sha256: None,
        config: args.module_config.clone(),
        limits: limits.clone(),
        optional: false,
    };
    let base = match LoadedModule::compile(&runtime, spec) {
        Ok(m) => Ok(m),
        // Not a module at all (unreadable, not a component, a foreign import): no case can run.
        Err(e) if cases::load_error_kind(&e) == "load" => return Err(e.into()),
        // Its `metadata` call failed: every case gets that error.
        Err(e) => Err((cases::load_error_kind(&e), e.to_string())),
    };
    let configured = |config: &str| -> Loaded {
        match &base {
            Err(e) => Err(e.clone()),
            Ok(m) => {
                m.with_config(&runtime, config.to_owned()).map_err(|e| (cases::load_error_kind(&e), e.to_string()))
            }
        }
    };
    let mut modules: HashMap<String, Loaded> = HashMap::new();
    let files = cases::find(&args.facts)?;
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let list = match cases::read(file) {
            Ok(l) => l,
            Err(e) => {
                out!("FAIL {e}");
                failed += 1;
                continue;
            }
        };
        for case in &list {
            let config = case.config.clone().unwrap_or_else(|| args.module_config.clone());
            if !modules.contains_key(&config) {
                modules.insert(config.clone(), configured(&config));
            }
            let answer = match modules.get(&config) {
                Some(loaded) => answer(&runtime, loaded, case, &name),
                None => continue,
            };
            let problems = cases::compare(&case.expect, &answer);
            let label = format!("{}: {}", file.display(), case.name);
            if problems.is_empty() {
                out!("ok   {label}");
                passed += 1;
            } else {
                out!("FAIL {label}");
                for p in &problems {
                    out!("       {p}");
                }
                failed += 1;
            }
        }
    }
    if passed + failed == 0 {
        out!("no case files (*.yaml, *.yml) in {}", args.facts.display());
    }
    out!("{passed} passed, {failed} failed");
    Ok(if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One call in a fresh instance, as in production.
fn answer(runtime: &Runtime, loaded: &Loaded, case: &Case, name: &str) -> Answer {
    match loaded {
        Err((kind, message)) => Answer::Failed { kind, message: message.clone() },
        // A recorded workload carries the output of the modules that ran when it was recorded;
        // in production a module sees the workload as gathering left it.
        Ok(module) => match module.attest(runtime, &wit_workload(&case.workload.as_gathered())).0 {
            Ok(out) => Answer::of_output(name, &out),
            Err(e) => Answer::Failed { kind: cases::call_error_kind(&e), message: e.to_string() },
        },
    }
}
