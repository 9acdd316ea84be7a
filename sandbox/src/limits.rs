//! Zoho's two API limits: a credit budget per fixed window (429 `THRESHOLD_EXCEEDED`) and a cap on
//! requests in flight (429 `TOO_MANY_REQUESTS`).
//!
//! Credit costs follow Zoho's published credit model as third parties summarise it (reference 4.2,
//! zoho-oas.md): a GET of one resource (or a count) costs 1; a list or search costs 3 while `from`
//! is at most 2,000, then 5 up to 10,000, 10 up to 50,000, 50 up to 100,000 and 100 beyond; every
//! write costs 1. Requests refused before the budget is consulted
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
    bracket(from.unwrap_or(0))
}

/// The credits of one list or search call starting at `from`.
fn bracket(from: i64) -> u64 {
    match from {
        ..=2_000 => 3,
        2_001..=10_000 => 5,
        10_001..=50_000 => 10,
        50_001..=100_000 => 50,
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_credits_follow_the_published_brackets() {
        let cases = [
            (0, 3),
            (2_000, 3),
            (2_001, 5),
            (4_001, 5),
            (10_000, 5),
            (10_001, 10),
            (50_000, 10),
            (50_001, 50),
            (100_000, 50),
            (100_001, 100),
        ];
        for (from, credits) in cases {
            assert_eq!(bracket(from), credits, "from {from}");
            assert_eq!(cost("GET", Some("/api/v1/tickets"), Some(from)), credits);
        }
        assert_eq!(
            cost("GET", Some("/api/v1/tickets/{ticketId}"), Some(9_000)),
            1
        );
        assert_eq!(cost("POST", Some("/api/v1/tickets"), None), 1);
    }
}
