use super::*;

const RULE: &str = "@id(\"a\")\npermit (principal, action, resource);\n";

#[test]
fn a_header_comment_stays_apart_from_the_first_policy_comment() {
    let text = format!("// header line 1\n// header line 2\n\n// about rule a\n{RULE}");
    assert_eq!(format_cedar(&text).unwrap(), text, "already formatted: unchanged");
    // Extra blank lines after the header collapse to one; the rule's comment stays with it.
    let loose = format!("// header\n\n\n\n// about rule a\n{RULE}");
    assert_eq!(format_cedar(&loose).unwrap(), format!("// header\n\n// about rule a\n{RULE}"));
}

#[test]
fn comments_touching_the_first_policy_are_its_own() {
    let text = format!("// about rule a\n{RULE}");
    assert_eq!(split_header(&text), ("", text.as_str()));
    assert_eq!(format_cedar(&text).unwrap(), text);
}

#[test]
fn a_header_of_several_paragraphs_is_kept_whole() {
    let text = format!("// one\n\n// two\n\n// about rule a\n{RULE}");
    assert_eq!(split_header(&text).0, "// one\n\n// two");
    assert_eq!(format_cedar(&text).unwrap(), text);
}

#[test]
fn a_file_of_comments_alone_is_kept() {
    assert_eq!(format_cedar("// nothing yet\n\n").unwrap(), "// nothing yet\n");
    assert_eq!(format_cedar("").unwrap(), "\n");
}

#[test]
fn a_syntax_error_names_the_line() {
    let err = format_cedar("// header\n\npermit (principal, action, resource)\nwhen {").unwrap_err();
    assert!(err.starts_with("line "), "{err}");
}
