use proptest::prelude::*;

use super::*;

#[test]
fn an_announced_length_over_the_cap_is_refused_before_reading() {
    assert_eq!(Capped::new(10, Some(11)).unwrap_err(), Exceeded);
    assert_eq!(Capped::new(10, Some(u64::MAX)).unwrap_err(), Exceeded);
    assert!(Capped::new(10, Some(10)).is_ok());
}

#[test]
fn a_body_longer_than_announced_is_cut_at_the_cap() {
    let mut capped = Capped::new(10, Some(4)).unwrap();
    capped.push(b"0123456").unwrap();
    capped.push(b"789").unwrap();
    assert_eq!(capped.push(b"a").unwrap_err(), Exceeded);
    assert_eq!(capped.into_bytes(), b"0123456789");
}

#[test]
fn without_a_length_the_cap_still_holds() {
    let mut capped = Capped::new(3, None).unwrap();
    assert_eq!(capped.push(b"abcd").unwrap_err(), Exceeded);
    assert!(capped.into_bytes().is_empty());
}

#[test]
fn a_lying_length_reserves_little() {
    let capped = Capped::new(usize::MAX, Some(1 << 40)).unwrap();
    assert!(capped.bytes.capacity() <= PREALLOCATE);
}

proptest! {
    /// Any sequence of chunks: never more than the cap held, and the bytes held are a prefix of
    /// what was sent, complete when it fitted.
    #[test]
    fn never_holds_more_than_the_cap(max in 0usize..64, chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..10)) {
        let mut capped = Capped::new(max, None).unwrap();
        let mut sent = Vec::new();
        let mut crossed = false;
        for chunk in &chunks {
            if capped.push(chunk).is_err() {
                crossed = true;
                break;
            }
            sent.extend_from_slice(chunk);
        }
        let total: usize = chunks.iter().map(Vec::len).sum();
        prop_assert_eq!(crossed, total > max);
        let held = capped.into_bytes();
        prop_assert!(held.len() <= max);
        prop_assert_eq!(held, sent);
    }
}
