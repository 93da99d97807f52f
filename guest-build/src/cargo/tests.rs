use super::*;

#[test]
fn only_cdylib_wasm_artifacts_are_taken() {
    let messages = r#"{"reason":"compiler-artifact","target":{"name":"core","kind":["lib"]},"filenames":["/t/libcore.rlib"]}
{"reason":"compiler-artifact","target":{"name":"my_module","kind":["cdylib"]},"filenames":["/t/wasm32-unknown-unknown/release/my_module.wasm"],"fresh":true}
not json: a build script's stray line
{"reason":"compiler-artifact","target":{"name":"both","kind":["rlib","cdylib"]},"filenames":["/t/libboth.rlib","/t/both.wasm"]}
{"reason":"build-finished","success":true}
"#;
    assert_eq!(
        cdylibs(messages),
        vec![
            CoreModule { name: "my-module".into(), path: "/t/wasm32-unknown-unknown/release/my_module.wasm".into() },
            CoreModule { name: "both".into(), path: "/t/both.wasm".into() },
        ]
    );
}

#[test]
fn a_repeated_artifact_is_taken_once() {
    let line = r#"{"reason":"compiler-artifact","target":{"name":"m","kind":["cdylib"]},"filenames":["/t/m.wasm"]}"#;
    assert_eq!(cdylibs(&format!("{line}\n{line}\n")).len(), 1);
}

#[test]
fn no_cdylib_is_an_empty_list() {
    let messages =
        r#"{"reason":"compiler-artifact","target":{"name":"lib","kind":["lib"]},"filenames":["/t/liblib.rlib"]}"#;
    assert!(cdylibs(messages).is_empty());
}
