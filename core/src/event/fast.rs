//! The fast path of `emit`: one pass over the text with a strict scanner (`Scan`) that writes
//! the offsets of the fields into one table on the stack instead of building the derived structs;
//! the text and that table then go to the queue in **one** allocation.
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

/// `start..end` in the event's text; `end == 0` means absent (a present value never ends at 0:
/// the text starts with `{`).
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

/// A validated event as the queue carries it: `[text][offset table][metric count][metrics]` in
/// one heap block, plus what is cheaper to keep decoded (kind, status, progress).
pub(crate) struct FastEvent {
    /// A `Vec` rather than a boxed slice: boxing a `Vec` whose capacity is larger than its
    /// length (the builder's) would reallocate.
    buf: Vec<u8>,
    text_len: u32,
    pub kind: Kind,
    pub status: Option<Status>,
    pub progress: Option<f64>,
}

impl FastEvent {
    /// A string field's raw bytes (they contain no escapes), or the metadata's JSON.
    pub fn field(&self, f: Field) -> Option<&[u8]> {
        let at = self.text_len as usize + f as usize * SPAN_BYTES;
        let (start, end) = (read_u32(&self.buf, at), read_u32(&self.buf, at + 4));
        (end != 0).then(|| self.buf.get(start as usize..end as usize).unwrap_or_default())
    }

    /// Metric names (raw bytes, no escapes) and values, in input order.
    pub fn metrics(&self) -> impl Iterator<Item = (&[u8], f64)> {
        let at = self.text_len as usize + FIELDS * SPAN_BYTES;
        let n = read_u32(&self.buf, at) as usize;
        (0..n).map(move |i| {
            let m = at + 4 + i * METRIC_BYTES;
            let (start, end) = (read_u32(&self.buf, m), read_u32(&self.buf, m + 4));
            let name = self.buf.get(start as usize..end as usize).unwrap_or_default();
            (name, f64::from_bits(read_u64(&self.buf, m + 8)))
        })
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    buf.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

/// What one pass over the event collects before the block is built.
struct Walk<'t> {
    scan: Scan<'t>,
    spans: [Span; FIELDS],
    metrics: [(Span, f64); MAX_METRICS],
    n_metrics: usize,
    kind: Option<Kind>,
    status: Option<Status>,
    progress: Option<f64>,
    at: Option<Span>,
}

/// Validates `text` (already size-checked). `None`: not handled here, run the complete
/// validation. `Some((event, at_micros))`: valid, and valid UTF-8: outside strings the scanner
/// takes nothing but ASCII, and a string with a byte above 0x7f is checked on its own
/// (`Scan::string_here`), which spares a pass over the whole text.
pub(crate) fn validate(text: &[u8]) -> Option<(FastEvent, Option<i64>)> {
    // Offsets are 32-bit (events are limited to `limits.max_event_bytes`, 64 KiB by default).
    if text.len() >= u32::MAX as usize {
        return None;
    }
    let mut w = Walk {
        scan: Scan { b: text, i: 0, key_end: 0 },
        spans: [Span::default(); FIELDS],
        metrics: [(Span::default(), 0.0); MAX_METRICS],
        n_metrics: 0,
        kind: None,
        status: None,
        progress: None,
        at: None,
    };
    w.top()?;
    w.scan.ws();
    if w.scan.i != text.len() {
        return None;
    }
    let kind = w.kind?;
    // The checks of `check()` that the walk did not make already.
    for f in [Field::IdempotencyKey, Field::EntityType, Field::EntityId] {
        let s = w.spans[f as usize];
        if s.end != 0 && s.start == s.end {
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
        Some(s) => {
            let at = std::str::from_utf8(text.get(s.start as usize..s.end as usize)?).ok()?;
            Some(parse_rfc3339_micros(at)?)
        }
    };
    let n = w.n_metrics;
    let mut buf = Vec::with_capacity(text.len() + FIELDS * SPAN_BYTES + 4 + n * METRIC_BYTES);
    buf.extend_from_slice(text);
    put_table(&mut buf, &w.spans, &w.metrics[..n]);
    let event = FastEvent { buf, text_len: text.len() as u32, kind, status: w.status, progress: w.progress };
    Some((event, at_micros))
}

/// A bit per key, to reject duplicates as serde's derived structs do.
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & (1 << bit) != 0 {
        return None;
    }
    *seen |= 1 << bit;
    Some(())
}

const APP: [(&[u8], Field); 4] = [
    (b"name", Field::AppName),
    (b"version", Field::AppVersion),
    (b"instance_id", Field::AppInstanceId),
    (b"app_id", Field::AppAppId),
];

const ENTITY: [(&[u8], Field); 5] = [
    (b"type", Field::EntityType),
    (b"id", Field::EntityId),
    (b"parent_id", Field::ParentId),
    (b"business_key", Field::BusinessKey),
    (b"sub_key", Field::SubKey),
];

impl Walk<'_> {
    /// The top-level object.
    fn top(&mut self) -> Option<()> {
        self.scan.eat(b'{')?;
        let (mut seen, mut first) = (0u32, true);
        while let Some(key) = self.scan.next_key(&mut first)? {
            match key {
                b"idempotency_key" => self.opt_string(&mut seen, 0, Field::IdempotencyKey)?,
                b"site_id" => self.opt_string(&mut seen, 1, Field::SiteId)?,
                b"app" => {
                    once(&mut seen, 2)?;
                    self.strings(&APP)?;
                }
                b"entity" => {
                    once(&mut seen, 3)?;
                    self.strings(&ENTITY)?;
                }
                b"event" => {
                    once(&mut seen, 4)?;
                    self.body()?;
                }
                _ => return None,
            }
        }
        // `event` is required.
        (seen & (1 << 4) != 0).then_some(())
    }

