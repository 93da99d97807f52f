use proptest::prelude::*;

use super::*;

#[test]
fn balanced_text_passes_whatever_its_strings_and_comments_hold() {
    let ok = [
        "a = 1\n",
        "unix {\n  passwd_file = \"/etc/[passwd\"\n}\n",
        "# ( unclosed in a comment\n// and [ here\n/* and { here */\nx = [1, [2], {a = 3}]\n",
        "config = <<EOT\nns:[payments = payments\nEOT\n",
        "config = <<-EOT\n  (\n  EOT\nb = \"\\\"]\"\n",
    ];
    for text in ok {
        assert!(check(text).is_ok(), "{text:?}: {:?}", check(text));
    }
}

#[test]
fn unbalanced_brackets_are_named_with_their_position() {
    let err = |t: &str| check(t).unwrap_err().to_string();
    assert_eq!(err("a = [1, 2"), "unable to decode configuration: line 1, column 5: `[` is never closed");
    assert_eq!(
        err("a = (1]"),
        "unable to decode configuration: line 1, column 7: `]` closes `(` opened at line 1, column 5"
    );
    assert_eq!(err("b {\n}\n}"), "unable to decode configuration: line 3, column 1: `}` closes nothing");
    let deep = format!("a = {}1{}", "[".repeat(65), "]".repeat(65));
    assert!(err(&deep).ends_with("nested more than 64 levels deep"), "{}", err(&deep));
}

/// The fuzzer's slow input (minimised): refused at once instead of parsed for seconds.
#[test]
fn the_fuzzers_slow_input_is_refused_in_linear_time() {
    let slow = "n=p/l/K[s/K/l[s/a/r[s/t+K[o/a/K[s/l/t[s/a/l[s/K/l[s/K/l[s/o/l[s/t==l[s/l/l[s/K+l[s/K/o[s/l/K[s/l/r[s/l+K[s/s/a[s/a%l[s/sK[s/t==";
    let started = std::time::Instant::now();
    let err = crate::config::Config::parse(slow, std::path::Path::new(".")).unwrap_err().to_string();
    assert!(err.contains("is never closed"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn oversized_text_is_refused() {
    let big = "#".repeat(MAX_CONFIG_BYTES + 1);
    assert!(check(&big).unwrap_err().to_string().contains("over the limit of 1048576"));
}

proptest! {
    #[test]
    fn any_text_is_checked_without_panicking(text in any::<String>()) {
        let _ = check(&text);
    }

    #[test]
    fn template_marks_in_strings_are_checked_without_panicking(text in "[a=\"$%{}\\\n<EOT é]{0,64}") {
        let _ = check(&text);
    }

    #[test]
    fn bracket_soup_is_checked_without_panicking(text in "[\\[\\](){}\"#/*<EOT\n a=é\\\\-]{0,64}") {
        let _ = check(&text);
    }
}

/// The fuzzer's second slow input: unterminated strings holding `%{`, which hcl-rs's template
/// parser took over a minute on. Refused at once, as any interpolation or directive.
#[test]
fn unterminated_strings_and_template_marks_are_refused() {
    let err = |t: &str| check(t).unwrap_err().to_string();
    assert_eq!(
        err("a = \"open\nb = 1\n"),
        "unable to decode configuration: line 1, column 5: a string is never closed (on its line)"
    );
    assert!(err("a = \"x${b}\"").contains("line 1, column 7: interpolation (`${…}`) is not allowed"));
    assert!(err("a = \"x%{ if b }y%{ endif }\"").contains("column 7: a template directive (`%{…}`) is not allowed"));
    assert!(err("a = <<EOT\nhello ${name}\nEOT\n").contains("line 2, column 7: interpolation"));
    assert!(check("a = \"cost $${x} and %%{y} and 50% $\"").is_ok(), "escaped marks are literal text");
    let slow = "se = \"aGse\n# \n= \"/var/log/a%{ar/lo_ca_path/log/a%{# Oorvd\nse = \"aGse\n";
    let started = std::time::Instant::now();
    assert!(crate::config::Config::parse(slow, std::path::Path::new(".")).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}
