//! Zoho's cap on calls in flight (5 to 25 per org by edition) shared by every process on one
//! store: replicas that each kept their own count would together exceed it and meet concurrency
//! 429s. A call holds one slot row of its connection for its duration, under a lease: a process
//! killed mid-call leaves its slot taken until the lease ends, never for good.

use super::{Backend, Store, StoreError, col};

/// Takes the lowest free slot. Two processes may pick the same one; the outer condition is
/// evaluated again on the row as the first left it, so the second updates nothing and looks again.
const TAKE_POSTGRES: &str = "UPDATE call_slots SET holder = $2, expires_at = $3 \
     WHERE connection = $1 AND (holder IS NULL OR expires_at < $4) AND slot = ( \
         SELECT slot FROM call_slots WHERE connection = $1 AND slot < $5 \
         AND (holder IS NULL OR expires_at < $4) ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING slot";

/// SQLite runs one writer at a time, and has no row locks to skip.
const TAKE_SQLITE: &str = "UPDATE call_slots SET holder = $2, expires_at = $3 \
     WHERE connection = $1 AND (holder IS NULL OR expires_at < $4) AND slot = ( \
         SELECT slot FROM call_slots WHERE connection = $1 AND slot < $5 \
         AND (holder IS NULL OR expires_at < $4) ORDER BY slot LIMIT 1) \
     RETURNING slot";

impl Store {
    /// Takes a free slot among the first `cap` of `connection` for `holder`, leased for
    /// `lease_ms`; `None` when all are held. A slot whose lease has ended is free whoever held it.
    pub async fn take_call_slot(
        &self,
        connection: &str,
        cap: i64,
        holder: &str,
        lease_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let now = self.now();
        let take = match self.backend() {
            Backend::Postgres => TAKE_POSTGRES,
            Backend::Sqlite => TAKE_SQLITE,
        };
        for _ in 0..3 {
            let row = sqlx::query(take)
                .bind(connection)
                .bind(holder)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .bind(cap)
                .fetch_optional(self.pool())
                .await?;
            if let Some(row) = row {
                let slot: i32 = col(&row, "slot")?;
                return Ok(Some(i64::from(slot)));
            }
            let existing = sqlx::query(
                "SELECT COUNT(*) AS n FROM call_slots WHERE connection = $1 AND slot < $2",
            )
            .bind(connection)
            .bind(cap)
            .fetch_one(self.pool())
            .await?;
            let n: i64 = col(&existing, "n")?;
            if n >= cap {
                return Ok(None);
            }
            // The first call under this cap: create its slots, then take one.
            for slot in n..cap {
                sqlx::query(
                    "INSERT INTO call_slots (connection, slot, holder, expires_at) \
                     VALUES ($1, $2, NULL, 0) ON CONFLICT (connection, slot) DO NOTHING",
                )
                .bind(connection)
                .bind(slot)
                .execute(self.pool())
                .await?;
            }
        }
        Ok(None)
    }

    /// Frees a slot `holder` took; a slot since taken over (its lease ended) is left alone.
    pub async fn release_call_slot(
        &self,
        connection: &str,
        slot: i64,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE call_slots SET holder = NULL, expires_at = 0 \
             WHERE connection = $1 AND slot = $2 AND holder = $3",
        )
        .bind(connection)
        .bind(slot)
        .bind(holder)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Slots of `connection` held under a lease that has not ended.
    pub async fn call_slots_held(&self, connection: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM call_slots \
             WHERE connection = $1 AND holder IS NOT NULL AND expires_at >= $2",
        )
        .bind(connection)
        .bind(self.now())
        .fetch_one(self.pool())
        .await?;
        col(&row, "n")
    }
}
