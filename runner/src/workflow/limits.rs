//! Bounds on what one run may spend.

use std::time::Duration;

use serde::Serialize;

/// The longest `item_timeout` a workflow may set: an item that has not finished in a day will
/// not, and the lease and timer arithmetic built on it must stay far from overflow.
pub const MAX_ITEM_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Every bound has a default so that a workflow without `limits` is still bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Model turns per item (default 12): a loop that has not answered by then will not.
    pub max_steps: u32,
    /// Wall-clock budget per item (default 2m), including waits for rate-limit resets.
    pub item_timeout: Duration,
    /// Items processed at the same time (default 4); Zoho's concurrency cap is per org, so more
    /// mostly buys 429s.
    pub concurrency: u32,
    /// Tokens per run (prompt + completion); `None` means unbounded.
    pub token_budget: Option<u64>,
    /// Attempts per item across runs before it is left alone (default 3).
    pub max_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 12,
            item_timeout: Duration::from_secs(120),
            concurrency: 4,
            token_budget: None,
            max_attempts: 3,
        }
    }
}
