//! A per-connection gate that every tool call passes. One 429 closes it for everyone until the
//! reported reset, so a backlog drains at the limit instead of each item discovering the limit
//! on its own; a concurrency 429 lowers how many calls it lets through at once.
//!
//! Zoho has two limits: a credit budget per window (429 `THRESHOLD_EXCEEDED`, reset possibly
//! hours away) and a cap on calls in flight (429 `TOO_MANY_REQUESTS`, `Retry-After: 1`). The first
//! is a point in time and closes the gate; the second is a number and lowers the in-flight limit
//! (halved once per round of calls, grown back by one per quiet `recover_after`).
//!
//! Successful answers count too: our gateway passes the budget left (`remaining`) and what a call
//! cost (`weight`) on every result, so the gate lets no more calls into flight than the budget
//! can pay for. When less than one call's worth is left, a single call goes out to learn the
//! reset (its 429 closes the gate) instead of every worker meeting its own 429.
//!
//! On PostgreSQL the closure and the budget are also shared through the store
//! ([`RateGate::share_through`]): every replica and CLI process on one store reads them before
//! admitting a call and publishes what its answers report, so a closure one replica learns holds
//! for all. So is Zoho's cap on calls in flight ([`GateConfig::shared_cap`]): each call holds a
//! leased slot row, so the replicas together stay under it; each process still lowers its own
//! limit on the concurrency 429s that other clients of the org cause.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::mcp::{RateLimit, ToolOutcome};
use crate::retry::backoff::jitter;
use crate::store::Reservation;

/// Resets further away than this are clamped: no limit resets in more than a month, and the
/// clamp keeps `Instant` arithmetic from overflowing on absurd values.
const LONGEST_RESET: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// Calls in flight before any concurrency 429 has lowered the limit.
    pub max_in_flight: usize,
    /// Random extra on top of a reported reset, so other clients of the same limit are not
    /// synchronised with us.
    pub reopen_jitter: Duration,
    /// Waiters held by a closure are let through one per `release_spacing` (± half) after it
    /// reopens, instead of all in the same millisecond.
    pub release_spacing: Duration,
    /// A quiet period after which a lowered in-flight limit grows back by one.
    pub recover_after: Duration,
    /// How long a 429 that says nothing about its reset closes the gate.
    pub unknown_reset: Duration,
    /// Calls in flight to the connection from every process sharing the gate's store (Zoho's
    /// per-org cap: 10 on the Standard edition). Only a shared gate uses it.
    pub shared_cap: usize,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_in_flight: 64,
            reopen_jitter: Duration::from_millis(250),
            release_spacing: Duration::from_millis(20),
            recover_after: Duration::from_secs(10),
            unknown_reset: Duration::from_secs(1),
            shared_cap: 10,
        }
    }
}

/// Shared by every item on one MCP connection; cloning shares the same gate.
#[derive(Clone)]
pub struct RateGate {
    inner: Arc<Inner>,
}

struct Inner {
    config: GateConfig,
    state: Mutex<State>,
    released: Notify,
    shared: Option<Shared>,
}

/// The store row this gate shares with other processes.
struct Shared {
    store: crate::store::Store,
    connection: String,
    /// When the row was last read; reads are spaced by [`SHARED_READ_EVERY`].
    last_read: Mutex<Option<Instant>>,
    /// When the budget this process holds was observed (epoch ms), to keep the newer figure.
    seen_at: Mutex<i64>,
    /// Names this process's calls in the shared slot rows.
    holder: String,
    calls: std::sync::atomic::AtomicU64,
}

/// A name no other process on the store uses: replicas in containers share process ids.
fn holder_name() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes = (nanos ^ i64::from(std::process::id())).to_le_bytes();
    }
    hex::encode(bytes)
}

/// How long a call slot is held at most: longer than any call (the Zoho client gives up after
/// 30 s), so only a process that died mid-call loses its slot to the lease.
const SLOT_LEASE: Duration = Duration::from_secs(90);

