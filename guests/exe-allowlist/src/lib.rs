//! `exe-allowlist`: is the workload's executable one the operator approved?
//!
//! Configuration, one approved binary per line: its SHA-256 and a short name.
//!
//! ```text
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  ledger
//! 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  ledger-migrate
//! ```
//!
//! Answer: for an approved binary, selector `allowed:<name>` and facts `verdict = allow`,
//! `program = <name>`; otherwise selector `denied` and fact `verdict = deny`. A gate policy
//! refuses denied workloads outright:
//!
//! ```cedar
//! @id("only-approved-binaries")
//! forbid (principal, action == Attest::Action::"attest", resource)
//! when { principal.hasTag("exe-allowlist.verdict") && principal.getTag("exe-allowlist.verdict") == "deny" };
//! ```

use attestor_guest::{Attestation, Error, Module, Workload, export_module};

struct ExeAllowlist;

fn parse(config: &str) -> Result<Vec<(&str, &str)>, Error> {
    let mut entries = Vec::new();
    for (n, raw) in config.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(digest), Some(name), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(Error::config(format!("line {}: expected `<sha256> <name>`, got {line:?}", n + 1)));
        };
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::config(format!("line {}: {digest:?} is not a lower-case hex SHA-256", n + 1)));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
            return Err(Error::config(format!(
                "line {}: name {name:?} may use only letters, digits, `-`, `_`, `.`",
                n + 1
            )));
        }
        entries.push((digest, name));
    }
    Ok(entries)
}

impl Module for ExeAllowlist {
    const NAME: &'static str = "exe-allowlist";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "allows only executables whose SHA-256 the operator approved";

    fn validate_config(config: &str) -> Result<(), Error> {
        if parse(config)?.is_empty() {
            return Err(Error::config("empty allow-list: add `<sha256> <name>` lines"));
        }
        Ok(())
    }

    fn attest(config: &str, workload: &Workload) -> Result<Attestation, Error> {
        let allowed = parse(config)?;
        let Some(digest) = workload.unix.exe_sha256.as_deref() else {
            return Err(Error::input(
                "the executable's SHA-256 was not gathered (unix.discover_workload_path is off, or the executable is not readable)",
            ));
        };
        let mut out = Attestation::new();
        match allowed.iter().find(|(d, _)| *d == digest) {
            Some((_, name)) => {
                out.selector(format!("allowed:{name}")).fact("verdict", "allow").fact("program", *name);
            }
            None => {
                attestor_guest::info!(
                    "executable {} ({digest}) is not on the allow-list",
                    workload.unix.exe_path.as_deref().unwrap_or("?")
                );
                out.selector("denied").fact("verdict", "deny");
            }
        }
        Ok(out)
    }
}

export_module!(ExeAllowlist);

#[cfg(test)]
mod tests {
    use super::*;

    const LEDGER: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn entries_comments_and_blank_lines() {
        let config = format!("# approved\n\n  {LEDGER}  ledger  \n");
        assert_eq!(parse(&config).unwrap(), [(LEDGER, "ledger")]);
        assert!(
            matches!(ExeAllowlist::validate_config("# nothing\n"), Err(Error::Config(m)) if m.starts_with("empty"))
        );
    }

    #[test]
    fn bad_lines_are_named_with_their_number() {
        let msg = |config: &str| match parse(config) {
            Err(Error::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(
            msg(&format!("{LEDGER} a\n{LEDGER}")),
            format!("line 2: expected `<sha256> <name>`, got {LEDGER:?}")
        );
        assert!(msg(&format!("{LEDGER} a b")).starts_with("line 1: expected"));
        assert!(msg(&format!("{} x", LEDGER.to_uppercase())).contains("is not a lower-case hex SHA-256"));
        assert!(msg("abc x").contains("is not a lower-case hex SHA-256"));
        assert!(msg(&format!("{LEDGER} led/ger")).contains("may use only"));
    }
}
