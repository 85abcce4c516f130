//! Exponential backoff with jitter: attempt n waits up to min(max, initial * multiplier^n).

use std::time::Duration;

use crate::config::{Jitter, RetryConfig};

pub(crate) fn backoff(cfg: &RetryConfig, attempt: u32) -> Duration {
    let exp = cfg.multiplier.powi(attempt.min(64) as i32);
    let cap = (cfg.initial_ms as f64 * exp).min(cfg.max_ms as f64).max(0.0);
    let ms = match cfg.jitter {
        Jitter::None => cap,
        Jitter::Full => fastrand::f64() * cap,
        Jitter::Equal => cap / 2.0 + fastrand::f64() * cap / 2.0,
    };
    Duration::from_micros((ms * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_jitter_stays_within_the_cap() {
        let mut cfg = RetryConfig {
            initial_ms: 100,
            max_ms: 1000,
            multiplier: 2.0,
            jitter: Jitter::None,
            max_attempts: 0,
        };
        let waits: Vec<u128> = (0..6).map(|a| backoff(&cfg, a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        cfg.jitter = Jitter::Full;
        for attempt in 0..10 {
            assert!(backoff(&cfg, attempt) <= Duration::from_millis(1000));
        }
        cfg.jitter = Jitter::Equal;
        for _ in 0..100 {
            let d = backoff(&cfg, 0);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100), "{d:?}");
        }
    }
}
