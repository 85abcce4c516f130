//! Shapes: what `emit`'s fast path remembers of the events it accepted, so that the next event
//! of the same shape is read by comparing text instead of walking the schema again.
//!
//! A program emits the same few events over and over with other values (a tool's metrics every
//! cycle, a heartbeat): the keys, the punctuation, the kind, the status and any `null` are the
//! same text each time; only the values of strings and numbers change. A [`Shape`] is that
//! constant text, cut at the values it read (the *slots*), with what each slot is. Reading an
//! event with a shape compares the constant text sixteen bytes at a time and reads each slot
//! with the scanner's own readers (`scan.rs`), with the same rules as the walk (`fast.rs`). This
//! is the run-time counterpart of what NanoLog and Quill do at compile time with a format string.
//!
//! It never changes what is accepted: an event whose text differs anywhere outside a slot, or
//! whose slot does not read as the walk would read it, is a miss, and the walk runs as before.
//! A shape is made only from an event the walk accepted, and the walk's answer for an event
//! depends only on its structure (the same text outside the slots) and on the slots' values,
//! each checked here as the walk checks it. `shape_agrees` (the tests, and the `shape` fuzz
//! target) checks that a shape's answer is the walk's.
//!
//! Each thread keeps its own few shapes ([`Shapes`]): no lock and no shared cache line on
//! `emit`. A thread whose events keep missing stops trying and learning for a while, so that
//! events of ever-changing shapes pay a sixteenth of a try at most.

use arrayvec::ArrayVec;

use super::fast::{Field, Walk, METADATA_DEPTH};
use super::scan::{Scan, Span};
use super::{Kind, Status};

/// What a slot holds, and where the walk put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum What {
    /// A string field (`spans[f]`), not `null`.
    Field(Field),
    /// `event.at`, a string.
    At,
    /// `event.progress`, a number.
    Progress,
    /// A metric's value, a number; its name is the constant text that ends `back` bytes before
    /// the value, `len` bytes long.
    Metric {
        back: u32,
        len: u32,
    },
    /// `event.metadata`, an object read as the walk reads it (one with an object, an array or
    /// a literal in it).
    Metadata,
    /// Where a flat `event.metadata` begins (its `{`) and ends (after its `}`): no text.
    MetadataStart,
    MetadataEnd,
    /// A string or a number in a flat `event.metadata`.
    MetaString,
    MetaNumber,
}

/// Where the walk found a value (`start..end` in the text) and what it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub start: u32,
    pub end: u32,
    pub what: What,
}

/// Slots noted per event: each key of the schema at most once (duplicates give up), at most
/// `MAX_METRICS` metrics, and the values of flat metadata, which are not bounded: an event with
/// more slots is not remembered.
pub(crate) const MAX_SLOTS: usize = 48;

/// Events longer than this are not remembered (their shapes would take memory per thread for
/// events that are rare).
const MAX_SHAPE_BYTES: usize = 2048;

/// Shapes kept per thread.
const SHAPES: usize = 4;

/// Consecutive misses after which a thread tries its shapes (and learns) only on one event in
/// [`PROBE_EVERY`].
const MISSES_BEFORE_PROBING: u32 = 16;
const PROBE_EVERY: u32 = 16;

/// An event's constant text and its slots, as the steps that read it.
pub(crate) struct Shape {
    steps: Vec<Step>,
    kind: Kind,
    status: Option<Status>,
}

/// Up to sixteen bytes of constant text, little-endian (`mask` keeps the `len` that are: the
/// last part of a piece may be shorter), then the value that follows them, if any.
#[derive(Debug, Clone, Copy)]
struct Step {
    text: u128,
    mask: u128,
    len: u8,
    then: Option<What>,
}