    /// An optional string field, seen once.
    fn opt_string(&mut self, seen: &mut u32, bit: u32, f: Field) -> Option<()> {
        once(seen, bit)?;
        self.spans[f as usize] = self.scan.opt_string()?.unwrap_or_default();
        Some(())
    }

    /// `app` or `entity`: an object of optional strings, or `null`.
    fn strings(&mut self, fields: &[(&[u8], Field)]) -> Option<()> {
        if self.scan.null() {
            return Some(());
        }
        self.scan.eat(b'{')?;
        let (mut seen, mut first) = (0u32, true);
        while let Some(key) = self.scan.next_key(&mut first)? {
            let bit = fields.iter().position(|(name, _)| *name == key)?;
            self.opt_string(&mut seen, bit as u32, fields[bit].1)?;
        }
        Some(())
    }

    /// `event`: an object (not `null`).
    fn body(&mut self) -> Option<()> {
        self.scan.eat(b'{')?;
        let (mut seen, mut first) = (0u32, true);
        while let Some(key) = self.scan.next_key(&mut first)? {
            match key {
                b"kind" => {
                    once(&mut seen, 0)?;
                    let name = self.scan.string()?;
                    self.kind = Some(Kind::ALL.into_iter().find(|k| k.as_str().as_bytes() == name)?);
                }
                b"at" => {
                    once(&mut seen, 1)?;
                    self.at = self.scan.opt_string()?;
                }
                b"status" => {
                    once(&mut seen, 2)?;
                    if !self.scan.null() {
                        let name = self.scan.string()?;
                        self.status = Some(Status::ALL.into_iter().find(|s| s.as_str().as_bytes() == name)?);
                    }
                }
                b"progress" => {
                    once(&mut seen, 3)?;
                    self.progress = if self.scan.null() { None } else { Some(self.scan.number()?) };
                }
                b"message" => self.opt_string(&mut seen, 4, Field::Message)?,
                b"metrics" => {
                    once(&mut seen, 5)?;
                    if !self.scan.null() {
                        self.metrics()?;
                    }
                }
                b"metadata" => {
                    once(&mut seen, 6)?;
                    if !self.scan.null() {
                        // An object, kept as given. Its strings have no escapes (the scanner
                        // gives up on a backslash): escapes need decoding to be checked, and
                        // the complete path does that.
                        self.scan.ws();
                        let start = self.scan.i;
                        if self.scan.peek()? != b'{' {
                            return None;
                        }
                        self.scan.value(METADATA_DEPTH)?;
                        self.spans[Field::Metadata as usize] =
                            Span { start: start as u32, end: self.scan.i as u32 };
                    }
                }
                _ => return None,
            }
        }
        Some(())
    }

