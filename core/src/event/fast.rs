//! The fast path of `emit`: one pass over the text with a strict scanner (`scan.rs`) that finds
//! the fields of the schema by their keys and writes their offsets into one table instead of
//! building the derived structs; the text and that table go to the queue in **one** allocation.
//!
//! The fast path only ever *accepts*. Anything it does not handle plainly (a string or key with
//! escapes, an unknown or duplicate field, a number with more than 15 digits, more than
//! [`MAX_METRICS`] metrics, any invalid input) makes it give up, and the caller runs the complete
//! validation (serde_json, `validate_owned`), which accepts or rejects with the field-naming
//! message it always gave. So the scanner is only responsible for never accepting what the
//! complete path rejects, and for reading the same values: `fast_path_agrees` checks both, in the
//! tests and under the `event` fuzz target. Why a scanner rather than serde_json's own parse
//! walked by visitors (the previous fast path) or another JSON crate: ARCHITECTURE.md,
//! dependencies.

use arrayvec::ArrayVec;

use super::blocks::{Append, Block, BlockBuf, Writer};
use super::scan::{Decimal, Key, Scan, Span, PAD};
use super::shape::{Outcome, Shapes, Slot, What, MAX_SLOTS};
use super::{parse_rfc3339_micros, Kind, Status};

/// Metrics beyond this many in one event go through the complete validation.
const MAX_METRICS: usize = 32;

/// The string fields of an event, in the order of [`FastEvent`]'s offset table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    IdempotencyKey = 0,
    SiteId,
    AppName,
    AppVersion,
    AppInstanceId,
    AppAppId,
    EntityType,
    EntityId,
    ParentId,
    BusinessKey,
    SubKey,
    Message,
    /// `event.metadata`, raw JSON (an object).
    Metadata,
}

const FIELDS: usize = Field::Metadata as usize + 1;
const SPAN_BYTES: usize = 8;
const METRIC_BYTES: usize = 16;
/// The offset table and the metric count.
const TABLE_BYTES: usize = FIELDS * SPAN_BYTES + 4;
const _: () = assert!(PAD <= TABLE_BYTES, "the table takes the scanner's padding's place");

/// A validated event as the queue carries it: `[text][offset table][metric count][metrics]` in
/// one block (in the emitting thread's ring, `blocks.rs`, or on the heap), plus what is cheaper
/// to keep decoded (kind, status, progress).
#[derive(Debug, PartialEq)]
pub(crate) struct FastEvent {
    buf: Block,
    text_len: u32,
    /// What the metrics' values in the block are.
    values: Values,
    pub kind: Kind,
    pub status: Option<Status>,
    pub progress: Option<f64>,
}

/// A metric's value in the queue's block: as read from the text ([`Decimal`], converted when
/// encoded), or an `f64` (what a job gave, `Builder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Values {
    Decimals,
    Floats,
}

/// What the offset table holds of a metric's value.
trait TableValue: Copy {
    const VALUES: Values;
    fn bits(self) -> u64;
}

impl TableValue for Decimal {
    const VALUES: Values = Values::Decimals;
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

impl TableValue for f64 {
    const VALUES: Values = Values::Floats;
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

impl FastEvent {
    /// A string field's raw bytes (they contain no escapes), or the metadata's JSON.
    pub fn field(&self, f: Field) -> Option<&[u8]> {
        let at = self.text_len as usize + f as usize * SPAN_BYTES;
        let buf = self.buf.bytes();
        let (start, end) = (read_u32(buf, at), read_u32(buf, at + 4));
        (end != 0).then(|| buf.get(start as usize..end as usize).unwrap_or_default())
    }

