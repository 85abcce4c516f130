//! The fast path of `emit`: the same serde_json parse as the complete validation, but walked by
//! visitors that write the offsets of the fields into one table on the stack instead of building
//! the derived structs (which serde moves by value level after level) and a metrics `Vec`; the
//! text and that table then go to the queue in **one** allocation, where the complete path made
//! three (the text, the parse, the metrics), each freed on the router thread.
//!
//! The fast path only ever *accepts*. Anything it does not handle plainly (a string or key with
//! escapes, an unknown or duplicate field, more than [`MAX_METRICS`] metrics, any invalid input)
//! makes it give up, and the caller runs the complete validation (`validate_owned`), which
//! accepts or rejects with the field-naming message it always gave. The parser is the same, so
//! the fast path is only responsible for never accepting what the complete path's checks reject.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

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
    text: &'t str,
    spans: [Span; FIELDS],
    metrics: [(Span, f64); MAX_METRICS],
    n_metrics: usize,
    kind: Option<Kind>,
    status: Option<Status>,
    progress: Option<f64>,
    at: Option<Span>,
}

/// Validates `text` (already size- and UTF-8-checked, starting with `{`). `None`: not handled
/// here, run the complete validation. `Some((event, at_micros))`: valid.
pub(crate) fn validate(text: &str) -> Option<(FastEvent, Option<i64>)> {
    // Offsets are 32-bit (events are limited to `limits.max_event_bytes`, 64 KiB by default).
    if text.len() >= u32::MAX as usize {
        return None;
    }
    let mut w = Walk {
        text,
        spans: [Span::default(); FIELDS],
        metrics: [(Span::default(), 0.0); MAX_METRICS],
        n_metrics: 0,
        kind: None,
        status: None,
        progress: None,
        at: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    Object(Top(&mut w)).deserialize(&mut de).ok()?;
    de.end().ok()?;
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
        Some(s) => Some(parse_rfc3339_micros(text.get(s.start as usize..s.end as usize)?)?),
    };
    let n = w.n_metrics;
    let mut buf = Vec::with_capacity(text.len() + FIELDS * SPAN_BYTES + 4 + n * METRIC_BYTES);
    buf.extend_from_slice(text.as_bytes());
    put_table(&mut buf, &w.spans, &w.metrics[..n]);
    let event = FastEvent { buf, text_len: text.len() as u32, kind, status: w.status, progress: w.progress };
    Some((event, at_micros))
}

/// Gives up (the message is never shown: the complete validation makes its own).
fn give_up<E: de::Error>() -> E {
    E::custom("not on the fast path")
}

impl Walk<'_> {
    /// The span of `s`, a string serde_json borrowed from the text.
    fn span(&self, s: &str) -> Span {
        let start = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize) as u32;
        Span { start, end: start + s.len() as u32 }
    }
}

/// A string borrowed from the input (so it had no escapes), or `null` (absent, as serde reads
/// an `Option`). An escaped string gives up.
struct OptStr;

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<&'de str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<&'de str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(Plain).map(Some)
    }
}

/// A string borrowed from the input; anything else gives up.
struct Plain;

impl<'de> Visitor<'de> for Plain {
    type Value = &'de str;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string without escapes")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(v)
    }
}

/// A key: borrowed from the input, or give up.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = &'de str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(Plain)
    }
}

/// An object read by the visitor `V`.
struct Object<V>(V);

impl<'de, V: Visitor<'de, Value = ()>> DeserializeSeed<'de> for Object<V> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self.0)
    }
}

/// An object read by the visitor `V`, or `null` (absent, as serde reads an `Option`).
struct OrNull<V>(V);

impl<'de, V: Visitor<'de, Value = ()>> DeserializeSeed<'de> for OrNull<V> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, V: Visitor<'de, Value = ()>> Visitor<'de> for OrNull<V> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self.0)
    }
}

/// A bit per key, to reject duplicates as serde's derived structs do.
fn once<E: de::Error>(seen: &mut u32, bit: u32) -> Result<(), E> {
    if *seen & (1 << bit) != 0 {
        return Err(give_up());
    }
    *seen |= 1 << bit;
    Ok(())
}

