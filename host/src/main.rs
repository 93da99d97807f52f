//! The `attestor` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    attestor::cli::main()
}
