//! Imports `wasi:clocks/wall-clock`: attestor must refuse to load it and name the import.

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    generate_all,
    inline: "
        package hostile:wasi-import;

        world hostile {
            include attestor:plugin/attestor-module@0.1.0;
            import wasi:clocks/wall-clock@0.2.0;
        }
    ",
});

use attestor::plugin::types::{Attestation, ModuleError, ModuleInfo, Workload};
use exports::attestor::plugin::module::Guest;

struct WasiImport;

impl Guest for WasiImport {
    fn metadata() -> ModuleInfo {
        ModuleInfo {
            name: "hostile-wasi-import".into(),
            version: "0.1.0".into(),
            description: "reads the host clock".into(),
        }
    }

    fn validate_config(_: String) -> Result<(), ModuleError> {
        Ok(())
    }

    fn attest(_: String, _: Workload) -> Result<Attestation, ModuleError> {
        let now = wasi::clocks::wall_clock::now();
        Ok(Attestation { selectors: vec![format!("time:{}", now.seconds)], facts: vec![] })
    }
}

export!(WasiImport);
