use super::*;

#[test]
fn quoted_body_keys_become_identifiers() {
    assert_eq!(
        normalize("\"node_name\" = \"n1\"\n\"max_poll_attempts\" = 5\n"),
        "node_name = \"n1\"\nmax_poll_attempts = 5\n"
    );
    assert_eq!(
        normalize("\"sigstore\" {\n  \"rekor_url\" = \"https://r\"\n}\n"),
        "sigstore {\n  rekor_url = \"https://r\"\n}\n"
    );
    assert_eq!(
        normalize("\"module\" \"team\" {\n  \"path\" = \"t.wasm\"\n}\n"),
        "module \"team\" {\n  path = \"t.wasm\"\n}\n"
    );
}

#[test]
fn values_strings_and_object_keys_are_left_alone() {
    let same = [
        "a = \"\\\"quoted\\\" = x\"\n",
        "clusters = {\n  \"demo\" = {\n    allow = [\"a\"]\n  }\n}\n",
        "# \"not\" = \"touched\"\nb = 1\n",
        "c = <<EOT\n\"x\" = 1\nEOT\n",
        "list = [\"a\", \"b\"]\n",
        "\"has space\" = 1\n",
    ];
    for s in same {
        assert_eq!(normalize(s), s);
    }
}

#[test]
fn the_result_parses() {
    let text = "\"kubelet_read_only_port\" = 10255\n\"experimental\" {\n  \"broker\" {\n    \"access_policy\" = \"enforced\"\n    \"brokers\" = [{\n      \"id\" = \"spiffe://e.org/b\"\n    }]\n  }\n}\n";
    let n = normalize(text);
    assert!(hcl::parse(&n).is_ok(), "{n}");
}
