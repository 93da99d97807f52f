use super::*;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn blocks_are_aligned_disjoint_and_the_last_one_is_reclaimed() {
    let a = Box::new(Arena::new());
    unsafe {
        let p = a.alloc(layout(3, 1));
        let q = a.alloc(layout(8, 8));
        assert_eq!(q as usize % 8, 0);
        assert!(q as usize >= p as usize + 3);
        let used = a.used.load(Ordering::Relaxed);
        a.dealloc(p, layout(3, 1)); // not the last: forgotten
        assert_eq!(a.used.load(Ordering::Relaxed), used);
        a.dealloc(q, layout(8, 8)); // the last: reclaimed
        assert!(a.used.load(Ordering::Relaxed) < used);
    }
}

#[test]
fn the_last_block_grows_in_place_and_others_move() {
    let a = Box::new(Arena::new());
    unsafe {
        let p = a.alloc(layout(4, 4));
        p.write_bytes(7, 4);
        let grown = a.realloc(p, layout(4, 4), 64);
        assert_eq!(grown, p, "last block grows in place");
        let q = a.alloc(layout(4, 4));
        let moved = a.realloc(grown, layout(64, 4), 128);
        assert_ne!(moved, grown);
        assert!(moved as usize >= q as usize + 4, "moved past the newer block");
        assert_eq!(std::slice::from_raw_parts(moved, 4), &[7, 7, 7, 7]);
        assert_eq!(a.realloc(moved, layout(128, 4), 16), moved, "shrinking never moves");
    }
}

#[test]
fn what_does_not_fit_goes_to_the_system_allocator() {
    let a = Box::new(Arena::new());
    unsafe {
        let big = layout(ARENA_BYTES + 1, 8);
        let p = a.alloc(big);
        assert!(!p.is_null());
        assert!(a.offset(p).is_none());
        assert_eq!(a.used.load(Ordering::Relaxed), 0);
        let small = a.alloc(layout(16, 8));
        assert!(a.offset(small).is_some());
        // A full arena spills too, and arena blocks that must grow past it move out.
        let rest = a.alloc(layout(ARENA_BYTES - a.used.load(Ordering::Relaxed), 1));
        assert!(a.offset(rest).is_some());
        let spilled = a.realloc(small, layout(16, 8), 4096);
        assert!(a.offset(spilled).is_none());
        a.dealloc(spilled, layout(4096, 8));
        a.dealloc(p, big);
    }
}

/// The arena is `Sync`: threads sharing one must never be handed overlapping bytes. Each thread
/// fills its blocks with its own byte, frees some, grows others, and checks its bytes survived
/// the other threads' work.
#[test]
fn threads_sharing_an_arena_get_disjoint_blocks() {
    let arena: &'static Arena = Box::leak(Box::new(Arena::new()));
    let threads: Vec<_> = (1..=8u8)
        .map(|tag| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                for i in 0..400usize {
                    let size = 8 + (i * 7 + usize::from(tag)) % 120;
                    unsafe {
                        let p = arena.alloc(layout(size, 8));
                        assert!(!p.is_null());
                        p.write_bytes(tag, size);
                        match i % 3 {
                            0 => arena.dealloc(p, layout(size, 8)),
                            1 => {
                                let q = arena.realloc(p, layout(size, 8), size * 2);
                                assert!(!q.is_null());
                                q.add(size).write_bytes(tag, size);
                                kept.push((q, size * 2));
                            }
                            _ => kept.push((p, size)),
                        }
                    }
                }
                for (p, size) in &kept {
                    let bytes = unsafe { std::slice::from_raw_parts(*p, *size) };
                    assert!(bytes.iter().all(|b| *b == tag), "thread {tag}: a block was overwritten");
                }
                for (p, size) in kept {
                    unsafe { arena.dealloc(p, layout(size, 8)) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread saw another's bytes");
    }
}
