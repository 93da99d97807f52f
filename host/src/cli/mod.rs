//! The command line: the binary's edge, where errors become one line on stderr and an exit code.

mod attest;
mod image;
mod module;
mod policy;
mod registrar;
mod replace;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Workload attestor host for SPIFFE: facts, sandboxed Wasm modules, Cedar policies.
#[derive(Debug, Parser)]
#[command(name = "attestor", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attest a process: print its selectors and the SPIFFE IDs policy allows it.
    Attest(attest::AttestArgs),
    /// Wasm module tooling: scaffold, build and test a module; inspect, run and benchmark a component.
    #[command(subcommand)]
    Module(module::ModuleCommand),
    /// Policy authoring: check, format, test, explain, link templates.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Sigstore: verify an image's signatures as the attestor would.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Keep SPIRE server's registration entries in step with the identity rules.
    Registrar(registrar::RegistrarArgs),
    /// Run as a SPIRE external plugin (launched by SPIRE: `plugin_cmd`, role in `plugin_args`).
    Plugin {
        /// The plugin role.
        #[arg(value_enum)]
        role: crate::spire::Role,
    },
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments shared by commands that take a configuration.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// HCL configuration (the body of a SPIRE `plugin_data` block); without it, the embedded
    /// default is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Run the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Plugin { role } = cli.command {
        // Plugin mode owns stdout (the handshake) and logs hclog JSON; nothing else may print.
        return crate::spire::run(role);
    }
    init_logging();
    install_panic_hook();
    let result = match cli.command {
        Command::Plugin { .. } => Ok(ExitCode::FAILURE),
        Command::Attest(args) => attest::run(args),
        Command::Module(cmd) => module::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Image(cmd) => image::run(cmd),
        Command::Registrar(args) => registrar::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("attestor: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. Our error types already print their cause where it
/// reads best, so a cause whose text is already there is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg.replace('\n', "; ")
}

/// A panic (a bug: no input should reach one) is one line on stderr, like every other error,
/// with where it happened; `RUST_BACKTRACE=1` adds the backtrace.
/// Print one line of a command's output on stdout. Rust ignores SIGPIPE, so a reader that has
/// gone (`attestor policy explain … | head`) makes the write fail, where `println!` would
/// panic: the command then ends quietly as Unix tools killed by SIGPIPE do (status 141).
pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    emit_text(&format!("{args}\n"));
}

/// Print text as it is (its own line ends) on stdout; see [`emit`].
pub(crate) fn emit_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("attestor: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` for command output: see [`emit`].
macro_rules! out {
    () => { $crate::cli::emit(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::emit(format_args!($($arg)*)) };
}
pub(crate) use out;

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = crate::spire::panic_text(info.payload());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("attestor: error: internal error (a bug: please report it): {what}{at}");
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            eprintln!("{backtrace}");
        }
    }));
}

/// Logs go to stderr (stdout carries only results); `ATTESTOR_LOG` sets the filter.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATTESTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// A single-threaded runtime: the CLI attests one process; blocking stages still run on
/// tokio's blocking pool.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn load_config(args: &ConfigArgs) -> anyhow::Result<crate::config::Config> {
    Ok(match &args.config {
        Some(path) => crate::config::Config::from_file(path)?,
        None => crate::config::Config::embedded_default()?,
    })
}