/// How often a call waiting for a shared slot looks again (± half).
const SLOT_POLL: Duration = Duration::from_millis(20);

/// How stale the shared figures may be before a call reads them again.
const SHARED_READ_EVERY: Duration = Duration::from_millis(100);

struct State {
    closed_until: Option<Instant>,
    /// The next release slot for waiters a closure held back.
    release_cursor: Option<Instant>,
    in_flight: usize,
    limit: usize,
    /// Bumped on every concurrency decrease; a 429 from a call admitted before the last decrease
    /// says nothing new.
    generation: u64,
    last_limit_change: Instant,
    closures: u64,
    /// The budget left as the latest answer reported it; forgotten when a closure ends (the
    /// window it belonged to is over).
    remaining: Option<u64>,
    /// What one call may cost: the most any answer reported (1 until told). Calls differ (a
    /// list costs more than a read), and pacing by the dearest one is what keeps a window from
    /// ending in a burst of 429s.
    weight: u64,
}

enum Step {
    Sleep(Instant),
    Released,
}

/// The gate was closed past the caller's patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedUntil(pub Instant);

impl Default for RateGate {
    fn default() -> Self {
        RateGate::new(GateConfig::default())
    }
}

impl RateGate {
    pub fn new(config: GateConfig) -> Self {
        Self::build(config, None)
    }

    /// A gate whose closures and budget are shared with every process on `store` under
    /// `connection` (one Zoho connection, one budget).
    pub fn share_through(
        config: GateConfig,
        store: crate::store::Store,
        connection: impl Into<String>,
    ) -> Self {
        Self::build(
            config,
            Some(Shared {
                store,
                connection: connection.into(),
                last_read: Mutex::new(None),
                seen_at: Mutex::new(0),
                holder: holder_name(),
                calls: std::sync::atomic::AtomicU64::new(0),
            }),
        )
    }

