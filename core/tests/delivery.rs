//! Router and backend behaviour end to end, against real HTTP servers on 127.0.0.1.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monitoring_core::{Client, Error};
use serde_json::Value;

/// A real HTTP server: answers `status_for(n)` to the n-th request and records bodies and
/// `Idempotency-Key` headers of the requests it answered 2xx.
struct Sink {
    url: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    requests: Arc<AtomicUsize>,
}

fn sink(status_for: impl Fn(usize) -> u16 + Send + 'static) -> Sink {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ingest", server.server_addr().to_ip().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let (r, n) = (received.clone(), requests.clone());
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let i = n.fetch_add(1, Ordering::SeqCst);
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let key = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Idempotency-Key"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let status = status_for(i);
            if (200..300).contains(&status) {
                r.lock().unwrap().push((key, serde_json::from_str(&body).unwrap()));
            }
            let _ = req.respond(tiny_http::Response::from_string("{}").with_status_code(status));
        }
    });
    Sink { url, received, requests }
}

impl Sink {
    fn events(&self) -> Vec<Value> {
        self.received.lock().unwrap().iter().flat_map(|(_, b)| b.as_array().unwrap().clone()).collect()
    }
}

fn read_jsonl(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(
            text.lines().map(|l| serde_json::from_str::<Value>(l).expect("every line is one JSON event")),
        );
    }
    out
}

