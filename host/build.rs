//! Compile the protocol definitions in `proto/` with protox (pure Rust; no `protoc` needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
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
    Ok(())
}
