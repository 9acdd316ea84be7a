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
    /// When `remaining` was reported (epoch ms).
    pub observed_at: i64,
}

impl Store {
    pub async fn shared_budget(&self, connection: &str) -> Result<SharedBudget, StoreError> {
        let row = sqlx::query(
            "SELECT closed_until, remaining, weight, observed_at FROM rate_budgets \
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
             remaining = NULL, observed_at = $3",
        )
        .bind(connection)
        .bind(until)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the budget a successful answer reported.
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
             remaining = COALESCE($2, rate_budgets.remaining), \
             weight = COALESCE($3, rate_budgets.weight), observed_at = $4",
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
