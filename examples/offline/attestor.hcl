# Offline demo: SPIRE's k8s selectors without a cluster.
#
#   cargo run -p attestor -- attest --pid 4242 \
#     --proc-root examples/offline/proc --config examples/offline/attestor.hcl
#
# `proc/4242` is a recorded process of the `ledger` pod (its cgroup names the pod and the
# container), and `pods.json` is the kubelet's /pods answer for the node, so attestor does what
# it does on a node: locate the container from the cgroup, find it in the pod list, emit the
# same selectors as SPIRE's k8s plugin, and let the policies decide the SPIFFE ID.
trust_domain = "demo.example.org"

# A recorded kubelet answer instead of a live kubelet.
pod_list_file = "pods.json"

unix {
  # The recorded process runs as uid 10001, unknown to this machine's user database.
  passwd_file = "/dev/null"
  group_file  = "/dev/null"
}

policy {
  dir     = "policies"
  cluster = "demo"
}