    fn build(config: GateConfig, shared: Option<Shared>) -> Self {
        let config = GateConfig {
            max_in_flight: config.max_in_flight.max(1),
            shared_cap: config.shared_cap.max(1),
            ..config
        };
        RateGate {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    closed_until: None,
                    release_cursor: None,
                    in_flight: 0,
                    limit: config.max_in_flight,
                    generation: 0,
                    last_limit_change: Instant::now(),
                    closures: 0,
                    remaining: None,
                    weight: 1,
                }),
                config,
                released: Notify::new(),
                shared,
            }),
        }
    }

    /// Reads what other processes learned of the limit, at most every [`SHARED_READ_EVERY`].
    async fn read_shared(&self) {
        let Some(shared) = &self.inner.shared else {
            return;
        };
        {
            let mut last = shared.last_read.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last.is_some_and(|at| now - at < SHARED_READ_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let row = match shared.store.shared_budget(&shared.connection).await {
            Ok(row) => row,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the shared rate budget; pacing alone");
                return;
            }
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        if let Some(until) = row.closed_until.filter(|u| *u > now_ms) {
            let wait = Duration::from_millis(u64::try_from(until - now_ms).unwrap_or(0));
            self.close_for(wait.min(LONGEST_RESET));
        }
        let mut seen = shared.seen_at.lock().unwrap_or_else(|p| p.into_inner());
        if row.observed_at > *seen {
            *seen = row.observed_at;
            let mut s = self.lock();
            s.remaining = row.remaining.and_then(|r| u64::try_from(r).ok());
            if let Some(w) = row
                .weight
                .and_then(|w| u64::try_from(w).ok())
                .filter(|w| *w > 0)
            {
                s.weight = s.weight.max(w);
            }
        }
    }

    /// Publishes a closure or a budget for the other processes; never waits for the store.
    fn publish(&self, closed_for: Option<Duration>, budget: Option<&RateLimit>) {
        let Some(shared) = &self.inner.shared else {
            return;
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        {
            let mut seen = shared.seen_at.lock().unwrap_or_else(|p| p.into_inner());
            *seen = (*seen).max(now_ms);
        }
        let store = shared.store.clone();
        let connection = shared.connection.clone();
        let budget = budget.copied();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let written = match (closed_for, budget) {
                (Some(wait), _) => {
                    let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    store
                        .share_closure(&connection, now_ms.saturating_add(ms))
                        .await
                }
                (None, Some(b)) => {
                    let int = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
                    store
                        .share_budget(&connection, int(b.remaining), int(b.weight))
                        .await
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = written {
                tracing::debug!(error = %e, "could not share the rate budget");
            }
        });
    }

    /// Waits until a call may go out. Hold the permit for the duration of the call.
    pub async fn wait(&self) -> GatePermit {
        match self.wait_at_most(LONGEST_RESET).await {
            Ok(permit) => permit,
            // Unreachable in practice (closures are clamped to LONGEST_RESET); wait it out anyway.
            Err(ClosedUntil(until)) => {
                tokio::time::sleep_until(until).await;
                Box::pin(self.wait()).await
            }
        }
    }

    /// Like [`wait`](Self::wait), but gives up at once when the gate is closed for longer than
    /// `patience`: a worker should not sit for hours on a daily quota.
    pub async fn wait_at_most(&self, patience: Duration) -> Result<GatePermit, ClosedUntil> {
        loop {
            self.read_shared().await;
            let mut permit = self.admit(patience).await?;
            let Some(shared) = &self.inner.shared else {
                return Ok(permit);
            };
            let holder = format!(
                "{}-{}",
                shared.holder,
                shared
                    .calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let cap = i64::try_from(self.inner.config.shared_cap).unwrap_or(i64::MAX);
            let lease = i64::try_from(SLOT_LEASE.as_millis()).unwrap_or(i64::MAX);
            match shared
                .store
                .take_call_slot(&shared.connection, cap, &holder, lease)
                .await
            {
                Ok(Some(slot)) => permit.slot = Some((slot, holder)),
                Ok(None) => {
                    // Every slot is taken by this or another process: free the local turn and
                    // look again shortly.
                    drop(permit);
                    tokio::time::sleep(SLOT_POLL / 2 + jitter(SLOT_POLL)).await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "could not take a shared call slot; capping alone");
                }
            }
            let weight = i64::try_from(self.lock().weight).unwrap_or(1);
            match shared
                .store
                .reserve_credits(&shared.connection, weight)
                .await
            {
                Ok(Reservation::Granted | Reservation::Probe | Reservation::Unmetered) => {
                    permit.reserved = true;
                    return Ok(permit);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "could not reserve shared credits; pacing alone");
                    return Ok(permit);
                }
                Ok(Reservation::Wait) => {
                    // Another process is learning the reset: wait for its closure to be shared.
                    drop(permit);
                    tokio::time::sleep(SHARED_READ_EVERY / 2 + jitter(SHARED_READ_EVERY)).await;
                    if let Ok(mut last) = shared.last_read.lock() {
                        *last = None;
                    }
                }
            }
        }
    }

    /// Admission by this process's own view: closure, release spacing, calls in flight.
    async fn admit(&self, patience: Duration) -> Result<GatePermit, ClosedUntil> {
        let cfg = self.inner.config;
        let mut parked = false;
        let mut has_slot = false;
        loop {
            let mut released = pin!(self.inner.released.notified());
            let step = {
                let mut s = self.lock();
                let now = Instant::now();
                s.recover(now, &cfg, &self.inner.released);
                match s.closed_until {
                    Some(until) if until > now => {
                        if until - now > patience {
                            return Err(ClosedUntil(until));
                        }
                        parked = true;
                        has_slot = false;
                        Step::Sleep(until)
                    }
                    _ => {
                        if s.closed_until.take().is_some() {
                            // A new window: the old budget figure says nothing about it.
                            s.remaining = None;
                        }
                        let slot = match s.release_cursor {
                            Some(cursor) if parked && !has_slot => {
                                has_slot = true;
                                let slot = cursor.max(now);
                                let spacing = cfg.release_spacing / 2 + jitter(cfg.release_spacing);
                                s.release_cursor = Some(slot + spacing);
                                (slot > now).then_some(slot)
                            }
                            _ => None,
                        };
                        if let Some(slot) = slot {
                            Step::Sleep(slot)
                        } else if s.in_flight >= s.admissible() {
                            released.as_mut().enable();
                            Step::Released
                        } else {
                            s.in_flight += 1;
                            return Ok(GatePermit {
                                gate: self.clone(),
                                generation: s.generation,
                                reserved: false,
                                slot: None,
                            });
                        }
                    }
                }
            };
            match step {
                Step::Sleep(until) => tokio::time::sleep_until(until).await,
                Step::Released => released.await,
            }
        }
    }

    /// Reads the rate-limit fields of any answer; `limited` says it was a 429. A 429 closes the
    /// gate until its reset (`retry_after` first, as the IETF draft says; `unknown_reset` when
    /// neither is given); any answer reporting `remaining: 0` with a reset closes it too. Fields
    /// that were malformed never got this far. Returns how long the gate is now closed.
    pub fn observe(&self, ratelimit: Option<&RateLimit>, limited: bool) -> Option<Duration> {
        let delay = ratelimit.and_then(RateLimit::delay);
        let exhausted = ratelimit.is_some_and(RateLimit::is_exhausted);
        let delay = match delay {
            Some(d) if limited || exhausted => d,
            None if limited => self.inner.config.unknown_reset,
            _ => return None,
        };
        self.close_for(delay.min(LONGEST_RESET) + jitter(self.inner.config.reopen_jitter));
        let closed = self.closed_for();
        self.publish(closed, None);
        closed
    }

    /// Reads the budget a successful answer reported, so the gate paces before it is spent.
    pub fn observe_budget(&self, budget: Option<&RateLimit>) {
        let Some(budget) = budget else { return };
        let room = {
            let mut s = self.lock();
            if let Some(weight) = budget.weight.filter(|w| *w > 0) {
                s.weight = s.weight.max(weight);
            }
            if budget.remaining.is_some() {
                s.remaining = budget.remaining;
            }
            s.in_flight < s.admissible()
        };
        if room {
            self.inner.released.notify_waiters();
        }
        self.publish(None, Some(budget));
        // A budget reported spent with a known reset closes the gate like a 429 would.
        self.observe(Some(budget), false);
    }

    /// How much longer the gate stays closed, if it is.
    pub fn closed_for(&self) -> Option<Duration> {
        let s = self.lock();
        let now = Instant::now();
        s.closed_until.filter(|u| *u > now).map(|u| u - now)
    }

    /// The current cap on calls in flight.
    pub fn in_flight_limit(&self) -> usize {
        self.lock().limit
    }

    /// Calls the gate lets into flight at the moment (concurrency limit and known budget).
    pub fn admissible(&self) -> usize {
        self.lock().admissible()
    }

    /// How many times the gate has closed (for metrics and tests).
    pub fn closures(&self) -> u64 {
        self.lock().closures
    }

    fn close_for(&self, wait: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + wait;
        if s.closed_until.is_none_or(|u| u < until) {
            if s.closed_until.is_none() {
                s.closures += 1;
            }
            s.closed_until = Some(until);
            s.release_cursor = Some(s.release_cursor.map_or(until, |c| c.max(until)));
        }
    }

    fn lower_concurrency(&self, generation: u64) {
        let mut s = self.lock();
        if generation != s.generation {
            return;
        }
        let before = s.limit;
        s.limit = (s.limit.min(s.in_flight) / 2).max(1);
        s.generation += 1;
        s.last_limit_change = Instant::now();
        tracing::debug!(
            from = before,
            to = s.limit,
            "MCP concurrency limit hit; fewer calls in flight"
        );
    }

    fn release(&self) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.inner.released.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under every panic point (plain field updates), so a poisoned
        // lock is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Calls allowed in flight now: the concurrency limit, lowered to what the known budget
    /// pays for; at least one, to learn the reset when the budget is spent.
    fn admissible(&self) -> usize {
        match self.remaining {
            Some(remaining) => {
                let affordable =
                    usize::try_from(remaining / self.weight.max(1)).unwrap_or(usize::MAX);
                self.limit.min(affordable.max(1))
            }
            None => self.limit,
        }
    }

    fn recover(&mut self, now: Instant, cfg: &GateConfig, released: &Notify) {
        if self.limit < cfg.max_in_flight && now - self.last_limit_change >= cfg.recover_after {
            self.limit += 1;
            self.last_limit_change = now;
            released.notify_waiters();
        }
    }
}

/// One admitted call. Feed its answer back with [`observe`](Self::observe); dropping it frees
/// the in-flight slot.
pub struct GatePermit {
    gate: RateGate,
    generation: u64,
    /// Holds credits reserved in the shared budget, released when the call is over.
    reserved: bool,
    /// The shared call slot held, and under which name.
    slot: Option<(i64, String)>,
}

impl GatePermit {
    /// Tells the gate what the call met: a concurrency 429 lowers the in-flight limit, other 429s
    /// and exhausted budgets close the gate.
    pub fn observe(&self, outcome: &ToolOutcome) -> Option<Duration> {
        let failure = outcome.failure()?;
        if let Some(rl) = &failure.ratelimit {
            let mut s = self.gate.lock();
            if rl.remaining.is_some() {
                s.remaining = rl.remaining;
            }
        }
        if failure.is_concurrency_limit() {
            self.gate.lower_concurrency(self.generation);
            return self.gate.observe(failure.ratelimit.as_ref(), false);
        }
        self.gate
            .observe(failure.ratelimit.as_ref(), failure.is_rate_limited())
    }
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.gate.release();
        let slot = self.slot.take();
        if (self.reserved || slot.is_some())
            && let Some(shared) = &self.gate.inner.shared
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = shared.store.clone();
            let connection = shared.connection.clone();
            let reserved = self.reserved;
            runtime.spawn(async move {
                if let Some((slot, holder)) = slot
                    && let Err(e) = store.release_call_slot(&connection, slot, &holder).await
                {
                    tracing::debug!(error = %e, "could not free a shared call slot");
                }
                if reserved && let Err(e) = store.release_credits(&connection).await {
                    tracing::debug!(error = %e, "could not release reserved credits");
                }
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rl(remaining: Option<u64>, reset: Option<u64>, retry_after: Option<u64>) -> RateLimit {
        RateLimit {
            limit: None,
            remaining,
            reset,
            retry_after,
            weight: None,
        }
    }

    fn quiet() -> RateGate {
        RateGate::new(GateConfig {
            reopen_jitter: Duration::ZERO,
            ..GateConfig::default()
        })
    }

    #[tokio::test]
    async fn a_429_closes_until_retry_after_which_wins_over_reset() {
        let gate = quiet();
        assert_eq!(gate.closed_for(), None);
        let closed = gate
            .observe(Some(&rl(Some(0), Some(100), Some(3))), true)
            .unwrap();
        assert!(closed <= Duration::from_secs(3) && closed > Duration::from_secs(2));
        assert!(matches!(
            gate.wait_at_most(Duration::from_secs(1)).await,
            Err(ClosedUntil(_))
        ));
        assert_eq!(gate.closures(), 1);
    }

    #[tokio::test]
    async fn successes_and_answers_with_budget_left_keep_it_open() {
        let gate = quiet();
        assert_eq!(
            gate.observe(Some(&rl(Some(5), Some(60), None)), false),
            None
        );
        assert_eq!(gate.observe(None, false), None);
        // Exhausted but no reset: nothing to wait for.
        assert_eq!(gate.observe(Some(&rl(Some(0), None, None)), false), None);
        assert!(
            gate.observe(Some(&rl(Some(0), Some(2), None)), false)
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_429_without_timing_closes_for_the_configured_default() {
        let gate = quiet();
        let closed = gate.observe(None, true).unwrap();
        assert!(closed <= Duration::from_secs(1) && closed > Duration::from_millis(900));
    }

    #[tokio::test]
    async fn absurd_resets_are_clamped_and_patience_is_honoured() {
        let gate = quiet();
        let closed = gate
            .observe(Some(&rl(None, Some(u64::MAX), None)), true)
            .unwrap();
        assert!(closed <= LONGEST_RESET);
        assert!(gate.wait_at_most(Duration::from_secs(3600)).await.is_err());
    }

    #[tokio::test]
    async fn a_concurrency_429_halves_the_limit_once_per_round() {
        let gate = RateGate::new(GateConfig {
            max_in_flight: 8,
            ..GateConfig::default()
        });
        let mut permits = Vec::new();
        for _ in 0..8 {
            permits.push(gate.wait().await);
        }
        let limited = ToolOutcome::ToolError(crate::mcp::ToolFailure {
            status: Some(429),
            error_code: Some("TOO_MANY_REQUESTS".into()),
            message: String::new(),
            ratelimit: Some(rl(Some(100), Some(1), Some(1))),
            raw: serde_json::Value::Null,
        });
        for p in &permits {
            p.observe(&limited);
        }
        assert_eq!(gate.in_flight_limit(), 4, "one decrease for one round");
        assert_eq!(gate.closed_for(), None, "budget left: the gate stays open");
        drop(permits);
        let p = gate.wait().await;
        p.observe(&limited);
        assert_eq!(
            gate.in_flight_limit(),
            1,
            "min(4, in flight 1) / 2, at least 1"
        );
    }

    fn budget(remaining: u64, weight: u64) -> RateLimit {
        RateLimit {
            remaining: Some(remaining),
            weight: Some(weight),
            ..RateLimit::default()
        }
    }

    #[tokio::test]
    async fn a_budget_reported_on_successes_caps_the_calls_in_flight_before_any_429() {
        let gate = RateGate::new(GateConfig {
            max_in_flight: 8,
            ..GateConfig::default()
        });
        assert_eq!(gate.admissible(), 8);
        // 7 credits left at 3 a call: two calls can be paid for.
        gate.observe_budget(Some(&budget(7, 3)));
        assert_eq!(gate.admissible(), 2);
        let first = gate.wait().await;
        let second = gate.wait().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), gate.wait())
                .await
                .is_err(),
            "a third call waits for an answer instead of meeting a 429"
        );
        // Spent: one call at a time goes out to learn the reset.
        gate.observe_budget(Some(&budget(1, 3)));
        assert_eq!(gate.admissible(), 1);
        drop(first);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), gate.wait())
                .await
                .is_err(),
            "still one in flight"
        );
        drop(second);
        let probe = tokio::time::timeout(Duration::from_millis(50), gate.wait()).await;
        assert!(probe.is_ok(), "one probe is let through");
        // A new window (the budget refilled) lifts the cap again.
        gate.observe_budget(Some(&budget(900, 3)));
        assert_eq!(gate.admissible(), 8);
    }

    #[tokio::test]
    async fn a_closure_ends_the_old_windows_budget() {
        let gate = quiet();
        gate.observe_budget(Some(&budget(0, 1)));
        assert_eq!(gate.admissible(), 1);
        gate.observe(Some(&rl(Some(0), Some(0), Some(0))), true);
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(gate.wait().await);
        assert_eq!(
            gate.admissible(),
            64,
            "after the reset the budget is unknown, not 0"
        );
    }
}
