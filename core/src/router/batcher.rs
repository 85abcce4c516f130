//! The batcher thread: takes events off the queue in order, encodes them, and hands each
//! sealed batch to the backends (by count `batch_max`, or `flush_interval_ms` after its first
//! event, or at a flush).

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError, TrySendError};

use super::ingress::Ingress;
use super::{Envelope, Msg, Outcome, Shared, Tracker, Work};
use crate::backend::Batch;
use crate::config::{Config, Delivery};
use crate::event::Enrichment;
use crate::router::BreakerState;

/// How long the batcher first waits for more events once the queue is empty and a batch is open;
/// each further wait without an event is twice as long, up to `LINGERS` waits (31 ms in all).
const LINGER: Duration = Duration::from_millis(1);
const LINGERS: u32 = 5;

/// Events taken from the ingress between two looks at the control channel, so that a flush or a
/// stop is seen while emitters keep the queue busy.
const EVENTS_PER_LOOK: u32 = 64;

pub(crate) struct Batcher {
    shared: Arc<Shared>,
    enrich: Enrichment,
    batch_max: usize,
    interval: Duration,
    delivery: Delivery,
    /// Backend indices by priority (failover order).
    order: Vec<usize>,
    /// Whether backends have spools.
    spooled: bool,
}

impl Batcher {
    pub fn new(cfg: &Config, enrich: Enrichment, shared: Arc<Shared>, order: Vec<usize>) -> Self {
        Batcher {
            shared,
            enrich,
            batch_max: cfg.queue.batch_max,
            interval: Duration::from_millis(cfg.queue.flush_interval_ms),
            delivery: cfg.delivery,
            order,
            spooled: cfg.spool.enabled,
        }
    }