fn event(i: usize) -> String {
    format!(r#"{{"entity":{{"type":"tool","id":"T{i}"}},"event":{{"kind":"metric","metrics":{{"i":{i}}}}}}}"#)
}

fn client(yaml: String) -> Client {
    Client::configure(Some(&yaml), None).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A client writing to `<dir>/ev`, spooling under `<dir>/spool`, with the `queue` section given.
fn file_client(dir: &Path, queue: &str) -> Client {
    client(format!(
        "direct_backends:\n  - {{type: filesystem, path: '{0}/ev'}}\nspool: {{path: '{0}/spool'}}\nqueue: {queue}\n",
        dir.display()
    ))
}

fn keys(events: &[Value]) -> HashSet<String> {
    events.iter().map(|e| e["idempotency_key"].as_str().unwrap().to_owned()).collect()
}

/// From 4 threads, each flushing its own events, under both `on_full` modes (`drop` takes the
/// lock-free ingress queue, `block` the channel): every event once, and the counts add up.
#[test]
fn every_event_reaches_the_file_once_and_counts_add_up() {
    for on_full in ["block", "drop"] {
        let dir = tempfile::tempdir().unwrap();
        let c = file_client(dir.path(), &format!("{{on_full: {on_full}}}"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..5000).for_each(|i| c.emit(event(t * 5000 + i).as_bytes()).unwrap());
                    c.flush(Duration::from_secs(10)).unwrap();
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let events = read_jsonl(&dir.path().join("ev"));
        assert_eq!(events.len(), 20000, "{on_full}");
        assert_eq!(keys(&events).len(), 20000);
        let ids: HashSet<_> =
            events.iter().map(|e| e["event"]["metrics"]["i"].as_f64().unwrap() as u64).collect();
        assert_eq!(ids.len(), 20000);
        let s = c.stats();
        assert_eq!((s.emitted, s.delivered, s.dropped, s.failed, s.queue_depth), (20000, 20000, 0, 0, 0));
        assert_eq!(s.backends["filesystem"].delivered, 20000);
        c.shutdown(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn webhook_retries_5xx_with_the_same_idempotency_key_then_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(|i| if i < 3 { 503 } else { 200 });
    let c = client(format!(
        "direct_backends:\n  - {{type: webhook, name: hook, url: '{}'}}\nspool: {{path: '{}'}}\nretry: {{initial_ms: 5, max_ms: 20}}\ncircuit_breaker: {{failure_threshold: 10}}\nqueue: {{batch_max: 1000}}\n",
        s.url,
        dir.path().display()
    ));
    for i in 0..100 {
        c.emit(event(i).as_bytes()).unwrap();
    }
    c.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(s.events().len(), 100);
    assert_eq!(s.requests.load(Ordering::SeqCst), 4, "one batch, three 503s, one 200");
    let key = &s.received.lock().unwrap()[0].0;
    assert_eq!(key.len(), 36, "Idempotency-Key is a UUID: {key}");
    let st = c.stats();
    assert_eq!(st.backends["hook"].retried, 300);
    assert_eq!(st.backends["hook"].breaker, "closed");
    assert_eq!(st.delivered, 100);
}

#[test]
fn a_4xx_goes_to_the_dead_letter_file_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(|_| 422);
    let c = client(format!(
        "direct_backends:\n  - {{type: webhook, name: hook, url: '{}'}}\nspool: {{path: '{}'}}\n",
        s.url,
        dir.path().display()
    ));
    for i in 0..10 {
        c.emit(event(i).as_bytes()).unwrap();
    }
    c.flush(Duration::from_secs(10)).unwrap();
    let dead = read_jsonl(&dir.path().join("dead-letter"));
    assert_eq!(dead.len(), 10);
    assert!(dead[0]["reason"].as_str().unwrap().contains("HTTP 422"), "{}", dead[0]);
    assert_eq!(dead[0]["backend"], "hook");
    assert_eq!(dead[0]["event"]["event"]["kind"], "metric");
    let st = c.stats();
    assert_eq!((st.failed, st.delivered), (10, 0));
    assert_eq!(st.backends["hook"].dead_lettered, 10);
}

#[test]
fn a_dead_backend_does_not_stop_a_healthy_one_in_fanout() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = client(format!(
        "direct_backends:\n  - {{type: filesystem, name: disk, path: '{0}/ev'}}\n  - {{type: webhook, name: down, url: 'http://127.0.0.1:{1}/x', timeout_ms: 200}}\nspool: {{path: '{0}/spool'}}\nretry: {{initial_ms: 1, max_ms: 5, max_attempts: 2}}\ncircuit_breaker: {{failure_threshold: 1, open_ms: 60000}}\nqueue: {{batch_max: 10, flush_interval_ms: 10}}\n",
        dir.path().display(),
        closed_port
    ));
    for i in 0..2000 {
        c.emit(event(i).as_bytes()).unwrap();
    }
    // The dead backend's batches are given up on (dead letter) or, once its breaker is open
    // and its queue full, dropped and counted; the disk gets everything either way.
    let _ = c.flush(Duration::from_secs(2));
    let start = Instant::now();
    while read_jsonl(&dir.path().join("ev")).len() < 2000 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_jsonl(&dir.path().join("ev")).len(), 2000);
    let st = c.stats();
    assert_eq!(st.backends["disk"].delivered, 2000);
    let down = &st.backends["down"];
    assert_eq!(down.breaker, "open");
    // What the dead backend could not take is spooled, so shutdown completes in time.
    assert_eq!(c.shutdown(Duration::from_millis(1000)), Ok(()));
    let down = &c.stats().backends["down"];
    assert_eq!(down.dead_lettered, 0, "a refused connection is retried and spooled, never dead-lettered");
    assert_eq!(down.spool_pending, down.spooled, "nothing could be replayed");
    assert_eq!(down.spooled + down.dropped, 2000, "every event the dead backend did not get is counted");
}

#[test]
fn failover_moves_batches_to_the_next_backend_by_priority() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let c = client(format!(
        "delivery: failover\ndirect_backends:\n  - {{type: filesystem, name: backup, priority: 2, path: '{0}/ev'}}\n  - {{type: webhook, name: primary, priority: 1, url: 'http://127.0.0.1:{1}/x'}}\nspool: {{path: '{0}/spool'}}\nretry: {{initial_ms: 1, max_ms: 2, max_attempts: 2}}\n",
        dir.path().display(),
        closed_port
    ));
    for i in 0..300 {
        c.emit(event(i).as_bytes()).unwrap();
    }
    c.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(read_jsonl(&dir.path().join("ev")).len(), 300);
    assert!(read_jsonl(&dir.path().join("spool/dead-letter")).is_empty());
    assert_eq!(c.stats().delivered, 300);
}

#[test]
fn filters_route_by_kind_and_entity_type() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(format!(
        "direct_backends:\n  - {{type: filesystem, name: all, path: '{0}/all'}}\n  - {{type: filesystem, name: errors, path: '{0}/errors', filter: {{kinds: [error]}}}}\n  - {{type: filesystem, name: lots, path: '{0}/lots', filter: {{entity_types: [lot]}}}}\nspool: {{path: '{0}/spool'}}\n",
        dir.path().display()
    ));
    c.emit(br#"{"entity":{"type":"lot"},"event":{"kind":"error"}}"#).unwrap();
    c.emit(br#"{"entity":{"type":"tool"},"event":{"kind":"error"}}"#).unwrap();
    c.emit(br#"{"entity":{"type":"lot"},"event":{"kind":"log"}}"#).unwrap();
    c.emit(br#"{"event":{"kind":"heartbeat"}}"#).unwrap();
    c.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(read_jsonl(&dir.path().join("all")).len(), 4);
    assert_eq!(read_jsonl(&dir.path().join("errors")).len(), 2);
    assert_eq!(read_jsonl(&dir.path().join("lots")).len(), 2);
    assert_eq!(c.stats().delivered, 4);
}

#[test]
fn flush_and_shutdown_meet_their_deadlines_while_a_backend_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for s in silent.incoming().take(8) {
            conns.push(s);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let c = client(format!(
        "direct_backends:\n  - {{type: webhook, url: 'http://127.0.0.1:{port}/x', timeout_ms: 20000}}\nspool: {{path: '{}'}}\nqueue: {{flush_interval_ms: 10}}\n",
        dir.path().display()
    ));
    c.emit(event(1).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(c.flush(Duration::from_millis(200)), Err(Error::Timeout));
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(195) && took < Duration::from_millis(300), "flush took {took:?}");
    let t = Instant::now();
    assert_eq!(c.shutdown(Duration::from_millis(200)), Err(Error::Timeout));
    assert!(t.elapsed() < Duration::from_millis(300), "shutdown took {:?}", t.elapsed());
    assert_eq!(c.emit(event(2).as_bytes()), Err(Error::Shutdown));
}

/// An idle batcher blocks; the next event must wake it (the interval then seals its batch),
/// not wait for a flush.
#[test]
fn an_event_wakes_the_idle_batcher() {
    let dir = tempfile::tempdir().unwrap();
    let c = file_client(dir.path(), "{on_full: drop, flush_interval_ms: 20}");
    for round in 0..20u64 {
        // Past the interval and the batcher's lingers: it is blocked.
        std::thread::sleep(Duration::from_millis(if round == 0 { 10 } else { 60 }));
        c.emit(event(round as usize).as_bytes()).unwrap();
        let by = Instant::now() + Duration::from_secs(5);
        while c.stats().delivered < round + 1 {
            assert!(Instant::now() < by, "event {round} not delivered without a flush");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    c.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(read_jsonl(&dir.path().join("ev")).len(), 20);
}

/// Events emitted while another thread shuts the client down are each delivered, spooled, or
/// dropped and counted: the counts add up and match the file.
#[test]
fn events_racing_a_shutdown_are_delivered_or_counted() {
    for round in 0..8u64 {
        let dir = tempfile::tempdir().unwrap();
        let c = file_client(dir.path(), "{on_full: drop}");
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    loop {
                        match c.emit(event(t * 1_000_000 + i).as_bytes()) {
                            Ok(()) | Err(Error::QueueFull) => i += 1,
                            Err(Error::Shutdown) => return,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2 + round));
        c.shutdown(Duration::from_secs(10)).unwrap();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let s = c.stats();
        assert!(s.emitted > 0);
        // A batch the batcher hands over as the workers stop is spooled for the next client.
        assert_eq!(s.delivered + s.spooled + s.dropped + s.failed, s.emitted, "round {round}: {s:?}");
        assert_eq!(read_jsonl(&dir.path().join("ev")).len() as u64, s.delivered, "round {round}");
    }
}

/// Two clients fed from the same threads, one with a small queue that keeps refusing: each gets
/// its events once, every one intact. `emit` writes events into a ring per thread
/// (`event/blocks.rs`) that serves one queue at a time and takes back the blocks a queue refuses,
/// so a mistake there shows as an event written over by a later one.
#[test]
fn two_clients_on_the_same_threads_each_get_their_events_intact() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = file_client(dir_a.path(), "{on_full: drop}");
    let b = file_client(dir_b.path(), "{capacity: 64, batch_max: 16, on_full: drop}");
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut taken = 0;
                let mut to_b = |i: usize| match b.emit(event(i).as_bytes()) {
                    Ok(()) => taken += 1,
                    Err(Error::QueueFull) => {}
                    Err(e) => panic!("{e}"),
                };
                // First to `b` alone (its refusals are of blocks in the thread's ring), then to
                // both in turn.
                (20000 + t * 4000..20000 + (t + 1) * 4000).for_each(&mut to_b);
                for i in t * 4000..(t + 1) * 4000 {
                    a.emit(event(i).as_bytes()).unwrap();
                    to_b(i);
                }
                taken
            })
        })
        .collect();
    let taken: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    a.flush(Duration::from_secs(10)).unwrap();
    b.flush(Duration::from_secs(10)).unwrap();
    let intact = |e: &Value| {
        let i = e["event"]["metrics"]["i"].as_f64().unwrap_or(-1.0);
        e["entity"]["id"].as_str() == Some(&format!("T{i}"))
    };
    let (events_a, events_b) = (read_jsonl(&dir_a.path().join("ev")), read_jsonl(&dir_b.path().join("ev")));
    assert_eq!(events_a.len(), 12000);
    assert_eq!(keys(&events_a).len(), 12000);
    assert!(events_a.iter().all(intact));
    assert_eq!(events_b.len() as u64, taken);
    assert_eq!(keys(&events_b).len() as u64, taken);
    assert!(events_b.iter().all(intact));
    assert!(taken > 0 && taken < 24000, "{taken}");
    assert_eq!(b.stats().dropped, 24000 - taken);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let c = client(format!(
        "direct_backends:\n  - {{type: webhook, url: 'http://127.0.0.1:{port}/x', timeout_ms: 20000}}\nspool: {{path: '{}'}}\nqueue: {{capacity: 8, batch_max: 1, on_full: drop}}\n",
        dir.path().display()
    ));
    let mut full = 0;
    let t = Instant::now();
    for i in 0..1000 {
        match c.emit(event(i).as_bytes()) {
            Ok(()) => {}
            Err(Error::QueueFull) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(t.elapsed() < Duration::from_millis(500), "emit blocked: {:?}", t.elapsed());
    assert!(full > 900, "{full}");
    let st = c.stats();
    assert_eq!(st.dropped, full);
    assert_eq!(st.emitted, 1000);
    drop(silent);
}

#[test]
fn files_rotate_by_size_without_losing_or_splitting_lines() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(format!(
        "direct_backends:\n  - {{type: filesystem, path: '{0}/ev', rotate_mb: 1, fsync: never}}\nspool: {{path: '{0}/spool'}}\nqueue: {{on_full: block}}\n",
        dir.path().display()
    ));
    let pad = "x".repeat(1000);
    for i in 0..4000 {
        c.emit(format!(r#"{{"event":{{"kind":"log","message":"{pad}","metrics":{{"i":{i}}}}}}}"#).as_bytes())
            .unwrap();
    }
    c.shutdown(Duration::from_secs(10)).unwrap();
    let files: Vec<_> =
        std::fs::read_dir(dir.path().join("ev")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 1024 * 1024 + 2048, "{f:?} too big");
    }
    assert_eq!(read_jsonl(&dir.path().join("ev")).len(), 4000);
}

#[test]
fn a_backend_down_then_up_gets_every_event_from_the_spool_and_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let u = up.clone();
    let s = sink(move |_| if u.load(Ordering::SeqCst) { 200 } else { 503 });
    let c = client(format!(
        "direct_backends:\n  - {{type: webhook, name: hook, url: '{}'}}\nspool: {{path: '{}'}}\nretry: {{initial_ms: 1, max_ms: 5}}\ncircuit_breaker: {{failure_threshold: 2, open_ms: 100}}\nqueue: {{batch_max: 50, flush_interval_ms: 5}}\n",
        s.url,
        dir.path().display()
    ));
    for i in 0..3000 {
        c.emit(event(i).as_bytes()).unwrap();
    }
    // Spooled counts as done for a flush: it returns while the backend is still down.
    c.flush(Duration::from_secs(10)).unwrap();
    let st = c.stats();
    assert!(st.spool_pending > 0 && st.backends["hook"].breaker != "closed", "{st:?}");
    up.store(true, Ordering::SeqCst);
    let start = Instant::now();
    while c.stats().spool_pending > 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = c.stats();
    assert_eq!(st.spool_pending, 0, "{st:?}");
    let got = s.events();
    assert_eq!((st.dropped, st.failed, st.backends["hook"].spool_lost), (0, 0, 0), "{st:?}");
    assert_eq!(keys(&got).len(), 3000, "every event arrived");
    assert_eq!(got.len(), 3000, "and none twice");
    assert_eq!(st.emitted, st.delivered + st.dropped + st.failed, "{st:?}");
    assert_eq!(st.dropped + st.failed, 0);
    c.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_spool_left_by_an_earlier_client_is_replayed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = |url: &str| {
        format!(
            "direct_backends:\n  - {{type: webhook, name: hook, url: '{url}'}}\nspool: {{path: '{}', fsync: always}}\nretry: {{initial_ms: 1, max_ms: 2}}\ncircuit_breaker: {{failure_threshold: 1, open_ms: 60000}}\n",
            dir.path().display()
        )
    };
    let first = client(cfg(&format!("http://127.0.0.1:{closed_port}/x")));
    for i in 0..500 {
        first.emit(event(i).as_bytes()).unwrap();
    }
    first.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(first.stats().backends["hook"].spool_pending, 500);
    drop(first);

    let s = sink(|_| 200);
    let second = client(cfg(&s.url));
    assert_eq!(second.stats().backends["hook"].spool_pending, 500, "found on start");
    let start = Instant::now();
    while s.events().len() < 500 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = s.events();
    assert_eq!(keys(&got).len(), 500);
    let order: Vec<u64> = got.iter().map(|e| e["event"]["metrics"]["i"].as_f64().unwrap() as u64).collect();
    assert_eq!(order, (0..500).collect::<Vec<_>>(), "replayed in order");
    second.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(second.stats().backends["hook"].spool_pending, 0);
}

#[test]
fn clients_sharing_a_spool_folder_each_get_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "direct_backends:\n  - {{type: filesystem, name: local, path: '{0}/ev'}}\nspool: {{path: '{0}/spool'}}\n",
        dir.path().display()
    );
    let clients: Vec<Client> = (0..3).map(|_| client(cfg.clone())).collect();
    let mut folders: Vec<String> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let pid = std::process::id();
    assert_eq!(folders, vec!["local".to_string(), format!("local.{pid}"), format!("local.{pid}.1")]);
    for c in clients {
        c.shutdown(Duration::from_secs(2)).unwrap();
    }
}

