//! Tuning of mimalloc, the allocator of every artifact (libmonitoring, the Python, Java and R
//! extensions, the agent: see ARCHITECTURE.md, dependencies). The core does not choose the global
//! allocator, so that a Rust program using it keeps its own; the artifacts that do call this.

/// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the crate's bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory the engine frees goes back to the OS after a second unused, instead of mimalloc's 10 ms:
/// an application that emits in bursts a few milliseconds apart otherwise faults the same pages
/// back in at the start of every burst (Python's `emit(dict)`, `python/bench/run.sh`: p99 6.0 us
/// with the default, 3.5 us without purging).
pub fn tune_allocator() {
    // SAFETY: sets one option; mimalloc reads its options at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}
