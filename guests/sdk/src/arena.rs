//! The default allocator of a module: a bump arena in the module's own zeroed data, in front of
//! the standard allocator.
//!
//! Why: every call runs in a fresh instance that is thrown away afterwards, so freeing memory
//! buys nothing, while the standard allocator starts by growing linear memory. A grown memory
//! costs the host two `mprotect` calls (and their TLB shootdowns) per call, to make the new
//! pages accessible and to hide them again when the slot is reused. Allocations that fit in the
//! arena live in the instance's initial memory instead; larger ones fall through to the standard
//! allocator, and still count against the module's memory cap.
//!
//! A module that wants its own global allocator turns this off with `default-features = false`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};

/// Arena size. Most calls allocate a few KiB (the workload's facts and the answer).
const ARENA_BYTES: usize = 96 * 1024;

#[repr(C, align(16))]
struct Bytes([u8; ARENA_BYTES]);

/// A bump allocator over a static buffer; the most recent allocation can be freed or grown in
/// place, anything else is simply forgotten until the instance is dropped.
pub struct Arena {
    bytes: UnsafeCell<Bytes>,
    used: Cell<usize>,
}

// SAFETY: wasm32 modules built without the `atomics` target feature have exactly one thread.
unsafe impl Sync for Arena {}

impl Arena {
    /// An empty arena.
    pub const fn new() -> Self {
        Self { bytes: UnsafeCell::new(Bytes([0; ARENA_BYTES])), used: Cell::new(0) }
    }

    fn base(&self) -> *mut u8 {
        self.bytes.get().cast()
    }

    /// Offset of `ptr` in the arena, if it came from here.
    fn offset(&self, ptr: *mut u8) -> Option<usize> {
        let off = (ptr as usize).wrapping_sub(self.base() as usize);
        (off < ARENA_BYTES).then_some(off)
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base() as usize;
        let start = (base + self.used.get()).checked_next_multiple_of(layout.align())? - base;
        let end = start.checked_add(layout.size())?;
        if end > ARENA_BYTES {
            return None;
        }
        self.used.set(end);
        // SAFETY: `start..end` lies inside the buffer.
        Some(unsafe { self.base().add(start) })
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks handed out never overlap (the bump only moves forward, or back over the
// block being freed or resized), and foreign pointers go to `System`, which made them.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: same contract as ours.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset(ptr) {
            Some(off) => {
                if off + layout.size() == self.used.get() {
                    self.used.set(off);
                }
            }
            // SAFETY: not ours, so `System` allocated it.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(off) = self.offset(ptr) else {
            // SAFETY: not ours, so `System` allocated it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        let last = off + layout.size() == self.used.get();
        if last && off + new_size <= ARENA_BYTES {
            self.used.set(off + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size` with this alignment is a valid layout.
        let grown = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `grown` has a non-zero size (it is larger than the old one).
        let new = unsafe { self.alloc(grown) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for `layout.size()` bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
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
            let used = a.used.get();
            a.dealloc(p, layout(3, 1)); // not the last: forgotten
            assert_eq!(a.used.get(), used);
            a.dealloc(q, layout(8, 8)); // the last: reclaimed
            assert!(a.used.get() < used);
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
            assert_eq!(a.used.get(), 0);
            let small = a.alloc(layout(16, 8));
            assert!(a.offset(small).is_some());
            // A full arena spills too, and arena blocks that must grow past it move out.
            let rest = a.alloc(layout(ARENA_BYTES - a.used.get(), 1));
            assert!(a.offset(rest).is_some());
            let spilled = a.realloc(small, layout(16, 8), 4096);
            assert!(a.offset(spilled).is_none());
            a.dealloc(spilled, layout(4096, 8));
            a.dealloc(p, big);
        }
    }
}
