//! Answers with far more selectors than any host should accept.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct Oversized;

impl Module for Oversized {
    const NAME: &'static str = "hostile-oversized";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "returns 1000 selectors";

    fn attest(_: &str, _: &Workload) -> Result<Attestation, Error> {
        let mut out = Attestation::new();
        for i in 0..1_000 {
            out.selector(format!("noise:{i}"));
        }
        Ok(out)
    }
}

export_module!(Oversized);
