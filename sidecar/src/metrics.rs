//! `/metrics`: the agent's own counters (prometheus-client) and, read at scrape time, the core's
//! (delivered, failed, dropped, spooled, per backend, breaker states), summed over the
//! generations a reload replaced so that counters never go down.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::state::State;

/// The endpoints, as a label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Endpoint {
    events,
    batch,
    events_batch,
    managed,
    health,
    metrics,
    other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::events,
        Endpoint::batch,
        Endpoint::events_batch,
        Endpoint::managed,
        Endpoint::health,
        Endpoint::metrics,
        Endpoint::other,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// The status codes the agent answers, each with a slot in [`Metrics`]' table of counters.
const CODES: [u16; 13] = [200, 202, 400, 401, 404, 405, 408, 413, 415, 429, 500, 503, 0];
const OTHER_CODE: usize = CODES.len() - 1;

fn code_index(code: u16) -> usize {
    CODES.iter().position(|&c| c == code).unwrap_or(OTHER_CODE)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: Endpoint,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub received: Counter,
    pub accepted: Counter,
    pub rejected: Counter,
    pub throttled: Counter,
    pub not_durable: Counter,
    requests: Family<RequestLabels, Counter>,
    /// `requests`' counter of each (endpoint, code), found once: a lookup in the family hashes
    /// the labels and takes a lock, on every request.
    request_counters: [[OnceLock<Counter>; CODES.len()]; Endpoint::ALL.len()],
    latency: Arc<[Latency; Endpoint::ALL.len()]>,
    pub connections: Gauge,
    pub connections_refused: Counter,
    reloads: Family<ResultLabels, Counter>,
}