    pub fn run(self, rx: Receiver<Msg>, ingress: &Ingress) {
        let mut batch = Batch::with_capacity(self.batch_max);
        let mut seal_at: Option<Instant> = None;
        // How many times the batcher lingered since the last event (see below).
        let mut lingered = 0u32;
        loop {
            // What is queued is taken without waiting. Popping looks at the emitters' end of
            // the queue (its tail, the line every `emit` writes) only when it finds the queue
            // empty; checking `is_empty` after every event read that line each time, and each
            // read cost the next `emit` a cache miss while this thread drained a backlog.
            let mut took = 0;
            while took < EVENTS_PER_LOOK {
                let Some(env) = ingress.pop() else { break };
                self.take(&env, &mut batch, &mut seal_at);
                took += 1;
            }
            if took > 0 {
                lingered = 0;
            }
            let msg = match rx.try_recv() {
                Ok(msg) => Ok(msg),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) if took > 0 => continue,
                Err(TryRecvError::Empty) => match seal_at {
                    Some(at) if lingered < LINGERS => {
                        // Nothing else queued: linger instead of sleeping on the queue, where
                        // the next event would have to wake this thread: a futex syscall on the
                        // emitting thread, 5-30 us on this VM, paid by the first `emit` of every
                        // burst. Waits that double (1, 2, 4, 8, 16 ms) keep a steady emitter
                        // from ever paying it, and cost an idle process at most five wake-ups
                        // after its last event; the batch waits for its interval anyway. A
                        // flush or a stop unparks this thread (`Runtime::flush`, `stop`).
                        std::thread::park_timeout(
                            at.saturating_duration_since(Instant::now()).min(LINGER * (1 << lingered)),
                        );
                        lingered += 1;
                        continue;
                    }
                    _ => {
                        // Blocks on the control channel; the next event wakes it (`ingress.rs`).
                        if !ingress.sleep() {
                            continue;
                        }
                        let msg = match seal_at {
                            Some(at) => rx.recv_deadline(at),
                            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        };
                        ingress.awake();
                        msg
                    }
                },
            };
            match msg {
                Ok(Msg::Event(env)) => {
                    self.take(&env, &mut batch, &mut seal_at);
                    lingered = 0;
                }
                Ok(Msg::Wake) => {}
                Ok(Msg::Flush(ticket)) => {
                    // Everything emitted before the flush was called is queued by now.
                    self.take_queued(ingress, &mut batch, &mut seal_at);
                    self.route(&mut batch);
                    seal_at = None;
                    ticket.set(self.shared.backends.iter().map(|b| b.sent.load(Acquire)).collect());
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.route(&mut batch);
                    seal_at = None;
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.take_queued(ingress, &mut batch, &mut seal_at);
        self.route(&mut batch);
        // Whatever raced in behind the stop is counted, not silently lost.
        let mut late = ingress.close();
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Event(_) = msg {
                late += 1;
            }
        }
        drop(rx);
        crate::stats::add(&self.shared.counters.dropped, late);
        for slot in &self.shared.backends {
            if let Ok(mut tx) = slot.tx.lock() {
                tx.take();
            }
        }
    }

    /// Adds an event to the open batch, which is sealed when full.
    fn take(&self, env: &Envelope, batch: &mut Batch, seal_at: &mut Option<Instant>) {
        self.encode(env, batch);
        if seal_at.is_none() {
            *seal_at = Some(Instant::now() + self.interval);
        }
        if batch.len() >= self.batch_max {
            self.route(batch);
            *seal_at = None;
        }
    }

    /// Takes the events queued now (not those emitted meanwhile, so a busy emitter cannot hold
    /// a flush up).
    fn take_queued(&self, ingress: &Ingress, batch: &mut Batch, seal_at: &mut Option<Instant>) {
        for _ in 0..ingress.len() {
            let Some(env) = ingress.pop() else { break };
            self.take(&env, batch, seal_at);
        }
    }

    fn encode(&self, env: &Envelope, batch: &mut Batch) {
        env.event.encode(env.at_micros, env.emitted_at, &self.enrich, batch);
    }

    /// Hands the batch to its backends and leaves `batch` empty.
    fn route(&self, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        let full = Arc::new(std::mem::replace(batch, Batch::with_capacity(self.batch_max)));
        let targets: Vec<(usize, Arc<Batch>)> = match self.delivery {
            Delivery::Fanout => {
                (0..self.shared.backends.len()).filter_map(|i| self.for_backend(i, &full)).collect()
            }
            Delivery::Failover => self.failover_target(&full).into_iter().collect(),
        };
        if targets.is_empty() {
            crate::stats::add(&self.shared.counters.unrouted, full.len());
            return;
        }
        let tracker = Tracker::new(full.len(), targets.len());
        for (i, b) in targets {
            self.send(i, Work { batch: b, tracker: tracker.clone(), account: i });
        }
    }

    /// The part of `full` backend `i`'s filter takes (all of it without a filter).
    fn for_backend(&self, i: usize, full: &Arc<Batch>) -> Option<(usize, Arc<Batch>)> {
        let cfg = &self.shared.backends[i].config;
        if cfg.filter.is_none() {
            return Some((i, full.clone()));
        }
        let keep: Vec<usize> =
            (0..full.len()).filter(|&j| cfg.accepts(full.items()[j].kind, full.entity_type(j))).collect();
        match keep.len() {
            0 => None,
            n if n == full.len() => Some((i, full.clone())),
            _ => Some((i, Arc::new(full.select(keep)))),
        }
    }

    /// Failover: the first backend by priority whose breaker is not open (the first one if
    /// all are), among those whose filter takes the events.
    fn failover_target(&self, full: &Arc<Batch>) -> Option<(usize, Arc<Batch>)> {
        let candidates: Vec<(usize, Arc<Batch>)> =
            self.order.iter().filter_map(|&i| self.for_backend(i, full)).collect();
        let healthy = candidates.iter().position(|(i, _)| {
            BreakerState::from_u8(self.shared.backends[*i].counters.breaker.load(Relaxed))
                != BreakerState::Open
        });
        candidates.into_iter().nth(healthy.unwrap_or(0))
    }

    /// Sends to a backend's worker. A healthy but busy backend slows the batcher down
    /// (backpressure reaches `emit`); a backend whose breaker is open and whose queue is full
    /// loses the batch, counted, so that the others keep going.
    fn send(&self, i: usize, work: Work) {
        let slot = &self.shared.backends[i];
        let Some(tx) = slot.tx.lock().ok().and_then(|g| g.clone()) else {
            work.tracker.finish(Outcome::Dropped, &self.shared.counters);
            return;
        };
        slot.sent.fetch_add(1, AcqRel);
        let mut work = work;
        loop {
            match tx.try_send(work) {
                Ok(()) => return,
                Err(TrySendError::Full(w)) => {
                    // Without a spool, a backend that is down (breaker open) and full loses
                    // the batch, counted, so the others keep going; with one, its worker moves
                    // batches to disk at disk speed, and waiting for it loses nothing.
                    let open =
                        BreakerState::from_u8(slot.counters.breaker.load(Relaxed)) == BreakerState::Open;
                    if self.spooled && self.shared.stopping() {
                        // A full queue at shutdown: the worker is stuck in a backend call. Its
                        // spool takes the batch instead (the worker does not hold that lock
                        // while it waits on the network), so a hung backend costs no events.
                        let by = Instant::now() + Duration::from_millis(100);
                        if let Some(mut guard) = super::lock_by(&slot.spool, by) {
                            if let Some(spool) = guard.as_mut() {
                                self.shared.spool_for_stuck_worker(slot, spool, w);
                                super::publish_spool(spool, &slot.counters);
                                self.shared.notify();
                                return;
                            }
                        }
                    }
                    if (open && !self.spooled) || self.shared.stopping() {
                        crate::stats::add(&slot.counters.dropped, w.batch.len());
                        w.tracker.finish(Outcome::Dropped, &self.shared.counters);
                        slot.done.fetch_add(1, AcqRel);
                        self.shared.notify();
                        return;
                    }
                    match tx.send_timeout(w, Duration::from_millis(50)) {
                        Ok(()) => return,
                        Err(crossbeam_channel::SendTimeoutError::Timeout(w)) => work = w,
                        Err(crossbeam_channel::SendTimeoutError::Disconnected(w)) => {
                            w.tracker.finish(Outcome::Dropped, &self.shared.counters);
                            slot.done.fetch_add(1, AcqRel);
                            return;
                        }
                    }
                }
                Err(TrySendError::Disconnected(w)) => {
                    w.tracker.finish(Outcome::Dropped, &self.shared.counters);
                    slot.done.fetch_add(1, AcqRel);
                    return;
                }
            }
        }
    }
}