impl Shape {
    /// The shape of `text`, which the walk accepted finding `slots` (in text order), `kind`
    /// and `status`. `None` when it is not worth keeping.
    fn new(text: &[u8], slots: &[Slot], kind: Kind, status: Option<Status>) -> Option<Shape> {
        if text.len() > MAX_SHAPE_BYTES {
            return None;
        }
        let mut steps = Vec::with_capacity(text.len() / 16 + slots.len() + 1);
        // The constant text from `from` to `to`, then `then`: at least one step (an empty
        // piece between two values is a step of no text).
        let piece = |steps: &mut Vec<Step>, from: usize, to: usize, then: Option<What>| -> Option<()> {
            let mut chunks = text.get(from..to)?.chunks(16).peekable();
            if chunks.peek().is_none() {
                steps.push(Step { text: 0, mask: 0, len: 0, then });
            }
            while let Some(chunk) = chunks.next() {
                let mut bytes = [0; 16];
                bytes[..chunk.len()].copy_from_slice(chunk);
                let mask = u128::MAX >> (128 - 8 * chunk.len());
                let then = if chunks.peek().is_none() { then } else { None };
                steps.push(Step { text: u128::from_le_bytes(bytes), mask, len: chunk.len() as u8, then });
            }
            Some(())
        };
        let mut from = 0;
        for slot in slots {
            piece(&mut steps, from, slot.start as usize, Some(slot.what))?;
            from = slot.end as usize;
        }
        piece(&mut steps, from, text.len(), None)?;
        Some(Shape { steps, kind, status })
    }

    /// Reads the event at `scan` (its start) into `w` if it has this shape; `None` if it does
    /// not (`w` is then partly written). For the guessed shape, usually right: inlined, and the
    /// differences are looked at once, at the end (a branch less per value).
    #[inline(always)]
    fn read_guessed(&self, scan: &mut Scan<'_>, w: &mut Walk) -> Option<()> {
        self.read::<false>(scan, w)
    }

    /// As [`Shape::read_guessed`], for a shape tried because the guess was wrong: its event
    /// usually differs early, so it gives up at the first value after a difference.
    #[inline(never)]
    fn read_other(&self, scan: &mut Scan<'_>, w: &mut Walk) -> Option<()> {
        self.read::<true>(scan, w)
    }

    #[inline(always)]
    fn read<const EARLY: bool>(&self, scan: &mut Scan<'_>, w: &mut Walk) -> Option<()> {
        // A copy whose cursor can live in a register.
        let mut s = *scan;
        let read = self.read_from::<EARLY>(&mut s, w);
        scan.i = s.i;
        read
    }

    #[inline(always)]
    fn read_from<const EARLY: bool>(&self, s: &mut Scan<'_>, w: &mut Walk) -> Option<()> {
        // Differences from the constant text (where the text differs the values read garbage,
        // safely: every read is bounded). A constant is text of an accepted event, which has no
        // zero byte, so it never matches the zeros past the text.
        let mut differs = 0;
        let mut metadata = 0;
        for step in &self.steps {
            differs |= (s.words_here() ^ step.text) & step.mask;
            s.i += usize::from(step.len);
            let Some(what) = step.then else { continue };
            if EARLY && differs != 0 {
                return None;
            }
            // The whitespace before a value is constant text: its slot starts at the value.
            match what {
                What::Field(f) => w.spans[f as usize] = s.quoted()?,
                What::At => w.at = Some(s.quoted()?),
                What::Progress => w.progress = Some(s.number_here()?.to_f64()),
                What::Metric { back, len } => {
                    let name = (s.i as u32).checked_sub(back)?;
                    let value = s.number_here()?;
                    w.metrics.try_push((Span { start: name, end: name + len }, value)).ok()?;
                }
                What::MetadataStart => metadata = s.i as u32,
                What::MetaString => {
                    s.quoted()?;
                }
                What::MetaNumber => s.number_grammar()?,
                What::MetadataEnd => {
                    w.spans[Field::Metadata as usize] = Span { start: metadata, end: s.i as u32 }
                }
                What::Metadata => {
                    let start = s.i as u32;
                    if s.peek() != b'{' {
                        return None;
                    }
                    s.value(METADATA_DEPTH)?;
                    w.spans[Field::Metadata as usize] = Span { start, end: s.i as u32 };
                }
            }
        }
        if differs != 0 || !s.at_end() {
            return None;
        }
        w.kind = Some(self.kind);
        w.status = self.status;
        Some(())
    }
}

