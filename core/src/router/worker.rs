//! A delivery worker: the one thread that talks to one backend. It retries with backoff,
//! keeps the backend's circuit breaker, and owns the backend's spool: what the backend cannot
//! take now (breaker open, retries exhausted, client stopping) is spooled, and replayed in
//! order once the backend answers again, one spooled batch after each new one so that neither
//! starves. Only what retrying cannot fix (a 4xx) goes to the dead-letter file.
//!
//! The spool and the work in hand live in the backend's slot, behind mutexes that only this
//! thread takes, except once: at the shutdown deadline `Runtime::stop` takes the work of a
//! worker stuck inside a backend call (one that accepts and never answers) and spools it, so
//! the next process delivers it. Whoever takes the work from `in_flight` counts it.

use std::sync::atomic::Ordering::*;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::backoff::backoff;
use super::breaker::Breaker;
use super::{Outcome, Shared, Work};
use crate::backend::{Backend, Batch, DeadLetter, DeliveryError};
use crate::config::{Config, Delivery, RetryConfig};
use crate::spool::{AppendError, Spool};
use crate::stats::add;

pub(crate) struct Worker {
    index: usize,
    backend: Box<dyn Backend>,
    breaker: Breaker,
    retry: RetryConfig,
    dead_letter: DeadLetter,
    /// Whether the backend has a spool (in its slot; `None` there once closed at shutdown).
    has_spool: bool,
    batch_max: usize,
    delivery: Delivery,
    order: Vec<usize>,
    shared: Arc<Shared>,
    warned: bool,
    /// Consecutive failed replays, for their backoff.
    replay_failures: u32,
    /// Finished work not yet counted in `done` because what it spooled awaits its fsync: the
    /// backend (`Work::account`) to count it for, and the spool's head when it finished (it is
    /// durable once the spool is durable through that).
    unsynced_done: Vec<(usize, u64)>,
    /// A spool write failed (full disk): warned once until one works again.
    disk_warned: bool,
}

enum Held {
    /// The batch reached a final outcome here.
    Done(Outcome),
    /// Handed to the next backend (failover); that one finishes the tracker.
    HandedOver,
}

/// At most this many finished batches wait for an fsync before they are counted anyway.
const SYNC_EVERY: usize = 1024;

/// How often a worker with finished work awaiting its fsync checks for a waiting flush.
const SETTLE_POLL: Duration = Duration::from_millis(2);

/// How often an idle worker wakes to fsync its spool under `fsync: interval`.
const IDLE_TICK: Duration = Duration::from_millis(200);

impl Worker {
    pub fn new(
        index: usize,
        backend: Box<dyn Backend>,
        cfg: &Config,
        shared: Arc<Shared>,
        order: Vec<usize>,
    ) -> Self {
        let name = shared.backends[index].config.name.clone();
        let w = Worker {
            index,
            backend,
            breaker: Breaker::new(&cfg.circuit_breaker),
            retry: cfg.retry.clone(),
            dead_letter: DeadLetter::new(cfg.spool.dead_letter_dir(), &name),
            has_spool: cfg.spool.enabled,
            batch_max: cfg.queue.batch_max,
            delivery: cfg.delivery,
            order,
            shared,
            warned: false,
            replay_failures: 0,
            unsynced_done: Vec::new(),
            disk_warned: false,
        };
        w.publish_spool();
        w
    }

