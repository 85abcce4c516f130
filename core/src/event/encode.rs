//! Enrichment and encoding of a validated event into its stored form (one JSON line).
//! Runs on the router thread, so `emit` only pays for validation.

use std::borrow::Cow;

use super::{format_micros, RawEvent, Str};
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

/// Appends the stored form of `raw` to `batch`. `emitted_at` (UTC microseconds) is used when the
/// event has no `at`; it also seeds the UUIDv7 idempotency key when the event has none.
///
/// Written directly rather than through a derived `Serialize`, because escaping dominated the
/// router's cost: strings serde_json borrowed from the input have no escapes and are copied as
/// they are, generated ones (key, time) are plain ASCII, and configured ones are escaped once.
/// serde_json still formats numbers and escapes every other string.
pub(crate) fn encode_event(
    raw: &RawEvent<'_>,
    at_micros: Option<i64>,
    emitted_at: i64,
    enrich: &Enrichment,
    batch: &mut Batch,
) {
    let at = at_micros.unwrap_or(emitted_at);
    let mut at_buf = [0u8; 27];
    let at_text = format_micros(at, &mut at_buf);

    let mut key_buf = uuid::Uuid::encode_buffer();
    let generated_key;
    let key: &str = match &raw.idempotency_key {
        Some(k) => k.as_str(),
        None => {
            generated_key = new_uuid_v7(emitted_at).hyphenated().encode_lower(&mut key_buf);
            generated_key
        }
    };
    let app = raw.app.as_ref();
    let entity = raw.entity.as_ref();
    let entity_type = entity.and_then(|e| e.entity_type.as_ref()).map(|s| s.as_str()).unwrap_or("app");
    let body = &raw.event;
    batch.push_with(body.kind, key, entity_type, |out| {
        out.extend_from_slice(b"{\"idempotency_key\":");
        match &raw.idempotency_key {
            Some(k) => put(out, k),
            None => put_plain(out, key),
        }
        out.extend_from_slice(b",\"site_id\":");
        put_or(out, raw.site_id.as_ref(), &enrich.site_id_json);
        out.extend_from_slice(b",\"app\":{\"name\":");
        put_or(out, app.and_then(|a| a.name.as_ref()), &enrich.app_name_json);
        out.extend_from_slice(b",\"version\":");
        put_or(out, app.and_then(|a| a.version.as_ref()), &enrich.app_version_json);
        out.extend_from_slice(b",\"instance_id\":");
        let instance = app.and_then(|a| a.instance_id.as_ref());
        put_or(out, instance, &enrich.instance_id_json);
        if let Some(app_id) = app.and_then(|a| a.app_id.as_ref()) {
            out.extend_from_slice(b",\"app_id\":");
            put(out, app_id);
        }
        out.extend_from_slice(b"},\"entity\":{\"type\":");
        match entity.and_then(|e| e.entity_type.as_ref()) {
            Some(t) => put(out, t),
            None => out.extend_from_slice(b"\"app\""),
        }
        out.extend_from_slice(b",\"id\":");
        match (entity.and_then(|e| e.id.as_ref()), instance) {
            (Some(id), _) | (None, Some(id)) => put(out, id),
            (None, None) => out.extend_from_slice(enrich.instance_id_json.as_bytes()),
        }
        out.extend_from_slice(b",\"parent_id\":");
        put_opt(out, entity.and_then(|e| e.parent_id.as_ref()));
        out.extend_from_slice(b",\"business_key\":");
        put_opt(out, entity.and_then(|e| e.business_key.as_ref()));
        out.extend_from_slice(b",\"sub_key\":");
        put_opt(out, entity.and_then(|e| e.sub_key.as_ref()));
        out.extend_from_slice(b"},\"event\":{\"kind\":\"");
        out.extend_from_slice(body.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"at\":");
        put_plain(out, at_text);
        out.extend_from_slice(b",\"status\":");
        match body.status {
            Some(st) => put_plain(out, st.as_str()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"progress\":");
        match body.progress {
            Some(p) => put_number(out, p),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"message\":");
        put_opt(out, body.message.as_ref());
        out.extend_from_slice(b",\"metrics\":{");
        for (i, (name, value)) in body.metrics.iter().flat_map(|m| m.0.iter()).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            put(out, name);
            out.push(b':');
            put_number(out, *value);
        }
        out.extend_from_slice(b"},\"metadata\":");
        match body.metadata {
            Some(m) => out.extend_from_slice(m.get().as_bytes()),
            None => out.extend_from_slice(b"{}"),
        }
        out.extend_from_slice(b"}}");
    });
}

/// A string from the input: as it was when serde_json could borrow it (no escapes in it,
/// so nothing to escape), escaped otherwise.
fn put(out: &mut Vec<u8>, s: &Str<'_>) {
    match &s.0 {
        Cow::Borrowed(text) => put_plain(out, text),
        Cow::Owned(text) => escape_into(out, text),
    }
}

fn put_opt(out: &mut Vec<u8>, s: Option<&Str<'_>>) {
    match s {
        Some(s) => put(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// The input's string, or else the configured value (already JSON: a string or `null`).
fn put_or(out: &mut Vec<u8>, s: Option<&Str<'_>>, fallback_json: &str) {
    match s {
        Some(s) => put(out, s),
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