/// A thread's shapes. Which one to try first is guessed from the one that took the previous
/// event: the shape that followed it last time (a thread emitting a few kinds of event in a
/// cycle is read with no failed try), then the others.
pub(crate) struct Shapes {
    shapes: ArrayVec<Shape, SHAPES>,
    /// Per shape, the shape that took the event after one it took, last time.
    next: [usize; SHAPES],
    /// Per shape, when it last took an event (`clock`): a new shape replaces the oldest.
    used: [u64; SHAPES],
    clock: u64,
    /// The shape that took the previous event (`SHAPES`: none).
    last: usize,
    /// Events in a row that no shape took.
    misses: u32,
}

/// What [`Shapes::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A shape took the event: `w` holds what the walk would have found.
    Hit,
    /// Walk the event; `learn`: remember its shape if the walk accepts it.
    Miss { learn: bool },
}

impl Shapes {
    pub const fn new() -> Shapes {
        Shapes {
            shapes: ArrayVec::new_const(),
            next: [0; SHAPES],
            used: [0; SHAPES],
            clock: 0,
            last: SHAPES,
            misses: 0,
        }
    }

    /// Tries the shapes on the event at `s`'s start. On a miss `w` and `s` are as they were given
    /// (a fresh walk, the cursor at 0).
    #[inline(always)]
    pub fn read(&mut self, s: &mut Scan<'_>, w: &mut Walk) -> Outcome {
        let probing = self.misses >= MISSES_BEFORE_PROBING;
        if probing && self.misses % PROBE_EVERY != 0 {
            self.misses += 1;
            return Outcome::Miss { learn: false };
        }
        let guess = self.next.get(self.last).copied().unwrap_or(0);
        let others = (0..self.shapes.len()).filter(|&n| n != guess);
        for n in std::iter::once(guess).chain(others) {
            let Some(shape) = self.shapes.get(n) else { continue };
            let read = if n == guess { shape.read_guessed(s, w) } else { shape.read_other(s, w) };
            if read.is_some() {
                self.took(n);
                self.misses = 0;
                return Outcome::Hit;
            }
            s.i = 0;
            *w = Walk::new();
        }
        self.misses = self.misses.saturating_add(1);
        // Learn each of the first misses in a row (as many as there are places: a thread that
        // starts emitting a few new kinds of event learns them all at once), then the 8th (shapes
        // taking turns beyond what is kept do not pay a lesson each), then every probe.
        let learn = self.misses <= SHAPES as u32 || self.misses == 8 || probing;
        Outcome::Miss { learn }
    }

    /// Notes that shape `n` took the event.
    fn took(&mut self, n: usize) {
        if let Some(next) = self.next.get_mut(self.last) {
            *next = n;
        }
        self.last = n;
        self.clock += 1;
        if let Some(used) = self.used.get_mut(n) {
            *used = self.clock;
        }
    }

    /// Whether a shape took the last event.
    pub fn took_last(&self) -> bool {
        self.misses == 0 && !self.shapes.is_empty()
    }

    /// Remembers the shape of `text`, which the walk accepted (see [`Shape::new`]), in place of
    /// the one unused longest when all places are taken.
    pub fn learn(&mut self, text: &[u8], w: &Walk) {
        let (Some(kind), false) = (w.kind, w.slots_overflowed) else { return };
        let Some(shape) = Shape::new(text, &w.slots, kind, w.status) else { return };
        let n = if self.shapes.is_full() {
            let oldest = (0..SHAPES).min_by_key(|&n| self.used[n]).unwrap_or(0);
            self.shapes[oldest] = shape;
            oldest
        } else {
            self.shapes.push(shape);
            self.shapes.len() - 1
        };
        // Its own event is the likeliest next.
        self.next[n] = n;
        self.took(n);
    }
}
