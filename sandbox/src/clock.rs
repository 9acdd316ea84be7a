use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The fixed epoch every generated org is laid out against ("the last 30 days" ends here).
pub(crate) const EPOCH_MILLIS: i64 = 1_772_442_000_000; // 2026-03-02T09:00:00.000Z

/// The sandbox's "now": the real time, as Zoho's (never earlier than the fixed epoch plus the time
/// elapsed since start). Seeded timestamps are laid out before the epoch and so reproducible for a
/// seed; writes sort after them, and clients that bound a search by their own clock (reconciling
/// a lost write) see what they would see on Zoho.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    started: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        Utc::now().max(epoch() + elapsed)
    }

    pub(crate) fn now_iso(&self) -> String {
        iso(self.now())
    }
}

pub(crate) fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(EPOCH_MILLIS).unwrap_or_default()
}

/// Zoho's timestamp format: ISO-8601 UTC with milliseconds and a literal `Z`.
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(crate) fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
