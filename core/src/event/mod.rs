//! Event schema v1: parsing and validation (on the caller's thread, borrowing the input)
//! and enrichment into the stored form (on the router thread, see `encode`).

mod blocks;
pub(crate) mod encode;
pub(crate) mod fast;
mod scan;
mod shape;
mod timestamp;

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::backend::Batch;
use crate::error::{Error, Result};

pub(crate) use encode::{encode_event, Enrichment};
pub(crate) use fast::after_fork_child;
pub(crate) use timestamp::init_fast_clock;
pub use timestamp::{format_micros, now_micros, parse_rfc3339_micros};

/// `event.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Started,
    Progress,
    Metric,
    Finished,
    Error,
    Canceled,
    Log,
    Heartbeat,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Started => "started",
            Kind::Progress => "progress",
            Kind::Metric => "metric",
            Kind::Finished => "finished",
            Kind::Error => "error",
            Kind::Canceled => "canceled",
            Kind::Log => "log",
            Kind::Heartbeat => "heartbeat",
        }
    }
}

/// `event.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Started,
        Kind::Progress,
        Kind::Metric,
        Kind::Finished,
        Kind::Error,
        Kind::Canceled,
        Kind::Log,
        Kind::Heartbeat,
    ];
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Running, Status::Succeeded, Status::Failed, Status::Canceled];
}

/// Deserializes one of `all` by its name, with an error that lists the names (serde_json's
/// own enum errors call a number where a name was expected a syntax error).
fn by_name<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> std::result::Result<T, D::Error> {
    let text = Str::deserialize(d)?;
    all.iter().copied().find(|v| name(*v) == text.as_str()).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
        de::Error::custom(format_args!(
            "unknown {what} `{}`, expected one of {}",
            text.as_str(),
            names.join(", ")
        ))
    })
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        by_name(d, &Kind::ALL, Kind::as_str, "kind")
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        by_name(d, &Status::ALL, Status::as_str, "status")
    }
}

/// A string borrowed from the input when it has no escapes, owned otherwise.
/// (serde borrows a bare `Cow<str>` field only outside `Option`, hence the newtype.)
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl Str<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent<'a> {
    #[serde(borrow, default)]
    pub idempotency_key: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub site_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub app: Option<RawApp<'a>>,
    #[serde(borrow, default)]
    pub entity: Option<RawEntity<'a>>,
    #[serde(borrow)]
    pub event: RawBody<'a>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApp<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub instance_id: Option<Str<'a>>,
    /// Earlier clients identified the app with `app_id`; it is kept as given.
    #[serde(borrow, default)]
    pub app_id: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntity<'a> {
    #[serde(rename = "type", borrow, default)]
    pub entity_type: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub parent_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub business_key: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub sub_key: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBody<'a> {
    pub kind: Kind,
    #[serde(borrow, default)]
    pub at: Option<Str<'a>>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub progress: Option<f64>,
    #[serde(borrow, default)]
    pub message: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub metrics: Option<Metrics<'a>>,
    #[serde(borrow, default)]
    pub metadata: Option<&'a RawValue>,
}

/// `event.metrics`: name -> finite number, in input order, names unique.
#[derive(Default)]
pub(crate) struct Metrics<'a>(pub Vec<(Str<'a>, f64)>);

