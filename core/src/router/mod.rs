//! The router: a bounded queue from `emit`, one batcher thread that encodes events into
//! batches (by count and by interval), and one delivery worker per backend (retry, breaker,
//! dead letter). See ARCHITECTURE.md for the threads and what may block.

mod backoff;
mod batcher;
mod breaker;
mod ingress;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

pub use breaker::BreakerState;

use crate::backend::{self, Batch};
use crate::config::{BackendConfig, Config, Mode, OnFull};
use crate::error::{Error, Result};
use crate::event::Enrichment;
use crate::spool::{AppendError, Spool};
use crate::stats::{add, BackendCounters, Counters, StatsSnapshot};
use ingress::Pushed;

/// A validated event on its way to the batcher: its text and the parse that borrows from it.
pub(crate) struct Envelope {
    pub event: crate::event::ParsedEvent,
    pub at_micros: Option<i64>,
    pub emitted_at: i64,
}

/// What the batcher's control channel carries (see `ingress.rs`): events only under
/// `on_full: block`.
pub(crate) enum Msg {
    Event(Envelope),
    Flush(Arc<FlushTicket>),
    Stop,
    /// An event was queued while the batcher was blocked on this channel.
    Wake,
}

/// Answers a flush: how many batches each backend had been sent once everything emitted
/// before the flush was routed.
#[derive(Default)]
pub(crate) struct FlushTicket {
    routed: Mutex<Option<Vec<u64>>>,
    cv: Condvar,
}

impl FlushTicket {
    fn set(&self, sent: Vec<u64>) {
        if let Ok(mut g) = self.routed.lock() {
            *g = Some(sent);
        }
        self.cv.notify_all();
    }
    fn wait(&self, deadline: Instant) -> Option<Vec<u64>> {
        let mut g = self.routed.lock().ok()?;
        while g.is_none() {
            let left = deadline.checked_duration_since(Instant::now())?;
            g = self.cv.wait_timeout(g, left).ok()?.0;
        }
        g.clone()
    }
}

/// Room in the batcher's control channel when events do not use it: flush and stop markers, and
/// a wake-up at a time.
const CONTROL_CAPACITY: usize = 64;

/// What every thread of one runtime shares.
pub(crate) struct Shared {
    pub counters: Counters,
    pub backends: Vec<BackendSlot>,
    /// Set when the workers must stop retrying and give up what they hold.
    stopping: AtomicBool,
    /// Wakes threads that sleep (backoff, open breaker) and flushes waiting on progress.
    signal: Mutex<()>,
    wake: Condvar,
    alive: AtomicUsize,
    /// Flushes in progress: workers fsync their spools for them at once (see `Worker::settle`).
    pub flush_waiters: AtomicUsize,
}

/// The router's view of one backend.
pub(crate) struct BackendSlot {
    pub config: BackendConfig,
    pub counters: BackendCounters,
    /// Batches handed to the worker / finished by it: flush waits for `done >= sent`.
    pub sent: AtomicU64,
    pub done: AtomicU64,
    pub tx: Mutex<Option<Sender<Work>>>,
    /// The backend's spool (`None` without one, and once closed). Only its worker uses it,
    /// except `stop` at the deadline (see `Runtime::rescue`), so the lock is never contended
    /// on the delivery path.
    pub spool: Mutex<Option<Spool>>,
    /// The work the worker is handling. Whoever takes it out (the worker once the backend call
    /// returns, or `stop` rescuing a stuck worker) counts it: exactly once.
    pub in_flight: Mutex<Option<Work>>,
    /// Set when `stop` took `in_flight`: the worker then neither counts nor writes it again.
    pub rescued: AtomicBool,
}

/// Copies a spool's state to the counters `stats` reads.
pub(crate) fn publish_spool(spool: &Spool, c: &BackendCounters) {
    c.spool_pending.store(spool.pending(), Relaxed);
    c.spool_bytes.store(spool.bytes(), Relaxed);
    c.spool_lost.store(spool.damage.records_lost, Relaxed);
    c.spool_torn.store(spool.damage.torn_tails, Relaxed);
}

