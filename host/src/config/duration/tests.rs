use super::*;

#[test]
fn go_examples() {
    assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
    assert_eq!(parse_go_duration("1m"), Ok(60_000_000_000));
    assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
    assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
    assert_eq!(parse_go_duration("0"), Ok(0));
    assert_eq!(parse_go_duration("10µs"), Ok(10_000));
}

#[test]
fn go_rejections() {
    assert_eq!(parse_go_duration("5").unwrap_err(), "time: missing unit in duration \"5\"");
    assert_eq!(parse_go_duration("5x").unwrap_err(), "time: unknown unit \"x\" in duration \"5x\"");
    assert!(parse_go_duration("").is_err());
    assert!(parse_go_duration("ms").is_err());
    assert!(parse_go_duration("1..2s").is_err());
    assert!(parse_go_duration("-").is_err());
}
