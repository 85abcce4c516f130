//! A delivery worker: the one thread that talks to one backend. It retries with backoff,
//! keeps the backend's circuit breaker, and owns the backend's spool: what the backend cannot
//! take now (breaker open, retries exhausted, client stopping) is spooled, and replayed in
//! order once the backend answers again, one spooled batch after each new one so that neither
//! starves. Only what retrying cannot fix (a 4xx) goes to the dead-letter file.

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
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
    spool: Option<Spool>,
    batch_max: usize,
    delivery: Delivery,
    order: Vec<usize>,
    shared: Arc<Shared>,
    warned: bool,
    /// Consecutive failed replays, for their backoff.
    replay_failures: u32,
}

enum Held {
    /// The batch reached a final outcome here.
    Done(Outcome),
    /// Handed to the next backend (failover); that one finishes the tracker.
    HandedOver,
}

/// How often an idle worker wakes to fsync its spool under `fsync: interval`.
const IDLE_TICK: Duration = Duration::from_millis(200);

impl Worker {
    pub fn new(
        index: usize,
        backend: Box<dyn Backend>,
        spool: Option<Spool>,
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
            spool,
            batch_max: cfg.queue.batch_max,
            delivery: cfg.delivery,
            order,
            shared,
            warned: false,
            replay_failures: 0,
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
                    let finished = match self.deliver(&work.batch) {
                        Held::Done(outcome) => {
                            work.tracker.finish(outcome, &self.shared.counters);
                            true
                        }
                        Held::HandedOver => self.hand_over(work),
                    };
                    // Spooled means durable once flush counts it done.
                    if rx.is_empty() {
                        self.sync_spool();
                    }
                    if finished {
                        self.shared.backends[account].done.fetch_add(1, AcqRel);
                        self.shared.notify();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.replay_one();
            if let Some(spool) = self.spool.as_mut() {
                let _ = spool.tick();
            }
        }
        self.sync_spool();
        self.backend.close();
    }

    /// How long to wait for new work: not at all while a replay can go now, until the
    /// breaker's probe while it is open, a tick while the spool has unsynced data.
    fn idle_wait(&self) -> Option<Duration> {
        let spool = self.spool.as_ref()?;
        if spool.is_empty() || self.shared.stopping() {
            return Some(IDLE_TICK);
        }
        Some(self.breaker.open_for(Instant::now()).unwrap_or(Duration::ZERO).min(IDLE_TICK))
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
        if self.shared.stopping() && self.spool.is_some() {
            // Past the flush deadline: persist, do not try a backend that may hang.
            return self.spool_batch(&pending, worst);
        }
        loop {
            if let Some(wait) = self.breaker.open_for(Instant::now()) {
                self.breaker.publish(&counters.breaker);
                if self.spool.is_some() {
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
            eprintln!("monitoring: backend `{}` recovered", self.name());
        }
    }

    fn on_failure(&mut self, reason: &str) {
        self.breaker.on_failure(Instant::now());
        self.breaker.publish(&self.shared.backends[self.index].counters.breaker);
        if !self.warned {
            self.warned = true;
            let next = if self.spool.is_some() { "retrying, then spooling" } else { "retrying" };
            eprintln!("monitoring: backend `{}` failing, {next}: {reason}", self.name());
        }
    }

    /// A batch this backend cannot take now: the next backend (failover), the spool, or, with
    /// no spool, the dead-letter file.
    fn give_up(&mut self, pending: &Arc<Batch>, reason: &str, worst: Outcome) -> Held {
        if self.delivery == Delivery::Failover && !self.shared.stopping() && self.next_backend().is_some() {
            return Held::HandedOver;
        }
        if self.spool.is_some() {
            return self.spool_batch(pending, worst);
        }
        self.dead_letter_all(pending, reason);
        Held::Done(worst.max(Outcome::Failed))
    }

    fn spool_batch(&mut self, batch: &Batch, worst: Outcome) -> Held {
        let shared = self.shared.clone();
        let counters = &shared.backends[self.index].counters;
        let Some(spool) = self.spool.as_mut() else { return Held::Done(Outcome::Failed) };
        let result = spool.append(batch);
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
                // cannot be written either the events are dropped, counted.
                self.dead_letter_all(batch, &format!("spool write failed: {e}"));
                Outcome::Failed
            }
        };
        self.publish_spool();
        Held::Done(worst.max(outcome))
    }

    /// Delivers one spooled batch, if the spool has one and the backend may be called.
    fn replay_one(&mut self) {
        let now = Instant::now();
        if self.shared.stopping() || self.breaker.open_for(now).is_some() {
            return;
        }
        let Some(spool) = self.spool.as_mut() else { return };
        if spool.is_empty() {
            return;
        }
        let unacked = match spool.read_batch(self.batch_max) {
            Ok(Some(u)) => u,
            Ok(None) => return self.publish_spool(),
            Err(e) => {
                eprintln!("monitoring: backend `{}`: reading the spool: {e}", self.name());
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
                if let Some(spool) = self.spool.as_mut() {
                    let _ = spool.append(&again);
                }
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
            if let Some(spool) = self.spool.as_mut() {
                if let Err(e) = spool.ack(unacked) {
                    eprintln!("monitoring: backend `{}`: recording spool progress: {e}", self.name());
                }
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
        if let Some(spool) = self.spool.as_mut() {
            if let Err(e) = spool.sync() {
                eprintln!("monitoring: backend `{}`: fsync of the spool failed: {e}", self.name());
            }
        }
    }

    fn publish_spool(&self) {
        let Some(spool) = self.spool.as_ref() else { return };
        let c = &self.shared.backends[self.index].counters;
        c.spool_pending.store(spool.pending(), Relaxed);
        c.spool_bytes.store(spool.bytes(), Relaxed);
        c.spool_lost.store(spool.damage.records_lost, Relaxed);
        c.spool_torn.store(spool.damage.torn_tails, Relaxed);
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
        let outcome = if self.spool.is_some() {
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
            Err(e) => eprintln!(
                "monitoring: backend `{}`: {} events lost, dead-letter file {} not writable: {e}",
                self.name(),
                indices.len(),
                self.dead_letter.path().display()
            ),
        }
    }
}
