use proptest::prelude::*;

use super::*;

const HEX: &str = "c811d58d7b2bbb1ba4a5ad04dcd6ad9bb0a0b9b1d2ef0c1d5a1ad3bfa8120172";

fn parse(s: &str) -> ImageName {
    ImageName::parse(s).unwrap()
}

#[test]
fn docker_hub_names_are_normalised() {
    for input in [
        format!("nginx@sha256:{HEX}"),
        format!("library/nginx@sha256:{HEX}"),
        format!("docker.io/library/nginx@sha256:{HEX}"),
        format!("index.docker.io/library/nginx@sha256:{HEX}"),
        format!("docker.io/nginx@sha256:{HEX}"),
        format!("nginx:1.27@sha256:{HEX}"),
    ] {
        let image = parse(&input);
        assert_eq!(image.registry(), "index.docker.io", "{input}");
        assert_eq!(image.repository(), "library/nginx", "{input}");
        assert_eq!(image.digest().to_string(), format!("sha256:{HEX}"));
        assert_eq!(image.to_string(), format!("index.docker.io/library/nginx@sha256:{HEX}"));
    }
    assert_eq!(parse(&format!("kubewarden/controller@sha256:{HEX}")).repository(), "kubewarden/controller");
}

#[test]
fn other_registries_keep_host_and_port() {
    let image = parse(&format!("127.0.0.1:5000/app@sha256:{HEX}"));
    assert_eq!((image.registry(), image.repository()), ("127.0.0.1:5000", "app"));
    let image = parse(&format!("ghcr.io/kubewarden/kubewarden-controller@sha256:{HEX}"));
    assert_eq!((image.registry(), image.repository()), ("ghcr.io", "kubewarden/kubewarden-controller"));
    let image = parse(&format!("localhost/a/b/c@sha256:{HEX}"));
    assert_eq!((image.registry(), image.repository()), ("localhost", "a/b/c"));
}

#[test]
fn refusals_name_the_input_and_the_problem() {
    let cases: [(String, &str); 10] = [
        (format!("docker-pullable://nginx@sha256:{HEX}"), "runtime prefix"),
        (format!("sha256:{HEX}"), "bare digest"),
        ("nginx:1.27".to_owned(), "names a tag"),
        ("nginx".to_owned(), "names a tag"),
        (format!("nginx@sha512:{HEX}{HEX}"), "not sha256"),
        (format!("nginx@sha512:{HEX}"), "not sha256"),
        (format!("nginx@sha256:{}", &HEX[1..]), "malformed sha256"),
        (format!("nginx@sha256:{}", HEX.to_uppercase()), "malformed sha256"),
        (format!("NGINX@sha256:{HEX}"), "not an image reference"),
        (format!("nginx@@sha256:{HEX}"), "not an image reference"),
    ];
    for (input, problem) in cases {
        let err = ImageName::parse(&input).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(problem), "{input}: {text}");
        assert!(text.contains(&input[..input.len().min(10)]), "{input}: {text}");
        assert_eq!(err.fault(), Fault::Workload);
    }
    assert_eq!(ImageName::parse("").unwrap_err(), ReferenceError::Empty);
}

#[test]
fn long_and_hostile_input_is_bounded() {
    let err = ImageName::parse(&format!("{}@sha256:{HEX}", "a".repeat(100_000))).unwrap_err();
    assert!(err.to_string().len() < 400, "{err}");
    let err = ImageName::parse("nginx\n\u{1b}[31m:evil").unwrap_err();
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(!err.to_string().contains('\u{1b}'), "{err}");
}

proptest! {
    /// Any text: an image whose printed form parses back to itself, or a typed workload error.
    #[test]
    fn parsing_never_panics(text in ".{0,120}|[a-z0-9./:-]{0,40}@sha256:[0-9a-f]{60,66}") {
        match ImageName::parse(&text) {
            Ok(image) => prop_assert_eq!(ImageName::parse(&image.to_string()).unwrap(), image),
            Err(e) => prop_assert_eq!(e.fault(), Fault::Workload),
        }
    }

    /// Well-formed digest references always parse, and keep their digest.
    #[test]
    fn digest_references_parse(repo in "[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}", hex in "[0-9a-f]{64}") {
        let image = ImageName::parse(&format!("{repo}@sha256:{hex}")).unwrap();
        prop_assert_eq!(image.digest().to_string(), format!("sha256:{hex}"));
    }
}

#[test]
fn a_parsed_name_prints_back_to_itself() {
    // Found by the fuzzer: an upper-case first component is a repository path on Docker Hub,
    // not a registry host.
    let input = format!("12Am05000/team/ap0@sha256:{HEX}");
    let err = ImageName::parse(&input).unwrap_err();
    assert!(err.to_string().contains("lower-case"), "{err}");
    for ok in ["a/b", "a.b/c__d", "a-b---c/d_e", "0/1.2"] {
        let name = ImageName::parse(&format!("r.example:5000/{ok}@sha256:{HEX}")).unwrap();
        assert_eq!(name.repository(), ok);
        assert_eq!(ImageName::parse(&name.to_string()).unwrap(), name);
    }
    for bad in ["a/B", "a_/b", "a/.b", "a/b___c", "a/b..c"] {
        assert!(ImageName::parse(&format!("r.example:5000/{bad}@sha256:{HEX}")).is_err(), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn every_parsed_name_prints_back_to_itself(text in "[a-zA-Z0-9._:/-]{1,40}") {
        if let Ok(name) = ImageName::parse(&format!("{text}@sha256:{HEX}")) {
            proptest::prop_assert_eq!(ImageName::parse(&name.to_string()), Ok(name));
        }
    }
}
