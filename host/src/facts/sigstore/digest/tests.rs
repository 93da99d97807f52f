use super::*;

const HEX: &str = "5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";

#[test]
fn parses_and_prints_the_registry_spelling() {
    let text = format!("sha256:{HEX}");
    let digest: Sha256Digest = text.parse().unwrap();
    assert_eq!(digest.to_string(), text);
    assert_eq!(format!("{digest:?}"), text);
    assert_eq!(digest.as_bytes()[0], 0x5f);
}

#[test]
fn of_hashes_bytes() {
    assert_eq!(
        Sha256Digest::of(b"").to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn refuses_other_spellings() {
    for bad in [
        HEX.to_owned(),
        format!("sha512:{HEX}"),
        format!("sha256:{}", HEX.to_uppercase()),
        format!("sha256:{}", &HEX[1..]),
        format!("sha256:{HEX}0"),
        format!("sha256:{}g", &HEX[1..]),
        format!(" sha256:{HEX}"),
        String::new(),
    ] {
        let err = bad.parse::<Sha256Digest>().unwrap_err();
        assert!(err.to_string().starts_with("not a sha256 digest"), "{bad:?}: {err}");
    }
}

#[test]
fn errors_repeat_a_bounded_prefix() {
    let err = "x".repeat(10_000).parse::<Sha256Digest>().unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any text: a digest that prints back as written, or a typed error.
        #[test]
        fn parsing_never_panics_and_round_trips(text in "(sha256:)?[0-9a-fA-F]{0,70}|.{0,80}") {
            if let Ok(d) = text.parse::<Sha256Digest>() {
                prop_assert_eq!(d.to_string(), text);
            }
        }
    }
}
