//! Enrichment and encoding of a validated event into its stored form (one JSON line).
//! Runs on the router thread, so `emit` only pays for validation.

use std::borrow::Cow;

use super::fast::{FastEvent, Field};
use super::timestamp::write_micros;
use super::{Kind, RawEvent, Status, Str};
use crate::backend::Batch;

/// What the core fills in when an event leaves it out, each already as JSON text (a quoted,
/// escaped string or `null`), escaped once here instead of once per event.
#[derive(Debug, Clone)]
pub(crate) struct Enrichment {
    pub site_id_json: String,
    pub app_name_json: String,
    pub app_version_json: String,
    pub instance_id_json: String,
}

impl Enrichment {
    pub fn new(
        site_id: Option<&str>,
        app_name: Option<&str>,
        app_version: Option<&str>,
        instance_id: &str,
    ) -> Self {
        Enrichment {
            site_id_json: json_text(site_id),
            app_name_json: json_text(app_name),
            app_version_json: json_text(app_version),
            instance_id_json: json_text(Some(instance_id)),
        }
    }
}

/// A string of an event as the encoder gets it.
pub(crate) enum Text<'a> {
    /// Bytes from the input that were a JSON string without escapes: copied as they are.
    Plain(&'a [u8]),
    /// A decoded string that may need escaping.
    Decoded(&'a str),
}

impl<'a> Text<'a> {
    fn of(s: &'a Str<'_>) -> Text<'a> {
        match &s.0 {
            Cow::Borrowed(text) => Text::Plain(text.as_bytes()),
            Cow::Owned(text) => Text::Decoded(text),
        }
    }

    /// As a `&str` (for the batch's routing fields).
    fn as_str(&self) -> &'a str {
        match self {
            // Plain bytes are a slice of a validated `str` between two quotes.
            Text::Plain(b) => std::str::from_utf8(b).unwrap_or_default(),
            Text::Decoded(s) => s,
        }
    }
}

