//! What every request shares: the current generation (a core `Client` and the ingest settings
//! it was built with), swapped whole on SIGHUP; the admission rule for the queue; the body
//! memory budget; and the counters of generations already retired.
//!
//! Reload, without losing an event: the new generation is built first (a bad file leaves the
//! old one serving); it is swapped in atomically, so new requests use it; requests that already
//! hold the old one finish on it (each holds an `Arc`, and the old one is shut down only once
//! it is the last holder, or at the deadline); then the old client is shut down, which flushes
//! its queue to its backends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use monitoring_core::{Client, StatsSnapshot};
use subtle::ConstantTimeEq;
use tokio::sync::{watch, Notify};

use crate::config::AgentConfig;

/// One configuration in force: the client it built and the ingest settings.
pub struct Generation {
    pub client: Client,
    pub config: AgentConfig,
    /// Events admitted by requests but not yet queued (see [`Generation::admit`]).
    reserved: AtomicUsize,
    /// The `Authorization` header value that is accepted, when a token is set.
    expected_auth: Option<Vec<u8>>,
    pub max_body: usize,
    /// With `spool.durable_ack`: the flushes that requests wait for before answering 202.
    durable: Option<Arc<GroupFlush>>,
}

impl Generation {
    pub fn new(config: AgentConfig) -> monitoring_core::Result<Generation> {
        let client = Client::from_config(config.core.clone()).map_err(agent_paths)?;
        Ok(Self::with_client(config, client))
    }

    pub fn with_client(config: AgentConfig, client: Client) -> Generation {
        let expected_auth = config.token().map(|t| format!("Bearer {t}").into_bytes());
        let max_body = config.ingest.max_body_bytes();
        let durable = config.core.spool.durable_ack.then(|| Arc::new(GroupFlush::new(client.clone())));
        Generation { client, config, reserved: AtomicUsize::new(0), expected_auth, max_body, durable }
    }

    /// With `spool.durable_ack: true`, waits until everything this request queued is delivered or
    /// fsynced to the spool (a flush of the client, shared by every request waiting at that
    /// moment: group commit). `true` at once without `durable_ack`.
    pub async fn durable(&self) -> bool {
        match &self.durable {
            None => true,
            // Boxed: its timer would make every request's future larger, durable or not.
            Some(g) => Box::pin(g.wait(DURABLE_TIMEOUT)).await,
        }
    }

    /// Whether a request with these headers may ingest (its `Authorization` header is looked up
    /// only when a token is set). Constant time in the token's content (a different length is
    /// told apart, the bytes are not).
    pub fn authorized(&self, headers: &http::HeaderMap) -> bool {
        match &self.expected_auth {
            None => true,
            Some(expected) => headers
                .get(http::header::AUTHORIZATION)
                .is_some_and(|h| bool::from(h.as_bytes().ct_eq(expected.as_slice()))),
        }
    }

    /// Admits `n` events into the queue, all or none: `None` when the queue has no room for all
    /// of them. While the [`Admission`] lives the room stays reserved for them, so that no other
    /// request takes it; a batch is therefore decided before any of its events is queued, and
    /// a client retrying a 429 cannot duplicate part of it.
    pub fn admit(&self, n: usize) -> Option<Admission<'_>> {
        let mut reserved = self.reserved.load(Acquire);
        loop {
            // Only admitted requests fill the queue, and each queues its events before it gives
            // its reservation back: an event is counted in the queue, in `reserved` or in both,
            // never in neither. The room is read again on every try (the batcher drains).
            let room = self.client.queue_room();
            if reserved + n > room {
                return None;
            }
            match self.reserved.compare_exchange_weak(reserved, reserved + n, AcqRel, Acquire) {
                Ok(_) => return Some(Admission { generation: self, n }),
                Err(now) => reserved = now,
            }
        }
    }
}

/// How long a request waits for its events to be durable (`spool.durable_ack`) before it is
/// answered 503 (the events stay queued; a retry may store them twice, under the same
/// `idempotency_key`). Below the SDK's default `sidecar.timeout_ms` (5 s).
pub const DURABLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Group commit: every request takes a ticket after queueing its events; one flush of the client
/// at a time covers every ticket taken before it started.
struct GroupFlush {
    client: Client,
    next: std::sync::atomic::AtomicU64,
    /// (every ticket up to here has been flushed, ... and flushed successfully)
    done: watch::Sender<(u64, u64)>,
    wake: Notify,
    started: std::sync::Once,
}

impl GroupFlush {
    fn new(client: Client) -> GroupFlush {
        GroupFlush {
            client,
            next: std::sync::atomic::AtomicU64::new(0),
            done: watch::channel((0, 0)).0,
            wake: Notify::new(),
            started: std::sync::Once::new(),
        }
    }

