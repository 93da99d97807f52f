use proptest::prelude::*;

use super::*;

#[test]
fn short_printable_text_is_unchanged_and_the_rest_is_escaped_or_cut() {
    assert_eq!(guest_text("bad config: line 3"), "bad config: line 3");
    assert_eq!(guest_text("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    let long = guest_text(&"é".repeat(10_000));
    assert!(long.len() < MAX_GUEST_TEXT + 40, "{}", long.len());
    assert!(long.ends_with("… (20000 bytes in all)"), "{long}");
}

proptest! {
    #[test]
    fn any_text_comes_out_short_and_without_control_characters(text in any::<String>()) {
        let out = guest_text(&text);
        prop_assert!(out.len() <= MAX_GUEST_TEXT + 64);
        prop_assert!(!out.chars().any(char::is_control));
    }
}
