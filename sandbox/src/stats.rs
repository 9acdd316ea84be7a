use std::collections::BTreeMap;

use serde::Serialize;

/// Request counters since start (or the last reset). `by_path` is keyed by route template, e.g.
/// `"GET /api/v1/tickets/{ticketId}"`; a path no route matches counts under `"<METHOD> <unmatched>"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub total: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_path: BTreeMap<String, u64>,
    pub rate_limited_threshold: u64,
    /// Credits charged to the window by requests that were let through: what a client's work
    /// cost, against which a drain's theoretical minimum time is computed.
    pub credits_charged: u64,
    pub rate_limited_concurrency: u64,
    /// Faults that fired, by kind (`status`, `latency`, `drop`, `malformed`).
    #[serde(default)]
    pub faults_injected: BTreeMap<String, u64>,
}

impl Stats {
    pub(crate) fn record(&mut self, route: String, status: u16) {
        self.total += 1;
        *self.by_status.entry(status).or_default() += 1;
        *self.by_path.entry(route).or_default() += 1;
    }
}