impl Metrics {
    pub fn new(state: Arc<State>) -> Metrics {
        let mut registry = Registry::with_prefix("monitoring_sidecar");
        let received = Counter::default();
        let accepted = Counter::default();
        let rejected = Counter::default();
        let throttled = Counter::default();
        registry.register("events_received", "Events received in ingest requests", received.clone());
        registry.register(
            "events_accepted",
            "Events accepted into the queue (answered 202)",
            accepted.clone(),
        );
        registry.register(
            "events_rejected",
            "Events rejected as invalid (400, or a batch's rejected list)",
            rejected.clone(),
        );
        registry.register(
            "events_throttled",
            "Events refused with 429 (queue full), for the client to retry; a batch refused before it was parsed \
             is not counted here, every 429 is in http_requests_total",
            throttled.clone(),
        );
        let not_durable = Counter::default();
        registry.register(
            "requests_not_durable",
            "Requests answered 503 because their events were not durable in time (spool.durable_ack)",
            not_durable.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by endpoint and status code", requests.clone());
        let latency: Arc<[Latency; Endpoint::ALL.len()]> = Arc::new(Default::default());
        registry.register_collector(Box::new(LatencyCollector {
            latency: latency.clone(),
            bounds: exponential_buckets(LATENCY_FIRST_BOUND_S, 2.0, LATENCY_BOUNDS).collect(),
        }));
        let connections = Gauge::default();
        registry.register("connections_open", "Open HTTP connections", connections.clone());
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections closed at once because ingest.max_connections were open",
            connections_refused.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register("config_reloads", "Configuration reloads (SIGHUP) by result", reloads.clone());
        registry.register_collector(Box::new(CoreCollector { state }));
        Metrics {
            registry,
            received,
            accepted,
            rejected,
            throttled,
            not_durable,
            requests,
            request_counters: Default::default(),
            latency,
            connections,
            connections_refused,
            reloads,
        }
    }

    pub fn observe(&self, endpoint: Endpoint, code: StatusCode, took: Duration) {
        let e = endpoint.index();
        self.latency[e].observe(took);
        let code = code.as_u16();
        let c = code_index(code);
        if c == OTHER_CODE {
            self.requests.get_or_create(&RequestLabels { endpoint, code }).inc();
        } else {
            self.request_counters[e][c]
                .get_or_init(|| self.requests.get_or_create(&RequestLabels { endpoint, code }).clone())
                .inc();
        }
    }

    pub fn reload(&self, ok: bool) {
        self.reloads.get_or_create(&ResultLabels { result: if ok { "ok" } else { "error" } }).inc();
    }

    /// The exposition, in the OpenMetrics text format (which Prometheus reads, as it does its
    /// own text format).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `http_request_duration_seconds`: 16 buckets from 25 µs, doubling (to ~0.8 s), and +Inf.
const LATENCY_FIRST_BOUND_S: f64 = 0.000_025;
const LATENCY_FIRST_BOUND_NS: u64 = 25_000;
const LATENCY_BOUNDS: u16 = 16;

/// One endpoint's latency histogram: atomic counters, no lock (prometheus-client's `Histogram`
/// takes a lock and walks its buckets on every observation).
#[derive(Default)]
struct Latency {
    /// Per bucket, not cumulative; the last is +Inf.
    buckets: [AtomicU64; LATENCY_BOUNDS as usize + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Latency {
    fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[latency_bucket(ns)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }
}

/// The first bucket whose bound (25 µs × 2^i) is at least `ns`; the +Inf bucket past the last.
fn latency_bucket(ns: u64) -> usize {
    if ns <= LATENCY_FIRST_BOUND_NS {
        return 0;
    }
    // the smallest i with 2^i >= ceil(ns / first bound)
    let multiple = ns.div_ceil(LATENCY_FIRST_BOUND_NS);
    let i = (u64::BITS - (multiple - 1).leading_zeros()) as usize;
    i.min(LATENCY_BOUNDS as usize)
}

struct LatencyCollector {
    latency: Arc<[Latency; Endpoint::ALL.len()]>,
    bounds: Vec<f64>,
}

impl fmt::Debug for LatencyCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LatencyCollector")
    }
}

impl Collector for LatencyCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "http_request_duration_seconds",
            // The full stop that the registry adds to the help of what is registered with it.
            "Time from a request's headers to its answer, by endpoint.",
            None,
            MetricType::Histogram,
        )?;
        for endpoint in Endpoint::ALL {
            let h = &self.latency[endpoint.index()];
            let bounds = self.bounds.iter().copied().chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = bounds.zip(h.buckets.iter().map(|b| b.load(Relaxed))).collect();
            let sum = h.sum_ns.load(Relaxed) as f64 / 1e9;
            m.encode_family(&EndpointLabels { endpoint })?.encode_histogram::<NoLabelSet>(
                sum,
                h.count.load(Relaxed),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

/// Reads the core's counters at scrape time.
struct CoreCollector {
    state: Arc<State>,
}

impl fmt::Debug for CoreCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoreCollector")
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    m.encode_gauge(&v)
}

impl Collector for CoreCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let (t, current) = self.state.totals();
        counter(
            &mut e,
            "events_delivered",
            "Events delivered by the backends (every backend, once flushed)",
            t.delivered,
        )?;
        counter(
            &mut e,
            "events_failed",
            "Events a backend gave up on (written to its dead-letter file)",
            t.failed,
        )?;
        counter(
            &mut e,
            "events_dropped",
            "Events dropped by the agent's core (a backend with an open breaker and a full queue)",
            t.dropped,
        )?;
        counter(&mut e, "events_spooled", "Events written to the disk spool", t.spooled)?;
        counter(&mut e, "events_unrouted", "Events no backend's filter took", t.unrouted)?;
        gauge(&mut e, "queue_depth", "Events in the agent's queue", current.queue_depth as i64)?;
        gauge(
            &mut e,
            "buffered_bytes",
            "Bytes of request bodies held in memory",
            self.state.buffered() as i64,
        )?;
        {
            let mut m = e.encode_descriptor(
                "backend_breaker_state",
                "Circuit breaker of each backend: 0 closed, 1 half-open, 2 open",
                None,
                MetricType::Gauge,
            )?;
            for (name, b) in &current.backends {
                let v: i64 = match b.breaker {
                    "closed" => 0,
                    "half_open" => 1,
                    _ => 2,
                };
                m.encode_family(&[("backend", name.as_str())])?.encode_gauge(&v)?;
            }
        }
        type Pick = fn(&crate::state::BackendTotals) -> u64;
        let per_backend: [(&str, &str, Pick); 8] = [
            ("backend_delivered", "Events delivered, per backend", |b| b.delivered),
            (
                "backend_failed",
                "Events a backend gave up on (dead letter, or lost if it was not writable)",
                |b| b.failed,
            ),
            ("backend_dropped", "Events dropped, per backend (queue full, spool full)", |b| b.dropped),
            ("backend_retried", "Event deliveries retried, per backend", |b| b.retried),
            ("backend_spooled", "Events written to the backend's spool", |b| b.spooled),
            ("backend_dead_lettered", "Events written to the backend's dead-letter file", |b| {
                b.dead_lettered
            }),
            (
                "backend_spool_lost",
                "Spooled events lost to damage (corrupt or missing records), skipped",
                |b| b.spool_lost,
            ),
            ("backend_spool_torn", "Unfinished spool writes cut off when the spool was opened", |b| {
                b.spool_torn
            }),
        ];
        for (name, help, pick) in per_backend {
            let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (backend, b) in &t.backends {
                m.encode_family(&[("backend", backend.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&pick(b), None)?;
            }
        }
        type Current = fn(&monitoring_core::BackendSnapshot) -> u64;
        let spool_now: [(&str, &str, Current); 2] = [
            ("backend_spool_pending", "Events waiting in the backend's spool", |b| b.spool_pending),
            ("backend_spool_bytes", "Bytes of the backend's spool on disk", |b| b.spool_bytes),
        ];
        for (name, help, pick) in spool_now {
            let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (backend, b) in &current.backends {
                m.encode_family(&[("backend", backend.as_str())])?.encode_gauge(&(pick(b) as i64))?;
            }
        }
        Ok(())
    }
}

/// For tests: the value of one sample line of an exposition.
#[cfg(test)]
pub fn sample(exposition: &str, name_and_labels: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix(name_and_labels)?;
        rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_the_first_bound_at_or_above() {
        let bounds: Vec<f64> = exponential_buckets(LATENCY_FIRST_BOUND_S, 2.0, LATENCY_BOUNDS).collect();
        for ns in [0, 1, 24_999, 25_000, 25_001, 49_999, 50_000, 50_001, 99_999, 100_000, 819_200_000] {
            let expected = bounds.iter().position(|&b| ns as f64 / 1e9 <= b).unwrap();
            assert_eq!(latency_bucket(ns), expected, "{ns} ns");
        }
        assert_eq!(latency_bucket(819_200_001), LATENCY_BOUNDS as usize, "+Inf");
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BOUNDS as usize, "+Inf");
    }
}
