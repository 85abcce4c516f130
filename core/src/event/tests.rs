use super::*;
use crate::backend::Batch;

fn enrich() -> Enrichment {
    Enrichment::new(Some("fab1"), Some("wafer-etch"), Some("1.4.2"), "host-a:4242")
}

fn reject(text: &str) -> Error {
    match validate(text.as_bytes(), 65536) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

fn stored(text: &str) -> serde_json::Value {
    let (text, v) = validate(text.as_bytes(), 65536).unwrap();
    let raw = parse(text).unwrap();
    let mut batch = Batch::default();
    encode_event(&raw, v.at_micros, 1_795_334_400_000_001, &enrich(), &mut batch);
    assert_eq!(batch.jsonl().last(), Some(&b'\n'));
    serde_json::from_slice(batch.event_json(0)).unwrap()
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (r#"{"event":{"kind":"metric","colour":1}}"#, "event.colour"),
        (r#"{"evnt":{"kind":"metric"}}"#, "evnt"),
        (r#"{"event":{"kind":"exploded"}}"#, "event.kind"),
        (r#"{"event":{"kind":"metric","status":"sad"}}"#, "event.status"),
        (r#"{"event":{"kind":"progress","progress":150}}"#, "event.progress"),
        (r#"{"event":{"kind":"progress","progress":-1}}"#, "event.progress"),
        (r#"{"event":{"kind":"metric","metrics":{"t":"hot"}}}"#, "event.metrics.t"),
        (r#"{"event":{"kind":"metric","at":"yesterday"}}"#, "event.at"),
        (r#"{"event":{"kind":"metric","metadata":[1]}}"#, "event.metadata"),
        (r#"{"entity":{"kind":"job"},"event":{"kind":"metric"}}"#, "entity.kind"),
        (r#"{"app":{"name":5},"event":{"kind":"metric"}}"#, "app.name"),
        (r#"{"event":{}}"#, "event.kind"),
        (r#"{}"#, "event"),
        (r#"{"event":{"kind":42}}"#, "event.kind"),
        (r#"{"idempotency_key":"","event":{"kind":"log"}}"#, "idempotency_key"),
        (r#"{"entity":{"type":""},"event":{"kind":"log"}}"#, "entity.type"),
        (r#"{"event":{"kind":"metric","metrics":{"":1}}}"#, "event.metrics"),
    ];
    for (text, field) in cases {
        let e = reject(text);
        assert_eq!(e.field(), Some(field), "{text}: {e}");
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn malformed_input_is_rejected_with_a_clear_message() {
    for text in [
        "",
        "{",
        "[1,2]",
        "null",
        r#"{"event":{"kind":"metric"}} trailing"#,
        "{\"event\":{\"kind\":\"metric\",\"metrics\":{\"x\":1e999}}}",
    ] {
        let e = reject(text);
        assert!(matches!(e, Error::InvalidArgument { .. }), "{text}: {e}");
    }
    let e = validate(b"{\"event\":{\"kind\":\"metric\",\"message\":\"\xff\"}}", 65536).err().unwrap();
    assert!(e.to_string().contains("UTF-8"), "{e}");
    let big = format!(r#"{{"event":{{"kind":"log","message":"{}"}}}}"#, "x".repeat(200));
    let e = validate(big.as_bytes(), 100).err().unwrap();
    assert!(e.to_string().contains("max_event_bytes"), "{e}");
}

#[test]
fn duplicate_metrics_are_rejected() {
    let e = reject(r#"{"event":{"kind":"metric","metrics":{"a":1,"a":2}}}"#);
    assert!(e.to_string().contains("duplicate metric"), "{e}");
}

#[test]
fn defaults_are_filled_in() {
    let v = stored(r#"{"event":{"kind":"metric","metrics":{"temp_c":21.5}}}"#);
    assert_eq!(v["site_id"], "fab1");
    assert_eq!(
        v["app"],
        serde_json::json!({"name":"wafer-etch","version":"1.4.2","instance_id":"host-a:4242"})
    );
    assert_eq!(
        v["entity"],
        serde_json::json!({"type":"app","id":"host-a:4242","parent_id":null,"business_key":null,"sub_key":null})
    );
    assert_eq!(v["event"]["at"], "2026-11-22T08:00:00.000001Z");
    assert_eq!(v["event"]["metrics"]["temp_c"], 21.5);
    assert_eq!(v["event"]["metadata"], serde_json::json!({}));
    assert_eq!(v["event"]["status"], serde_json::Value::Null);
    let key = uuid::Uuid::parse_str(v["idempotency_key"].as_str().unwrap()).unwrap();
    assert_eq!(key.get_version_num(), 7);
    let keys: std::collections::HashSet<String> = (0..1000)
        .map(|_| stored(r#"{"event":{"kind":"log"}}"#)["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 1000);
}

#[test]
fn given_fields_are_kept_and_earlier_clients_accepted() {
    let v = stored(
        r#"{"idempotency_key":"k-1","site_id":"fab9","app":{"app_id":"legacy-7","name":"old"},
            "entity":{"type":"lot","id":"LOT-42","business_key":"B","sub_key":"S","parent_id":"P"},
            "event":{"kind":"finished","at":"2026-11-22T10:00:00.123456789+02:00","status":"succeeded",
                     "message":"d\u00e9j\u00e0 \"vu\"","metadata":{"tool":"ETCH-07","n":[1,2]}}}"#,
    );
    assert_eq!(v["idempotency_key"], "k-1");
    assert_eq!(v["site_id"], "fab9");
    assert_eq!(v["app"]["app_id"], "legacy-7");
    assert_eq!(v["app"]["name"], "old");
    assert_eq!(v["app"]["version"], "1.4.2");
    assert_eq!(v["entity"]["type"], "lot");
    assert_eq!(v["entity"]["parent_id"], "P");
    assert_eq!(v["event"]["at"], "2026-11-22T08:00:00.123456Z");
    assert_eq!(v["event"]["message"], "déjà \"vu\"");
    assert_eq!(v["event"]["metadata"]["n"][1], 2);
}

#[test]
fn escaped_and_configured_strings_are_written_correctly() {
    let (text, v) = validate(
        br#"{"entity":{"id":"a\"b\\c\u0001","type":"t\u00e9"},"event":{"kind":"log","message":"line1\nline2","metrics":{"m\"x":1.5e300,"n":-0.0,"i":3}}}"#,
        65536,
    )
    .unwrap();
    let raw = parse(text).unwrap();
    let mut batch = Batch::default();
    let odd = Enrichment::new(Some("fab \"1\""), None, Some("v\\2"), "host:1");
    encode_event(&raw, v.at_micros, 0, &odd, &mut batch);
    let out: serde_json::Value = serde_json::from_slice(batch.event_json(0)).expect("valid JSON");
    assert_eq!(out["entity"]["id"], "a\"b\\c\u{1}");
    assert_eq!(out["entity"]["type"], "té");
    assert_eq!(batch.entity_type(0), "té");
    assert_eq!(out["event"]["message"], "line1\nline2");
    assert_eq!(out["event"]["metrics"]["m\"x"], 1.5e300);
    assert_eq!(out["event"]["metrics"]["i"], 3.0);
    assert_eq!(out["site_id"], "fab \"1\"");
    assert_eq!(out["app"]["version"], "v\\2");
    assert_eq!(out["app"]["name"], serde_json::Value::Null);
    let keys: Vec<&str> = out.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys.len(), 5);
}