    async fn wait(self: &Arc<Self>, timeout: Duration) -> bool {
        self.started.call_once(|| {
            tokio::spawn(Self::run(Arc::downgrade(self)));
        });
        let ticket = self.next.fetch_add(1, AcqRel) + 1;
        let mut rx = self.done.subscribe();
        self.wake.notify_one();
        let waited = tokio::time::timeout(timeout, async {
            match rx.wait_for(|(attempted, _)| *attempted >= ticket).await {
                Ok(done) => done.1 >= ticket,
                Err(_) => false,
            }
        })
        .await;
        waited.unwrap_or(false)
    }

    /// The flusher: holds the group weakly, so that it ends with its generation.
    async fn run(group: std::sync::Weak<GroupFlush>) {
        loop {
            let Some(g) = group.upgrade() else { return };
            if g.client.is_shut_down() {
                g.done.send_modify(|(attempted, _)| *attempted = u64::MAX);
                return;
            }
            let target = g.next.load(Acquire);
            if target <= g.done.borrow().0 {
                // Nothing new: wait for a request (a missed wake-up is stored by `Notify`), and
                // look again every second in case the generation is gone.
                let _ = tokio::time::timeout(Duration::from_secs(1), g.wake.notified()).await;
                continue;
            }
            let client = g.client.clone();
            let ok = tokio::task::spawn_blocking(move || client.flush(DURABLE_TIMEOUT).is_ok())
                .await
                .unwrap_or(false);
            g.done.send_modify(|(attempted, succeeded)| {
                *attempted = target;
                if ok {
                    *succeeded = target;
                }
            });
        }
    }
}

impl Generation {
    /// Whether the queue has any room not held by other requests: a batch is refused before it
    /// is parsed when there is none (under overload the parse would be wasted work).
    pub fn has_room(&self) -> bool {
        self.client.queue_room() > self.reserved.load(Acquire)
    }
}

/// Room in the queue held for one request's events; given back when dropped.
pub struct Admission<'a> {
    generation: &'a Generation,
    n: usize,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.generation.reserved.fetch_sub(self.n, AcqRel);
    }
}

/// The core names its backends' list `direct_backends`; the agent's is `backends`.
pub fn agent_paths(e: monitoring_core::Error) -> monitoring_core::Error {
    match e {
        monitoring_core::Error::Config { path: Some(p), message } if p.starts_with("direct_backends") => {
            monitoring_core::Error::Config {
                path: Some(p.replacen("direct_backends", "backends", 1)),
                message,
            }
        }
        other => other,
    }
}

/// Counters of generations that were replaced (reload), so that what `/metrics` reports keeps
/// growing across reloads, as Prometheus counters must.
#[derive(Default, Debug, Clone)]
pub struct Totals {
    pub emitted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub spooled: u64,
    pub unrouted: u64,
    pub retried: u64,
    pub backends: BTreeMap<String, BackendTotals>,
}

#[derive(Default, Debug, Clone)]
pub struct BackendTotals {
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub retried: u64,
    pub spooled: u64,
    pub dead_lettered: u64,
    /// Spooled events lost to damage, and torn writes cut off at start (exact counts).
    pub spool_lost: u64,
    pub spool_torn: u64,
}

impl Totals {
    pub fn add(&mut self, s: &StatsSnapshot) {
        self.emitted += s.emitted;
        self.delivered += s.delivered;
        self.failed += s.failed;
        self.dropped += s.dropped;
        self.spooled += s.spooled;
        self.unrouted += s.unrouted;
        self.retried += s.retried;
        for (name, b) in &s.backends {
            let t = self.backends.entry(name.clone()).or_default();
            t.delivered += b.delivered;
            t.failed += b.failed;
            t.dropped += b.dropped;
            t.retried += b.retried;
            t.spooled += b.spooled;
            t.dead_lettered += b.dead_lettered;
            t.spool_lost += b.spool_lost;
            t.spool_torn += b.spool_torn;
        }
    }
}

/// The agent's state shared by every connection.
pub struct State {
    current: ArcSwap<Generation>,
    /// Generations swapped out and still shutting down, and what finished ones counted.
    retiring: Mutex<(Vec<Arc<Generation>>, Totals)>,
    /// Set at SIGTERM/SIGINT: health answers 503 so load balancers move away.
    pub stopping: AtomicBool,
    /// Bytes of request bodies held in memory right now, and the most allowed.
    buffered: AtomicUsize,
    max_buffered: AtomicUsize,
    /// One reload at a time.
    reload_lock: tokio::sync::Mutex<()>,
}

