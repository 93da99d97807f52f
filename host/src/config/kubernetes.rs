//! SPIRE's `k8s` WorkloadAttestor keys (top level of the config, as in a `plugin_data` block),
//! with SPIRE's defaults and validation messages, plus attestor's own Kubernetes keys.

use std::path::Path;
use std::time::Duration;

use super::reader::Table;
use super::{ConfigError, parse_go_duration};
use crate::facts::kubernetes::{ApiServerSettings, BrokerSettings, Endpoint, KubernetesSettings, SourceMode};

/// Read the Kubernetes keys from the top-level table. Problems that do not stop parsing are
/// pushed to `problems` in SPIRE's order; the first one becomes the error.
pub(crate) fn parse(
    top: &mut Table,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigError>,
) -> Result<KubernetesSettings, ConfigError> {
    let mut s = KubernetesSettings::default();
    let rule = |m: String| ConfigError::Rule(m);

    // experimental { api_server { cache { enabled } } broker { … } }
    if let Some(mut exp) = top.block("experimental")? {
        let mut api_server = exp.block("api_server")?;
        let broker = exp.block("broker")?;
        push_unknown(problems, &exp);
        if let Some(api) = api_server.as_mut() {
            let cache = api.block("cache")?;
            push_unknown(problems, api);
            if let Some(mut cache) = cache {
                s.api_server_cache = cache.bool("enabled")?.unwrap_or(false);
                push_unknown(problems, &cache);
            }
        }
        if let Some(b) = broker {
            s.broker = Some(broker_settings(b, problems)?);
        }
    }

    let ro_port = top.int("kubelet_read_only_port")?.unwrap_or(0);
    let secure_port = top.int("kubelet_secure_port")?.unwrap_or(0);
    let ca = top.string("kubelet_ca_path")?.filter(|v| !v.is_empty());
    let skip = top.bool("skip_kubelet_verification")?.unwrap_or(false);
    let token = top.string("token_path")?.filter(|v| !v.is_empty());
    let cert = top.string("certificate_path")?.filter(|v| !v.is_empty());
    let key = top.string("private_key_path")?.filter(|v| !v.is_empty());
    let anonymous = top.bool("use_anonymous_authentication")?.unwrap_or(false);
    let node_name_env = top.string("node_name_env")?.filter(|v| !v.is_empty());
    let node_name = top.string("node_name")?.filter(|v| !v.is_empty());
    let reload = top.string("reload_interval")?.filter(|v| !v.is_empty());
    let poll = top.string("poll_retry_interval")?.filter(|v| !v.is_empty());
    let disable_client = top.bool("disable_kubelet_client")?.unwrap_or(false);
    let pod_list_file = top.string("pod_list_file")?.filter(|v| !v.is_empty());

    if disable_client {
        let conflicts = [
            ("kubelet_read_only_port", ro_port > 0),
            ("kubelet_secure_port", secure_port > 0),
            ("kubelet_ca_path", ca.is_some()),
            ("skip_kubelet_verification", skip),
            ("token_path", token.is_some()),
            ("certificate_path", cert.is_some()),
            ("private_key_path", key.is_some()),
            ("use_anonymous_authentication", anonymous),
            ("node_name_env", node_name_env.is_some()),
            ("node_name", node_name.is_some()),
            ("reload_interval", reload.is_some()),
            ("pod_list_file", pod_list_file.is_some()),
        ];
        for (name, set) in conflicts {
            if set {
                problems.push(rule(format!("disable_kubelet_client cannot be used with {name}")));
            }
        }
        if let Some(b) = &s.broker {
            for (id, scope) in &b.brokers {
                if scope != "cluster" {
                    problems.push(rule(format!(
                        "experimental.broker.brokers[{id}].pod_reference_scope must be \"cluster\" when disable_kubelet_client is true"
                    )));
                }
            }
        }
    }

    if let Some(n) = top.int("max_poll_attempts")?
        && n > 0
    {
        s.max_poll_attempts = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(d) = duration(poll.as_deref(), "poll retry interval", problems) {
        s.poll_retry_interval = d;
    }
    if let Some(d) = duration(reload.as_deref(), "reload interval", problems) {
        s.reload_interval = d;
    }
    if ro_port > 0 && secure_port > 0 {
        problems.push(rule("cannot use both the read-only and secure port".into()));
    }
    let port = |p: i64, key: &str, problems: &mut Vec<ConfigError>| -> u16 {
        u16::try_from(p).unwrap_or_else(|_| {
            problems.push(ConfigError::invalid(key, format!("{p} is not a TCP port")));
            0
        })
    };
    s.endpoint = if disable_client {
        Endpoint::Disabled
    } else if let Some(file) = pod_list_file {
        if ro_port > 0 || secure_port > 0 {
            problems.push(rule("pod_list_file cannot be used with a kubelet port".into()));
        }
        Endpoint::File(resolve(base, &file))
    } else if ro_port > 0 {
        Endpoint::ReadOnly(port(ro_port, "kubelet_read_only_port", problems))
    } else if secure_port > 0 {
        Endpoint::Secure(port(secure_port, "kubelet_secure_port", problems))
    } else {
        Endpoint::Secure(10250)
    };

    s.node_name = match (node_name, node_name_env) {
        (Some(n), _) => n,
        (None, Some(var)) => env(&var).unwrap_or_default(),
        (None, None) => env("MY_NODE_NAME").unwrap_or_default(),
    };
    if let Some(p) = ca {
        s.kubelet_ca_path = resolve(base, &p);
    }
    if let Some(p) = token {
        s.token_path = resolve(base, &p);
    }
    s.certificate_path = cert.map(|p| resolve(base, &p));
    s.private_key_path = key.map(|p| resolve(base, &p));
    s.skip_kubelet_verification = skip;
    s.use_anonymous_authentication = anonymous;
    s.disable_container_selectors = top.bool("disable_container_selectors")?.unwrap_or(false);
    s.enable_namespace_labels = top.bool("enable_namespace_labels")?.unwrap_or(false);
    s.legacy_locator = !top.bool("use_new_container_locator")?.unwrap_or(true);
    s.verbose_locator_logs = top.bool("verbose_container_locator_logs")?.unwrap_or(false);

    if let Some(mut sig) = top.block("sigstore")? {
        sig.string("rekor_url")?;
        for k in ["ignore_sct", "ignore_tlog", "ignore_attestations"] {
            sig.bool(k)?;
        }
        sig.strings("skipped_images")?;
        sig.string_lists("allowed_identities")?;
        if let Some(mut creds) = sig.block("registry_credentials")? {
            for (_, mut c) in creds.labelled_or_keys()? {
                c.string("username")?;
                c.string("password")?;
                push_unknown(problems, &c);
            }
            push_unknown(problems, &creds);
        }
        push_unknown(problems, &sig);
        s.sigstore = true;
    }

    // attestor's own keys
    if let Some(mode) = top.string("k8s_source")? {
        s.mode = Some(match mode.as_str() {
            "enabled" => SourceMode::Enabled,
            "auto" => SourceMode::Auto,
            "disabled" => SourceMode::Disabled,
            other => {
                return Err(ConfigError::invalid(
                    "k8s_source",
                    format!("must be \"enabled\", \"auto\" or \"disabled\", got {other:?}"),
                ));
            }
        });
    }
    if let Some(ttl) = top.string("pod_list_cache_ttl")? {
        let nanos = parse_go_duration(&ttl).map_err(|e| ConfigError::invalid("pod_list_cache_ttl", e))?;
        s.pod_list_cache_ttl = Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    }
    if let Some(mut api) = top.block("kubernetes_api")? {
        s.api = ApiServerSettings {
            url: api.string("url")?,
            ca_path: api.string("ca_path")?.map(|p| resolve(base, &p)),
            token_path: api.string("token_path")?.map(|p| resolve(base, &p)),
        };
        let mut unknown = Vec::new();
        api.finish(&mut unknown);
        if !unknown.is_empty() {
            problems.push(ConfigError::UnknownKeys(unknown));
        }
    }
    Ok(s)
}

/// SPIRE reports each block's unknown keys as their own problem.
fn push_unknown(problems: &mut Vec<ConfigError>, t: &Table) {
    let keys = t.unknown_bare();
    if !keys.is_empty() {
        problems.push(ConfigError::UnknownKeys(keys));
    }
}

/// A Go duration; empty or non-positive means the default (`None`); unparsable is a problem.
fn duration(value: Option<&str>, what: &str, problems: &mut Vec<ConfigError>) -> Option<Duration> {
    let v = value?;
    match parse_go_duration(v) {
        Ok(n) if n > 0 => Some(Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))),
        Ok(_) => None,
        Err(e) => {
            problems.push(ConfigError::Rule(format!("unable to parse {what}: {e}")));
            None
        }
    }
}

