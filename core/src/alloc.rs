//! mimalloc, the allocator of every artifact (libmonitoring, the Python, Java and R extensions,
//! the agent), which turn on the core's `mimalloc` feature: see ARCHITECTURE.md, dependencies.
//!
//! The engine's events are allocated on the caller's thread and freed on its batching thread;
//! glibc's malloc serialises that pattern on its arena lock (about 1 us per event at 1M events/s,
//! `bench/run_c.sh`), mimalloc frees across threads without it. In a library only the library's
//! own Rust allocations use it: the host's `malloc` is untouched.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the crate's bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory the engine frees goes back to the OS after a second unused, instead of mimalloc's 10 ms:
/// an application that emits in bursts a few milliseconds apart otherwise faults the same pages
/// back in at the start of every burst (Python's `emit(dict)`, `python/bench/run.sh`: p99 6.0 us
/// with the default, 3.5 us without purging). Called by every client's start.
pub(crate) fn tune() {
    // SAFETY: sets one option; mimalloc reads its options at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) }
}
