use proptest::prelude::*;

use super::*;

#[test]
fn short_printable_text_is_unchanged_and_the_rest_is_escaped_or_cut() {
    assert_eq!(bounded("a b", 10), "a b");
    assert_eq!(bounded("a\nb", 10), "a\\nb");
    assert_eq!(bounded("abcdef", 3), "abc… (6 bytes in all)");
}

proptest! {
    #[test]
    fn any_text_comes_out_short_and_without_control_characters(text in any::<String>(), max in 0_usize..600) {
        let out = bounded(&text, max);
        prop_assert!(out.len() <= max + 4 + 40);
        prop_assert!(!out.chars().any(char::is_control));
    }
}
