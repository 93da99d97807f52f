//! Recurses without end: the host must stop it with a clear error.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct StackOverflow;

#[inline(never)]
#[allow(unconditional_recursion)]
fn deeper(n: u64) -> u64 {
    // The opaque use of the result keeps LLVM from turning the recursion into a loop.
    let r = deeper(std::hint::black_box(n + 1));
    std::hint::black_box(r).wrapping_add(n)
}

impl Module for StackOverflow {
    const NAME: &'static str = "hostile-stack-overflow";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "recurses forever";

    fn attest(_: &str, w: &Workload) -> Result<Attestation, Error> {
        let _ = deeper(u64::from(w.unix.pid));
        Ok(Attestation::new())
    }
}

export_module!(StackOverflow);