    /// `event.metrics`: names without escapes, finite numbers, no duplicates.
    fn metrics(&mut self) -> Option<()> {
        self.scan.eat(b'{')?;
        let mut first = true;
        while let Some(name) = self.scan.next_key(&mut first)? {
            if name.is_empty() || self.n_metrics == MAX_METRICS {
                return None;
            }
            let value = self.scan.number()?;
            let b = self.scan.b;
            if self.metrics[..self.n_metrics]
                .iter()
                .any(|(s, _)| b.get(s.start as usize..s.end as usize) == Some(name))
            {
                return None;
            }
            let end = self.scan.key_end;
            self.metrics[self.n_metrics] = (Span { start: end - name.len() as u32, end }, value);
            self.n_metrics += 1;
        }
        Some(())
    }
}

/// Runs of digits longer than this in metadata may overflow an f64 (which holds up to about 1.8e308):
/// they are decoded to be checked.
pub(crate) const MAX_PLAIN_DIGITS: usize = 300;

/// How deep metadata may nest on the fast path (serde_json stops at 128 levels in all).
const METADATA_DEPTH: u32 = 32;

/// A strict reader of the JSON this path accepts: what serde_json accepts, minus escapes in
/// strings and numbers it might round differently. Every method returns `None` to give up.
struct Scan<'t> {
    b: &'t [u8],
    i: usize,
    /// Where the last key read by `next_key` ends (its closing quote).
    key_end: u32,
}

impl<'t> Scan<'t> {
    /// JSON's whitespace (serde_json's: no other Unicode spaces).
    #[inline(always)]
    fn ws(&mut self) {
        // Compact JSON has none: one comparison for the common case.
        if self.b.get(self.i).is_some_and(|&c| c > b' ') {
            return;
        }
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips whitespace, then reads `c`.
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Skips whitespace, then reads `null` if it is next.
    #[inline]
    fn null(&mut self) -> bool {
        self.ws();
        let found = self.b.get(self.i..self.i + 4) == Some(b"null");
        if found {
            self.i += 4;
        }
        found
    }

    /// A string without escapes; its content.
    #[inline]
    fn string(&mut self) -> Option<&'t [u8]> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        self.string_here()
    }

    /// The string whose opening quote is at the cursor, checked to be UTF-8.
    #[inline(always)]
    fn string_here(&mut self) -> Option<&'t [u8]> {
        let rest = self.b.get(self.i + 1..)?;
        let (len, ascii) = closing_quote(rest)?;
        self.i += len + 2;
        let s = rest.get(..len)?;
        if !ascii {
            std::str::from_utf8(s).ok()?;
        }
        Some(s)
    }

    /// A string (its content's span) or `null` (`None`).
    fn opt_string(&mut self) -> Option<Option<Span>> {
        if self.null() {
            return Some(None);
        }
        let s = self.string()?;
        let end = self.i as u32 - 1;
        Some(Some(Span { start: end - s.len() as u32, end }))
    }

    /// The next key of an object whose `{` was read and its `:`, or `None` after its `}`.
    #[inline]
    fn next_key(&mut self, first: &mut bool) -> Option<Option<&'t [u8]>> {
        self.ws();
        let mut c = self.peek()?;
        if c == b'}' {
            self.i += 1;
            return Some(None);
        }
        if !*first {
            if c != b',' {
                return None;
            }
            self.i += 1;
            self.ws();
            c = self.peek()?;
        }
        *first = false;
        if c != b'"' {
            return None;
        }
        let key = self.string_here()?;
        self.key_end = self.i as u32 - 1;
        self.eat(b':')?;
        Some(Some(key))
    }

    /// A number, read as serde_json reads it into an `f64`: only the forms where that is one
    /// correctly rounded operation (at most 15 digits, a power of ten up to 22), which any
    /// correct reader gives bit for bit. Longer or larger numbers give up.
    fn number(&mut self) -> Option<f64> {
        self.ws();
        let b = self.b;
        let mut i = self.i;
        let negative = b.get(i) == Some(&b'-');
        i += usize::from(negative);
        let (mut significand, mut digits, mut exponent) = (0u64, 0u32, 0i32);
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                while let Some(&d @ b'0'..=b'9') = b.get(i) {
                    significand = significand * 10 + u64::from(d - b'0');
                    digits += 1;
                    i += 1;
                    if digits > 15 {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let from = i;
            while let Some(&d @ b'0'..=b'9') = b.get(i) {
                significand = significand * 10 + u64::from(d - b'0');
                digits += 1;
                exponent -= 1;
                i += 1;
                if digits > 15 {
                    return None;
                }
            }
            if i == from {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            let minus = b.get(i) == Some(&b'-');
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let (from, mut e) = (i, 0i32);
            while let Some(&d @ b'0'..=b'9') = b.get(i) {
                e = e * 10 + i32::from(d - b'0');
                i += 1;
                if e > 1000 {
                    return None;
                }
            }
            if i == from {
                return None;
            }
            exponent += if minus { -e } else { e };
        }
        if let Some(b'0'..=b'9') = b.get(i) {
            // A leading zero followed by digits: not JSON.
            return None;
        }
        let pow = *POW10.get(exponent.unsigned_abs() as usize)?;
        let magnitude = if exponent >= 0 { significand as f64 * pow } else { significand as f64 / pow };
        self.i = i;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// Checks and skips any JSON value (metadata), nested at most `depth` deep. Numbers are
    /// checked for their grammar only, as serde_json checks a value it keeps raw.
    fn value(&mut self, depth: u32) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let depth = depth.checked_sub(1)?;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.value(depth)?;
                }
                Some(())
            }
            b'[' => {
                self.i += 1;
                let depth = depth.checked_sub(1)?;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(depth)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_grammar(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: a number of metadata, kept as given. One with an exponent
    /// or more than [`MAX_PLAIN_DIGITS`] digits in a row gives up: it may be beyond an f64, which
    /// only decoding finds (see `metadata_needs_decoding`, the complete path's rule).
    fn number_grammar(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i + usize::from(b.get(self.i) == Some(&b'-'));
        let digits = |i: &mut usize| {
            let from = *i;
            while let Some(b'0'..=b'9') = b.get(*i) {
                *i += 1;
            }
            *i > from && *i - from <= MAX_PLAIN_DIGITS
        };
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => digits(&mut i).then_some(())?,
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i).then_some(())?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            return None;
        }
        if let Some(b'0'..=b'9') = b.get(i) {
            return None;
        }
        self.i = i;
        Some(())
    }
}