    /// Metric names (raw bytes, no escapes) and values, in input order.
    pub fn metrics(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let at = self.text_len as usize + FIELDS * SPAN_BYTES;
        let buf = self.buf.bytes();
        let n = read_u32(buf, at) as usize;
        (0..n).map(move |i| {
            let m = at + 4 + i * METRIC_BYTES;
            let (start, end) = (read_u32(buf, m), read_u32(buf, m + 4));
            let name = buf.get(start as usize..end as usize).unwrap_or_default();
            let bits = read_u64(buf, m + 8);
            let value = match self.values {
                Values::Decimals => Decimal::from_bits(bits).to_f64(),
                Values::Floats => f64::from_bits(bits),
            };
            (name, value)
        })
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

/// What one pass over the event finds, beside the scanner that reads it.
pub(crate) struct Walk {
    pub spans: [Span; FIELDS],
    /// Not zeroed up front, unlike an array (that was a tenth of the walk).
    pub metrics: ArrayVec<(Span, Decimal), MAX_METRICS>,
    pub kind: Option<Kind>,
    pub status: Option<Status>,
    pub progress: Option<f64>,
    pub at: Option<Span>,
    /// Where the values were, in text order, to make the event's shape (`shape.rs`).
    pub slots: ArrayVec<Slot, MAX_SLOTS>,
    pub slots_overflowed: bool,
}

impl Walk {
    pub fn new() -> Walk {
        Walk {
            spans: [Span::default(); FIELDS],
            metrics: ArrayVec::new(),
            kind: None,
            status: None,
            progress: None,
            at: None,
            slots: ArrayVec::new(),
            slots_overflowed: false,
        }
    }

    /// Notes a value at `start..end` for the event's shape.
    #[inline(always)]
    fn slot(&mut self, start: usize, end: usize, what: What) {
        let slot = Slot { start: start as u32, end: end as u32, what };
        self.slots_overflowed |= self.slots.try_push(slot).is_err();
    }
}

/// Metrics the queue's block has room for before it grows (most events have a few).
const ROOM_METRICS: usize = 4;

/// What a thread keeps for `emit`: the shapes of its events and its ring of blocks.
struct ThreadState {
    shapes: Shapes,
    blocks: Writer,
}

thread_local! {
    static THREAD: std::cell::RefCell<ThreadState> =
        const { std::cell::RefCell::new(ThreadState { shapes: Shapes::new(), blocks: Writer::new() }) };
}

/// Runs `f` with this thread's state; `None` while the thread is exiting (its state is gone) or
/// inside another call on the same thread (cannot happen: nothing here calls out).
#[inline(always)]
fn with_thread<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    THREAD.try_with(|t| t.try_borrow_mut().ok().map(|mut t| f(&mut t))).ok().flatten()
}

/// Validates `text` (already size-checked). `None`: not handled here, run the complete
/// validation. `Some((event, at_micros))`: valid, and valid UTF-8: outside strings the scanner
/// takes nothing but ASCII, and a string with a byte above 0x7f is checked on its own, which
/// spares a pass over the whole text. An event of a shape this thread has seen is read with
/// that shape (`shape.rs`). With `queue` (`emit`'s event, which goes straight into that queue;
/// an address that tells queues apart) the block is in this thread's ring when there is room
/// (`blocks.rs`); without, on the heap.
#[inline(always)]
pub(crate) fn validate(text: &[u8], queue: Option<usize>) -> Option<(FastEvent, Option<i64>)> {
    with_thread(|t| validate_with(text, Some(&mut t.shapes), queue.map(|q| (&mut t.blocks, q))))
        .unwrap_or_else(|| validate_with(text, None, None))
}

/// An event the queue refused: its block goes back to this thread's ring, which it was the last
/// written in.
pub(crate) fn give_back(event: FastEvent) {
    // While the thread exits (no state), the block is dropped, which releases it.
    let block = event.buf;
    with_thread(move |t| block.give_back(&mut t.blocks));
}

/// In a forked child: see `blocks::after_fork_child`.
pub(crate) fn after_fork_child() {
    with_thread(|t| super::blocks::after_fork_child(&mut t.blocks));
}

/// [`validate`] with the given shapes, or none (the walk only), and the ring for the block, or
/// none (the heap).
#[inline(always)]
pub(crate) fn validate_with(
    text: &[u8],
    shapes: Option<&mut Shapes>,
    mut blocks: Option<(&mut Writer, usize)>,
) -> Option<(FastEvent, Option<i64>)> {
    // Offsets are 32-bit (events are limited to `limits.max_event_bytes`, 64 KiB by default).
    if text.len() >= (u32::MAX as usize) - PAD {
        return None;
    }
    // The queue's block, holding the text followed by the zeros the scanner reads past it (the
    // offset table takes their place).
    // In a ring, room for the largest table: the metrics are counted only once read.
    let mut buf = BlockBuf::new(
        blocks.as_mut().map(|(w, queue)| (&mut **w, *queue)),
        text.len() + TABLE_BYTES + MAX_METRICS * METRIC_BYTES,
        text.len() + TABLE_BYTES + ROOM_METRICS * METRIC_BYTES,
    );
    buf.extend_from_slice(text);
    buf.extend_from_slice(&[0; PAD]);
    let mut w = Walk::new();
    let mut s = Scan::new(buf.as_slice());
    let (outcome, shapes) = match shapes {
        Some(shapes) => (shapes.read(&mut s, &mut w), Some(shapes)),
        None => (Outcome::Miss { learn: false }, None),
    };
    if outcome != Outcome::Hit {
        w.top(&mut s)?;
        s.next();
        if !s.at_end() {
            return None;
        }
    }
    let kind = w.kind?;
    // The checks of `check()` that the walk did not make already.
    for f in [Field::IdempotencyKey, Field::EntityType, Field::EntityId] {
        let span = w.spans[f as usize];
        if span.end != 0 && span.start == span.end {
            return None;
        }
    }
    if let Some(p) = w.progress {
        if !(0.0..=100.0).contains(&p) {
            return None;
        }
    }
    let at_micros = match w.at {
        None => None,
        Some(at) => Some(parse_rfc3339_micros(std::str::from_utf8(s.slice(at)).ok()?)?),
    };
    if let (Outcome::Miss { learn: true }, Some(shapes)) = (outcome, shapes) {
        shapes.learn(text, &w);
    }
    buf.truncate(text.len());
    let values = put_table(&mut buf, &w.spans, &w.metrics);
    let buf = buf.finish(blocks);
    let event =
        FastEvent { buf, text_len: text.len() as u32, values, kind, status: w.status, progress: w.progress };
    Some((event, at_micros))
}

/// A bit per key, to reject duplicates as serde's derived structs do.
#[inline(always)]
fn once(seen: &mut u32, key: usize) -> Option<()> {
    let bit = 1 << key;
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

const TOP: [Key; 5] = [
    Key::new(b"event"),
    Key::new(b"entity"),
    Key::new(b"idempotency_key"),
    Key::new(b"site_id"),
    Key::new(b"app"),
];

const APP: [Key; 4] =
    [Key::new(b"name"), Key::new(b"version"), Key::new(b"instance_id"), Key::new(b"app_id")];
const APP_FIELDS: [Field; 4] = [Field::AppName, Field::AppVersion, Field::AppInstanceId, Field::AppAppId];

const ENTITY: [Key; 5] = [
    Key::new(b"type"),
    Key::new(b"id"),
    Key::new(b"parent_id"),
    Key::new(b"business_key"),
    Key::new(b"sub_key"),
];
const ENTITY_FIELDS: [Field; 5] =
    [Field::EntityType, Field::EntityId, Field::ParentId, Field::BusinessKey, Field::SubKey];

const BODY: [Key; 7] = [
    Key::new(b"kind"),
    Key::new(b"metrics"),
    Key::new(b"metadata"),
    Key::new(b"message"),
    Key::new(b"status"),
    Key::new(b"progress"),
    Key::new(b"at"),
];

impl Walk {
    /// The top-level object.
    #[inline(always)]
    fn top(&mut self, s: &mut Scan<'_>) -> Option<()> {
        s.eat(b'{')?;
        let mut seen = 0u32;
        s.members(|s| {
            let key = s.key(&TOP)?;
            once(&mut seen, key)?;
            match key {
                0 => self.body(s),
                1 => self.strings(s, &ENTITY, &ENTITY_FIELDS),
                2 => self.opt_string(s, Field::IdempotencyKey),
                3 => self.opt_string(s, Field::SiteId),
                _ => self.strings(s, &APP, &APP_FIELDS),
            }
        })?;
        // `event` is required.
        (seen & 1 != 0).then_some(())
    }

    /// An optional string field.
    #[inline(always)]
    fn opt_string(&mut self, s: &mut Scan<'_>, f: Field) -> Option<()> {
        if let Some(span) = s.opt_string()? {
            self.spans[f as usize] = span;
            // From the opening quote (just before the content).
            self.slot(span.start as usize - 1, s.i, What::Field(f));
        }
        Some(())
    }

    /// `app` or `entity`: an object of optional strings, or `null`. Inlined, so that the
    /// comparisons with the keys are made with constants.
    #[inline(always)]
    fn strings<const N: usize>(
        &mut self,
        s: &mut Scan<'_>,
        keys: &[Key; N],
        fields: &[Field; N],
    ) -> Option<()> {
        if s.null() {
            return Some(());
        }
        s.eat(b'{')?;
        let mut seen = 0u32;
        s.members(|s| {
            let key = s.key(keys)?;
            once(&mut seen, key)?;
            self.opt_string(s, *fields.get(key)?)
        })
    }

    /// `event`: an object (not `null`).
    #[inline(always)]
    fn body(&mut self, s: &mut Scan<'_>) -> Option<()> {
        s.eat(b'{')?;
        let mut seen = 0u32;
        s.members(|s| {
            let key = s.key(&BODY)?;
            once(&mut seen, key)?;
            match key {
                0 => {
                    if s.next() != b'"' {
                        return None;
                    }
                    let name = s.string()?;
                    self.kind = Some(kind(s.slice(name))?);
                }
                1 => {
                    if !s.null() {
                        self.metrics(s)?;
                    }
                }
                2 => {
                    if !s.null() {
                        // An object, kept as given. Its strings have no escapes (the scanner
                        // gives up on a backslash): escapes need decoding to be checked, and
                        // the complete path does that.
                        let start = s.i;
                        if s.next() != b'{' {
                            return None;
                        }
                        // Flat metadata (strings and numbers) gives the event's shape its
                        // values as slots; other metadata is one slot.
                        let mark = self.slots.len();
                        self.slot(start, start, What::MetadataStart);
                        if self.flat_metadata(s).is_some() {
                            self.slot(s.i, s.i, What::MetadataEnd);
                        } else {
                            s.i = start;
                            self.slots.truncate(mark);
                            s.value(METADATA_DEPTH)?;
                            self.slot(start, s.i, What::Metadata);
                        }
                        self.spans[Field::Metadata as usize] = Span { start: start as u32, end: s.i as u32 };
                    }
                }
                3 => self.opt_string(s, Field::Message)?,
                4 => {
                    if let Some(name) = s.opt_string()? {
                        self.status = Some(status(s.slice(name))?);
                    }
                }
                5 => {
                    if !s.null() {
                        let start = s.i;
                        self.progress = Some(s.number()?.to_f64());
                        self.slot(start, s.i, What::Progress);
                    }
                }
                _ => {
                    self.at = s.opt_string()?;
                    if let Some(at) = self.at {
                        self.slot(at.start as usize - 1, s.i, What::At);
                    }
                }
            }
            Some(())
        })
    }

    /// `event.metadata` when its values are strings and numbers: read with the readers
    /// `Scan::value` uses for them, so it accepts what `value` would. `None` for anything else
    /// (the caller then reads it with `value`).
    #[inline(always)]
    fn flat_metadata(&mut self, s: &mut Scan<'_>) -> Option<()> {
        s.eat(b'{')?;
        s.members(|s| {
            s.any_key()?;
            s.next();
            let start = s.i;
            match s.peek() {
                b'"' => {
                    s.string()?;
                    self.slot(start, s.i, What::MetaString);
                }
                b'-' | b'0'..=b'9' => {
                    s.number_grammar()?;
                    self.slot(start, s.i, What::MetaNumber);
                }
                _ => return None,
            }
            Some(())
        })
    }

    /// `event.metrics`: names without escapes, finite numbers, no duplicates.
    #[inline(always)]
    fn metrics(&mut self, s: &mut Scan<'_>) -> Option<()> {
        s.eat(b'{')?;
        s.members(|s| {
            let name = s.any_key()?;
            s.next();
            let start = s.i;
            let value = s.number()?;
            self.slot(
                start,
                s.i,
                What::Metric { back: start as u32 - name.start, len: name.end - name.start },
            );
            let text = s.slice(name);
            if text.is_empty() || self.metrics.iter().any(|(m, _)| s.slice(*m) == text) {
                return None;
            }
            self.metrics.try_push((name, value)).ok()
        })
    }
}

/// `event.kind` by name: the names `Kind::as_str` gives, as the complete path reads them.
fn kind(name: &[u8]) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str().as_bytes() == name)
}

/// `event.status` by name (`Status::as_str`).
fn status(name: &[u8]) -> Option<Status> {
    Status::ALL.into_iter().find(|s| s.as_str().as_bytes() == name)
}

/// How deep metadata may nest on the fast path (serde_json stops at 128 levels in all).
pub(crate) const METADATA_DEPTH: u32 = 32;

/// Writes an event the core makes itself (a job's) straight into the queue's form: its JSON text
/// and the offsets of its fields, as [`validate`] would have found them, without parsing it.
///
/// Strings are escaped by serde_json, as `json!` escaped them before, so their raw bytes are what
/// the encoder writes for them after a parse. Where the result could differ from what a parse of
/// the text gives (more than [`MAX_METRICS`] metrics, an entity type that is empty or needs
/// escaping, a number serde_json might read back differently), the builder says so
/// ([`Builder::plain`] is false) and the caller emits the text through the complete validation.
#[derive(Clone)]
pub(crate) struct Builder {
    buf: Vec<u8>,
    spans: [Span; FIELDS],
    metrics: [(Span, f64); MAX_METRICS],
    n_metrics: usize,
    plain: bool,
}

impl Builder {
    /// `bytes`: the expected length of the text; room for the offset table is added.
    pub fn with_capacity(bytes: usize) -> Builder {
        Builder {
            buf: Vec::with_capacity(bytes + FIELDS * SPAN_BYTES + 4 + 8 * METRIC_BYTES),
            spans: [Span::default(); FIELDS],
            metrics: [(Span::default(), 0.0); MAX_METRICS],
            n_metrics: 0,
            plain: true,
        }
    }

