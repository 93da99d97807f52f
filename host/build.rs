//! Compile the protocol definitions in `proto/` with protox (pure Rust; no `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: cargo may reuse this script's binary, compiled in another checkout
    // sharing the target directory (its fingerprint holds no absolute path), where `env!` would
    // name that checkout's protos.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo did not set CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../proto");
    let files = [
        "plugin/grpc_broker.proto",
        "plugin/grpc_controller.proto",
        "plugin/grpc_stdio.proto",
        "spire/service/private/init/v1/init.proto",
        "spire/service/common/config/v1/config.proto",
        "spire/plugin/agent/workloadattestor/v1/workloadattestor.proto",
        "spire/plugin/server/nodeattestor/v1/nodeattestor.proto",
        "spire/plugin/agent/nodeattestor/v1/nodeattestor.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    // Clients only when tests or benchmarks ask for them (the `grpc-clients` feature): the
    // plugin never dials its own services.
    let clients = std::env::var_os("CARGO_FEATURE_GRPC_CLIENTS").is_some();
    tonic_prost_build::configure().build_client(clients).build_server(true).compile_fds(fds)?;

    // SPIRE server's Entry API (spire-api-sdk): the registrar ships the client, and tests serve
    // it from a loopback fake, so both are always generated.
    let entry_files = ["spire/api/server/entry/v1/entry.proto"];
    let entry_deps = [
        "spire/api/types/entry.proto",
        "spire/api/types/federateswith.proto",
        "spire/api/types/selector.proto",
        "spire/api/types/spiffeid.proto",
        "spire/api/types/status.proto",
    ];
    for f in entry_files.iter().chain(&entry_deps) {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let entry_fds = protox::compile(entry_files, [&root])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(entry_fds)?;
    Ok(())
}
