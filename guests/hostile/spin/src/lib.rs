//! Loops forever in `attest`: the host must stop it with its fuel budget (or its time limit).
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct Spin;

impl Module for Spin {
    const NAME: &'static str = "hostile-spin";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "never returns";

    fn attest(_: &str, w: &Workload) -> Result<Attestation, Error> {
        let mut x = u64::from(w.unix.pid);
        loop {
            // black_box keeps the loop from being optimised into something else.
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_module!(Spin);
