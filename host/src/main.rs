//! The `attestor` binary: everything lives in the library's `cli` module.

/// mimalloc instead of glibc's malloc: per-thread free lists, no arena lock handed between the
/// executor and blocking threads: 84 µs of plugin CPU per attestation against glibc's 102 µs
/// (go-plugin's client, 8 streams, three alternating runs each).
///
/// Built with `MI_DEFAULT_ARENA_EAGER_COMMIT=0` (`.cargo/config.toml`): by default mimalloc
/// commits its first 1 GiB arena eagerly where the kernel overcommits, and what it purges from
/// there stays resident; the plugin then peaked at 53-68 MB at 64 streams, 24-29 MB with
/// commit on demand, at the same rate. The arena is reserved before `main`, so the option
/// cannot be set at run time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    attestor::cli::main()
}
