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
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Arena size. Most calls allocate a few KiB (the workload's facts and the answer).
const ARENA_BYTES: usize = 96 * 1024;

#[repr(C, align(16))]
struct Bytes([u8; ARENA_BYTES]);

/// A bump allocator over a static buffer; the most recent allocation can be freed or grown in
/// place, anything else is simply forgotten until the instance is dropped.
///
/// The bump pointer is atomic, so the arena is sound wherever it runs: on `wasm32` without the
/// `atomics` feature the atomic operations compile to plain loads and stores (one thread), and
/// on native targets, where the SDK's own tests run it from many threads, every block is
/// claimed by a compare-and-swap and no two threads are ever handed overlapping bytes.
pub struct Arena {
    bytes: UnsafeCell<Bytes>,
    used: AtomicUsize,
}

// SAFETY: the only shared mutable state is `used`, which is atomic; the bytes behind the
// `UnsafeCell` are handed out in disjoint blocks, each claimed by one successful
// compare-and-swap, and are only touched through the pointers handed out.
unsafe impl Sync for Arena {}

impl Arena {
    /// An empty arena.
    pub const fn new() -> Self {
        Self { bytes: UnsafeCell::new(Bytes([0; ARENA_BYTES])), used: AtomicUsize::new(0) }
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
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = (base + used).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > ARENA_BYTES {
                return None;
            }
            match self.used.compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Relaxed) {
                // SAFETY: `start..end` lies inside the buffer and is now ours alone.
                Ok(_) => return Some(unsafe { self.base().add(start) }),
                Err(now) => used = now,
            }
        }
    }

    /// Move the bump pointer from `from` to `to` if nobody allocated since; whether it moved.
    fn reset(&self, from: usize, to: usize) -> bool {
        self.used.compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks handed out never overlap (the bump only moves forward, or back over the
// block being freed or resized, and only by a compare-and-swap that proves no block was
// handed out after it), and foreign pointers go to `System`, which made them.
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
            // Reclaimed only if it is still the most recent block; otherwise forgotten.
            Some(off) => {
                self.reset(off + layout.size(), off);
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
        if new_size <= layout.size() {
            return ptr;
        }
        if off + new_size <= ARENA_BYTES && self.reset(off + layout.size(), off + new_size) {
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
mod tests;
