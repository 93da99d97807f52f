use super::*;

#[test]
fn go_examples() {
    assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
    assert_eq!(parse_go_duration("1m"), Ok(60_000_000_000));
    assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
    assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
    assert_eq!(parse_go_duration("0"), Ok(0));
    assert_eq!(parse_go_duration("+0"), Ok(0));
    assert_eq!(parse_go_duration("10µs"), Ok(10_000));
    assert_eq!(parse_go_duration("10μs"), Ok(10_000));
    assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
    assert_eq!(parse_go_duration("5.s"), Ok(5_000_000_000));
}

/// Vectors from Go's own `time` package tests, edges of the int64 range included.
#[test]
fn go_edges() {
    assert_eq!(parse_go_duration("9223372036854775807ns"), Ok(i64::MAX));
    assert_eq!(parse_go_duration("-9223372036854775808ns"), Ok(i64::MIN));
    assert!(parse_go_duration("9223372036854775808ns").is_err());
    assert!(parse_go_duration("9223372036854775.808us").is_err());
    assert_eq!(parse_go_duration("9223372036854775.807us"), Ok(i64::MAX));
    assert_eq!(parse_go_duration("9223372036s854ms775us807ns"), Ok(i64::MAX));
    assert_eq!(parse_go_duration("0.100000000000000000000h"), Ok(360_000_000_000));
    assert_eq!(parse_go_duration("0.830103483285477580700h"), Ok(2_988_372_539_827));
    assert!(parse_go_duration("3000000h").is_err());
    assert_eq!(
        parse_go_duration("1000000000000000000000000s").unwrap_err(),
        "time: invalid duration \"1000000000000000000000000s\""
    );
}

#[test]
fn go_rejections() {
    assert_eq!(parse_go_duration("5").unwrap_err(), "time: missing unit in duration \"5\"");
    assert_eq!(parse_go_duration("5x").unwrap_err(), "time: unknown unit \"x\" in duration \"5x\"");
    for bad in ["", "ms", "1..2s", "-", "+", ".", ".s", "s5", "3x.5s"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn go_printing() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1), "1ns"),
        (Duration::from_micros(2), "2µs"),
        (Duration::from_micros(1500), "1.5ms"),
        (Duration::from_millis(500), "500ms"),
        (Duration::from_secs(1), "1s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_secs(60), "1m0s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(24 * 3600), "24h0m0s"),
    ];
    for (d, want) in cases {
        assert_eq!(format_go_duration(d), want);
    }
}

#[test]
fn ranges_name_their_bounds() {
    let r = DurationRange::new(Duration::from_millis(1), Duration::from_secs(60));
    let err = |text: &str| r.check(text).unwrap_err().to_string();
    assert_eq!(r.check("50ms"), Ok(Some(Duration::from_millis(50))));
    assert_eq!(err("2m"), "must be between 1ms and 1m0s, got \"2m\"");
    assert_eq!(err("-1s"), "must be between 1ms and 1m0s, got \"-1s\"");
    assert_eq!(err("0"), "must be between 1ms and 1m0s, got \"0\"");
    assert_eq!(err("5"), "time: missing unit in duration \"5\"");
    let from_zero = DurationRange::new(Duration::ZERO, Duration::from_secs(1));
    assert_eq!(from_zero.check("0s"), Ok(Some(Duration::ZERO)));
    assert_eq!(from_zero.check("-1ns").unwrap_err().to_string(), "must be between 0s and 1s, got \"-1ns\"");
}

#[test]
fn every_policy_for_zero_and_negatives_is_explicit() {
    let positive = DurationRange::POSITIVE;
    assert_eq!(positive.check("1ns"), Ok(Some(Duration::from_nanos(1))));
    assert_eq!(positive.check("2562047h"), Ok(Some(Duration::from_secs(2_562_047 * 3600))));
    assert_eq!(positive.check("0").unwrap_err().to_string(), "must be positive, got \"0\"");
    assert_eq!(positive.check("-5s").unwrap_err().to_string(), "must be positive, got \"-5s\"");

    let spire = DurationRange::default_unless_positive(Duration::from_secs(3600));
    assert_eq!(spire.check("0"), Ok(None));
    assert_eq!(spire.check("-5s"), Ok(None));
    assert_eq!(spire.check("5s"), Ok(Some(Duration::from_secs(5))));
    assert_eq!(spire.check("2h").unwrap_err().to_string(), "must be at most 1h0m0s, got \"2h\"");
    assert!(matches!(spire.check("5"), Err(DurationError::Syntax(_))));
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        /// Any text: an answer or a Go error message, never a panic.
        #[test]
        fn never_panics(text in any::<String>()) {
            if let Err(e) = parse_go_duration(&text) {
                prop_assert!(e.starts_with("time: "), "{}", e);
            }
        }

        /// Duration-shaped text, where the interesting bugs are.
        #[test]
        fn duration_shaped_text_never_panics(text in "[-+]?([0-9]{0,22}(\\.[0-9]{0,22})?(ns|us|µs|ms|s|m|h|x)?){1,4}") {
            let _ = parse_go_duration(&text);
        }

        /// What Go prints, Go parses back to the same value.
        #[test]
        fn printing_round_trips(nanos in 0_u64..=i64::MAX as u64) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_go_duration(&format_go_duration(d)), Ok(i64::try_from(nanos).unwrap()));
        }
    }
}
