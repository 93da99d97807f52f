//! Logs without end: the host must cap log volume per call.
use attestor_guest::{Attestation, Error, Module, Workload, export_module, log};

struct LogFlood;

impl Module for LogFlood {
    const NAME: &'static str = "hostile-log-flood";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "floods the host log";

    fn attest(_: &str, _: &Workload) -> Result<Attestation, Error> {
        for i in 0..1_000_000u32 {
            log::info(&format!("line {i}: the quick brown fox jumps over the lazy dog"));
        }
        Ok(Attestation::new())
    }
}

export_module!(LogFlood);
