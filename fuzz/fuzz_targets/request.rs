#![no_main]
// The agent's request bodies, as its handler takes them apart: the first byte picks the endpoint
// (one event, `{"events":[...]}`, the earlier clients' `[...]`, the managed envelope), the rest
// is the body. Never a panic; a batch is never longer than its bound; an event given the
// envelope's `site_id` is still one JSON object with that `site_id`; every event then goes
// through the core's validation and encoding (the `event` target's checks).
//
// The body parser is the agent's own source file, compiled into this crate as it is (the agent
// is a binary crate, and nothing of it had to change for this).
#[path = "../../sidecar/src/ingest.rs"]
#[allow(dead_code)]
mod ingest;

use ingest::{BodyError, Shape};

const MAX_BATCH: usize = 1000;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&endpoint, body)) = data.split_first() else { return };
    let shape = match endpoint % 4 {
        0 => return monitoring_core::fuzzing::event(body),
        1 => Shape::Object,
        2 => Shape::Array,
        _ => Shape::Managed,
    };
    let env = match ingest::parse(body, shape, MAX_BATCH) {
        Ok(env) => env,
        Err(BodyError::TooMany(max)) => return assert_eq!(max, MAX_BATCH),
        Err(BodyError::Invalid { .. }) => return,
    };
    assert!(env.events.len() <= MAX_BATCH, "a batch over its bound: {}", env.events.len());
    if shape != Shape::Managed {
        assert!(env.source.is_none() && env.site_id.is_none(), "envelope fields outside the managed endpoint");
    }
    for event in &env.events {
        let filled = env.site_id.as_deref().and_then(|site| ingest::with_site_id(event, site));
        if let (Some(text), Some(site)) = (&filled, &env.site_id) {
            let v: serde_json::Value = serde_json::from_str(text).expect("a filled event is JSON");
            assert_eq!(v.get("site_id").and_then(|s| s.as_str()), Some(site.as_str()));
        }
        monitoring_core::fuzzing::event(filled.as_deref().unwrap_or(event.get()).as_bytes());
    }
});