/// Powers of ten that an `f64` holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// The offset of the closing quote of a string whose content starts `s`, and whether the
/// content is plain ASCII (`false` may also mean a byte above 0x7f just after the quote); `None`
/// when a backslash (an escape: the complete path decodes it), a control character (not JSON) or
/// the end comes first. Eight bytes at a time: event strings are short, and a byte loop cost
/// more than the rest of the scan.
#[inline]
fn closing_quote(s: &[u8]) -> Option<(usize, bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Flags the bytes of `x` that are zero (exact for the lowest flagged byte, which is all that
    // is used: a false flag only ever sits above a true one).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut high = 0;
    let mut chunks = s.chunks_exact(8);
    for (n, chunk) in (&mut chunks).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        high |= x;
        let hits = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            let j = (hits.trailing_zeros() / 8) as usize;
            return (chunk.get(j) == Some(&b'"')).then_some((n * 8 + j, high & HIGH == 0));
        }
    }
    let at = s.len() - chunks.remainder().len();
    for (j, &c) in chunks.remainder().iter().enumerate() {
        if c == b'"' {
            return Some((at + j, high & HIGH == 0));
        }
        if c == b'\\' || c < 0x20 {
            return None;
        }
        high |= u64::from(c);
    }
    None
}

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
        put_table(&mut buf, &self.spans, &self.metrics[..n]);
        FastEvent { buf, text_len: text_len as u32, kind, status, progress }
    }
}

/// Appends the offset table and the metrics after the text (assembled on the stack and appended
/// whole: a `Vec` append per number cost more than the rest of the table).
fn put_table(buf: &mut Vec<u8>, spans: &[Span; FIELDS], metrics: &[(Span, f64)]) {
    let mut table = [0u8; FIELDS * SPAN_BYTES + 4];
    for (entry, s) in table.chunks_exact_mut(SPAN_BYTES).zip(spans) {
        entry[..4].copy_from_slice(&s.start.to_le_bytes());
        entry[4..].copy_from_slice(&s.end.to_le_bytes());
    }
    table[FIELDS * SPAN_BYTES..].copy_from_slice(&(metrics.len() as u32).to_le_bytes());
    buf.extend_from_slice(&table);
    for (s, v) in metrics {
        let mut entry = [0u8; METRIC_BYTES];
        entry[..4].copy_from_slice(&s.start.to_le_bytes());
        entry[4..8].copy_from_slice(&s.end.to_le_bytes());
        entry[8..].copy_from_slice(&v.to_bits().to_le_bytes());
        buf.extend_from_slice(&entry);
    }
}
