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

#[test]
fn an_error_chain_is_one_line_without_repeats() {
    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }
    let inner = E("connection refused", None);
    let middle = E("tcp connect error: connection refused", Some(Box::new(inner)));
    let outer = E("error sending request", Some(Box::new(middle)));
    assert_eq!(chain(&outer), "error sending request: tcp connect error: connection refused");
}
