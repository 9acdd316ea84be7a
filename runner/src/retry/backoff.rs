//! Jitter and the exponential schedule for server errors.
//!
//! backon's jitter falls back to a fixed seed without its `std` feature, which would give every
//! worker the same "random" delays; seeds come from here instead.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// A fresh pseudo-random u64: std's per-process random hash keys over a counter. Good enough to
/// spread waiters apart; not for anything secret.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A uniformly random duration in `[0, max)`.
pub fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % nanos)
}

/// Bounded exponential backoff for 5xx answers and broken connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerErrorBackoff {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt; 0 disables them.
    pub max_retries: usize,
}

impl Default for ServerErrorBackoff {
    fn default() -> Self {
        ServerErrorBackoff {
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retries: 4,
        }
    }
}

impl ServerErrorBackoff {
    /// The delays to use, in order; the iterator ends (`None`) when retries are exhausted.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
            .with_jitter_seed(random_u64())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_bounded_and_ends() {
        let b = ServerErrorBackoff {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_retries: 5,
        };
        let delays: Vec<Duration> = b.delays().collect();
        assert_eq!(delays.len(), 5);
        // Jitter adds up to one more delay on top of the capped one.
        assert!(
            delays.iter().all(|d| *d <= Duration::from_millis(80)),
            "{delays:?}"
        );
        assert!(jitter(Duration::ZERO).is_zero());
        assert!(jitter(Duration::from_millis(5)) < Duration::from_millis(5));
    }
}
