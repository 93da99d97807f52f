//! Templates in policy annotations (`@spiffe_id("spiffe://{trust_domain}/ns/{k8s.namespace}")`).
//!
//! Cedar cannot build strings, so the host renders identity templates. The language is small
//! and total: literal text and `{variable}`s, nothing else. An unknown variable is a load error;
//! a variable the workload lacks means "no candidate", never an empty segment.

use std::fmt;

use crate::spiffe_id::{TrustDomain, is_valid_path_segment};
use crate::workload::{AgentFacts, FactKey, Workload};

/// A template variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `{trust_domain}`
    TrustDomain,
    /// `{cluster}`: the config's cluster name.
    Cluster,
    /// `{k8s.namespace}`
    Namespace,
    /// `{k8s.service_account}`
    ServiceAccount,
    /// `{k8s.pod_name}`
    PodName,
    /// `{k8s.pod_uid}`
    PodUid,
    /// `{k8s.node_name}`
    NodeName,
    /// `{k8s.node_uid}`: node attestation only.
    NodeUid,
    /// `{k8s.container}`
    Container,
    /// `{k8s.owner_kind}` (first owner reference)
    OwnerKind,
    /// `{k8s.owner_name}` (first owner reference)
    OwnerName,
    /// `{unix.uid}` (effective)
    Uid,
    /// `{unix.gid}` (effective)
    Gid,
    /// `{unix.user}`
    User,
    /// `{unix.group}`
    Group,
    /// `{label:<key>}`: a pod label.
    Label(String),
    /// `{annotation:<key>}`: a pod annotation.
    Annotation(String),
    /// `{node_label:<key>}`: a label of the node (node attestation only).
    NodeLabel(String),
    /// `{fact:<source.key>}`: a fact (host or module).
    Fact(FactKey),
}

/// The variables without an argument, by name: the one list parsing, printing and the
/// "known variables" error read.
const NAMED: [(&str, Var); 15] = [
    ("trust_domain", Var::TrustDomain),
    ("cluster", Var::Cluster),
    ("k8s.namespace", Var::Namespace),
    ("k8s.service_account", Var::ServiceAccount),
    ("k8s.pod_name", Var::PodName),
    ("k8s.pod_uid", Var::PodUid),
    ("k8s.node_name", Var::NodeName),
    ("k8s.node_uid", Var::NodeUid),
    ("k8s.container", Var::Container),
    ("k8s.owner_kind", Var::OwnerKind),
    ("k8s.owner_name", Var::OwnerName),
    ("unix.uid", Var::Uid),
    ("unix.gid", Var::Gid),
    ("unix.user", Var::User),
    ("unix.group", Var::Group),
];

/// The variables with an argument: prefix, and what the argument is called in messages.
const PREFIXED: [(&str, &str); 4] =
    [("label:", "<key>"), ("annotation:", "<key>"), ("node_label:", "<key>"), ("fact:", "<source.key>")];

/// Every variable, as the "unknown variable" error lists them.
fn known() -> String {
    let named = NAMED.iter().map(|(name, _)| format!("{{{name}}}"));
    let prefixed = PREFIXED.iter().map(|(prefix, arg)| format!("{{{prefix}{arg}}}"));
    named.chain(prefixed).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(k) => write!(f, "{{label:{k}}}"),
            Self::Annotation(k) => write!(f, "{{annotation:{k}}}"),
            Self::NodeLabel(k) => write!(f, "{{node_label:{k}}}"),
            Self::Fact(k) => write!(f, "{{fact:{k}}}"),
            named => {
                let name = NAMED.iter().find(|(_, v)| v == named).map_or("?", |(name, _)| name);
                write!(f, "{{{name}}}")
            }
        }
    }
}

impl Var {
    fn parse(name: &str) -> Result<Self, TemplateError> {
        if let Some((_, var)) = NAMED.iter().find(|(n, _)| *n == name) {
            return Ok(var.clone());
        }
        let unknown = || TemplateError::UnknownVariable(name.to_owned());
        if let Some(k) = name.strip_prefix("label:").filter(|k| !k.is_empty()) {
            Ok(Self::Label(k.to_owned()))
        } else if let Some(k) = name.strip_prefix("annotation:").filter(|k| !k.is_empty()) {
            Ok(Self::Annotation(k.to_owned()))
        } else if let Some(k) = name.strip_prefix("node_label:").filter(|k| !k.is_empty()) {
            Ok(Self::NodeLabel(k.to_owned()))
        } else if let Some(k) = name.strip_prefix("fact:") {
            Ok(Self::Fact(FactKey::new(k).map_err(|_| unknown())?))
        } else {
            Err(unknown())
        }
    }

    /// Whether the variable has a value for workloads (identity rules on `propose`): node UID
    /// and node labels are known only in node attestation.
    pub fn for_workloads(&self) -> bool {
        !matches!(self, Self::NodeUid | Self::NodeLabel(_))
    }

    /// Whether the variable has a value for agents (node identity rules on `attest_node`): an
    /// agent is known by its token, pod and node, not by a process or its modules.
    pub fn for_agents(&self) -> bool {
        !matches!(self, Self::Container | Self::Uid | Self::Gid | Self::User | Self::Group | Self::Fact(_))
    }

    /// The variable's value, or `None` when the subject lacks it.
    fn value(&self, env: &RenderEnv<'_>) -> Option<String> {
        match env.subject {
            RenderSubject::Workload(w) => self.workload_value(w, env),
            RenderSubject::Agent(a) => self.agent_value(a, env),
        }
    }

