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

/// Offsets come from Cedar's parser errors and from our own statement scan; any offset, even
/// past the end or inside a multi-byte character, gives a line and column, never a panic.
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_offset_has_a_line_and_column(text in any::<String>(), offset in 0_usize..1024) {
            let f = file(&text);
            let (line, col) = f.line_col(offset);
            prop_assert!(line >= 1 && col >= 1);
            for o in f.statement_offsets() {
                prop_assert!(o <= text.len());
                let _ = f.line_col(o);
            }
        }
    }
}

#[test]
fn an_offset_inside_a_character_is_its_start() {
    let f = file("é\nx");
    assert_eq!(f.line_col(1), (1, 1));
    assert_eq!(f.line_col(3), (2, 1));
}
