# attestor registrar's configuration: the file kubernetes/registrar.yaml mounts at
# /run/spire/registrar/registrar.hcl. The same HCL format as the workload attestor's plugin_data:
# `trust_domain`, `policy { }` (the identity rules the agents' workload attestor uses, mounted
# from the same ConfigMap, so both halves decide with one set) and `registrar { }`, which only
# `attestor registrar` reads (the plugin refuses it).
#
# Check it: attestor registrar --config registrar.hcl --once --dry-run
# (lists the cluster and SPIRE's entries, prints the plan, writes nothing). See docs/registrar.md.
trust_domain = "example.org"

policy {
    # The agents' policy set (ConfigMap attestor-policies, kubernetes/attestor-config.yaml).
    dir = "/opt/spire/attestor/policies"
    # Read again this often; a new set that loads is in force for the next reconciliation.
    reload_interval = "5s"
    # {cluster} in identity rules is registrar.cluster below; a `cluster` set here must match it.
}

# One JSON record per entry created, updated or deleted (event "registrar_change", with the rules
# behind it). Without this block the records go to the log.
# audit {
#     path = "/run/spire/registrar-audit/changes.jsonl"
# }

registrar {
    # Required: the key of server.conf's k8s_psat `clusters` block (and agent.conf's `cluster`):
    # it is part of every agent ID, hence of every parent ID below.
    cluster = "demo-cluster"

    # SPIRE server's admin API socket. This is SPIRE's default `socket_path`; registrar.yaml
    # shares its directory between the server container and this one.
    spire_server_socket = "/tmp/spire-server/private/api.sock"

    # Empty: the pod's own service account (in-cluster).
    kube_config_file = ""

    # "per_node" (default): one entry per (SPIFFE ID, node) with the selector
    # k8s:spiffe-id:<id>, for agents whose workload attestor is attestor with
    # policy { spiffe_id_selectors = true } (agent.conf). "per_pod": one entry per (pod, ID) with
    # k8s:ns:<ns> and k8s:pod-uid:<uid>, for agents that run SPIRE's built-in k8s plugin.
    mode = "per_node"

    # The default: the agent ID k8s_psat gives a node's agent. Variables: {trust_domain},
    # {cluster}, {node_uid}, {node_name}.
    parent_id_template = "spiffe://{trust_domain}/spire/agent/k8s_psat/{cluster}/{node_uid}"

    # The registrar owns exactly the entries whose ID starts with this, and never touches others.
    entry_id_prefix = "attestor."

    # An entry no pod wants any more is deleted after this long (0s: at once).
    delete_grace_period = "1m"

    # Everything (pods, namespaces, nodes, SPIRE's entries) is looked at again this often.
    resync_interval = "5m"

    # /metrics, /readyz and /healthz (the Deployment's probes). Empty or absent: not served.
    metrics_addr = "0.0.0.0:8082"
}