/// The top-level object.
struct Top<'w, 't>(&'w mut Walk<'t>);

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let w = self.0;
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let (bit, field) = match key {
                "idempotency_key" => (0, Some(Field::IdempotencyKey)),
                "site_id" => (1, Some(Field::SiteId)),
                "app" => (2, None),
                "entity" => (3, None),
                "event" => (4, None),
                _ => return Err(give_up()),
            };
            once(&mut seen, bit)?;
            match (bit, field) {
                (_, Some(field)) => {
                    let v = map.next_value_seed(OptStr)?;
                    w.spans[field as usize] = v.map(|v| w.span(v)).unwrap_or_default();
                }
                (2, _) => map.next_value_seed(OrNull(Fields { walk: &mut *w, fields: &APP }))?,
                (3, _) => map.next_value_seed(OrNull(Fields { walk: &mut *w, fields: &ENTITY }))?,
                _ => map.next_value_seed(Object(Body(&mut *w)))?,
            }
        }
        if seen & (1 << 4) == 0 {
            // `event` is required.
            return Err(give_up());
        }
        Ok(())
    }
}

const APP: [(&str, Field); 4] = [
    ("name", Field::AppName),
    ("version", Field::AppVersion),
    ("instance_id", Field::AppInstanceId),
    ("app_id", Field::AppAppId),
];

const ENTITY: [(&str, Field); 5] = [
    ("type", Field::EntityType),
    ("id", Field::EntityId),
    ("parent_id", Field::ParentId),
    ("business_key", Field::BusinessKey),
    ("sub_key", Field::SubKey),
];

/// `app` or `entity`: an object of optional strings.
struct Fields<'w, 't> {
    walk: &'w mut Walk<'t>,
    fields: &'static [(&'static str, Field)],
}

impl<'de> Visitor<'de> for Fields<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of optional strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let w = self.walk;
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let Some(bit) = self.fields.iter().position(|(name, _)| *name == key) else {
                return Err(give_up());
            };
            once(&mut seen, bit as u32)?;
            let v = map.next_value_seed(OptStr)?;
            w.spans[self.fields[bit].1 as usize] = v.map(|v| w.span(v)).unwrap_or_default();
        }
        Ok(())
    }
}

/// `event`: an object (not `null`).
struct Body<'w, 't>(&'w mut Walk<'t>);

impl<'de> Visitor<'de> for Body<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let w = self.0;
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let bit = match key {
                "kind" => 0,
                "at" => 1,
                "status" => 2,
                "progress" => 3,
                "message" => 4,
                "metrics" => 5,
                "metadata" => 6,
                _ => return Err(give_up()),
            };
            once(&mut seen, bit)?;
            match bit {
                0 => {
                    let name = map.next_value_seed(OptStr)?.ok_or_else(give_up)?;
                    w.kind = Some(Kind::ALL.into_iter().find(|k| k.as_str() == name).ok_or_else(give_up)?);
                }
                1 => w.at = map.next_value_seed(OptStr)?.map(|v| w.span(v)),
                2 => {
                    if let Some(name) = map.next_value_seed(OptStr)? {
                        w.status =
                            Some(Status::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(give_up)?);
                    }
                }
                3 => w.progress = map.next_value::<Option<f64>>()?,
                4 => {
                    let v = map.next_value_seed(OptStr)?;
                    w.spans[Field::Message as usize] = v.map(|v| w.span(v)).unwrap_or_default();
                }
                5 => map.next_value_seed(OrNull(Metrics(&mut *w)))?,
                _ => {
                    if let Some(raw) = map.next_value::<Option<&'de RawValue>>()? {
                        // Escapes in metadata need decoding to be checked: the full path does it (a byte
                        // search: `str::contains` builds a searcher, hundreds of instructions per event).
                        if !raw.get().starts_with('{') || raw.get().as_bytes().contains(&b'\\') {
                            return Err(give_up());
                        }
                        w.spans[Field::Metadata as usize] = w.span(raw.get());
                    }
                }
            }
        }
        Ok(())
    }
}

/// `event.metrics`: names without escapes, finite numbers, no duplicates.
struct Metrics<'w, 't>(&'w mut Walk<'t>);

impl<'de> Visitor<'de> for Metrics<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of metric name to number")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let w = self.0;
        while let Some(name) = map.next_key_seed(KeySeed)? {
            let value: f64 = map.next_value()?;
            if name.is_empty() || !value.is_finite() || w.n_metrics == MAX_METRICS {
                return Err(give_up());
            }
            let text = w.text.as_bytes();
            let duplicate = w.metrics[..w.n_metrics]
                .iter()
                .any(|(s, _)| text.get(s.start as usize..s.end as usize) == Some(name.as_bytes()));
            if duplicate {
                return Err(give_up());
            }
            w.metrics[w.n_metrics] = (w.span(name), value);
            w.n_metrics += 1;
        }
        Ok(())
    }
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
