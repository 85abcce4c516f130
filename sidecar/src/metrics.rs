//! `/metrics`: the agent's own counters (prometheus-client) and, read at scrape time, the core's
//! (delivered, failed, dropped, spooled, per backend, breaker states), summed over the
//! generations a reload replaced so that counters never go down.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
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
    latency: Vec<Histogram>,
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
        // 25 µs .. ~0.8 s
        let latency_family = Family::<EndpointLabels, Histogram, _>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_025, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer, by endpoint",
            latency_family.clone(),
        );
        let latency = Endpoint::ALL
            .iter()
            .map(|&endpoint| latency_family.get_or_create(&EndpointLabels { endpoint }).clone())
            .collect();
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
            latency,
            connections,
            connections_refused,
            reloads,
        }
    }

    pub fn observe(&self, endpoint: Endpoint, code: u16, seconds: f64) {
        if let Some(h) = self.latency.get(endpoint.index()) {
            h.observe(seconds);
        }
        self.requests.get_or_create(&RequestLabels { endpoint, code }).inc();
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
