//! A Zoho connection's rate budget shared through the store, so replicas (and CLI processes)
//! draining one org pace by the same figures instead of each discovering the limit with its own
//! 429s. One row per connection; every write keeps the furthest closure and the newest budget.
//! Used on PostgreSQL, where replicas meet; on SQLite the gate stays per process.

use super::{Store, StoreError, col};

/// What the replicas last saw of one connection's limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedBudget {
    /// Closed until then (epoch ms) by a 429 with a reset.
    pub closed_until: Option<i64>,
    pub remaining: Option<i64>,
    pub weight: Option<i64>,
    /// Calls that reserved credits and have not been answered yet.
    pub in_flight: i64,
    /// When `remaining` was reported (epoch ms).
    pub observed_at: i64,
}

/// What a reservation of one call's credits came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The credits were taken from the shared budget: call, then release the reservation.
    Granted,
    /// Nothing is known of the budget (no answer yet, or a closure ended the window): call; the
    /// call counts as in flight like a granted one.
    Unmetered,
    /// Less than a call is left: this process is the one that calls to learn the reset (its
    /// call counts as in flight, like a granted one).
    Probe,
    /// Less than a call is left and another process is probing: wait for what it learns.
    Wait,
}

/// How long a probe holds its turn before another process may try.
const PROBE_TURN_MS: i64 = 5_000;

impl Store {
    /// Takes `weight` credits from the shared budget before a call.
    pub async fn reserve_credits(
        &self,
        connection: &str,
        weight: i64,
    ) -> Result<Reservation, StoreError> {
        let now = self.now();
        let taken = sqlx::query(
            "UPDATE rate_budgets SET remaining = remaining - $2, in_flight = in_flight + 1 \
             WHERE connection = $1 AND remaining >= $2 RETURNING remaining",
        )
        .bind(connection)
        .bind(weight)
        .fetch_optional(self.pool())
        .await?;
        if taken.is_some() {
            return Ok(Reservation::Granted);
        }
        // Less than a call left (or nothing known): one process at a time takes the turn to call
        // and learn the reset.
        let probe = sqlx::query(
            "UPDATE rate_budgets SET probe_until = $2, in_flight = in_flight + 1 \
             WHERE connection = $1 \
             AND remaining IS NOT NULL AND remaining < $4 \
             AND (probe_until IS NULL OR probe_until < $3) RETURNING remaining",
        )
        .bind(connection)
        .bind(now.saturating_add(PROBE_TURN_MS))
        .bind(now)
        .bind(weight)
        .fetch_optional(self.pool())
        .await?;
        if probe.is_some() {
            return Ok(Reservation::Probe);
        }
        let row = sqlx::query("SELECT remaining FROM rate_budgets WHERE connection = $1")
            .bind(connection)
            .fetch_optional(self.pool())
            .await?;
        let remaining: Option<i64> = match &row {
            Some(row) => col(row, "remaining")?,
            None => None,
        };
        match remaining {
            Some(left) if left < weight => Ok(Reservation::Wait),
            // Nothing known (no answer yet, or a closure ended the window), or refilled between
            // the statements: the call goes out unmetered, but counts as in flight, so the first
            // answers' figures are taken net of it.
            _ => {
                sqlx::query(
                    "INSERT INTO rate_budgets (connection, in_flight, observed_at) \
                     VALUES ($1, 1, $2) ON CONFLICT (connection) DO UPDATE SET \
                     in_flight = rate_budgets.in_flight + 1",
                )
                .bind(connection)
                .bind(now)
                .execute(self.pool())
                .await?;
                Ok(Reservation::Unmetered)
            }
        }
    }

    pub async fn shared_budget(&self, connection: &str) -> Result<SharedBudget, StoreError> {
        let row = sqlx::query(
            "SELECT closed_until, remaining, weight, in_flight, observed_at FROM rate_budgets \
             WHERE connection = $1",
        )
        .bind(connection)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(SharedBudget::default());
        };
        Ok(SharedBudget {
            closed_until: col(&row, "closed_until")?,
            remaining: col(&row, "remaining")?,
            weight: col(&row, "weight")?,
            in_flight: col(&row, "in_flight")?,
            observed_at: col(&row, "observed_at")?,
        })
    }

    /// Records a closure until `until` (epoch ms); a later closure already recorded wins. The
    /// budget figure belongs to the window that just ended and is cleared.
    pub async fn share_closure(&self, connection: &str, until: i64) -> Result<(), StoreError> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO rate_budgets (connection, closed_until, remaining, weight, observed_at) \
             VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (connection) DO UPDATE SET \
             closed_until = CASE WHEN rate_budgets.closed_until IS NULL \
                 OR rate_budgets.closed_until < $2 THEN $2 ELSE rate_budgets.closed_until END, \
             remaining = NULL, probe_until = NULL, in_flight = 0, observed_at = $3",
        )
        .bind(connection)
        .bind(until)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends the reservation of a call that has been answered.
    pub async fn release_credits(&self, connection: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rate_budgets SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 \
             ELSE 0 END WHERE connection = $1",
        )
        .bind(connection)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the budget a successful answer reported, less what the calls still in flight
    /// have reserved (each at the dearest call's weight seen): the answer does not know of them, and taking its figure as it is would
    /// hand their credits out twice.
    pub async fn share_budget(
        &self,
        connection: &str,
        remaining: Option<i64>,
        weight: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO rate_budgets (connection, closed_until, remaining, weight, observed_at) \
             VALUES ($1, NULL, $2, $3, $4) ON CONFLICT (connection) DO UPDATE SET \
             remaining = CASE WHEN $2 IS NULL THEN rate_budgets.remaining \
                 ELSE $2 - rate_budgets.in_flight * (CASE WHEN $3 IS NULL \
                     THEN COALESCE(rate_budgets.weight, 1) \
                     WHEN rate_budgets.weight IS NULL OR rate_budgets.weight < $3 THEN $3 \
                     ELSE rate_budgets.weight END) END, \
             weight = CASE WHEN $3 IS NULL THEN rate_budgets.weight \
                 WHEN rate_budgets.weight IS NULL OR rate_budgets.weight < $3 THEN $3 \
                 ELSE rate_budgets.weight END, \
             observed_at = $4, \
             probe_until = CASE WHEN $2 IS NULL THEN rate_budgets.probe_until ELSE NULL END",
        )
        .bind(connection)
        .bind(remaining)
        .bind(weight)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
