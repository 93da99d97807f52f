use proptest::prelude::*;

use super::*;

fn text(cluster: &str, token: &[u8]) -> String {
    String::from_utf8(encode(cluster, token)).unwrap()
}

#[test]
fn a_jwt_is_written_as_is() {
    // SPIRE's own agent test compares the payload literally against this shape.
    assert_eq!(text("production", b"aaa.bbb.ccc"), r#"{"cluster":"production","token":"aaa.bbb.ccc"}"#);
}

#[test]
fn escapes_are_go_encoding_json_s() {
    // What Go 1.22+ `json.Marshal` writes for these (short forms for \b \f \n \r \t, lower-case
    // hex, HTML-safe <>&, U+2028/9 escaped, DEL and other non-ASCII verbatim).
    assert_eq!(text("a\"b\\c", b"x\n"), r#"{"cluster":"a\"b\\c","token":"x\n"}"#);
    assert_eq!(
        text("<&>", b"\x08\x0c\r\t\x01\x1f\x7f"),
        r#"{"cluster":"\u003c\u0026\u003e","token":"\b\f\r\t\u0001\u001f"#.to_owned() + "\u{7f}\"}"
    );
    assert_eq!(text("é\u{2028}\u{2029}", "ü€😀".as_bytes()), "{\"cluster\":\"é\\u2028\\u2029\",\"token\":\"ü€😀\"}");
}

#[test]
fn invalid_utf8_is_one_replacement_per_byte_as_go_decodes_it() {
    // E2 82 is a truncated 3-byte sequence: Rust's lossy decoding makes one U+FFFD of it, Go two.
    assert_eq!(text("c", b"a\xe2\x82b\xff"), r#"{"cluster":"c","token":"a\ufffd\ufffdb\ufffd"}"#);
}

/// What Go's decoder would give back: the string with each invalid byte replaced.
fn go_lossy(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|_| '\u{fffd}'));
    }
    s
}

proptest! {
    #[test]
    fn any_input_is_json_that_decodes_back(cluster in any::<String>(), token in proptest::collection::vec(any::<u8>(), 0..256)) {
        let bytes = encode(&cluster, &token);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(v["cluster"].as_str().unwrap(), cluster.as_str());
        prop_assert_eq!(v["token"].as_str().unwrap(), go_lossy(&token));
        prop_assert_eq!(v.as_object().unwrap().len(), 2);
        // Only printable ASCII-or-above text, no raw control characters, no HTML-significant ones.
        prop_assert!(!bytes.iter().any(|b| *b < 0x20 || matches!(b, b'<' | b'>' | b'&')));
    }
}