impl State {
    pub fn new(first: Generation) -> State {
        let max_buffered = first.config.ingest.max_buffered_bytes();
        State {
            current: ArcSwap::from_pointee(first),
            retiring: Mutex::new((Vec::new(), Totals::default())),
            stopping: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            max_buffered: AtomicUsize::new(max_buffered),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The generation new requests use. The `Arc` keeps it alive (and un-shut-down) for the
    /// request's whole life.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Takes `n` bytes of the body budget, or `None` when that would go over it.
    pub fn take_buffer(&self, n: usize) -> Option<BufferGuard<'_>> {
        let max = self.max_buffered.load(Relaxed);
        let mut cur = self.buffered.load(Relaxed);
        loop {
            if cur + n > max {
                return None;
            }
            match self.buffered.compare_exchange_weak(cur, cur + n, AcqRel, Relaxed) {
                Ok(_) => return Some(BufferGuard { state: Some(self), n }),
                Err(now) => cur = now,
            }
        }
    }

    pub fn buffered(&self) -> usize {
        self.buffered.load(Relaxed)
    }

    /// Sums the live counters of the current and retiring generations and the retired totals.
    pub fn totals(&self) -> (Totals, StatsSnapshot) {
        let current = self.current.load().client.stats();
        let (mut totals, retiring) = match self.retiring.lock() {
            Ok(g) => (g.1.clone(), g.0.clone()),
            Err(_) => (Totals::default(), Vec::new()),
        };
        for g in retiring {
            totals.add(&g.client.stats());
        }
        totals.add(&current);
        (totals, current)
    }

    /// Replaces the current generation by `next` and retires the old one: waits (up to
    /// `timeout`) for requests still using it, then shuts its client down, which flushes its
    /// queue. Returns the old client's shutdown result.
    pub async fn swap(self: &Arc<Self>, next: Generation, timeout: Duration) -> monitoring_core::Result<()> {
        let _one_at_a_time = self.reload_lock.lock().await;
        self.max_buffered.store(next.config.ingest.max_buffered_bytes(), Relaxed);
        let old = self.current.swap(Arc::new(next));
        self.retire(old, 0, false, timeout).await
    }

    /// Shuts the current generation down (SIGTERM): the caller has stopped new requests.
    pub async fn shutdown(self: &Arc<Self>, timeout: Duration) -> monitoring_core::Result<()> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let current = self.current.load_full();
        // `current` is still held by the swap slot too, and `totals` still counts it from there.
        self.retire(current, 1, true, timeout).await
    }

    /// `others`: references to `old` that are not requests.
    async fn retire(
        self: &Arc<Self>,
        old: Arc<Generation>,
        others: usize,
        still_current: bool,
        timeout: Duration,
    ) -> monitoring_core::Result<()> {
        let deadline = Instant::now() + timeout;
        // `totals` counts a generation once: from the current slot, from the retiring list while
        // it drains, then from the totals of the retired.
        if !still_current {
            if let Ok(mut g) = self.retiring.lock() {
                g.0.push(old.clone());
            }
        }
        // Requests that took `old` before the swap hold a reference each: let them queue their
        // events before the flush. One still reading a slow body at the deadline finds the old
        // client shut down and queues into the current one instead (see `handler`).
        let not_requests = 1 + others + usize::from(!still_current); // `old`, `others`, the list
        while Arc::strong_count(&old) > not_requests && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The flush waits on threads: keep it off the event loop.
        let client = old.client.clone();
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let result = tokio::task::spawn_blocking(move || client.shutdown(left))
            .await
            .unwrap_or_else(|e| Err(monitoring_core::Error::Internal(format!("shutdown task: {e}"))));
        if !still_current {
            if let Ok(mut g) = self.retiring.lock() {
                g.0.retain(|x| !Arc::ptr_eq(x, &old));
                g.1.add(&old.client.stats());
            }
        }
        result
    }
}

/// Bytes of the body budget held by one request; given back when dropped.
pub struct BufferGuard<'a> {
    state: Option<&'a State>,
    n: usize,
}

impl<'a> BufferGuard<'a> {
    /// A guard that holds nothing.
    pub fn none() -> BufferGuard<'a> {
        BufferGuard { state: None, n: 0 }
    }

    /// Takes `more` bytes on top of what this guard holds.
    pub fn grow(&mut self, more: usize) -> bool {
        match self.state.and_then(|s| s.take_buffer(more)) {
            Some(mut extra) => {
                self.n += std::mem::take(&mut extra.n);
                true
            }
            None => false,
        }
    }
}

impl Drop for BufferGuard<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state {
            state.buffered.fetch_sub(self.n, AcqRel);
        }
    }
}
