//! Recorded facts as test cases name them (policy fixtures, `module test` cases): a JSON or
//! YAML file (what `attestor attest --dump-facts` writes) relative to the case file, or the
//! facts inline in it.

use std::path::Path;

/// Read a `facts:` value into `T` (a `Workload`, an `AgentFacts`). `case_file` is the file the
/// value was in; `what` names `T` for the error ("a workload"). The error is the message alone,
/// for the caller to place (`fixture "x": …`).
pub fn read_recorded<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
    case_file: &Path,
    what: &str,
) -> Result<T, String> {
    match value {
        serde_yaml_ng::Value::String(file) => {
            let facts = case_file.parent().unwrap_or(Path::new(".")).join(&file);
            let text =
                std::fs::read_to_string(&facts).map_err(|e| format!("cannot read facts {}: {e}", facts.display()))?;
            // JSON is YAML: one parser reads both.
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{} is not {what}: {e}", facts.display()))
        }
        inline => serde_yaml_ng::from_value(inline).map_err(|e| format!("inline facts are not {what}: {e}")),
    }
}