    pub fn run(mut self, rx: Receiver<Work>) {
        loop {
            let msg = match self.idle_wait() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(wait) => rx.recv_timeout(wait),
            };
            match msg {
                Ok(work) => {
                    let account = work.account;
                    let batch = work.batch.clone();
                    *self.slot().in_flight.lock().unwrap_or_else(PoisonError::into_inner) = Some(work);
                    let held = self.deliver(&batch);
                    let taken = self.slot().in_flight.lock().unwrap_or_else(PoisonError::into_inner).take();
                    // None: `stop` rescued the work while this thread was stuck in the backend
                    // call, and counted it.
                    let Some(work) = taken else { continue };
                    let finished = match held {
                        Held::Done(outcome) => {
                            work.tracker.finish(outcome, &self.shared.counters);
                            true
                        }
                        Held::HandedOver => self.hand_over(work),
                    };
                    if finished {
                        let head = self.with_spool(|s| s.head()).unwrap_or(0);
                        self.unsynced_done.push((account, head));
                    }
                    self.settle(false);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.replay_one();
            self.with_spool(|s| s.tick());
            self.settle(false);
            if self.with_spool(|s| s.adopt_due()).unwrap_or(0) > 0 {
                self.publish_spool();
            }
        }
        self.settle(true);
        // Closing the spool releases its lock for the next client of this configuration.
        self.slot().spool.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.backend.close();
    }

    fn slot(&self) -> &super::BackendSlot {
        &self.shared.backends[self.index]
    }

    /// Runs `f` on the spool; `None` without one (or once `stop` closed it).
    fn with_spool<R>(&self, f: impl FnOnce(&mut Spool) -> R) -> Option<R> {
        if !self.has_spool {
            return None;
        }
        self.slot().spool.lock().unwrap_or_else(PoisonError::into_inner).as_mut().map(f)
    }

    /// How long to wait for new work: not at all while a replay can go now, until the
    /// breaker's probe while it is open, a tick while the spool has unsynced data.
    fn idle_wait(&self) -> Option<Duration> {
        let empty = self.with_spool(|s| s.is_empty())?;
        let wait = if empty || self.shared.stopping() {
            IDLE_TICK
        } else {
            self.breaker.open_for(Instant::now()).unwrap_or(Duration::ZERO).min(IDLE_TICK)
        };
        // Finished work awaiting its fsync: look out for a flush that waits for it.
        Some(if self.unsynced_done.is_empty() { wait } else { wait.min(SETTLE_POLL) })
    }

    /// Counts finished work in `done` (which a flush waits for). Spooled means durable once a
    /// flush counts it done (`durable_ack` answers on that), so work is counted once the spool is
    /// fsynced through what it appended. The fsync runs on the spool's helper thread: requested
    /// at once when a flush is waiting, else at the `fsync: interval` tick, so that a backend
    /// spooling under load neither fsyncs every batch nor waits on the disk (a slow worker would
    /// hold up the batcher, and the healthy backends with it). `force` (the worker stopping):
    /// fsync here and count everything.
    fn settle(&mut self, force: bool) {
        if self.unsynced_done.is_empty() {
            return;
        }
        if force {
            self.sync_spool();
        } else if self.shared.flush_waiters.load(Acquire) > 0 || self.unsynced_done.len() >= SYNC_EVERY {
            if let Some(Err(e)) = self.with_spool(|s| s.request_sync()) {
                log::warn!("backend `{}`: fsync of the spool failed: {e}", self.name());
            }
        }
        let durable = self.with_spool(|s| s.durable_through()).unwrap_or(u64::MAX);
        // With fsyncs failing, the work is counted anyway past a bound, so memory stays bounded.
        let n = if force || self.unsynced_done.len() >= 4 * SYNC_EVERY {
            self.unsynced_done.len()
        } else {
            self.unsynced_done.iter().take_while(|(_, head)| *head <= durable).count()
        };
        if n == 0 {
            return;
        }
        for (account, _) in self.unsynced_done.drain(..n) {
            self.shared.backends[account].done.fetch_add(1, AcqRel);
        }
        self.shared.notify();
    }

    fn name(&self) -> &str {
        &self.shared.backends[self.index].config.name
    }

    fn deliver(&mut self, batch: &Arc<Batch>) -> Held {
        let shared = self.shared.clone();
        let counters = &shared.backends[self.index].counters;
        let mut pending = batch.clone();
        let mut attempt: u32 = 0;
        let mut worst = Outcome::Delivered;
        if self.shared.stopping() && self.has_spool {
            // Past the flush deadline: persist, do not try a backend that may hang.
            return self.spool_batch(&pending, worst);
        }
        loop {
            if let Some(wait) = self.breaker.open_for(Instant::now()) {
                self.breaker.publish(&counters.breaker);
                if self.has_spool {
                    return self.spool_batch(&pending, worst);
                }
                if !self.shared.sleep(wait) {
                    return self.give_up(&pending, "client stopped while the backend was unavailable", worst);
                }
                continue;
            }
            self.breaker.wait_before_call(Instant::now());
            self.breaker.publish(&counters.breaker);
            match self.backend.deliver(&pending) {
                Ok(()) => {
                    self.on_success();
                    add(&counters.delivered, pending.len());
                    return Held::Done(worst);
                }
                Err(DeliveryError::Permanent(reason)) => {
                    self.on_success();
                    self.dead_letter_all(&pending, &reason);
                    return Held::Done(Outcome::Failed);
                }
                Err(DeliveryError::Partial { retry, rejected }) => {
                    self.on_success();
                    if !rejected.is_empty() {
                        worst = worst.max(Outcome::Failed);
                        self.dead_letter_rejected(&pending, &rejected);
                    }
                    add(&counters.delivered, pending.len() - retry.len() - rejected.len());
                    if retry.is_empty() {
                        return Held::Done(worst);
                    }
                    pending = Arc::new(pending.select(retry));
                }
                Err(DeliveryError::Retryable(reason)) => {
                    self.on_failure(&reason);
                    attempt += 1;
                    let exhausted = self.retry.max_attempts > 0 && attempt >= self.retry.max_attempts;
                    if exhausted || self.shared.stopping() {
                        return self.give_up(
                            &pending,
                            &format!("gave up after {attempt} attempts: {reason}"),
                            worst,
                        );
                    }
                    add(&counters.retried, pending.len());
                    add(&shared.counters.retried, pending.len());
                    if self.breaker.open_for(Instant::now()).is_some() {
                        continue; // spooled at the top of the loop, or waited for
                    }
                    if !self.shared.sleep(backoff(&self.retry, attempt - 1)) {
                        return self.give_up(
                            &pending,
                            &format!("client stopped while retrying: {reason}"),
                            worst,
                        );
                    }
                }
            }
        }
    }

    fn on_success(&mut self) {
        self.breaker.on_success();
        self.breaker.publish(&self.shared.backends[self.index].counters.breaker);
        if self.warned {
            self.warned = false;
            log::info!("backend `{}` recovered", self.name());
        }
    }

    fn on_failure(&mut self, reason: &str) {
        self.breaker.on_failure(Instant::now());
        self.breaker.publish(&self.shared.backends[self.index].counters.breaker);
        if !self.warned {
            self.warned = true;
            let next = if self.has_spool { "retrying, then spooling" } else { "retrying" };
            log::warn!("backend `{}` failing, {next}: {reason}", self.name());
        }
    }

    /// A batch this backend cannot take now: the next backend (failover), the spool, or, with
    /// no spool, the dead-letter file.
    fn give_up(&mut self, pending: &Arc<Batch>, reason: &str, worst: Outcome) -> Held {
        if self.delivery == Delivery::Failover && !self.shared.stopping() && self.next_backend().is_some() {
            return Held::HandedOver;
        }
        if self.has_spool {
            return self.spool_batch(pending, worst);
        }
        self.dead_letter_all(pending, reason);
        Held::Done(worst.max(Outcome::Failed))
    }

    fn spool_batch(&mut self, batch: &Batch, worst: Outcome) -> Held {
        let shared = self.shared.clone();
        let counters = &shared.backends[self.index].counters;
        let Some(result) = self.with_spool(|s| s.append(batch)) else {
            if self.slot().rescued.load(Acquire) {
                // `stop` closed the spool after writing this worker's work to it.
                return Held::Done(Outcome::Spooled);
            }
            self.dead_letter_all(batch, "the spool was closed at shutdown");
            return Held::Done(worst.max(Outcome::Failed));
        };
        let outcome = match result {
            Ok(dropped_oldest) => {
                add(&counters.spooled, batch.len());
                add(&counters.dropped, dropped_oldest as usize);
                add(&shared.counters.dropped, dropped_oldest as usize);
                Outcome::Spooled
            }
            Err(AppendError::Full) => {
                add(&counters.dropped, batch.len());
                Outcome::Dropped
            }
            Err(AppendError::Io(e)) => {
                // A full or failing disk: the dead-letter file is the last resort, and if it
                // cannot be written either (the same full disk) the events are dropped, counted.
                let all: Vec<usize> = (0..batch.len()).collect();
                let reason = format!("spool write failed: {e}");
                let written = self.dead_letter.write(batch, &all, &reason);
                if !self.disk_warned {
                    self.disk_warned = true;
                    let then = if written.is_ok() { "dead-lettering" } else { "dropping (counted)" };
                    log::warn!("backend `{}`: {reason}; {then} until it works again", self.name());
                }
                if written.is_ok() {
                    add(&counters.failed, batch.len());
                    add(&counters.dead_lettered, batch.len());
                    Outcome::Failed
                } else {
                    add(&counters.dropped, batch.len());
                    Outcome::Dropped
                }
            }
        };
        if outcome == Outcome::Spooled && self.disk_warned {
            self.disk_warned = false;
            log::info!("backend `{}`: spooling again", self.name());
        }
        self.publish_spool();
        Held::Done(worst.max(outcome))
    }

    /// Delivers one spooled batch, if the spool has one and the backend may be called.
    fn replay_one(&mut self) {
        let now = Instant::now();
        if self.shared.stopping() || self.breaker.open_for(now).is_some() {
            return;
        }
        let batch_max = self.batch_max;
        let read = self.with_spool(|s| if s.is_empty() { Ok(None) } else { s.read_batch(batch_max) });
        let unacked = match read {
            None | Some(Ok(None)) => return self.publish_spool(),
            Some(Ok(Some(u))) => u,
            Some(Err(e)) => {
                log::warn!("backend `{}`: reading the spool: {e}", self.name());
                return;
            }
        };
        let shared = self.shared.clone();
        let counters = &shared.backends[self.index].counters;
        let n = unacked.batch.len();
        self.breaker.wait_before_call(now);
        let result = self.backend.deliver(&unacked.batch);
        let acked = match result {
            Ok(()) => {
                self.on_success();
                add(&counters.delivered, n);
                add(&shared.counters.delivered, n);
                true
            }
            Err(DeliveryError::Permanent(reason)) => {
                self.on_success();
                self.dead_letter_all(&unacked.batch, &reason);
                add(&shared.counters.failed, n);
                true
            }
            Err(DeliveryError::Partial { retry, rejected }) => {
                self.on_success();
                self.dead_letter_rejected(&unacked.batch, &rejected);
                add(&shared.counters.failed, rejected.len());
                let delivered = n - retry.len() - rejected.len();
                add(&counters.delivered, delivered);
                add(&shared.counters.delivered, delivered);
                // The rest goes back to the end of the spool, so the read position can move on.
                let again = unacked.batch.select(retry);
                self.with_spool(|s| s.append(&again));
                true
            }
            Err(DeliveryError::Retryable(reason)) => {
                self.on_failure(&reason);
                add(&counters.retried, n);
                add(&shared.counters.retried, n);
                false
            }
        };
        if acked {
            self.replay_failures = 0;
            if let Some(Err(e)) = self.with_spool(|s| s.ack(unacked)) {
                log::warn!("backend `{}`: recording spool progress: {e}", self.name());
            }
        } else {
            self.replay_failures += 1;
            if self.breaker.open_for(Instant::now()).is_none() {
                self.shared.sleep(backoff(&self.retry, self.replay_failures - 1));
            }
        }
        self.publish_spool();
    }

    fn sync_spool(&mut self) {
        if let Some(Err(e)) = self.with_spool(|s| s.sync()) {
            log::warn!("backend `{}`: fsync of the spool failed: {e}", self.name());
        }
    }

    fn publish_spool(&self) {
        self.with_spool(|spool| super::publish_spool(spool, &self.slot().counters));
    }

    fn next_backend(&self) -> Option<usize> {
        let pos = self.order.iter().position(|&i| i == self.index)?;
        self.order.get(pos + 1).copied()
    }

    /// Failover: the whole batch goes to the next backend by priority; if that one cannot take
    /// it now, this backend keeps it (spool, or dead letter). Returns whether the work is
    /// finished here (false: the next backend finishes it).
    fn hand_over(&mut self, work: Work) -> bool {
        let tx = self.next_backend().and_then(|next| self.shared.backends[next].tx.lock().ok()?.clone());
        let work = match tx.map(|tx| tx.try_send(work)) {
            Some(Ok(())) => return false,
            Some(Err(e)) => e.into_inner(),
            None => return true,
        };
        let outcome = if self.has_spool {
            match self.spool_batch(&work.batch, Outcome::Delivered) {
                Held::Done(o) => o,
                Held::HandedOver => Outcome::Failed,
            }
        } else {
            self.dead_letter_all(&work.batch, "failover: no backend can take the batch now");
            Outcome::Failed
        };
        work.tracker.finish(outcome, &self.shared.counters);
        true
    }

    fn dead_letter_all(&mut self, batch: &Batch, reason: &str) {
        let all: Vec<usize> = (0..batch.len()).collect();
        self.dead_letter(batch, &all, reason);
    }

    fn dead_letter_rejected(&mut self, batch: &Batch, rejected: &[(usize, String)]) {
        for (i, reason) in rejected {
            self.dead_letter(batch, &[*i], reason);
        }
    }

    fn dead_letter(&mut self, batch: &Batch, indices: &[usize], reason: &str) {
        let counters = &self.shared.backends[self.index].counters;
        add(&counters.failed, indices.len());
        match self.dead_letter.write(batch, indices, reason) {
            Ok(()) => add(&counters.dead_lettered, indices.len()),
            Err(e) => log::error!(
                "backend `{}`: {} events lost, dead-letter file {} not writable: {e}",
                self.name(),
                indices.len(),
                self.dead_letter.path().display()
            ),
        }
    }
}