/// What the encoder reads from a validated event: the parse of the complete validation
/// ([`RawEvent`]) or the offsets of the fast path ([`FastEvent`]).
pub(crate) trait EventView {
    fn text(&self, f: Field) -> Option<Text<'_>>;
    fn kind(&self) -> Kind;
    fn status(&self) -> Option<Status>;
    fn progress(&self) -> Option<f64>;
    /// `event.metadata` as JSON text.
    fn metadata(&self) -> Option<&[u8]>;
    fn for_each_metric(&self, f: impl FnMut(Text<'_>, f64));
}

impl EventView for RawEvent<'_> {
    fn text(&self, f: Field) -> Option<Text<'_>> {
        let app = self.app.as_ref();
        let entity = self.entity.as_ref();
        let s = match f {
            Field::IdempotencyKey => self.idempotency_key.as_ref(),
            Field::SiteId => self.site_id.as_ref(),
            Field::AppName => app.and_then(|a| a.name.as_ref()),
            Field::AppVersion => app.and_then(|a| a.version.as_ref()),
            Field::AppInstanceId => app.and_then(|a| a.instance_id.as_ref()),
            Field::AppAppId => app.and_then(|a| a.app_id.as_ref()),
            Field::EntityType => entity.and_then(|e| e.entity_type.as_ref()),
            Field::EntityId => entity.and_then(|e| e.id.as_ref()),
            Field::ParentId => entity.and_then(|e| e.parent_id.as_ref()),
            Field::BusinessKey => entity.and_then(|e| e.business_key.as_ref()),
            Field::SubKey => entity.and_then(|e| e.sub_key.as_ref()),
            Field::Message => self.event.message.as_ref(),
            Field::Metadata => return self.event.metadata.map(|m| Text::Plain(m.get().as_bytes())),
        };
        s.map(Text::of)
    }
    fn kind(&self) -> Kind {
        self.event.kind
    }
    fn status(&self) -> Option<Status> {
        self.event.status
    }
    fn progress(&self) -> Option<f64> {
        self.event.progress
    }
    fn metadata(&self) -> Option<&[u8]> {
        self.event.metadata.map(|m| m.get().as_bytes())
    }
    fn for_each_metric(&self, mut f: impl FnMut(Text<'_>, f64)) {
        for (name, value) in self.event.metrics.iter().flat_map(|m| m.0.iter()) {
            f(Text::of(name), *value);
        }
    }
}

impl EventView for FastEvent {
    fn text(&self, f: Field) -> Option<Text<'_>> {
        self.field(f).map(Text::Plain)
    }
    fn kind(&self) -> Kind {
        self.kind
    }
    fn status(&self) -> Option<Status> {
        self.status
    }
    fn progress(&self) -> Option<f64> {
        self.progress
    }
    fn metadata(&self) -> Option<&[u8]> {
        self.field(Field::Metadata)
    }
    fn for_each_metric(&self, mut f: impl FnMut(Text<'_>, f64)) {
        for (name, value) in self.metrics() {
            f(Text::Plain(name), value);
        }
    }
}

/// Appends the stored form of `ev` to `batch`. `emitted_at` (UTC microseconds) is used when the
/// event has no `at`; it also seeds the UUIDv7 idempotency key when the event has none.
///
/// Written directly rather than through a derived `Serialize`, because escaping dominated the
/// router's cost: strings that had no escapes in the input are copied as they are, generated
/// ones (key, time) are plain ASCII, and configured ones are escaped once. serde_json still
/// formats numbers and escapes every other string.
pub(crate) fn encode_event(
    ev: &impl EventView,
    at_micros: Option<i64>,
    emitted_at: i64,
    enrich: &Enrichment,
    batch: &mut Batch,
) {
    let at = at_micros.unwrap_or(emitted_at);
    let mut at_buf = [0u8; 27];
    write_micros(at, &mut at_buf);

    let mut key_buf = uuid::Uuid::encode_buffer();
    let given_key = ev.text(Field::IdempotencyKey);
    let key: &str = match &given_key {
        Some(k) => k.as_str(),
        None => new_uuid_v7(emitted_at).hyphenated().encode_lower(&mut key_buf),
    };
    let entity_type = ev.text(Field::EntityType);
    let entity_type_str = entity_type.as_ref().map(|t| t.as_str()).unwrap_or("app");
    let kind = ev.kind();
    batch.push_with(kind, key, entity_type_str, |out| {
        out.extend_from_slice(b"{\"idempotency_key\":");
        match &given_key {
            Some(k) => put(out, k),
            None => put_plain(out, key),
        }
        out.extend_from_slice(b",\"site_id\":");
        put_or(out, ev.text(Field::SiteId), &enrich.site_id_json);
        out.extend_from_slice(b",\"app\":{\"name\":");
        put_or(out, ev.text(Field::AppName), &enrich.app_name_json);
        out.extend_from_slice(b",\"version\":");
        put_or(out, ev.text(Field::AppVersion), &enrich.app_version_json);
        out.extend_from_slice(b",\"instance_id\":");
        let instance = ev.text(Field::AppInstanceId);
        put_or(out, instance.as_ref().map(Text::reborrow), &enrich.instance_id_json);
        if let Some(app_id) = ev.text(Field::AppAppId) {
            out.extend_from_slice(b",\"app_id\":");
            put(out, &app_id);
        }
        out.extend_from_slice(b"},\"entity\":{\"type\":");
        match &entity_type {
            Some(t) => put(out, t),
            None => out.extend_from_slice(b"\"app\""),
        }
        out.extend_from_slice(b",\"id\":");
        match (ev.text(Field::EntityId), &instance) {
            (Some(id), _) => put(out, &id),
            (None, Some(id)) => put(out, id),
            (None, None) => out.extend_from_slice(enrich.instance_id_json.as_bytes()),
        }
        out.extend_from_slice(b",\"parent_id\":");
        put_opt(out, ev.text(Field::ParentId));
        out.extend_from_slice(b",\"business_key\":");
        put_opt(out, ev.text(Field::BusinessKey));
        out.extend_from_slice(b",\"sub_key\":");
        put_opt(out, ev.text(Field::SubKey));
        out.extend_from_slice(b"},\"event\":{\"kind\":\"");
        out.extend_from_slice(kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"at\":\"");
        out.extend_from_slice(&at_buf);
        out.push(b'"');
        out.extend_from_slice(b",\"status\":");
        match ev.status() {
            Some(st) => put_plain(out, st.as_str()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"progress\":");
        match ev.progress() {
            Some(p) => put_number(out, p),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"message\":");
        put_opt(out, ev.text(Field::Message));
        out.extend_from_slice(b",\"metrics\":{");
        let mut first = true;
        ev.for_each_metric(|name, value| {
            if !first {
                out.push(b',');
            }
            first = false;
            put(out, &name);
            out.push(b':');
            put_number(out, value);
        });
        out.extend_from_slice(b"},\"metadata\":");
        match ev.metadata() {
            Some(m) => out.extend_from_slice(m),
            None => out.extend_from_slice(b"{}"),
        }
        out.extend_from_slice(b"}}");
    });
}

impl Text<'_> {
    fn reborrow(&self) -> Text<'_> {
        match self {
            Text::Plain(b) => Text::Plain(b),
            Text::Decoded(s) => Text::Decoded(s),
        }
    }
}

/// A string from the input: copied as it was when it had no escapes, escaped otherwise.
fn put(out: &mut Vec<u8>, s: &Text<'_>) {
    match s {
        Text::Plain(bytes) => {
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        Text::Decoded(text) => escape_into(out, text),
    }
}

fn put_opt(out: &mut Vec<u8>, s: Option<Text<'_>>) {
    match s {
        Some(s) => put(out, &s),
        None => out.extend_from_slice(b"null"),
    }
}

/// The input's string, or else the configured value (already JSON: a string or `null`).
fn put_or(out: &mut Vec<u8>, s: Option<Text<'_>>, fallback_json: &str) {
    match s {
        Some(s) => put(out, &s),
        None => out.extend_from_slice(fallback_json.as_bytes()),
    }
}

/// A string known to need no escaping.
fn put_plain(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn escape_into(out: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(out, text);
}

fn put_number(out: &mut Vec<u8>, v: f64) {
    let _ = serde_json::to_writer(out, &v);
}

/// A configured value as JSON: a string, or `null`.
pub(crate) fn json_text(value: Option<&str>) -> String {
    match value {
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 2);
            escape_into(&mut out, v);
            String::from_utf8(out).unwrap_or_else(|_| "null".into())
        }
        None => "null".into(),
    }
}

/// A UUIDv7 whose timestamp is the event's emission time; the rest is random.
pub(crate) fn new_uuid_v7(micros: i64) -> uuid::Uuid {
    let millis = u64::try_from(micros.div_euclid(1000)).unwrap_or(0);
    let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10].try_into().unwrap_or([0; 10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
