//! Shared code of tidelog's fuzz targets.
//!
//! - The bodies of the targets live in `fuzz/logic/<target>.rs`, each a `pub fn run(&[u8])`
//!   over tidelog's public API only, so that the main crate's `tests/fuzz_corpus_replay.rs`
//!   can include the very same files and replay the corpus under `cargo test`.
//! - [`LimitAlloc`] is the global allocator of every target. `cargo fuzz run --sanitizer
//!   none` (what `fuzz/run.sh` uses, so that a stable toolchain suffices) has no malloc hooks,
//!   so libFuzzer's `-malloc_limit_mb` does nothing; this allocator stands in for it.

#[path = "../logic/batch.rs"]
pub mod batch;
#[path = "../logic/checkpoint.rs"]
pub mod checkpoint;
#[path = "../logic/decompress.rs"]
pub mod decompress;
#[path = "../logic/legacy.rs"]
pub mod legacy;
#[path = "../logic/ops.rs"]
pub mod ops;
#[path = "../logic/recovery.rs"]
pub mod recovery;
#[path = "../logic/varint.rs"]
pub mod varint;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation a target may make: 256 MiB.
pub const MAX_ALLOCATION: usize = 256 << 20;
/// Largest total of live allocations: 512 MiB.
pub const MAX_LIVE: usize = 512 << 20;

/// A [`System`] allocator that fails (returns null) any allocation over [`MAX_ALLOCATION`]
/// bytes or that would take the live total over [`MAX_LIVE`].
///
/// A failed allocation ends in `handle_alloc_error`, which aborts the process ("memory
/// allocation of N bytes failed"); libFuzzer reports the abort as a crash and saves the input.
/// Decoders are meant to bound what a hostile input can make them allocate (1 MiB of
/// decompressed data in these targets), so hitting either limit is a bug.
pub struct LimitAlloc {
    live: AtomicUsize,
}

impl LimitAlloc {
    /// Reserves `size` bytes of the budget; false if over either limit.
    fn reserve(&self, size: usize) -> bool {
        if size > MAX_ALLOCATION {
            return false;
        }
        let before = self.live.fetch_add(size, Ordering::Relaxed);
        if before.saturating_add(size) > MAX_LIVE {
            self.live.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn release(&self, size: usize) {
        self.live.fetch_sub(size, Ordering::Relaxed);
    }

    /// Bytes currently allocated through this allocator.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

// SAFETY: every method forwards to `System` with the caller's own arguments, which satisfy
// `GlobalAlloc`'s contracts because our callers must satisfy the same ones; the only change
// is returning null (a permitted "allocation failed" answer) before calling `System`, which
// then has not been called, so no memory leaks and no pointer is handed out twice. The
// counter is bookkeeping only: it never decides which memory is returned or freed.
unsafe impl GlobalAlloc for LimitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: `layout` comes from our caller, who guarantees a non-zero size.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            self.release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            self.release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: our caller guarantees `ptr` was allocated by this allocator, that is by
        // `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        self.release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        // A shrink never fails here: `old` was itself within the limits.
        if new_size > MAX_ALLOCATION || (new_size > old && !self.reserve(new_size - old)) {
            return std::ptr::null_mut();
        }
        // SAFETY: our caller guarantees `ptr` came from this allocator (so from `System`)
        // with `layout`, and that `new_size` is non-zero and does not overflow `isize` when
        // rounded up to the alignment.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            // The old block is still live and unchanged: undo the growth we booked.
            if new_size > old {
                self.release(new_size - old);
            }
        } else if new_size < old {
            self.release(old - new_size);
        }
        p
    }
}

/// The global allocator of every fuzz target linking this crate.
#[global_allocator]
pub static ALLOCATOR: LimitAlloc = LimitAlloc {
    live: AtomicUsize::new(0),
};
