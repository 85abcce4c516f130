//! mimalloc, the allocator of every artifact (libmonitoring, the Python, Java and R extensions,
//! the agent), which turn on the core's `mimalloc` feature: see ARCHITECTURE.md, dependencies.
//!
//! The engine's events are allocated on the caller's thread and freed on its batching thread;
//! glibc's malloc serialises that pattern on its arena lock (about 1 us per event at 1M events/s,
//! `bench/run_c.sh`), mimalloc frees across threads without it. In a library only the library's
//! own Rust allocations use it: the host's `malloc` is untouched.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

#[global_allocator]
static ALLOC: Mimalloc = Mimalloc;

/// mimalloc through its plain entry points where the alignment allows, as std's `System` does with
/// `malloc`: the `mimalloc` crate's `MiMalloc` always calls the `_aligned` variants, whose checks
/// cost about 80 instructions per allocation (a quarter of `emit` besides its scan).
struct Mimalloc;

/// What `mi_malloc` guarantees (`MI_MAX_ALIGN_SIZE`) for a block at least that large.
const PLAIN_ALIGN: usize = 16;

/// Whether a block of `size` bytes aligned to `align` can come from the plain entry points.
#[inline(always)]
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc with at least the layout's size and alignment (the
// plain calls only where `plain` holds, which mimalloc guarantees), and goes back to mimalloc.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align(), layout.size()) {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align(), layout.size()) {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align(), new_size) {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

/// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the crate's bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory the engine frees goes back to the OS after a second unused, instead of mimalloc's 10 ms:
/// an application that emits in bursts a few milliseconds apart otherwise faults the same pages
/// back in at the start of every burst (Python's `emit(dict)`, `python/bench/run.sh`: p99 6.0 us
/// with the default, 3.5 us without purging). Called by every client's start.
pub(crate) fn tune() {
    // SAFETY: sets one option; mimalloc reads its options at any time, from any thread.
    unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}
