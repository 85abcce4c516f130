//! Where `emit` writes an event for the queue: a ring of memory per emitting thread rather than
//! a heap block, the way NanoLog and Quill keep a buffer per thread.
//!
//! Why: the batcher's thread frees what `emit` allocated. mimalloc links a freed block into its
//! page's free list by writing into it, so the next allocation on the emitting thread loads that
//! link from a cache line the other core holds modified, and then writes the event over lines the
//! other core holds: two cross-core transfers on `emit`'s path, about 130 cycles for the
//! allocation alone (lfence/rdtsc probes in `Client::emit`). In a ring the batcher only reads an
//! event's bytes, and gives them back by adding their size to a counter that the emitting thread
//! reads about once a lap; the lines `emit` writes next are, by then, out of the other core's
//! caches. `emit_latency` with one thread, alternating runs: p90 320-360 ns against 371-431,
//! p99 641-711 against 821-1,042 (p50 the same).
//!
//! The rules that make it sound:
//!
//! - **One writer.** A thread owns at most one ring and writes only there, between what it has
//!   written and what has been released plus the ring's size. A ring outlives its thread: at the
//!   thread's exit it goes back to the pool with its blocks still queued, and another thread may
//!   take it on. Rings are never freed (the pool holds at most one per thread that emitted at once).
//! - **Released by count, in order.** Dropping a block adds its size to `released`, which is
//!   exact when blocks are dropped in the order they were written. The batcher reads and drops a
//!   queue's events in queue order, and a thread's events are in its queue in the order it wrote
//!   them, so a block is never reused while it may still be read. That is why a ring serves one
//!   queue at a time (two clients' batchers drop in no common order): it moves to another queue
//!   only once everything written for the first is released.
//! - **Blocks dropped out of order are never read.** Those are the ones a stop drops (the queue
//!   closed), and they are not read afterwards. A block the queue refused was never in it and
//!   goes back to its writer instead ([`give_back`]).
//! - **Only `Client::emit`** writes here, whose block goes straight into the queue. Every other
//!   caller of the validation (tests, jobs, the complete path) gets a heap block.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Mutex;

/// A ring's size: a thread's lap must outlast the batcher's caches (its core's L2 is 512 KiB on
/// the bench machine); 256 KiB did as well as 32 MiB there.
const RING_BYTES: usize = 256 * 1024;
/// Blocks start on a cache line, so that the batcher reading one never shares a line with the
/// next being written.
const LINE: usize = 64;
/// Larger blocks go to the heap: a few of them would take the ring.
const MAX_BLOCK: usize = RING_BYTES / 8;
/// Emits between two tries at taking a ring when the pool was busy.
const RETRY_EVERY: u32 = 64;

pub(crate) struct Ring {
    base: NonNull<u8>,
    /// Bytes released so far (only grows), by whoever drops a block: on its own line, which the
    /// batcher writes for every event and the owner reads about once a lap.
    released: Released,
    /// Whether a thread owns the ring.
    owned: AtomicBool,
    /// While no thread owns it: where the next block goes (bytes written so far) and the queue
    /// it serves, as its last owner left them.
    written: AtomicU64,
    queue: AtomicUsize,
}

#[repr(align(64))]
struct Released(AtomicU64);

// SAFETY: `base` is memory that is never freed; which thread may write which bytes of it is
// decided by `owned` and the counters (see the module's rules).
unsafe impl Send for Ring {}
unsafe impl Sync for Ring {}

/// Every ring made, owned or not.
static RINGS: Mutex<Vec<&'static Ring>> = Mutex::new(Vec::new());

/// A ring for this thread: one that no thread owns, or a new one. Never waits: a busy pool (or
/// one whose lock a fork left held) gives `None`, and the caller uses the heap.
fn take_ring() -> Option<&'static Ring> {
    let mut rings = RINGS.try_lock().ok()?;
    if let Some(ring) = rings.iter().find(|r| !r.owned.load(Relaxed)) {
        ring.owned.store(true, Relaxed);
        return Some(ring);
    }
    let ring = new_ring()?;
    rings.push(ring);
    Some(ring)
}

/// A ring, owned, never freed.
fn new_ring() -> Option<&'static Ring> {
    let layout = Layout::from_size_align(RING_BYTES, LINE).ok()?;
    // SAFETY: the layout has a non-zero size. Zeroed, so that every byte of a ring is
    // initialised before a slice is made over it (`BlockBuf::append`).
    let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
    Some(Box::leak(Box::new(Ring {
        base,
        released: Released(AtomicU64::new(0)),
        owned: AtomicBool::new(true),
        written: AtomicU64::new(0),
        queue: AtomicUsize::new(0),
    })))
}

