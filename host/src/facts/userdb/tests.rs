use super::*;

#[test]
fn first_entry_wins_and_junk_is_skipped() {
    let map = parse(
        "root:x:0:0:root:/root:/bin/sh\n# c\n\nbad\ntoor:x:0:0::/:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nx:x:notanumber:\n",
    );
    assert_eq!(map.get(&0).map(String::as_str), Some("root"));
    assert_eq!(map.get(&1000).map(String::as_str), Some("bob"));
    assert_eq!(map.len(), 2);
}