fn resolve(base: &Path, p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    if path.is_absolute() { path.to_owned() } else { base.join(path) }
}

fn broker_settings(mut b: Table, problems: &mut Vec<ConfigError>) -> Result<BrokerSettings, ConfigError> {
    const PATH: &str = "experimental.broker";
    let access_policy = b.string("access_policy")?.unwrap_or_default();
    let entries = b.object_list("brokers")?.unwrap_or_default();
    push_unknown(problems, &b);
    match access_policy.as_str() {
        "permissive" | "enforced" => {}
        "" => problems.push(ConfigError::Rule(format!(
            "{PATH}.access_policy: must be specified as one of [permissive, enforced]"
        ))),
        other => problems.push(ConfigError::Rule(format!(
            "{PATH}.access_policy: unsupported value {other:?}; must be one of [permissive, enforced]"
        ))),
    }
    if entries.is_empty() {
        problems.push(ConfigError::Rule(format!("{PATH}.brokers: at least one broker is required")));
    }
    let mut brokers: Vec<(String, String)> = Vec::new();
    for (i, mut e) in entries.into_iter().enumerate() {
        let id = e.string("id")?.unwrap_or_default();
        let scope = e.string("pod_reference_scope")?.unwrap_or_default();
        push_unknown(problems, &e);
        if id.is_empty() {
            problems.push(ConfigError::Rule(format!("{PATH}.brokers[{i}].id: must be specified")));
            continue;
        }
        if brokers.iter().any(|(b, _)| *b == id) {
            problems.push(ConfigError::Rule(format!("{PATH}.brokers[{id}].id: duplicate broker id")));
            continue;
        }
        if let Err(err) = id.parse::<crate::SpiffeId>() {
            problems.push(ConfigError::Rule(format!("{PATH}.brokers[{id}].id: {err}")));
            continue;
        }
        let scope = match scope.as_str() {
            "" | "agent_node" => "agent_node".to_owned(),
            "cluster" => "cluster".to_owned(),
            other => {
                problems.push(ConfigError::Rule(format!(
                    "{PATH}.brokers[{id}].pod_reference_scope: unsupported value {other:?}; must be one of [agent_node, cluster]"
                )));
                continue;
            }
        };
        brokers.push((id, scope));
    }
    Ok(BrokerSettings { access_policy, brokers })
}

#[cfg(test)]
mod tests;
