# Host settings for `attestor policy check|test|explain policies/examples/federation`.
# `@federates_with` may only name trust domains the host federates with; the same list goes in
# the deployed host's configuration.
trust_domain = "example.org"

policy {
  dir                     = "."
  federated_trust_domains = ["partner.example", "auditor.example"]
}
