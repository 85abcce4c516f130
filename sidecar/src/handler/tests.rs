//! Request handling, end to end inside the process: real core clients writing JSONL into a
//! temporary directory, requests built in memory.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Frame;
use serde_json::Value;

use super::*;
use crate::config::{AgentConfig, Overrides};

struct Fixture {
    agent: Arc<Agent>,
    dir: tempfile::TempDir,
}

fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let queue = if extra.contains("queue:") { "" } else { "queue: {flush_interval_ms: 20}\n" };
    let spool =
        if extra.contains("spool:") { String::new() } else { format!("spool: {{path: '{d}/spool'}}\n") };
    let extra = extra.replace("@DIR@", &d.to_string());
    let text = format!(
        "backends:\n  - {{type: filesystem, name: local, path: '{d}/events', fsync: never}}\n{spool}{queue}{extra}"
    );
    let env: HashMap<String, String> = HashMap::new();
    let cfg = AgentConfig::load(Some(&text), &env, &Overrides::default()).unwrap();
    let state = Arc::new(State::new(Generation::new(cfg).unwrap()));
    Fixture { agent: Arc::new(Agent::new(state)), dir }
}

impl Fixture {
    /// Flushes the core and returns every stored event.
    fn stored(&self) -> Vec<Value> {
        self.agent.state.current().client.flush(Duration::from_secs(5)).unwrap();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path().join("events")).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            out.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
        }
        out
    }
}

/// A body delivered in pieces, or never (`None` = pending forever).
struct Chunks(Option<VecDeque<Bytes>>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.as_mut() {
            None => Poll::Pending,
            Some(q) => Poll::Ready(q.pop_front().map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Chunks) -> Request<Chunks> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body).unwrap()
}

async fn call_with(f: &Fixture, req: Request<Chunks>) -> (u16, http::HeaderMap, Value) {
    let answer = handle(f.agent.clone(), req).await.unwrap();
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    let body =
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

async fn post(f: &Fixture, path: &str, body: &str) -> (u16, Value) {
    post_h(f, path, body, &[]).await
}

async fn post_h(f: &Fixture, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let len = body.len().to_string();
    let mut h = headers.to_vec();
    h.push(("content-length", &len));
    let req = request("POST", path, &h, Chunks(Some(VecDeque::from([Bytes::from(body.to_owned())]))));
    let (s, _, b) = call_with(f, req).await;
    (s, b)
}

const EVENT: &str =
    r#"{"entity":{"type":"tool","id":"ETCH-07"},"event":{"kind":"metric","metrics":{"temp_c":21.5}}}"#;

#[tokio::test]
async fn one_event_is_accepted_and_stored() {
    let f = fixture("");
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await, (202, serde_json::json!({"accepted": 1})));
    let stored = f.stored();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["entity"]["id"], "ETCH-07");
    assert_eq!(stored[0]["event"]["metrics"]["temp_c"], 21.5);
}

