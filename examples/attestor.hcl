# attestor configuration: every key, with its default and what it does.
# Usage: attestor attest --pid PID --config examples/attestor.hcl
# The same body goes into a SPIRE agent's `plugin_data { ... }` block.

# IDs are issued in this trust domain. In SPIRE plugin mode the agent's own trust domain wins.
trust_domain = "example.org"

# Where `<pid>/status`, `<pid>/cgroup`, … are read: the host's /proc, wherever it is mounted.
# `attestor attest --proc-root DIR` overrides it.
proc_root = "/proc"

# The Kubernetes source: "auto" uses the kubelet where its credentials exist (the default on
# the command line), "enabled" always (SPIRE's behaviour, the default in plugin mode),
# "disabled" never. Every key of SPIRE's k8s plugin is accepted here too (see the README).
k8s_source = "auto"

# What the kernel says about a process (selectors of type `unix`, as SPIRE's unix plugin emits).
unix {
  # Gather the executable's path and SHA-256 (`unix:path`, `unix:sha256`).
  discover_workload_path = true
  # Largest executable hashed, in bytes. 0 = no limit; -1 = never hash. Digests are cached per
  # file version, so a binary is read once, not once per attestation.
  workload_size_limit = 1073741824
  # User and group databases for `unix:user`, `unix:group`, `unix:supplementary_group`.
  passwd_file = "/etc/passwd"
  group_file  = "/etc/group"
}

# The Wasm engine shared by every module.
sandbox {
  # Module calls that may run at once; more calls wait for a slot.
  max_concurrent_calls = 16
  # Ceiling for any module's memory cap, in MiB.
  max_memory_mib = 64
}

# One block per Wasm module, run in config order on every attestation. The label is the
# module's name: the kind of its selectors (`team:payments`) and the prefix of its facts
# (`team.team`). Names of attestor's own sources (k8s, unix, spiffe-id, ...) are refused.
#
# module "team" {
#   # The component (paths are relative to this file).
#   path = "modules/team-owner.wasm"
#   # Required. A file with another digest is refused, naming both digests.
#   # `attestor module inspect FILE` prints it.
#   sha256 = "<64 hex characters>"
#   # Passed to the module's validate-config once at load, and to every attest call.
#   config = <<EOT
# ns:payments = payments
# label:team
# default     = unowned
# EOT
#   # Per-call limits.
#   fuel          = 5000000   # deterministic CPU budget
#   timeout       = "50ms"    # wall-clock backstop (Go duration)
#   memory_mib    = 16        # linear memory cap
#   max_selectors = 64
#   max_facts     = 64
#   max_log_lines = 100
#   # true: a failing call drops only this module's output instead of failing the attestation.
#   optional = false
# }

# Cedar policies deciding selectors and SPIFFE IDs.
policy {
  # Directory of .cedar files (read recursively). Without it, the embedded default set:
  # spiffe://<td>/ns/<ns>/sa/<sa> for pods, spiffe://<td>/unix/user/<name> for host processes.
  # dir = "/etc/attestor/policies"

  # Value of the {cluster} template variable.
  # cluster = "prod-eu-1"

  # In SPIRE plugin mode, also hand SPIRE one `spiffe-id:<id>` selector per allowed SPIFFE ID.
  spiffe_id_selectors = false

  # Trust domains identity rules may name in @federates_with.
  # federated_trust_domains = ["partner.example"]

  # Caps on the @ttl and @jwt_ttl of identity rules.
  # max_ttl     = "24h"
  # max_jwt_ttl = "15m"

  # Plugin mode: how often the policy directory and module files are checked for changes
  # (SIGHUP checks at once). A changed set is swapped in only if it loads cleanly.
  reload_interval = "5s"

  # A candidate policy set evaluated beside the live one; only differences are logged.
  # shadow_dir = "/etc/attestor/policies-next"
}

audit {
  # One JSON line per attestation. Without a path, records go to the log (target
  # attestor::audit, level info).
  # path = "/var/log/attestor/audit.jsonl"

  # Full facts in every record, pod annotations included (they can hold secrets).
  debug = false
}