/// Locks `m`, waiting for it no later than `deadline` (a poisoned lock is still usable here:
/// the spool's state is consistent between calls).
pub(crate) fn lock_by<T>(m: &Mutex<T>, deadline: Instant) -> Option<MutexGuard<'_, T>> {
    loop {
        match m.try_lock() {
            Ok(g) => return Some(g),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

impl Shared {
    /// At shutdown, writes `work` to the spool of `slot`, whose worker is stuck in a backend
    /// call, counts it and finishes it. Returns the events spooled.
    pub fn spool_for_stuck_worker(&self, slot: &BackendSlot, spool: &mut Spool, work: Work) -> usize {
        let n = work.batch.len();
        let outcome = match spool.append(&work.batch) {
            Ok(dropped_oldest) => {
                add(&slot.counters.spooled, n);
                add(&slot.counters.dropped, dropped_oldest as usize);
                add(&self.counters.dropped, dropped_oldest as usize);
                Outcome::Spooled
            }
            Err(AppendError::Full) => {
                add(&slot.counters.dropped, n);
                Outcome::Dropped
            }
            Err(AppendError::Io(e)) => {
                log::error!(
                    "backend `{}`: {n} events lost at shutdown, spool not writable: {e}",
                    slot.config.name
                );
                add(&slot.counters.dropped, n);
                Outcome::Dropped
            }
        };
        work.tracker.finish(outcome, &self.counters);
        self.backends[work.account].done.fetch_add(1, AcqRel);
        if outcome == Outcome::Spooled {
            n
        } else {
            0
        }
    }

    /// Sleeps up to `d`, or less if woken; returns false if stopping.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let Ok(mut g) = self.signal.lock() else { return false };
        while !self.stopping.load(Acquire) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return true };
            match self.wake.wait_timeout(g, left) {
                Ok((ng, _)) => g = ng,
                Err(_) => return false,
            }
        }
        false
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Acquire)
    }

    pub fn notify(&self) {
        let _g = self.signal.lock();
        self.wake.notify_all();
    }

    /// Waits until `cond` holds or the deadline passes; `cond` is rechecked on every notify.
    fn wait_until(&self, deadline: Instant, cond: impl Fn() -> bool) -> bool {
        let Ok(mut g) = self.signal.lock() else { return false };
        loop {
            if cond() {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            match self.wake.wait_timeout(g, left.min(Duration::from_millis(50))) {
                Ok((ng, _)) => g = ng,
                Err(_) => return false,
            }
        }
    }
}

/// A batch for one backend, and the bookkeeping that turns per-backend outcomes into the
/// event counts of `stats` once every backend it went to is done with it.
pub(crate) struct Work {
    pub batch: Arc<Batch>,
    pub tracker: Arc<Tracker>,
    /// The backend whose `sent` counted this work: its `done` counts it once the work has a
    /// final outcome, wherever failover took it, so a flush waits for hand-overs too.
    pub account: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    Delivered = 0,
    Spooled = 1,
    Failed = 2,
    Dropped = 3,
}

pub(crate) struct Tracker {
    remaining: AtomicUsize,
    worst: AtomicU8,
    events: usize,
}

impl Tracker {
    pub fn new(events: usize, backends: usize) -> Arc<Self> {
        Arc::new(Tracker { remaining: AtomicUsize::new(backends), worst: AtomicU8::new(0), events })
    }

    /// One backend is done with the batch; the last one counts its events once, by the worst
    /// outcome any backend had.
    pub fn finish(&self, outcome: Outcome, counters: &Counters) {
        let worst = self.worst.fetch_max(outcome as u8, AcqRel).max(outcome as u8);
        if self.remaining.fetch_sub(1, AcqRel) == 1 {
            let counter = match worst {
                0 => &counters.delivered,
                1 => &counters.spooled,
                2 => &counters.failed,
                _ => &counters.dropped,
            };
            crate::stats::add(counter, self.events);
        }
    }
}

