//! Answers with the values a hostile component could hand the host, one kind per config:
//!
//! * `huge-selector`: one 8 MiB selector value;
//! * `many-selectors`: a million empty selector values (needs a 64 MiB memory cap to build);
//! * `invalid-utf8`: a selector whose bytes are not UTF-8, which the component model refuses;
//! * `huge-fact-key`: a fact with a 1 MiB key;
//! * `huge-error`: an error whose message is 8 MiB;
//! * `control-error`: an error message full of newlines and escape sequences;
//! * `control-selector`: a selector value with a newline and an escape sequence in it.
//!
//! The WIT types have no recursion, so a value cannot be nested deeper than the record it is.
use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct WitAbuse;

impl Module for WitAbuse {
    const NAME: &'static str = "hostile-wit-abuse";
    const VERSION: &'static str = "0.1.0";
    const DESCRIPTION: &'static str = "returns hostile WIT values";

    fn attest(config: &str, _: &Workload) -> Result<Attestation, Error> {
        let mut out = Attestation::new();
        match config.trim() {
            "huge-selector" => {
                out.selector("a".repeat(8 << 20));
            }
            "many-selectors" => {
                for _ in 0..1_000_000 {
                    out.selector(String::new());
                }
            }
            "invalid-utf8" => {
                // What a module written in another language (or with unsafe Rust) could send.
                #[allow(unsafe_code)]
                // SAFETY: deliberately not UTF-8: the string is only handed to the host, whose
                // canonical-ABI lifting must refuse it; this module never reads it.
                let bad = unsafe { String::from_utf8_unchecked(vec![b'o', 0xff, 0xfe, b'k']) };
                out.selector(bad);
            }
            "huge-fact-key" => {
                out.fact("k".repeat(1 << 20), "v");
            }
            "huge-error" => return Err(Error::internal("e".repeat(8 << 20))),
            "control-error" => {
                return Err(Error::internal("line one\nline two\r\n\u{1b}[31mred\u{1b}[0m\u{7}".repeat(4)));
            }
            "control-selector" => {
                out.selector("a\nb\u{1b}[31m");
            }
            other => return Err(Error::config(format!("unknown mode {other:?}"))),
        }
        Ok(out)
    }
}

export_module!(WitAbuse);