    /// The JSON text written so far.
    pub fn text(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the queue's form can be taken as built (see the type's documentation).
    pub fn plain(&self) -> bool {
        self.plain && self.buf.len() < u32::MAX as usize
    }

    pub fn raw(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
    }

    /// A JSON string; its content is field `f`'s value when given.
    pub fn string(&mut self, f: Option<Field>, s: &str) {
        let start = self.buf.len();
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, s);
        if f == Some(Field::EntityType) && (s.is_empty() || self.buf.len() - start != s.len() + 2) {
            // The router routes by the decoded type, and an empty one is an error: parse.
            self.plain = false;
        }
        if let Some(f) = f {
            self.spans[f as usize] = Span { start: start as u32 + 1, end: self.buf.len() as u32 - 1 };
        }
    }

    pub fn opt_string(&mut self, f: Field, s: Option<&str>) {
        match s {
            Some(s) => self.string(Some(f), s),
            None => self.raw(b"null"),
        }
    }

    /// Marks what was written since `start` as field `f` (the metadata object).
    pub fn mark(&mut self, f: Field, start: usize) {
        self.spans[f as usize] = Span { start: start as u32, end: self.buf.len() as u32 };
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// A number as serde_json writes it; returns the value a parse of that text gives.
    pub fn number(&mut self, v: f64) -> f64 {
        let start = self.buf.len();
        let _ = serde_json::to_writer(&mut self.buf, &v);
        let text = &self.buf[start..];
        // serde_json reads a plain decimal of at most 15 digits exactly (one correctly rounded
        // operation); other forms are read back by serde_json itself, as a parse would.
        let digits = text.iter().filter(|b| b.is_ascii_digit()).count();
        if digits <= 15 && !text.contains(&b'e') {
            return v;
        }
        match std::str::from_utf8(text).ok().and_then(|t| serde_json::from_str::<f64>(t).ok()) {
            Some(read) => read,
            None => {
                self.plain = false;
                v
            }
        }
    }

    /// `"name":value` inside `event.metrics`.
    pub fn metric(&mut self, name: &str, value: f64) {
        let start = self.buf.len();
        self.string(None, name);
        let span = Span { start: start as u32 + 1, end: self.buf.len() as u32 - 1 };
        self.buf.push(b':');
        let read = self.number(value);
        if self.n_metrics == MAX_METRICS || name.is_empty() || !read.is_finite() {
            self.plain = false;
            return;
        }
        self.metrics[self.n_metrics] = (span, read);
        self.n_metrics += 1;
    }

    /// Appends `other`'s text and fields (a part written once and reused, the job's entity).
    pub fn append(&mut self, other: &Builder) {
        let offset = self.buf.len() as u32;
        self.buf.extend_from_slice(&other.buf);
        for (mine, theirs) in self.spans.iter_mut().zip(&other.spans) {
            if theirs.end != 0 {
                *mine = Span { start: theirs.start + offset, end: theirs.end + offset };
            }
        }
        self.plain &= other.plain;
    }

    /// The queue's form (only when [`Builder::plain`]); takes the text, leaving the builder
    /// empty. By reference: the builder is large (its metrics table), and is not moved.
    pub fn finish(&mut self, kind: Kind, status: Option<Status>, progress: Option<f64>) -> FastEvent {
        let (text_len, n) = (self.buf.len(), self.n_metrics);
        let mut buf = std::mem::take(&mut self.buf);
        let values = put_table(&mut buf, &self.spans, &self.metrics[..n]);
        FastEvent { buf: Block::Heap(buf), text_len: text_len as u32, values, kind, status, progress }
    }
}

/// Appends the offset table and the metrics after the text, written in place (a copy per
/// metric cost more than the rest of the table).
#[inline(always)]
fn put_table<V: TableValue>(buf: &mut impl Append, spans: &[Span; FIELDS], metrics: &[(Span, V)]) -> Values {
    buf.append(TABLE_BYTES + metrics.len() * METRIC_BYTES, |out| {
        let (table, entries) = out.split_at_mut(TABLE_BYTES);
        for (entry, s) in table.chunks_exact_mut(SPAN_BYTES).zip(spans) {
            entry[..4].copy_from_slice(&s.start.to_le_bytes());
            entry[4..].copy_from_slice(&s.end.to_le_bytes());
        }
        table[FIELDS * SPAN_BYTES..].copy_from_slice(&(metrics.len() as u32).to_le_bytes());
        for (entry, (s, v)) in entries.chunks_exact_mut(METRIC_BYTES).zip(metrics) {
            entry[..4].copy_from_slice(&s.start.to_le_bytes());
            entry[4..8].copy_from_slice(&s.end.to_le_bytes());
            entry[8..].copy_from_slice(&v.bits().to_le_bytes());
        }
    });
    V::VALUES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_of_a_key_tells_the_keys_of_its_object_apart() {
        // `Scan::key` compares the rest of a key only for the one whose first eight bytes match;
        // two keys of one object alike in those would still be read right (the spaced-key path
        // compares whole names), but slowly.
        for keys in [&TOP[..], &APP[..], &ENTITY[..], &BODY[..]] {
            for (i, a) in keys.iter().enumerate() {
                for b in &keys[i + 1..] {
                    assert!(!a.same_first_word(b));
                }
            }
        }
    }
}
