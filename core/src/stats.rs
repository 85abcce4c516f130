//! Counters, updated with relaxed atomics on every path and read by `stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use serde::Serialize;

#[derive(Default)]
pub(crate) struct Counters {
    /// Valid events the application emitted (accepted or dropped at a full queue).
    pub emitted: AtomicU64,
    /// Events rejected by validation (not part of `emitted`).
    pub invalid: AtomicU64,
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub spooled: AtomicU64,
    /// Events no enabled backend's filter accepted.
    pub unrouted: AtomicU64,
}

#[derive(Default)]
pub(crate) struct BackendCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub spooled: AtomicU64,
    pub dropped: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub breaker: AtomicU8,
    /// The spool's state, published by the delivery worker.
    pub spool_pending: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_lost: AtomicU64,
    pub spool_torn: AtomicU64,
}

pub(crate) fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Relaxed);
}

/// What `stats` returns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsSnapshot {
    pub emitted: u64,
    pub dropped: u64,
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    pub spooled: u64,
    pub queue_depth: u64,
    /// Events waiting in the backends' spools.
    pub spool_pending: u64,
    pub invalid: u64,
    pub unrouted: u64,
    pub backends: BTreeMap<String, BackendSnapshot>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackendSnapshot {
    #[serde(rename = "type")]
    pub backend_type: String,
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    pub spooled: u64,
    pub dropped: u64,
    pub dead_lettered: u64,
    /// `closed`, `open` or `half_open`.
    pub breaker: &'static str,
    pub spool_pending: u64,
    pub spool_bytes: u64,
    /// Spooled events lost to damage (corruption, a missing segment), counted exactly.
    pub spool_lost: u64,
    /// Unfinished writes cut off when the spool was opened.
    pub spool_torn: u64,
}

impl Counters {
    pub fn snapshot(&self, queue_depth: usize, backends: BTreeMap<String, BackendSnapshot>) -> StatsSnapshot {
        StatsSnapshot {
            emitted: self.emitted.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retried: self.retried.load(Relaxed),
            spooled: self.spooled.load(Relaxed),
            queue_depth: queue_depth as u64,
            spool_pending: backends.values().map(|b| b.spool_pending).sum(),
            invalid: self.invalid.load(Relaxed),
            unrouted: self.unrouted.load(Relaxed),
            backends,
        }
    }
}

impl BackendCounters {
    pub fn snapshot(&self, backend_type: &str) -> BackendSnapshot {
        BackendSnapshot {
            backend_type: backend_type.to_owned(),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retried: self.retried.load(Relaxed),
            spooled: self.spooled.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            breaker: crate::router::BreakerState::from_u8(self.breaker.load(Relaxed)).as_str(),
            spool_pending: self.spool_pending.load(Relaxed),
            spool_bytes: self.spool_bytes.load(Relaxed),
            spool_lost: self.spool_lost.load(Relaxed),
            spool_torn: self.spool_torn.load(Relaxed),
        }
    }
}