#[test]
fn a_hung_backend_with_a_full_queue_at_shutdown_loses_nothing() {
    // The worker is stuck in a call that never returns, its queue (16 batches) is full and the
    // batcher holds more: at the shutdown deadline every one of them goes to the spool, and
    // the next client delivers them all.
    let dir = tempfile::tempdir().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(conns);
    });
    let cfg = |url: &str| {
        format!(
            "direct_backends:\n  - {{type: webhook, name: hook, url: '{url}', timeout_ms: 30000}}\nspool: {{path: '{}'}}\nqueue: {{batch_max: 1, flush_interval_ms: 1, on_full: block}}\n",
            dir.path().display()
        )
    };
    let first = client(cfg(&format!("http://127.0.0.1:{port}/x")));
    for i in 0..40 {
        first.emit(event(i).as_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let _ = first.shutdown(Duration::from_millis(500));
    assert!(t.elapsed() < Duration::from_millis(700), "shutdown took {:?}", t.elapsed());
    let stats = first.stats();
    assert_eq!((stats.spooled, stats.dropped), (40, 0), "{stats:?}");
    drop(first);

    let s = sink(|_| 200);
    let second = client(cfg(&s.url));
    let start = Instant::now();
    while s.events().len() < 40 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    second.shutdown(Duration::from_secs(5)).unwrap();
    let got = s.events();
    assert_eq!((got.len(), keys(&got).len()), (40, 40), "every event once");
}
