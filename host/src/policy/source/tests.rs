use super::*;

fn file(text: &str) -> PolicyFile {
    PolicyFile { name: "t.cedar".into(), text: text.into() }
}

#[test]
fn statements_skip_comments_and_strings() {
    let f = file(
        "// a; comment\n@id(\"x;y\")\npermit(principal, action, resource);\n\nforbid(principal, action, resource) when { resource.s == \"a\\\";\" };\n",
    );
    let offs = f.statement_offsets();
    assert_eq!(offs.len(), 2);
    assert_eq!(f.line_col(offs[0]), (2, 1));
    assert_eq!(f.line_col(offs[1]), (5, 1));
}

#[test]
fn line_col_is_one_based() {
    let f = file("ab\ncd");
    assert_eq!(f.line_col(0), (1, 1));
    assert_eq!(f.line_col(4), (2, 2));
}

#[test]
fn default_set_is_embedded() {
    let files = default_files();
    assert_eq!(files.len(), 1);
    assert!(files[0].text.contains("k8s-ns-sa"));
}