/// In a forked child: the parent's queues are never read there, so every ring starts empty,
/// and none is owned but the calling thread's (the only one).
pub(crate) fn after_fork_child(writer: &mut Writer) {
    let Ok(rings) = RINGS.try_lock() else {
        // Held by a thread of the parent: rings keep the parent's blocks, which only costs
        // room (an emit that finds none uses the heap).
        return;
    };
    for ring in rings.iter() {
        ring.released.0.store(0, Relaxed);
        ring.written.store(0, Relaxed);
        ring.queue.store(0, Relaxed);
        ring.owned.store(writer.ring.is_some_and(|mine| std::ptr::eq(mine, *ring)), Relaxed);
    }
    writer.written = 0;
    writer.seen = 0;
    writer.queue = 0;
    writer.last = None;
}

/// A thread's side of its ring (kept in the thread's validation state, `fast.rs`).
pub(crate) struct Writer {
    ring: Option<&'static Ring>,
    /// Bytes written so far, and `released` as last read.
    written: u64,
    seen: u64,
    /// The queue the ring serves (its address; 0: none yet).
    queue: usize,
    /// The last block written (its start in bytes written, and address), to take it back.
    last: Option<(u64, usize)>,
    /// Emits until the next try at taking a ring, when the pool was busy.
    retry: u32,
}

impl Writer {
    pub const fn new() -> Writer {
        Writer { ring: None, written: 0, seen: 0, queue: 0, last: None, retry: 0 }
    }

    /// Room for a block of up to `need` bytes for `queue`, or `None` (use the heap).
    #[inline]
    pub fn reserve(&mut self, need: usize, queue: usize) -> Option<Reserved> {
        let ring = match self.ring {
            Some(ring) if queue == self.queue => ring,
            _ => self.take_on(queue)?,
        };
        if need > MAX_BLOCK {
            return None;
        }
        let at = (self.written % RING_BYTES as u64) as usize;
        // A block does not wrap: past the end, it starts over at the beginning, and the bytes
        // skipped count as the block's.
        let skip = if at + need > RING_BYTES { RING_BYTES - at } else { 0 };
        let end = self.written + (skip + need) as u64;
        if end - self.seen > RING_BYTES as u64 {
            self.seen = ring.released.0.load(Acquire);
            if end - self.seen > RING_BYTES as u64 {
                return None;
            }
        }
        // SAFETY: `(at + skip) % RING_BYTES + need <= RING_BYTES`, within the ring's allocation.
        let ptr = unsafe { ring.base.as_ptr().add((at + skip) % RING_BYTES) };
        Some(Reserved { ring, ptr, cap: need, len: 0, skip: skip as u32 })
    }

    /// The ring for `queue`: this thread's (moved to `queue` once it holds nothing for another
    /// queue), or one from the pool.
    #[cold]
    fn take_on(&mut self, queue: usize) -> Option<&'static Ring> {
        let ring = match self.ring {
            Some(ring) => ring,
            None => {
                if self.retry > 0 {
                    self.retry -= 1;
                    return None;
                }
                let Some(ring) = take_ring() else {
                    self.retry = RETRY_EVERY;
                    return None;
                };
                self.ring = Some(ring);
                self.written = ring.written.load(Relaxed);
                self.queue = ring.queue.load(Relaxed);
                self.seen = ring.released.0.load(Acquire);
                self.last = None;
                ring
            }
        };
        if queue != self.queue {
            if ring.released.0.load(Acquire) != self.written {
                return None;
            }
            self.queue = queue;
            self.seen = self.written;
            self.last = None;
        }
        Some(ring)
    }

    /// Makes `len` bytes of `r` a block (rounded up to a line).
    #[inline]
    fn commit(&mut self, r: &Reserved) -> RingBlock {
        let size = r.skip as u64 + r.len.next_multiple_of(LINE) as u64;
        self.last = Some((self.written, r.ptr as usize));
        self.written += size;
        RingBlock {
            ring: r.ring,
            // `ptr` points into the ring's allocation, which is never null.
            ptr: NonNull::new(r.ptr).unwrap_or(NonNull::dangling()),
            len: r.len as u32,
            size: size as u32,
        }
    }

    /// Takes back the last block written, which the queue refused.
    fn take_back(&mut self, block: RingBlock) {
        match self.last {
            Some((start, ptr)) if ptr == block.ptr.as_ptr() as usize => {
                self.written = start;
                self.last = None;
                std::mem::forget(block);
            }
            // Not this thread's last block (cannot happen: it is refused on the thread that
            // wrote it, right after): released as any other.
            _ => drop(block),
        }
    }
}

