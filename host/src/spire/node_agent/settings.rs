//! SPIRE's agent-side `k8s_psat` keys: `cluster` (required) and `token_path`.

use std::path::PathBuf;

use hcl::{Expression, Structure};

use crate::config::{ConfigError, Problems};

/// Where the kubelet mounts the projected service-account token in SPIRE's documented set-up
/// (SPIRE's default).
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/tokens/spire-agent";

/// The agent role's validated settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAgentSettings {
    /// The cluster name the server's `clusters` block knows this agent's cluster by.
    pub cluster: String,
    /// The projected service-account token, re-read on every attestation.
    pub token_path: PathBuf,
}

/// SPIRE's core configuration as the `Configure` request carries it: `None` when absent.
pub type CoreTrustDomain<'a> = Option<&'a str>;

impl NodeAgentSettings {
    /// Read `plugin_data` (HCL v1 as SPIRE re-prints it) with SPIRE's checks and messages:
    /// the core configuration's trust domain must be there (SPIRE's `pluginconf` checks it for
    /// every plugin, this one included, though the role does not use it), `cluster` must be
    /// non-empty, `token_path` defaults to [`DEFAULT_TOKEN_PATH`]. Unlike SPIRE, which ignores
    /// unknown keys here, a key nobody reads is refused with the wording SPIRE's other plugins
    /// use, as every attestor configuration refuses it: a misspelt `token_path` would otherwise
    /// read the default path silently.
    pub fn parse(core: CoreTrustDomain<'_>, hcl: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::default();
        match core {
            None => problems.push(ConfigError::Rule("server core configuration is required".into())),
            Some("") => problems.push(ConfigError::Rule("server core configuration must contain trust_domain".into())),
            Some(td) => {
                if let Err(e) = crate::TrustDomain::new(td) {
                    problems
                        .push(ConfigError::Rule(format!("server core configuration trust_domain is malformed: {e}")));
                }
            }
        }
        // SPIRE stops at a body it cannot decode.
        let keys = match read_keys(hcl) {
            Ok(keys) => keys,
            Err(e) => {
                problems.push(e);
                return Err(finish(problems));
            }
        };
        let mut cluster = None;
        let mut token_path = None;
        let mut unknown = Vec::new();
        for (key, value) in keys {
            match key.as_str() {
                "cluster" => cluster = problems.take(value),
                "token_path" => token_path = problems.take(value),
                _ => unknown.push(key),
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            problems.push(ConfigError::UnknownKeys(unknown));
        }
        let cluster = cluster.filter(|c: &String| !c.is_empty());
        if cluster.is_none() {
            problems.push(ConfigError::Rule("missing required cluster block".into()));
        }
        let token_path = token_path.filter(|p: &String| !p.is_empty()).unwrap_or_else(|| DEFAULT_TOKEN_PATH.into());
        match cluster {
            Some(cluster) if problems.len() == 0 => Ok(Self { cluster, token_path: PathBuf::from(token_path) }),
            _ => Err(finish(problems)),
        }
    }
}

fn finish(problems: Problems) -> ConfigError {
    let mut all = problems.into_vec();
    if all.len() == 1 { all.remove(0) } else { ConfigError::Problems(all) }
}

/// Top-level keys in file order, each with its string value or why it has none.
type Keys = Vec<(String, Result<String, ConfigError>)>;

/// Every top-level attribute, in file order, with its string value or why it has none.
fn read_keys(hcl: &str) -> Result<Keys, ConfigError> {
    let text = crate::spire::hcl_v1::normalize(hcl);
    crate::config::syntax::check(&text)?;
    let body = hcl::parse(&text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
    let mut keys: Keys = Vec::new();
    for structure in body {
        let (key, value) = match structure {
            Structure::Attribute(attr) => {
                let key = attr.key.to_string();
                let value = match attr.expr {
                    Expression::String(s) => Ok(s),
                    Expression::Null => Ok(String::new()),
                    other => Err(ConfigError::invalid(&key, format!("expected a string, got {}", kind(&other)))),
                };
                (key, value)
            }
            Structure::Block(block) => {
                let key = block.identifier.to_string();
                let problem = ConfigError::invalid(&key, "expected a value, found a block");
                (key, Err(problem))
            }
        };
        // HCL's parser already refuses an attribute given twice.
        keys.push((key, value));
    }
    Ok(keys)
}

fn kind(e: &Expression) -> &'static str {
    match e {
        Expression::Bool(_) => "a boolean",
        Expression::Number(_) => "a number",
        Expression::Array(_) => "a list",
        Expression::Object(_) => "an object",
        Expression::TemplateExpr(_) => "a template",
        _ => "an expression",
    }
}

#[cfg(test)]
mod tests;
