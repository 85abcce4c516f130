//! Circuit breaker: CLOSED until `failure_threshold` consecutive failures, then OPEN for
//! `open_ms`, then HALF_OPEN for one probe: success closes it, failure opens it again.
//! Owned by the backend's delivery worker; the state is mirrored into an atomic for stats.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl BreakerState {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

pub(crate) struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    state: BreakerState,
}

impl Breaker {
    pub fn new(cfg: &BreakerConfig) -> Self {
        Breaker {
            threshold: cfg.failure_threshold.max(1),
            open_for: Duration::from_millis(cfg.open_ms),
            failures: 0,
            opened_at: None,
            state: BreakerState::Closed,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When OPEN, how long until a probe may go; `None` when a call may go now (which moves
    /// an expired OPEN to HALF_OPEN).
    pub fn wait_before_call(&mut self, now: Instant) -> Option<Duration> {
        if self.state != BreakerState::Open {
            return None;
        }
        let reopen = self.opened_at.map(|t| t + self.open_for).unwrap_or(now);
        if now >= reopen {
            self.state = BreakerState::HalfOpen;
            None
        } else {
            Some(reopen - now)
        }
    }

    /// How long until a probe may go while OPEN; `None` when a call may go now.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        if self.state != BreakerState::Open {
            return None;
        }
        let reopen = self.opened_at.map(|t| t + self.open_for).unwrap_or(now);
        reopen.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    pub fn on_success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
        self.state = BreakerState::Closed;
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.state == BreakerState::HalfOpen || self.failures >= self.threshold {
            self.state = BreakerState::Open;
            self.opened_at = Some(now);
        }
    }

    pub fn publish(&self, to: &AtomicU8) {
        to.store(self.state as u8, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, open_ms: u64) -> Breaker {
        Breaker::new(&BreakerConfig { failure_threshold: threshold, open_ms })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let mut b = breaker(3, 1000);
        let t = Instant::now();
        b.on_failure(t);
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.wait_before_call(t + Duration::from_millis(400)), Some(Duration::from_millis(600)));
    }

    #[test]
    fn half_open_probe_closes_on_success_and_reopens_on_failure() {
        let mut b = breaker(1, 100);
        let t = Instant::now();
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.wait_before_call(t + Duration::from_millis(100)), None);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let t2 = t + Duration::from_millis(150);
        b.on_failure(t2);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.wait_before_call(t2 + Duration::from_millis(50)).is_some());
        assert_eq!(b.wait_before_call(t2 + Duration::from_millis(100)), None);
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