impl Drop for Writer {
    /// The thread exits: its ring goes back to the pool, as it is.
    fn drop(&mut self) {
        if let Some(ring) = self.ring {
            ring.written.store(self.written, Relaxed);
            ring.queue.store(self.queue, Relaxed);
            ring.owned.store(false, Release);
        }
    }
}

/// Bytes of a ring being written: the event's text, then its table (see `fast.rs`).
pub(crate) struct Reserved {
    ring: &'static Ring,
    ptr: *mut u8,
    cap: usize,
    len: usize,
    skip: u32,
}

impl Reserved {
    /// Appends `bytes`; `false` (nothing written) past the room reserved.
    #[inline(always)]
    fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.cap - self.len {
            return false;
        }
        // SAFETY: `len + bytes.len() <= cap`, and the `cap` bytes at `ptr` are this thread's
        // alone until committed (`Writer::reserve`); `bytes` is not in them (it is the caller's
        // text or a table on the stack).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len()) };
        self.len += bytes.len();
        true
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written by `push`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// An event's block in a ring: read-only while it lives; dropping it releases its bytes.
pub(crate) struct RingBlock {
    ring: &'static Ring,
    ptr: NonNull<u8>,
    len: u32,
    /// The bytes it takes in the ring, the skipped ones before it included.
    size: u32,
}

// SAFETY: the block's bytes are not written while it lives (the module's rules), and releasing
// them is an atomic addition.
unsafe impl Send for RingBlock {}
unsafe impl Sync for RingBlock {}

impl RingBlock {
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes at `ptr` were written before the block was made and are not
        // written again until it is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }
}

impl Drop for RingBlock {
    fn drop(&mut self) {
        self.ring.released.0.fetch_add(u64::from(self.size), Release);
    }
}

/// Where a block is being written: a ring's room, or the heap.
pub(crate) enum BlockBuf {
    Ring(Reserved),
    Heap(Vec<u8>),
}

impl BlockBuf {
    /// In `writer`'s ring for `queue` when it has room for `need` bytes, else on the heap with
    /// room for `heap` bytes.
    #[inline(always)]
    pub fn new(writer: Option<(&mut Writer, usize)>, need: usize, heap: usize) -> BlockBuf {
        match writer.and_then(|(w, queue)| w.reserve(need, queue)) {
            Some(r) => BlockBuf::Ring(r),
            None => BlockBuf::Heap(Vec::with_capacity(heap)),
        }
    }

    #[inline(always)]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match self {
            BlockBuf::Ring(r) => {
                if !r.push(bytes) {
                    self.spill(bytes);
                }
            }
            BlockBuf::Heap(v) => v.extend_from_slice(bytes),
        }
    }

    /// More than was reserved (not expected: the reservation is for the largest table): the
    /// heap takes the rest, and the ring's room is left unused.
    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let mut v = self.as_slice().to_vec();
        v.extend_from_slice(bytes);
        *self = BlockBuf::Heap(v);
    }

    /// Appends `n` bytes, which `fill` writes in place.
    #[inline(always)]
    pub fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8])) {
        match self {
            BlockBuf::Ring(r) if n <= r.cap - r.len => {
                // SAFETY: as `Reserved::push`; the ring's bytes are initialised (zeroed when
                // the ring was made, written since).
                fill(unsafe { std::slice::from_raw_parts_mut(r.ptr.add(r.len), n) });
                r.len += n;
            }
            BlockBuf::Ring(_) => {
                let mut bytes = vec![0; n];
                fill(&mut bytes);
                self.spill(&bytes);
            }
            BlockBuf::Heap(v) => Append::append(v, n, fill),
        }
    }

    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        match self {
            BlockBuf::Ring(r) => r.len = r.len.min(len),
            BlockBuf::Heap(v) => v.truncate(len),
        }
    }

    #[inline(always)]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            BlockBuf::Ring(r) => r.as_slice(),
            BlockBuf::Heap(v) => v,
        }
    }

    /// The finished block (a ring's is committed to `writer`, which reserved it).
    #[inline(always)]
    pub fn finish(self, writer: Option<(&mut Writer, usize)>) -> Block {
        match (self, writer) {
            (BlockBuf::Ring(r), Some((w, _))) => Block::Ring(w.commit(&r)),
            (BlockBuf::Ring(r), None) => Block::Heap(r.as_slice().to_vec()),
            (BlockBuf::Heap(v), _) => Block::Heap(v),
        }
    }
}

/// Where an event's table is written: a block being written, or a job's text (`fast.rs`).
pub(crate) trait Append {
    /// Appends `n` bytes, which `fill` writes.
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8]));
}

impl Append for Vec<u8> {
    #[inline(always)]
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8])) {
        let at = self.len();
        self.resize(at + n, 0);
        fill(&mut self[at..]);
    }
}

