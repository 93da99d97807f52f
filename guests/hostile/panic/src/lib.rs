//! Panics in `attest`: the host must report the panic message, not a bare trap.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct Panic;

impl Module for Panic {
    const NAME: &'static str = "hostile-panic";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "always panics";

    fn attest(_: &str, w: &Workload) -> Result<Attestation, Error> {
        panic!("boom: hostile module refuses pid {}", w.unix.pid);
    }
}

export_module!(Panic);
