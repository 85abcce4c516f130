//! Enrichment and encoding of a validated event into its stored form (one JSON line).
//! Runs on the router thread, so `emit` only pays for validation.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{format_micros, Kind, Metrics, RawEvent, Status};
use crate::backend::Batch;

/// What the core fills in when an event leaves it out.
#[derive(Debug, Clone)]
pub(crate) struct Enrichment {
    pub site_id: Option<String>,
    pub app_name: Option<String>,
    pub app_version: Option<String>,
    pub instance_id: String,
}

#[derive(Serialize)]
struct Out<'a> {
    idempotency_key: &'a str,
    site_id: Option<&'a str>,
    app: OutApp<'a>,
    entity: OutEntity<'a>,
    event: OutBody<'a>,
}

#[derive(Serialize)]
struct OutApp<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    instance_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
}

#[derive(Serialize)]
struct OutEntity<'a> {
    #[serde(rename = "type")]
    entity_type: &'a str,
    id: &'a str,
    parent_id: Option<&'a str>,
    business_key: Option<&'a str>,
    sub_key: Option<&'a str>,
}

#[derive(Serialize)]
struct OutBody<'a> {
    kind: Kind,
    at: &'a str,
    status: Option<Status>,
    progress: Option<f64>,
    message: Option<&'a str>,
    metrics: OutMetrics<'a>,
    metadata: &'a RawValue,
}

struct OutMetrics<'a>(Option<&'a Metrics<'a>>);

impl Serialize for OutMetrics<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self.0.map(|m| m.0.as_slice()).unwrap_or(&[]);
        let mut map = s.serialize_map(Some(items.len()))?;
        for (name, value) in items {
            map.serialize_entry(name.as_str(), value)?;
        }
        map.end()
    }
}

fn empty_object() -> &'static RawValue {
    // A constant, valid JSON object.
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".to_owned()).unwrap_or_default())
}

/// Appends the stored form of `raw` to `batch`. `emitted_at` (UTC microseconds) is used when the
/// event has no `at`; it also seeds the UUIDv7 idempotency key when the event has none.
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
    let key: &str = match &raw.idempotency_key {
        Some(k) => k.as_str(),
        None => new_uuid_v7(emitted_at).hyphenated().encode_lower(&mut key_buf),
    };

    let (app_name, app_version, app_instance, app_id) = match &raw.app {
        Some(a) => (text(&a.name), text(&a.version), text(&a.instance_id), text(&a.app_id)),
        None => (None, None, None, None),
    };
    let instance_id = app_instance.unwrap_or(&enrich.instance_id);
    let entity = raw.entity.as_ref();
    let entity_type = entity.and_then(|e| text(&e.entity_type)).unwrap_or("app");
    let metadata: &RawValue = match raw.event.metadata {
        Some(m) => m,
        None => empty_object(),
    };
    let out = Out {
        idempotency_key: key,
        site_id: raw.site_id.as_ref().map(|s| s.as_str()).or(enrich.site_id.as_deref()),
        app: OutApp {
            name: app_name.or(enrich.app_name.as_deref()),
            version: app_version.or(enrich.app_version.as_deref()),
            instance_id,
            app_id,
        },
        entity: OutEntity {
            entity_type,
            id: entity.and_then(|e| text(&e.id)).unwrap_or(instance_id),
            parent_id: entity.and_then(|e| text(&e.parent_id)),
            business_key: entity.and_then(|e| text(&e.business_key)),
            sub_key: entity.and_then(|e| text(&e.sub_key)),
        },
        event: OutBody {
            kind: raw.event.kind,
            at: at_text,
            status: raw.event.status,
            progress: raw.event.progress,
            message: text(&raw.event.message),
            metrics: OutMetrics(raw.event.metrics.as_ref()),
            metadata,
        },
    };
    batch.push_with(raw.event.kind, key, entity_type, |buf| {
        // Serializing plain strings, numbers and a validated RawValue into a Vec cannot fail.
        let _ = serde_json::to_writer(buf, &out);
    });
}

/// A UUIDv7 whose timestamp is the event's emission time; the rest is random.
pub(crate) fn new_uuid_v7(micros: i64) -> uuid::Uuid {
    let millis = u64::try_from(micros.div_euclid(1000)).unwrap_or(0);
    let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10].try_into().unwrap_or([0; 10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn text<'x>(v: &'x Option<super::Str<'_>>) -> Option<&'x str> {
    v.as_ref().map(|s| s.as_str())
}
