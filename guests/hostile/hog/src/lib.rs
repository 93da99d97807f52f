//! Allocates (and touches) memory until something stops it: the host's memory cap must.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct Hog;

impl Module for Hog {
    const NAME: &'static str = "hostile-hog";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "eats memory";

    fn attest(_: &str, _: &Workload) -> Result<Attestation, Error> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Each chunk is fresh memory (memory.grow); touching one byte per 64 KiB page makes
            // it real while costing little fuel, so the memory cap, not the fuel budget, stops it.
            let mut chunk: Vec<u8> = Vec::with_capacity(1 << 20);
            for page in chunk.spare_capacity_mut().chunks_mut(64 << 10) {
                page[0].write(1);
            }
            chunks.push(std::hint::black_box(chunk));
        }
    }
}

export_module!(Hog);
