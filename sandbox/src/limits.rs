//! Zoho's two API limits: a credit budget per fixed window (429 `THRESHOLD_EXCEEDED`) and a cap on
//! requests in flight (429 `TOO_MANY_REQUESTS`).
//!
//! Credit costs are third-party estimates (reference 4.2, a CONFLICT between sources): a GET of one
//! resource (or a count) costs 1; a list or search costs 3 while `from` ≤ 2000 and more for deeper
//! offsets (5 up to 4000, 10 up to 10,000, 50 up to 50,000, 100 beyond; the bracket edges are the
//! sandbox's own choice); every write costs 1. Requests refused before the budget is consulted
//! (401, 429 for concurrency) cost nothing; everything after it, including 4xx answers, is charged.

use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct Limits {
    pub credits_per_window: u64,
    pub window: Duration,
    pub max_concurrency: usize,
    pub latency: Duration,
    used: u64,
    window_start: Instant,
}

impl Limits {
    pub(crate) fn new(
        credits_per_window: u64,
        window: Duration,
        max_concurrency: usize,
        latency: Duration,
    ) -> Self {
        Self {
            credits_per_window,
            window: window.max(Duration::from_millis(1)),
            max_concurrency,
            latency,
            used: 0,
            window_start: Instant::now(),
        }
    }

    /// New limits start a fresh window.
    pub(crate) fn set(
        &mut self,
        credits_per_window: u64,
        window: Duration,
        max_concurrency: usize,
    ) {
        self.credits_per_window = credits_per_window;
        self.window = window.max(Duration::from_millis(1));
        self.max_concurrency = max_concurrency;
        self.reset_window();
    }

    pub(crate) fn reset_window(&mut self) {
        self.used = 0;
        self.window_start = Instant::now();
    }

    fn roll(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= self.window {
            let periods = (elapsed.as_nanos() / self.window.as_nanos()) as u32;
            self.window_start += self.window * periods;
            self.used = 0;
        }
    }

    pub(crate) fn remaining(&mut self) -> u64 {
        self.roll();
        self.credits_per_window.saturating_sub(self.used)
    }

    /// Charges `cost`; `Err` carries the whole seconds until the window resets (for `Retry-After`).
    pub(crate) fn charge(&mut self, cost: u64) -> Result<u64, u64> {
        self.roll();
        if self.used + cost > self.credits_per_window {
            let left = (self.window_start + self.window).saturating_duration_since(Instant::now());
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        self.used += cost;
        Ok(self.credits_per_window - self.used)
    }
}

/// The credit weight of a request, by route template.
pub(crate) fn cost(method: &str, template: Option<&str>, from: Option<i64>) -> u64 {
    let Some(template) = template else { return 0 };
    if method != "GET" {
        return 1;
    }
    let last = template.rsplit('/').next().unwrap_or("");
    let single =
        last.starts_with('{') || matches!(last, "latestThread" | "ticketsCount" | "organizations");
    if single {
        return 1;
    }
    match from.unwrap_or(0) {
        ..=2000 => 3,
        2001..=4000 => 5,
        4001..=10_000 => 10,
        10_001..=50_000 => 50,
        _ => 100,
    }
}
