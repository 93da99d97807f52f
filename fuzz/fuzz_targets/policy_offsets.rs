//! Line and column of any offset into any policy text, and the statement scan.
#![no_main]

use attestor::policy::PolicyFile;

libfuzzer_sys::fuzz_target!(|input: (String, usize)| {
    let (text, offset) = input;
    let file = PolicyFile { name: "fuzz.cedar".into(), text };
    let (line, col) = file.line_col(offset);
    assert!(line >= 1 && col >= 1);
    for o in file.statement_offsets() {
        let _ = file.line_col(o);
    }
});
