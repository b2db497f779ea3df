//! A per-thread counting global allocator, shared by the REQ_0813 test
//! (`tests/alloc.rs`) and the producer benchmark (`benches/producer.rs`).
//!
//! A test binary installs it with
//! `#[global_allocator] static A: CountingAllocator = CountingAllocator;`
//! and measures with [`count_allocs`]. Only allocations on the calling
//! thread while it is armed are counted, so the flusher thread and other
//! tests running in parallel do not disturb the count.
#![allow(unsafe_code)] // `GlobalAlloc` is an unsafe trait; see the SAFETY notes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Forwards to [`System`] and counts allocations (alloc, alloc_zeroed,
/// realloc) made by an armed thread.
#[derive(Debug)]
pub struct CountingAllocator;

fn note() {
    // `try_with`: during thread teardown the thread-locals may be gone.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the only addition is a counter in a const-initialised
// thread-local `Cell`, which itself never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations `f` makes on this thread, when [`CountingAllocator`] is
/// the global allocator (0 otherwise).
pub fn count_allocs(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}