impl<'de: 'a, 'a> Deserialize<'de> for Metrics<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metrics<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of metric name to number")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out: Vec<(Str<'de>, f64)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(name) = map.next_key::<Str<'de>>()? {
                    let value: f64 = map.next_value()?;
                    if !value.is_finite() {
                        return Err(de::Error::custom("metric value must be a finite number"));
                    }
                    if out.iter().any(|(n, _)| n.0 == name.0) {
                        return Err(de::Error::custom(format_args!("duplicate metric `{}`", name.0)));
                    }
                    out.push((name, value));
                }
                Ok(Metrics(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// What the caller's thread learns from validating one event.
pub(crate) struct Validated {
    /// `event.at` as given, converted to UTC microseconds.
    pub at_micros: Option<i64>,
}

self_cell::self_cell!(
    /// An event's text together with its serde_json parse, which borrows from it: `emit` parses
    /// once and the router encodes from that parse. Three allocations (the text, the cell, the
    /// metrics), which is why the common case takes the fast path instead.
    pub(crate) struct ParsedText {
        owner: Box<str>,
        #[covariant]
        dependent: RawEvent,
    }
);

impl ParsedText {
    pub fn raw(&self) -> &RawEvent<'_> {
        self.borrow_dependent()
    }
}

/// A validated event as the queue carries it to the router.
pub(crate) enum ParsedEvent {
    /// The common case: the text and the offsets of its fields (see `fast`).
    Fast(fast::FastEvent),
    /// What the fast path leaves to the complete validation (escapes, unusual input): the text
    /// and its serde_json parse.
    Parsed(ParsedText),
}

impl ParsedEvent {
    /// Appends the stored form to `batch` (see `encode_event`).
    pub fn encode(&self, at_micros: Option<i64>, emitted_at: i64, enrich: &Enrichment, batch: &mut Batch) {
        match self {
            ParsedEvent::Fast(ev) => encode_event(ev, at_micros, emitted_at, enrich, batch),
            ParsedEvent::Parsed(ev) => encode_event(ev.raw(), at_micros, emitted_at, enrich, batch),
        }
    }

    /// The queue refused the event (see [`validate_for_queue`]).
    pub fn give_back(self) {
        if let ParsedEvent::Fast(ev) = self {
            fast::give_back(ev);
        }
    }
}

/// Validates one event for the queue: the fast path when it applies, else the complete
/// validation, whose errors name the field. Returns `event.at` in UTC microseconds when given.
/// The block is on the heap (the tests' form; `emit` uses [`validate_for_queue`]).
#[cfg(test)]
pub(crate) fn validate_queued(bytes: &[u8], max_event_bytes: usize) -> Result<(ParsedEvent, Option<i64>)> {
    validate_into(bytes, max_event_bytes, None)
}

/// [`validate_queued`] for `emit`, whose event goes straight into `queue` (an address that tells
/// queues apart): its block is then in this thread's ring (`blocks.rs`), and must go back with
/// [`ParsedEvent::give_back`] if the queue refuses it.
///
/// Inlined into `Client::emit` with `fast::validate`: returned through memory, the
/// event was written with narrow stores and read back with wide loads, which the CPU cannot
/// forward, so the read waited for every older store to land, the copy into the queue's block
/// among them (most of `Client::emit`'s samples in `perf record` of `emit_latency`).
#[inline(always)]
pub(crate) fn validate_for_queue(
    bytes: &[u8],
    max_event_bytes: usize,
    queue: usize,
) -> Result<(ParsedEvent, Option<i64>)> {
    validate_into(bytes, max_event_bytes, Some(queue))
}

#[inline(always)]
fn validate_into(
    bytes: &[u8],
    max_event_bytes: usize,
    queue: Option<usize>,
) -> Result<(ParsedEvent, Option<i64>)> {
    // The size first: the fast path takes any length it is given.
    if bytes.len() <= max_event_bytes {
        if let Some((ev, at_micros)) = fast::validate(bytes, queue) {
            return Ok((ParsedEvent::Fast(ev), at_micros));
        }
    }
    let (parsed, v) = validate_owned(bytes, max_event_bytes)?;
    Ok((ParsedEvent::Parsed(parsed), v.at_micros))
}

/// The largest event `fast_path_agrees` and `shape_agrees` check (the default
/// `limits.max_event_bytes`).
const AGREEMENT_MAX: usize = 64 * 1024;

/// Checks that the fast path agrees with the complete validation on `bytes`, and panics where
/// it does not: it must never accept what the complete validation rejects, and must store the
/// same bytes. Returns whether the fast path took the event. For the tests and the fuzz target.
#[doc(hidden)]
pub(crate) fn fast_path_agrees(bytes: &[u8]) -> bool {
    // As `validate_queued` calls it: on the bytes, before any UTF-8 check (the fast path makes
    // its own).
    if bytes.len() > AGREEMENT_MAX {
        return false;
    }
    // Without this thread's shapes, so that the answer depends on `bytes` alone
    // (`shape_agrees` checks the shapes).
    let Some((fast, fast_at)) = fast::validate_with(bytes, None, None) else { return false };
    let text = String::from_utf8_lossy(bytes);
    let (parsed, v) = match validate_owned(bytes, AGREEMENT_MAX) {
        Ok(ok) => ok,
        Err(e) => panic!("the fast path accepted what the complete validation rejects ({e}): {text}"),
    };
    assert_eq!(fast_at, v.at_micros, "{text}");
    let enrich = Enrichment::new(Some("fab1"), Some("app"), None, "host:1");
    let encoded = |ev: &ParsedEvent, at: Option<i64>| {
        let mut batch = Batch::default();
        // The same generated key for both.
        fastrand::seed(7);
        ev.encode(at, 1_795_334_400_000_001, &enrich, &mut batch);
        String::from_utf8_lossy(batch.jsonl()).into_owned()
    };
    let (fast, complete) = (ParsedEvent::Fast(fast), ParsedEvent::Parsed(parsed));
    assert_eq!(encoded(&fast, fast_at), encoded(&complete, v.at_micros), "{text}");
    true
}

/// Checks that reading `second` with the shape of `first` (`shape.rs`) gives what the walk
/// gives, and panics where it does not. Returns whether the shape took `second`. For the tests
/// and the `shape` fuzz target.
#[doc(hidden)]
pub(crate) fn shape_agrees(first: &[u8], second: &[u8]) -> bool {
    let mut shapes = shape::Shapes::new();
    // The first miss learns.
    if first.len() > AGREEMENT_MAX || second.len() > AGREEMENT_MAX {
        return false;
    }
    if fast::validate_with(first, Some(&mut shapes), None).is_none() {
        return false;
    }
    let with_shape = fast::validate_with(second, Some(&mut shapes), None);
    let walked = fast::validate_with(second, None, None);
    assert_eq!(
        with_shape,
        walked,
        "the shape of {} reads {} otherwise than the walk",
        String::from_utf8_lossy(first),
        String::from_utf8_lossy(second)
    );
    shapes.took_last()
}

/// Validates one event (schema v1) and keeps it, parsed, for the router.
pub(crate) fn validate_owned(bytes: &[u8], max_event_bytes: usize) -> Result<(ParsedText, Validated)> {
    let text = check_text(bytes, max_event_bytes)?;
    let parsed = ParsedText::try_new(Box::from(text), |t| parse(t))?;
    let at_micros = check(parsed.raw())?;
    Ok((parsed, Validated { at_micros }))
}

/// Validates one event (schema v1) without copying it. Errors name the offending field.
pub(crate) fn validate(bytes: &[u8], max_event_bytes: usize) -> Result<(&str, Validated)> {
    let text = check_text(bytes, max_event_bytes)?;
    let raw = parse(text)?;
    let at_micros = check(&raw)?;
    Ok((text, Validated { at_micros }))
}

/// Size, UTF-8 and "is an object": the checks before parsing.
fn check_text(bytes: &[u8], max_event_bytes: usize) -> Result<&str> {
    if bytes.len() > max_event_bytes {
        return Err(Error::InvalidArgument {
            field: None,
            message: format!(
                "event is {} bytes, over limits.max_event_bytes ({max_event_bytes})",
                bytes.len()
            ),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidArgument {
        field: None,
        message: format!("event is not valid UTF-8 (byte {})", e.valid_up_to()),
    })?;
    if !text.trim_start().starts_with('{') {
        return Err(Error::InvalidArgument { field: None, message: "an event must be a JSON object".into() });
    }
    Ok(text)
}

/// Parses an event. On failure, parses again with path tracking to name the field: errors are
/// the cold path, and tracking costs the hot one.
pub(crate) fn parse(text: &str) -> Result<RawEvent<'_>> {
    serde_json::from_str::<RawEvent>(text).map_err(|_| describe_parse_error(text))
}

fn describe_parse_error(text: &str) -> Error {
    let mut de = serde_json::Deserializer::from_str(text);
    let e = match serde_path_to_error::deserialize::<_, RawEvent>(&mut de) {
        Ok(_) => {
            let message = match de.end() {
                Ok(()) => "invalid event".to_owned(),
                Err(e) => format!("malformed JSON: {e}"),
            };
            return Error::InvalidArgument { field: None, message };
        }
        Err(e) => e,
    };
    let inner = e.inner();
    let message = inner.to_string();
    let mut field = e.path().to_string();
    if inner.is_syntax() || inner.is_eof() {
        // A path that ends in `?` is where the parser gave up, not a field of the event; a
        // complete one (a number out of range) names the field.
        let field = (!field.contains('?') && field != ".").then_some(field);
        return Error::InvalidArgument { field, message: format!("malformed JSON: {message}") };
    }
    if field == "." {
        field.clear();
    }
    // serde_path_to_error's path ends at an unknown field already, but not at a missing one.
    if let Some(name) = missing_field_name(&message) {
        field = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
    }
    let message =
        if inner.is_syntax() || inner.is_eof() { format!("malformed JSON: {message}") } else { message };
    Error::InvalidArgument { field: (!field.is_empty()).then_some(field), message }
}

fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn missing_field_name(message: &str) -> Option<&str> {
    backticked_after(message, "missing field `")
}

/// Whether metadata holds what only decoding can check: an escape (`\`), an exponent (`e`, `E`:
/// also in words, which only costs a decode on this path) or a run of digits long enough to
/// overflow an f64. The fast path gives up on the same (`scan::Scan::number_grammar`).
fn metadata_needs_decoding(meta: &[u8]) -> bool {
    let mut digits = 0usize;
    for &b in meta {
        match b {
            b'\\' | b'e' | b'E' => return true,
            b'0'..=b'9' => {
                digits += 1;
                if digits > scan::MAX_PLAIN_DIGITS {
                    return true;
                }
            }
            _ => digits = 0,
        }
    }
    false
}

/// The checks serde cannot express. Returns `event.at` in UTC microseconds when given.
pub(crate) fn check(raw: &RawEvent<'_>) -> Result<Option<i64>> {
    let body = &raw.event;
    // Identities and names are used as keys by backends: an empty one is a mistake.
    let non_empty = [
        ("idempotency_key", raw.idempotency_key.as_ref()),
        ("entity.type", raw.entity.as_ref().and_then(|e| e.entity_type.as_ref())),
        ("entity.id", raw.entity.as_ref().and_then(|e| e.id.as_ref())),
    ];
    for (field, value) in non_empty {
        if value.is_some_and(|v| v.as_str().is_empty()) {
            return Err(Error::invalid(field, "must not be empty"));
        }
    }
    if let Some(m) = &body.metrics {
        if m.0.iter().any(|(name, _)| name.as_str().is_empty()) {
            return Err(Error::invalid("event.metrics", "metric names must not be empty"));
        }
    }
    if let Some(p) = body.progress {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::invalid("event.progress", format!("progress must be within 0..100, got {p}")));
        }
    }
    if let Some(meta) = body.metadata {
        if !meta.get().starts_with('{') {
            return Err(Error::invalid("event.metadata", "metadata must be an object"));
        }
        // Kept as given (RawValue), so its strings and numbers were scanned but not decoded: an
        // escape such as a lone surrogate (`\ude80`) or a number beyond an f64 (`1e400`) would be
        // stored, and no JSON reader (our own agent's included) would take the line back.
        // Decoding once when there may be one refuses it here instead.
        if metadata_needs_decoding(meta.get().as_bytes()) {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(meta.get()) {
                return Err(Error::invalid(
                    "event.metadata",
                    format!("metadata is not valid JSON text: {e}"),
                ));
            }
        }
    }
    match &body.at {
        None => Ok(None),
        Some(at) => parse_rfc3339_micros(at.as_str()).map(Some).ok_or_else(|| {
            Error::invalid("event.at", format!("`{}` is not an RFC 3339 timestamp", at.as_str()))
        }),
    }
}

#[cfg(test)]
mod tests;