/// One generation of threads and queues. A forked child replaces it with a new one.
pub(crate) struct Runtime {
    ingress: Arc<ingress::Ingress>,
    tx: Sender<Msg>,
    on_full: OnFull,
    pub shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// A second handle on each worker's queue, for `rescue`.
    work_queues: Vec<Receiver<Work>>,
    /// The batcher's thread, unparked by a flush or a stop: it may be lingering (see
    /// `batcher.rs`), which no `emit` interrupts.
    batcher: std::thread::Thread,
}

impl Runtime {
    pub fn start(cfg: &Config, enrich: Enrichment) -> Result<Runtime> {
        crate::diag::install_default();
        let instance_tag = format!("{}-{}", std::process::id(), crate::event::now_micros() / 1000);
        // Errors name the key as the user wrote it: the index counts disabled backends too.
        let (keys, configs): (Vec<String>, Vec<BackendConfig>) = cfg
            .effective_backends()
            .into_iter()
            .enumerate()
            .filter(|(_, b)| b.enabled)
            .map(|(i, b)| match cfg.mode {
                Mode::Direct => (format!("direct_backends[{i}]"), b),
                Mode::Sidecar => ("sidecar".to_string(), b),
            })
            .unzip();
        if configs.is_empty() {
            return Err(Error::config("direct_backends", "no enabled backend"));
        }
        let mut built = Vec::with_capacity(configs.len());
        for (c, key) in configs.iter().zip(&keys) {
            let b = backend::build(c, &instance_tag).map_err(|e| match e {
                Error::Config { path, message } => Error::Config {
                    path: Some(match path {
                        Some(p) => format!("{key}.{p}"),
                        None => key.clone(),
                    }),
                    message,
                },
                other => other,
            })?;
            built.push(b);
        }
        let ingress = Arc::new(ingress::Ingress::new(match cfg.queue.on_full {
            OnFull::Drop => Some(cfg.queue.capacity),
            OnFull::Block => None,
        }));
        // Control messages only, unless events go through it (`on_full: block`).
        let (tx, rx) =
            bounded::<Msg>(if ingress.carries_events() { CONTROL_CAPACITY } else { cfg.queue.capacity });
        let mut order: Vec<usize> = (0..configs.len()).collect();
        order.sort_by_key(|&i| configs[i].priority);
        // Batches queued per backend: enough to keep a busy worker fed, small next to the queue.
        let per_backend = (cfg.queue.capacity / cfg.queue.batch_max.max(1)).clamp(2, 16);
        let mut receivers = Vec::new();
        let mut backends = Vec::new();
        for c in configs {
            let (wtx, wrx) = bounded::<Work>(per_backend);
            receivers.push(wrx);
            let spool = if cfg.spool.enabled {
                Some(crate::spool::open_for_backend(&cfg.spool, &c.name)?)
            } else {
                None
            };
            backends.push(BackendSlot {
                config: c,
                counters: BackendCounters::default(),
                sent: AtomicU64::new(0),
                done: AtomicU64::new(0),
                tx: Mutex::new(Some(wtx)),
                spool: Mutex::new(spool),
                in_flight: Mutex::new(None),
                rescued: AtomicBool::new(false),
            });
        }
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            backends,
            stopping: AtomicBool::new(false),
            signal: Mutex::new(()),
            wake: Condvar::new(),
            alive: AtomicUsize::new(0),
            flush_waiters: AtomicUsize::new(0),
        });
        let mut threads = Vec::new();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| -> Result<JoinHandle<()>> {
            shared.alive.fetch_add(1, AcqRel);
            let s = shared.clone();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    // A bug in a backend must not take the host process down with it.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                        log::error!("internal error: a delivery thread stopped (please report)");
                    }
                    s.alive.fetch_sub(1, AcqRel);
                    s.notify();
                })
                .map_err(|e| Error::Internal(format!("cannot start thread: {e}")))
        };
        let work_queues = receivers.clone();
        for (i, (backend, wrx)) in built.into_iter().zip(receivers).enumerate() {
            let w = worker::Worker::new(i, backend, cfg, shared.clone(), order.clone());
            threads.push(spawn(format!("mon-deliver-{i}"), Box::new(move || w.run(wrx)))?);
        }
        let b = batcher::Batcher::new(cfg, enrich, shared.clone(), order);
        let batcher_ingress = ingress.clone();
        let batcher_thread = spawn("mon-batcher".into(), Box::new(move || b.run(rx, &batcher_ingress)))?;
        let batcher = batcher_thread.thread().clone();
        threads.push(batcher_thread);
        Ok(Runtime {
            ingress,
            tx,
            on_full: cfg.queue.on_full,
            shared,
            threads: Mutex::new(threads),
            work_queues,
            batcher,
        })
    }

    /// Queues one validated event. Never blocks under `on_full: drop`.
    pub fn enqueue(&self, env: Envelope) -> Result<()> {
        let counters = &self.shared.counters;
        counters.emitted.fetch_add(1, Relaxed);
        let sent = match self.on_full {
            OnFull::Drop => match self.ingress.push(env) {
                Pushed::Queued => Ok(()),
                Pushed::QueuedWake => {
                    // One wake-up per sleep. If the channel is full, it is full of flush or stop
                    // markers, and those wake the batcher as well.
                    let _ = self.tx.try_send(Msg::Wake);
                    Ok(())
                }
                Pushed::QueuedClosed(dropped) => {
                    // As an event that reached the channel before its disconnection: queued,
                    // then dropped by the stop (counted here rather than by the batcher).
                    add(&counters.dropped, dropped);
                    Ok(())
                }
                Pushed::Full => Err(true),
            },
            OnFull::Block => self.tx.send(Msg::Event(env)).map_err(|_| false),
        };
        match sent {
            Ok(()) => Ok(()),
            Err(full) => {
                counters.dropped.fetch_add(1, Relaxed);
                Err(if full { Error::QueueFull } else { Error::Shutdown })
            }
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.ingress.len() + self.tx.len()
    }

    pub fn queue_room(&self) -> usize {
        self.ingress
            .room()
            .unwrap_or_else(|| self.tx.capacity().unwrap_or(usize::MAX).saturating_sub(self.tx.len()))
    }

    /// Everything queued before the call delivered (or given up on), or `Timeout`.
    pub fn flush(&self, deadline: Instant) -> Result<()> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, AcqRel);
            }
        }
        self.shared.flush_waiters.fetch_add(1, AcqRel);
        let _waiting = Waiting(&self.shared.flush_waiters);
        let ticket = Arc::new(FlushTicket::default());
        let left = deadline.saturating_duration_since(Instant::now());
        match self.tx.send_timeout(Msg::Flush(ticket.clone()), left) {
            Ok(()) => self.batcher.unpark(),
            Err(SendTimeoutError::Timeout(_)) => return Err(Error::Timeout),
            Err(SendTimeoutError::Disconnected(_)) => return Err(Error::Shutdown),
        }
        let sent = ticket.wait(deadline).ok_or(Error::Timeout)?;
        let backends = &self.shared.backends;
        let done = self.shared.wait_until(deadline, || {
            backends.iter().zip(&sent).all(|(b, &target)| b.done.load(Acquire) >= target)
        });
        if done {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// Flushes, then stops the threads; what a worker still holds when the deadline passes is
    /// spooled (by the worker, or by `rescue` when the worker is stuck in a backend call), or
    /// dead-lettered without a spool. Returns `Timeout` if the threads did not all stop in time.
    pub fn stop(&self, deadline: Instant) -> Result<()> {
        // Keep part of the budget for the workers to give up what they hold (a local write),
        // so that a backend that never answers costs the flush, not the events: the first half
        // of the reserve for workers to stop by themselves, the second for `rescue`.
        let budget = deadline.saturating_duration_since(Instant::now());
        let reserve = (budget / 5).min(Duration::from_millis(250));
        let flushed = self.flush(deadline - reserve);
        self.shared.stopping.store(true, Release);
        self.shared.notify();
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        let _ = self.tx.send_timeout(Msg::Stop, left);
        self.batcher.unpark();
        let by_themselves = deadline - reserve / 2;
        let mut stopped = self.shared.wait_until(by_themselves, || self.shared.alive.load(Acquire) == 0);
        if !stopped {
            self.rescue(deadline);
            stopped = self.shared.alive.load(Acquire) == 0;
        }
        if let Ok(mut threads) = self.threads.lock() {
            if stopped {
                for t in threads.drain(..) {
                    let _ = t.join();
                }
            } else {
                // Still inside a backend call; they finish on their own, detached.
                threads.clear();
            }
        }
        match (flushed, stopped) {
            (Ok(()), true) => Ok(()),
            (Err(Error::Shutdown), true) => Ok(()),
            _ => Err(Error::Timeout),
        }
    }

    /// At the deadline, workers still running are stuck inside a backend call (a backend that
    /// accepts and never answers: the call ends only at its own timeout, maybe after the
    /// process has exited). The batch such a worker holds, and those waiting in its queue, are
    /// written to its spool here and counted as spooled, so the next process with this
    /// configuration delivers them. The spool is then closed, which releases its lock for that
    /// next process even if it is a new client in this one.
    fn rescue(&self, deadline: Instant) {
        // The batcher hands its last batches over as it stops; wait for it (briefly) so none
        // arrives in a queue after it was drained here.
        let batcher_done =
            || self.shared.backends.iter().all(|b| b.tx.lock().map_or(true, |tx| tx.is_none()));
        self.shared.wait_until(deadline, batcher_done);
        for (slot, queue) in self.shared.backends.iter().zip(&self.work_queues) {
            let Some(mut guard) = lock_by(&slot.spool, deadline) else {
                log::warn!("backend `{}`: spool busy at the shutdown deadline", slot.config.name);
                continue;
            };
            let Some(spool) = guard.as_mut() else { continue };
            let mut works: Vec<Work> = Vec::new();
            if let Ok(mut held) = slot.in_flight.lock() {
                if let Some(w) = held.take() {
                    slot.rescued.store(true, Release);
                    works.push(w);
                }
            }
            works.extend(queue.try_iter());
            let mut rescued = 0;
            for work in works {
                rescued += self.shared.spool_for_stuck_worker(slot, spool, work);
            }
            if let Err(e) = spool.sync() {
                log::warn!("backend `{}`: fsync of the spool failed: {e}", slot.config.name);
            }
            publish_spool(spool, &slot.counters);
            if rescued > 0 {
                log::warn!(
                    "backend `{}` did not answer by the shutdown deadline: {rescued} events spooled",
                    slot.config.name
                );
            }
            // Closing the spool releases its lock (the stuck worker finds it closed).
            drop(guard.take());
        }
        self.shared.notify();
    }

    /// In a forked child whose runtime could not be restarted: the parent's threads do not
    /// exist here, so they are never joined.
    pub fn abandon_threads(&self) {
        if let Ok(mut threads) = self.threads.try_lock() {
            threads.drain(..).for_each(std::mem::forget);
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        let backends = self
            .shared
            .backends
            .iter()
            .map(|b| (b.config.name.clone(), b.counters.snapshot(b.config.kind.type_name())))
            .collect();
        self.shared.counters.snapshot(self.queue_depth(), backends)
    }
}
