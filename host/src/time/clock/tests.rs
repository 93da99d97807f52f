use super::*;

#[test]
fn parses_what_it_prints() {
    for secs in [0_u64, 951_782_400, 1_795_427_999, 4_102_444_800] {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
        assert_eq!(parse_rfc3339_seconds(&rfc3339_seconds(t)), Some(t));
    }
    for bad in [
        "2026-02-30T00:00:00Z",
        "2026-03-01T12:00:00",
        "2026-03-01 12:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-3-01T12:00:00Z",
    ] {
        assert_eq!(parse_rfc3339_seconds(bad), None, "{bad}");
    }
}
use std::time::Duration;

#[test]
fn shapes() {
    assert_eq!(rfc3339_seconds(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
    assert_eq!(
        rfc3339_micros(UNIX_EPOCH + Duration::from_micros(1_795_427_999_000_042)),
        "2026-11-23T09:59:59.000042Z"
    );
}

#[test]
fn a_leap_second_is_refused_not_moved() {
    assert_eq!(parse_rfc3339_seconds("2016-12-31T23:59:60Z"), None);
    assert!(parse_rfc3339_seconds("2016-12-31T23:59:59Z").is_some());
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        /// Any text: a time or `None`, never a panic.
        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = parse_rfc3339_seconds(&text);
        }

        /// Timestamp-shaped text, where calendar bugs would be: anything accepted prints back
        /// as the same text.
        #[test]
        fn accepted_text_prints_back(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z") {
            if let Some(t) = parse_rfc3339_seconds(&text) {
                prop_assert_eq!(rfc3339_seconds(t), text);
            }
        }

        /// Every second from 1970 to 9999 prints and parses back.
        #[test]
        fn printing_round_trips(secs in 0_u64..253_402_300_800) {
            let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            prop_assert_eq!(parse_rfc3339_seconds(&rfc3339_seconds(t)), Some(t));
        }
    }
}
