//! The `attestor` binary: everything lives in the library's `cli` module.

/// mimalloc instead of glibc's malloc: per-thread free lists, no arena lock handed between the
/// executor and blocking threads. Measured in the plugin serving go-plugin's client at 8
/// streams: see the commit that introduced it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    attestor::cli::main()
}
