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