#[tokio::test]
async fn an_invalid_event_is_400_naming_the_field() {
    let f = fixture("");
    let (s, b) = post(&f, "/v1/ingest/events", r#"{"event":{"kind":"exploded"}}"#).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("event.kind")), "{b}");
    assert!(b["error"].as_str().unwrap().contains("exploded"));
    let (s, b) = post(&f, "/v1/ingest/events", r#"{"event":{"kind":"log","colour":1}}"#).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("event.colour")), "{b}");
    let (s, b) = post(&f, "/v1/ingest/events", "not json").await;
    assert_eq!((s, &b["field"]), (400, &Value::Null), "{b}");
    assert!(f.stored().is_empty());
}

#[tokio::test]
async fn a_batch_accepts_the_valid_and_names_every_rejected_index() {
    let f = fixture("");
    let body =
        format!(r#"{{"events":[{EVENT},{{"event":{{"kind":"progress","progress":140}}}},{EVENT},"x"]}}"#);
    let (s, b) = post(&f, "/v1/ingest/batch", &body).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["accepted"], 2);
    let rejected = b["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["field"].as_str()),
        (Some(1), Some("event.progress"))
    );
    assert_eq!(rejected[1]["index"], 3);
    assert_eq!(f.stored().len(), 2);
}

#[tokio::test]
async fn earlier_clients_array_batch_and_nested_event_are_accepted_unchanged() {
    let f = fixture("");
    let legacy = r#"{"app":{"app_id":"legacy-etl","name":"etl"},"entity":{"type":"job","id":"J1","business_key":"LOT-7"},
        "event":{"kind":"started","status":"running","at":"2026-11-22T11:00:00.5+01:00","metadata":{"b":1,"a":[1,2]}}}"#;
    assert_eq!(post(&f, "/v1/ingest/events", legacy).await.0, 202);
    let (s, b) = post(&f, "/v1/ingest/events:batch", &format!("[{legacy},{EVENT}]")).await;
    assert_eq!((s, b["accepted"].as_u64()), (202, Some(2)), "{b}");
    let stored = f.stored();
    assert_eq!(stored.len(), 3);
    let e = stored.iter().find(|e| e["entity"]["id"] == "J1").unwrap();
    assert_eq!(e["app"]["app_id"], "legacy-etl");
    assert_eq!(e["event"]["at"], "2026-11-22T10:00:00.500000Z");
    assert_eq!(e["event"]["metadata"], serde_json::json!({"b": 1, "a": [1, 2]}));
}

#[tokio::test]
async fn managed_batches_fill_in_the_site() {
    let f = fixture("");
    let body = format!(
        r#"{{"source":"host-a:1","site_id":"fab7","events":[{EVENT},{{"site_id":"own","event":{{"kind":"log"}}}}]}}"#
    );
    let (s, b) = post(&f, "/v1/ingest/managed", &body).await;
    assert_eq!((s, b["accepted"].as_u64()), (202, Some(2)), "{b}");
    let mut sites: Vec<String> =
        f.stored().iter().map(|e| e["site_id"].as_str().unwrap().to_owned()).collect();
    sites.sort();
    assert_eq!(sites, ["fab7", "own"]);
    let (s, b) = post(&f, "/v1/ingest/batch", r#"{"events":[],"source":"x"}"#).await;
    assert_eq!((s, b["field"].as_str()), (400, Some("source")));
}

#[tokio::test]
async fn the_token_is_required_when_set() {
    let f = fixture("ingest: {token: s3cret}\n");
    let (s, b) = post(&f, "/v1/ingest/events", EVENT).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(post_h(&f, "/v1/ingest/events", EVENT, &[("authorization", "Bearer wrong!")]).await.0, 401);
    assert_eq!(post_h(&f, "/v1/ingest/batch", "{}", &[("authorization", "Bearer s3cre")]).await.0, 401);
    assert_eq!(post_h(&f, "/v1/ingest/events", EVENT, &[("authorization", "Bearer s3cret")]).await.0, 202);
    // Probes and scrapers need no token.
    let (s, _, _) = call_with(&f, request("GET", "/health", &[], Chunks(Some(VecDeque::new())))).await;
    assert_eq!(s, 200);
    assert_eq!(f.stored().len(), 1);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_not() {
    let f = fixture("ingest: {max_body_mb: 0.001}\n"); // 1048 bytes
    let big = format!(r#"{{"event":{{"kind":"log","message":"{}"}}}}"#, "x".repeat(2000));
    assert_eq!(post(&f, "/v1/ingest/events", &big).await.0, 413);
    // Streamed without a length: cut off as soon as the limit is passed.
    let chunks: VecDeque<Bytes> = (0..100).map(|_| Bytes::from(vec![b' '; 100])).collect();
    let (s, h, _) = call_with(&f, request("POST", "/v1/ingest/events", &[], Chunks(Some(chunks)))).await;
    assert_eq!((s, h.get("connection").map(|v| v.to_str().unwrap())), (413, Some("close")));
    assert_eq!(f.agent.state.buffered(), 0, "the budget is given back");
}

#[tokio::test]
async fn too_many_events_in_a_batch_is_413() {
    let f = fixture("ingest: {max_batch_size: 3}\n");
    let (s, b) = post(&f, "/v1/ingest/events:batch", &format!("[{EVENT},{EVENT},{EVENT},{EVENT}]")).await;
    assert_eq!((s, b["field"].as_str()), (413, Some("events")), "{b}");
    assert!(f.stored().is_empty());
}

#[tokio::test]
async fn a_full_queue_is_429_with_retry_after_and_a_batch_is_all_or_nothing() {
    let f = fixture("queue: {capacity: 4, flush_interval_ms: 20}\ningest: {max_batch_size: 4}\n");
    let generation = f.agent.state.current();
    // Another request holds three of the four places.
    let held = generation.admit(3).unwrap();
    let batch = format!("[{EVENT},{EVENT}]");
    let req = request(
        "POST",
        "/v1/ingest/events:batch",
        &[],
        Chunks(Some(VecDeque::from([Bytes::from(batch.clone())]))),
    );
    let (s, h, b) = call_with(&f, req).await;
    assert_eq!((s, h.get("retry-after").map(|v| v.to_str().unwrap())), (429, Some("1")), "{b}");
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await.0, 202, "one place is left");
    drop(held);
    assert_eq!(post(&f, "/v1/ingest/events:batch", &batch).await.0, 202);
    assert_eq!(f.stored().len(), 3, "nothing of the refused batch was queued");
    let m = f.agent.metrics.encode().unwrap();
    assert_eq!(crate::metrics::sample(&m, "monitoring_sidecar_events_throttled_total"), Some(2.0));
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_408() {
    let f = fixture("ingest: {body_timeout_ms: 50}\n");
    let (s, h, _) = call_with(&f, request("POST", "/v1/ingest/events", &[], Chunks(None))).await;
    assert_eq!((s, h.get("connection").map(|v| v.to_str().unwrap())), (408, Some("close")));
}

#[tokio::test]
async fn the_body_budget_is_shared_by_all_requests() {
    let f = fixture("ingest: {max_body_mb: 0.01, max_buffered_mb: 0.01}\n");
    let hold = f.agent.state.take_buffer(10_400).unwrap();
    let (s, b) = post(&f, "/v1/ingest/events", EVENT).await;
    assert_eq!(s, 429, "{b}");
    drop(hold);
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await.0, 202);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let f = fixture("");
    let empty = || Chunks(Some(VecDeque::new()));
    assert_eq!(call_with(&f, request("GET", "/nope", &[], empty())).await.0, 404);
    let (s, h, _) = call_with(&f, request("GET", "/v1/ingest/events", &[], empty())).await;
    assert_eq!((s, h.get("allow").map(|v| v.to_str().unwrap())), (405, Some("POST")));
    let (s, h, _) = call_with(&f, request("POST", "/health", &[], empty())).await;
    assert_eq!((s, h.get("allow").map(|v| v.to_str().unwrap())), (405, Some("GET, HEAD")));
    let (s, _, _) =
        call_with(&f, request("POST", "/v1/ingest/events", &[("content-encoding", "gzip")], empty())).await;
    assert_eq!(s, 415);
    let (s, _, _) =
        call_with(&f, request("POST", "/v1/ingest/events", &[("content-length", "x")], empty())).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn health_and_metrics() {
    let f = fixture("");
    let (s, _, b) = call_with(&f, request("GET", "/v1/healthz", &[], Chunks(Some(VecDeque::new())))).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("healthy")), "{b}");
    assert_eq!(b["backends"]["local"]["breaker"], "closed");
    post(&f, "/v1/ingest/events", EVENT).await;
    post(&f, "/v1/ingest/events", "{").await;
    f.stored();
    let (s, h, b) = call_with(&f, request("GET", "/metrics", &[], Chunks(Some(VecDeque::new())))).await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = b.as_str().unwrap();
    let v = |name: &str| crate::metrics::sample(text, name);
    assert_eq!(v("monitoring_sidecar_events_received_total"), Some(2.0), "{text}");
    assert_eq!(v("monitoring_sidecar_events_accepted_total"), Some(1.0));
    assert_eq!(v("monitoring_sidecar_events_rejected_total"), Some(1.0));
    assert_eq!(v("monitoring_sidecar_events_delivered_total"), Some(1.0));
    assert_eq!(v(r#"monitoring_sidecar_backend_breaker_state{backend="local"}"#), Some(0.0));
    assert!(text.contains(r#"monitoring_sidecar_http_request_duration_seconds_bucket{le="#), "{text}");
    assert!(text.contains(r#"monitoring_sidecar_http_requests_total{endpoint="events",code="202"} 1"#));
}

#[tokio::test]
async fn a_reload_swaps_the_client_and_counters_keep_growing() {
    let f = fixture("");
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await.0, 202);
    let old = f.agent.state.current();
    let next = Generation::new(old.config.clone()).unwrap();
    drop(old);
    f.agent.state.swap(next, Duration::from_secs(5)).await.unwrap();
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await.0, 202);
    assert_eq!(f.stored().len(), 2, "the old generation's event was flushed before it was shut down");
    let m = f.agent.metrics.encode().unwrap();
    assert_eq!(crate::metrics::sample(&m, "monitoring_sidecar_events_delivered_total"), Some(2.0));
}

/// No input makes a handler panic; every answer is a well-formed status.
#[tokio::test]
async fn arbitrary_bytes_never_panic() {
    let f = fixture("ingest: {max_batch_size: 50}\n");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"events\"",
        b":",
        b",",
        b"\"event\"",
        b"{\"kind\":\"log\"}",
        b"\"\\u0000\"",
        b"1e999",
        b"-0",
        b"null",
        b"\xff\xfe",
        b"\"site_id\"",
        b"\"source\"",
        b"\"metrics\"",
        b"{\"a\":NaN}",
    ];
    for path in ["/v1/ingest/events", "/v1/ingest/batch", "/v1/ingest/events:batch", "/v1/ingest/managed"] {
        for _ in 0..400 {
            let mut body = Vec::new();
            for _ in 0..(next() % 24) {
                body.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let req = request("POST", path, &[], Chunks(Some(VecDeque::from([Bytes::from(body)]))));
            let (s, _, _) = call_with(&f, req).await;
            assert!([202, 400, 413].contains(&s), "{path}: {s}");
        }
    }
}

#[tokio::test]
async fn durable_ack_answers_once_the_events_are_written() {
    // A long flush interval: without durable_ack the events would sit in the batch for minutes.
    let f = fixture("queue: {flush_interval_ms: 600000}\nspool: {durable_ack: true, path: '@DIR@/spool'}\n");
    assert_eq!(post(&f, "/v1/ingest/events", EVENT).await.0, 202);
    let (s, b) = post(&f, "/v1/ingest/events:batch", &format!("[{EVENT},{EVENT}]")).await;
    assert_eq!(s, 202, "{b}");
    let mut lines = 0;
    for entry in std::fs::read_dir(f.dir.path().join("events")).unwrap().flatten() {
        lines += std::fs::read_to_string(entry.path()).unwrap().lines().count();
    }
    assert_eq!(lines, 3, "written before the answer");
}
