//! A delivery worker: the one thread that talks to one backend. It retries with backoff,
//! keeps the backend's circuit breaker, and gives up on a batch (dead letter, or the next
//! backend under failover) only when retries are exhausted or the client is stopping.

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::backoff::backoff;
use super::breaker::Breaker;
use super::{Outcome, Shared, Work};
use crate::backend::{Backend, Batch, DeadLetter, DeliveryError};
use crate::config::{Config, Delivery, RetryConfig};
use crate::stats::add;

pub(crate) struct Worker {
    index: usize,
    backend: Box<dyn Backend>,
    breaker: Breaker,
    retry: RetryConfig,
    dead_letter: DeadLetter,
    delivery: Delivery,
    order: Vec<usize>,
    shared: Arc<Shared>,
    warned: bool,
}

enum Held {
    /// The batch reached a final outcome here.
    Done(Outcome),
    /// Handed to the next backend (failover); that one finishes the tracker.
    HandedOver,
}

impl Worker {
    pub fn new(
        index: usize,
        backend: Box<dyn Backend>,
        cfg: &Config,
        shared: Arc<Shared>,
        order: Vec<usize>,
    ) -> Self {
        let name = shared.backends[index].config.name.clone();
        Worker {
            index,
            backend,
            breaker: Breaker::new(&cfg.circuit_breaker),
            retry: cfg.retry.clone(),
            dead_letter: DeadLetter::new(cfg.spool.dead_letter_dir(), &name),
            delivery: cfg.delivery,
            order,
            shared,
            warned: false,
        }
    }

    pub fn run(mut self, rx: Receiver<Work>) {
        while let Ok(work) = rx.recv() {
            if let Held::Done(outcome) = self.deliver(&work.batch) {
                work.tracker.finish(outcome, &self.shared.counters);
            } else {
                self.hand_over(work);
            }
            self.shared.backends[self.index].done.fetch_add(1, AcqRel);
            self.shared.notify();
        }
        self.backend.close();
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
        loop {
            if let Some(wait) = self.breaker.wait_before_call(Instant::now()) {
                self.breaker.publish(&counters.breaker);
                if !self.shared.sleep(wait) {
                    return self.give_up(&pending, "client stopped while the backend was unavailable", worst);
                }
                continue;
            }
            self.breaker.publish(&counters.breaker);
            let result = self.backend.deliver(&pending);
            match result {
                Ok(()) => {
                    self.breaker.on_success();
                    self.breaker.publish(&counters.breaker);
                    add(&counters.delivered, pending.len());
                    if self.warned {
                        self.warned = false;
                        eprintln!("monitoring: backend `{}` recovered", self.name());
                    }
                    return Held::Done(worst);
                }
                Err(DeliveryError::Permanent(reason)) => {
                    self.breaker.on_success();
                    self.dead_letter_all(&pending, &reason);
                    return Held::Done(Outcome::Failed);
                }
                Err(DeliveryError::Partial { retry, rejected }) => {
                    self.breaker.on_success();
                    let settled = pending.len() - retry.len();
                    if !rejected.is_empty() {
                        let idx: Vec<usize> = rejected.iter().map(|(i, _)| *i).collect();
                        self.dead_letter(&pending, &idx, &rejected[0].1);
                        worst = Outcome::Failed;
                    }
                    add(&counters.delivered, settled - rejected.len());
                    if retry.is_empty() {
                        return Held::Done(worst);
                    }
                    pending = Arc::new(pending.select(retry));
                }
                Err(DeliveryError::Retryable(reason)) => {
                    self.breaker.on_failure(Instant::now());
                    self.breaker.publish(&counters.breaker);
                    if !self.warned {
                        self.warned = true;
                        eprintln!("monitoring: backend `{}` failing, retrying: {reason}", self.name());
                    }
                    attempt += 1;
                    let exhausted = self.retry.max_attempts > 0 && attempt >= self.retry.max_attempts;
                    if exhausted || self.shared.stopping() {
                        let why = format!("gave up after {attempt} attempts: {reason}");
                        return self.give_up(&pending, &why, worst);
                    }
                    add(&counters.retried, pending.len());
                    add(&shared.counters.retried, pending.len());
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

    fn give_up(&mut self, pending: &Arc<Batch>, reason: &str, worst: Outcome) -> Held {
        if self.delivery == Delivery::Failover && !self.shared.stopping() && self.next_backend().is_some() {
            return Held::HandedOver;
        }
        self.dead_letter_all(pending, reason);
        Held::Done(worst.max(Outcome::Failed))
    }

    fn next_backend(&self) -> Option<usize> {
        let pos = self.order.iter().position(|&i| i == self.index)?;
        self.order.get(pos + 1).copied()
    }

    /// Failover: the whole batch goes to the next backend by priority, or to dead letter if
    /// that one cannot take it now.
    fn hand_over(&mut self, work: Work) {
        if let Some(next) = self.next_backend() {
            let slot = &self.shared.backends[next];
            let tx = slot.tx.lock().ok().and_then(|g| g.clone());
            if let Some(tx) = tx {
                slot.sent.fetch_add(1, AcqRel);
                match tx.try_send(work) {
                    Ok(()) => return,
                    Err(e) => {
                        slot.done.fetch_add(1, AcqRel);
                        let work = e.into_inner();
                        self.dead_letter_all(&work.batch, "failover: next backend cannot take the batch");
                        work.tracker.finish(Outcome::Failed, &self.shared.counters);
                        return;
                    }
                }
            }
        }
        self.dead_letter_all(&work.batch, "failover: no backend left");
        work.tracker.finish(Outcome::Failed, &self.shared.counters);
    }

    fn dead_letter_all(&mut self, batch: &Batch, reason: &str) {
        let all: Vec<usize> = (0..batch.len()).collect();
        self.dead_letter(batch, &all, reason);
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