    fn workload_value(&self, w: &Workload, env: &RenderEnv<'_>) -> Option<String> {
        let k8s = w.kubernetes.as_ref();
        let pod = k8s.map(|k| &k.pod);
        match self {
            Self::TrustDomain => Some(env.trust_domain.to_string()),
            Self::Cluster => env.cluster.map(str::to_owned),
            Self::Namespace => pod.map(|p| p.namespace.clone()),
            Self::ServiceAccount => pod.map(|p| p.service_account.clone()),
            Self::PodName => pod.map(|p| p.name.clone()),
            Self::PodUid => pod.map(|p| p.uid.0.clone()),
            Self::NodeName => pod.map(|p| p.node_name.clone()),
            Self::Container => k8s.and_then(|k| k.container.as_ref()).map(|c| c.name.clone()),
            Self::OwnerKind => pod.and_then(|p| p.owners.first()).map(|o| o.kind.clone()),
            Self::OwnerName => pod.and_then(|p| p.owners.first()).map(|o| o.name.clone()),
            Self::Uid => Some(w.unix.euid.to_string()),
            Self::Gid => Some(w.unix.egid.to_string()),
            Self::User => w.unix.user.clone(),
            Self::Group => w.unix.group.clone(),
            Self::Label(key) => pod.and_then(|p| p.labels.get(key)).cloned(),
            Self::Annotation(key) => pod.and_then(|p| p.annotations.get(key)).cloned(),
            Self::Fact(key) => w.facts.get(key).cloned(),
            Self::NodeUid | Self::NodeLabel(_) => None,
        }
    }

    fn agent_value(&self, a: &AgentFacts, env: &RenderEnv<'_>) -> Option<String> {
        let text = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
        match self {
            Self::TrustDomain => Some(env.trust_domain.to_string()),
            Self::Cluster => text(&a.cluster),
            Self::Namespace => text(&a.namespace),
            Self::ServiceAccount => text(&a.service_account),
            Self::PodName => text(&a.pod_name),
            Self::PodUid => text(&a.pod_uid),
            Self::NodeName => text(&a.node_name),
            Self::NodeUid => text(&a.node_uid),
            Self::OwnerKind => a.owner.as_ref().map(|o| o.kind.clone()),
            Self::OwnerName => a.owner.as_ref().map(|o| o.name.clone()),
            Self::Label(key) => a.pod_labels.get(key).cloned(),
            Self::Annotation(key) => a.pod_annotations.get(key).cloned(),
            Self::NodeLabel(key) => a.node_labels.get(key).cloned(),
            Self::Container | Self::Uid | Self::Gid | Self::User | Self::Group | Self::Fact(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// What a rendered value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRule {
    /// A SPIFFE ID path segment (`[A-Za-z0-9._-]+`, not `.` or `..`). `{trust_domain}` is exempt.
    PathSegment,
    /// Any text without control characters.
    Text,
}

/// Whose facts a template is rendered with.
#[derive(Clone, Copy, Debug)]
pub enum RenderSubject<'a> {
    /// A workload (identity rules on `propose`, `@dns`, `@hint`).
    Workload(&'a Workload),
    /// An agent in node attestation (node identity rules on `attest_node`).
    Agent(&'a AgentFacts),
}

/// The subject and settings a template is rendered against.
#[derive(Clone, Copy, Debug)]
pub struct RenderEnv<'a> {
    /// The workload or agent.
    pub subject: RenderSubject<'a>,
    /// The configured trust domain.
    pub trust_domain: &'a TrustDomain,
    /// The configured cluster name (for an agent, the cluster it named).
    pub cluster: Option<&'a str>,
}

impl Template {
    /// Parse a template.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Text(rest.to_owned()));
                    break;
                }
                Some(i) if rest.as_bytes()[i] == b'}' => return Err(TemplateError::Unbalanced),
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Text(rest[..i].to_owned()));
                    }
                    let after = &rest[i + 1..];
                    let end = after.find('}').ok_or(TemplateError::Unbalanced)?;
                    let name = &after[..end];
                    if name.contains('{') {
                        return Err(TemplateError::Unbalanced);
                    }
                    parts.push(Part::Var(Var::parse(name)?));
                    rest = &after[end + 1..];
                }
            }
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables it uses.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) => None,
        })
    }

    /// Render against a workload. Every substituted value is checked against `rule`.
    pub fn render(&self, env: &RenderEnv<'_>, rule: ValueRule) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => {
                    let value = v.value(env).ok_or_else(|| RenderError::Missing(v.to_string()))?;
                    let ok = match rule {
                        ValueRule::PathSegment => *v == Var::TrustDomain || is_valid_path_segment(&value),
                        ValueRule::Text => !value.is_empty() && !value.chars().any(char::is_control),
                    };
                    if !ok {
                        return Err(RenderError::Invalid { var: v.to_string(), value });
                    }
                    out.push_str(&value);
                }
            }
        }
        Ok(out)
    }
}

/// A template that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{nope}`.
    #[error("unknown template variable `{{{0}}}`; known: {known}", known = known())]
    UnknownVariable(String),
    /// A `{` without `}` or the reverse.
    #[error("unbalanced `{{` or `}}`")]
    Unbalanced,
}

/// Why a template produced no value for a workload. Recorded in the audit, never an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The workload lacks the variable (not a pod, label absent…).
    #[error("missing {0}")]
    Missing(String),
    /// The value cannot be used there (a `/` in a path segment…).
    #[error("render failed: {var} is {value:?}, not a valid SPIFFE ID path segment")]
    Invalid {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
}

#[cfg(test)]
mod tests;