impl Append for BlockBuf {
    #[inline(always)]
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8])) {
        BlockBuf::append(self, n, fill);
    }
}

/// An event's bytes as the queue carries them.
pub(crate) enum Block {
    Heap(Vec<u8>),
    Ring(RingBlock),
}

impl Block {
    #[inline(always)]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Block::Heap(v) => v,
            Block::Ring(b) => b.bytes(),
        }
    }

    /// The block was never queued: a ring's goes back to `writer` (this thread's, which wrote
    /// it just before).
    pub fn give_back(self, writer: &mut Writer) {
        if let Block::Ring(b) = self {
            writer.take_back(b);
        }
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Block").field(&self.bytes()).finish()
    }
}

impl PartialEq for Block {
    fn eq(&self, other: &Block) -> bool {
        self.bytes() == other.bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Writes a block of `len` bytes filled with `tag`.
    fn write(w: &mut Writer, queue: usize, len: usize, tag: u8) -> Block {
        let mut buf = BlockBuf::new(Some((&mut *w, queue)), len, len);
        buf.extend_from_slice(&vec![tag; len]);
        buf.finish(Some((w, queue)))
    }

    /// A writer with a ring of its own (the pool's may hold other tests' blocks).
    fn writer() -> Writer {
        Writer { ring: new_ring(), ..Writer::new() }
    }

    fn in_ring(b: &Block) -> bool {
        matches!(b, Block::Ring(_))
    }

    #[test]
    fn blocks_released_in_order_are_never_written_over_while_they_live() {
        let mut w = writer();
        let mut live: VecDeque<(Block, u8)> = VecDeque::new();
        let (mut ring, mut heap) = (0, 0);
        for i in 0..20_000usize {
            let (len, tag) = (1 + (i * 7919) % 6000, (i % 251) as u8);
            let b = write(&mut w, 1, len, tag);
            if in_ring(&b) {
                ring += 1;
            } else {
                heap += 1;
            }
            live.push_back((b, tag));
            // A consumer that lags by a varying number of blocks, and checks each before
            // dropping it.
            while live.len() > 1 + (i / 100) % 150 {
                let (b, tag) = live.pop_front().expect("a block");
                assert!(b.bytes().iter().all(|&x| x == tag), "block {i} was written over");
            }
        }
        for (b, tag) in live {
            assert!(b.bytes().iter().all(|&x| x == tag));
        }
        // Both paths taken: the ring wraps many times, and the heap takes what does not fit.
        assert!(ring > 10_000 && heap > 0, "ring {ring}, heap {heap}");
    }

    #[test]
    fn a_refused_block_goes_back_and_its_room_is_reused() {
        let mut w = writer();
        let first = write(&mut w, 1, 100, 1);
        let refused = write(&mut w, 1, 100, 2);
        let at = refused.bytes().as_ptr();
        refused.give_back(&mut w);
        let next = write(&mut w, 1, 100, 3);
        assert_eq!(next.bytes().as_ptr(), at);
        assert!(first.bytes().iter().all(|&x| x == 1) && next.bytes().iter().all(|&x| x == 3));
    }

    #[test]
    fn a_ring_serves_another_queue_once_the_first_ones_blocks_are_released() {
        let mut w = writer();
        let a = write(&mut w, 1, 100, 1);
        assert!(in_ring(&a));
        // Queue 2's batcher could drop its blocks before queue 1's reads `a`: heap meanwhile.
        let b = write(&mut w, 2, 100, 2);
        assert!(!in_ring(&b));
        drop(a);
        let c = write(&mut w, 2, 100, 3);
        assert!(in_ring(&c));
        assert!(b.bytes().iter().all(|&x| x == 2) && c.bytes().iter().all(|&x| x == 3));
    }

    #[test]
    fn a_ring_left_by_an_exiting_thread_is_taken_on_with_its_blocks_still_live() {
        let (blocks, ring) = std::thread::spawn(|| {
            let mut w = Writer::new();
            let blocks: Vec<Block> = (0..100).map(|i| write(&mut w, 7, 500, i as u8)).collect();
            (blocks, w.ring.map(|r| r as *const Ring as usize))
        })
        .join()
        .expect("the writer");
        // Whichever ring this thread takes on, nothing written now lands on the blocks above.
        let mut w = Writer::new();
        let later: Vec<Block> = (0..600).map(|i| write(&mut w, 7, 500, (100 + i % 100) as u8)).collect();
        assert!(ring.is_some());
        for (i, b) in blocks.iter().enumerate() {
            assert!(b.bytes().iter().all(|&x| x == i as u8), "block {i} was written over");
        }
        drop(later);
    }
}
