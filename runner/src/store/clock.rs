//! The store's notion of "now", replaceable so lease expiry can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the store reads the time (epoch milliseconds). Leases compare against it, so every
/// replica should use the system clock; the manual clock exists for tests and simulations.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => zoho_desk_mcp::registry::database::now_ms(),
            Clock::Manual(manual) => manual.now_ms(),
        }
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
}

/// A duration in whole milliseconds, saturating rather than wrapping for absurd values.
pub(crate) fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
