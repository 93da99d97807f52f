use super::*;

#[test]
fn reads_and_reports_unknown_keys() {
    let mut t = Table::parse("a = \"x\"\nb = 3\nc = true\nzz = 1\nblk {\n inner = \"y\"\n typo = 2\n}\n").unwrap();
    assert_eq!(t.string("a").unwrap().as_deref(), Some("x"));
    assert_eq!(t.int("b").unwrap(), Some(3));
    assert_eq!(t.bool("c").unwrap(), Some(true));
    let mut blk = t.block("blk").unwrap().unwrap();
    assert_eq!(blk.string("inner").unwrap().as_deref(), Some("y"));
    let mut unknown = Vec::new();
    blk.finish(&mut unknown);
    t.finish(&mut unknown);
    unknown.sort();
    assert_eq!(unknown, ["blk.typo", "zz"]);
}

#[test]
fn type_errors_name_the_key() {
    let mut t = Table::parse("a = 3\nb = \"x\"\n").unwrap();
    assert_eq!(t.string("a").unwrap_err().to_string(), "config key `a`: expected a string, got a number");
    assert_eq!(t.int("b").unwrap_err().to_string(), "config key `b`: expected a whole number");
}

#[test]
fn hcl_v1_leniencies() {
    let mut t = Table::parse("n = \"5\"\nb = \"true\"\nobj = { k = \"v\" }\n").unwrap();
    assert_eq!(t.int("n").unwrap(), Some(5));
    assert_eq!(t.bool("b").unwrap(), Some(true));
    assert_eq!(t.block("obj").unwrap().unwrap().string("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn labelled_blocks_keep_order_and_refuse_duplicates() {
    let mut t = Table::parse("m \"b\" { x = 1 }\nm \"a\" { x = 2 }\n").unwrap();
    let names: Vec<_> = t.labelled_blocks("m").unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["b", "a"]);
    let mut dup = Table::parse("m \"a\" {}\nm \"a\" {}\n").unwrap();
    assert_eq!(dup.labelled_blocks("m").unwrap_err().to_string(), "config key `m.a`: defined more than once");
}

#[test]
fn syntax_errors_use_spire_wording() {
    let err = Table::parse("a = ").err().unwrap().to_string();
    assert!(err.starts_with("unable to decode configuration: "), "{err}");
}

#[test]
fn references_are_refused() {
    let err = Table::parse("a = var.x\n").err().unwrap().to_string();
    assert!(err.starts_with("config key `a`: must be a literal value"), "{err}");
}

/// Configuration values are literals: HCL's evaluator is never run on operations, conditionals,
/// functions or interpolation (found by fuzzing: `55555555555555*77777777` overflowed its
/// unchecked multiplication, a panic in a debug build and a silently wrong number in release).
#[test]
fn values_are_literals_and_expressions_are_refused() {
    let value = |text: &str| Table::parse(text).and_then(|mut t| t.int("k")).map_err(|e| e.to_string());
    assert_eq!(value("k = -1"), Ok(Some(-1)));
    assert_eq!(value("k = (-5)"), Ok(Some(-5)));
    assert_eq!(value("k = -9223372036854775808"), Ok(Some(i64::MIN)));
    let big = value("k = -18446744073709551615");
    assert!(big.is_err(), "{big:?}");
    assert!(value("k = 55555555555555*77777777").unwrap_err().contains("must be a literal value, not an operation"));
    assert!(value("k = 1 + 1").unwrap_err().contains("not an operation"));
    assert!(value("k = true ? 1 : 2").unwrap_err().contains("not an expression"));
    assert!(value("k = max(1, 2)").unwrap_err().contains("not a function call"));
    assert!(value("k = var.x").unwrap_err().contains("not a variable"));
    let string = |text: &str| Table::parse(text).and_then(|mut t| t.string("k")).map_err(|e| e.to_string());
    assert!(string("k = \"${5 * 5}\"").unwrap_err().contains("interpolation"));
    assert!(string("k = \"%{ if true }x%{ endif }\"").unwrap_err().contains("directive"));
    assert_eq!(string("k = <<EOT\nline\nEOT\n"), Ok(Some("line\n".to_owned())));
    assert_eq!(string("k = <<-EOT\n    indented\n    EOT\n"), Ok(Some("indented\n".to_owned())));
    assert_eq!(string("k = \"a $${not} b\""), Ok(Some("a ${not} b".to_owned())));
}

/// The fuzzer's crash input, verbatim: an error, not a panic.
#[test]
fn the_fuzzers_overflow_input_is_an_error() {
    let input = b"# Oe od_list_for IFFE ID..tr5555555555555=55-5555555555555555555527*7777777777+kubernetes_api55555555\xcbr = \"d\xecemo\"\n}\n";
    let text = String::from_utf8_lossy(input);
    assert!(crate::config::Config::parse(&text, std::path::Path::new(".")).is_err());
    assert!(crate::config::Config::parse("k = 55555555555555*77777777", std::path::Path::new(".")).is_err());
}
