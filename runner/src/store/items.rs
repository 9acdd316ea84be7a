//! Work items and their leases: which tickets a workflow has handled, across runs and replicas.
//!
//! An item moves `pending -> running (leased) -> succeeded | failed | abandoned`. Offering an
//! item again puts a failed one back to `pending` while it has attempts left, and resets any item
//! whose fingerprint changed. A lease that expires (its replica died) makes the item claimable by
//! anyone; a graceful shutdown hands leases back with [`Store::release_leases`].
//!
//! Only the ticket's own failures count attempts. A fault outside it (Zoho's credit budget, the
//! LLM or the MCP connection down) defers the item: back to `pending` with no attempt counted and,
//! when the fault's end is known, a `not_before` before which nobody claims it.

use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyRow;
use zoho_desk_mcp::registry::database::Backend;

use super::clock::duration_ms;
use super::{Store, StoreError, col, enum_col, text_enum};

text_enum!(
    /// Where a work item stands.
    ItemStatus {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Abandoned => "abandoned",
    }
);

text_enum!(
    /// The states `deskhand items list --state` filters by: the stored ones, and `deferred`
    /// (pending, not claimable before its `not_before`).
    ItemView {
        Pending => "pending",
        Deferred => "deferred",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Abandoned => "abandoned",
    }
);

text_enum!(
    /// How an attempt at an item ended. `Abandoned` gives up at once (the ticket is gone, the
    /// input can never be valid); `Failed` leaves the item for a later run until its attempts run out.
    ItemOutcome {
        Succeeded => "succeeded",
        Failed => "failed",
        Abandoned => "abandoned",
    }
);

/// A work item as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkItem {
    pub workflow: String,
    pub item_key: String,
    pub status: ItemStatus,
    /// Finished attempts (successful or not) since the item was new or last changed.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub fingerprint: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// Deferred until then (epoch ms) by a fault outside the ticket.
    pub not_before: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Proof that `owner` holds an item until `expires_at`; required to renew, complete or release it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub workflow: String,
    pub item_key: String,
    pub owner: String,
    /// The number of this attempt, 1-based (finished attempts + 1).
    pub attempt: i64,
    pub expires_at: i64,
    /// The fingerprint stored with the item. [`Store::complete_item`] writes this field back, so
    /// after the agent's own write changed the ticket (a new `modifiedTime`), set it to the new
    /// value; otherwise the item's own update would offer it again next run.
    pub fingerprint: Option<String>,
}

macro_rules! item_columns {
    () => {
        "workflow, item_key, status, attempts, last_error, fingerprint, lease_owner, \
         lease_expires_at, not_before, created_at, updated_at"
    };
}

/// The condition under which a row can be leased at `$now` (bound by each statement).
macro_rules! claimable {
    ($now:literal) => {
        concat!(
            "((status = 'pending' AND (not_before IS NULL OR not_before <= ",
            $now,
            ")) OR (status = 'running' AND lease_expires_at <= ",
            $now,
            "))"
        )
    };
}

/// A write of the item (alias `w`) that is unsettled or was not sent, and that no later write of
/// the same tool for the item made good (a model that retried its failed note has its note).
macro_rules! open_write {
    () => {
        concat!(
            "w.state IN ('recorded', 'sent', 'failed') AND NOT EXISTS (",
            "SELECT 1 FROM write_intents v WHERE v.workflow = w.workflow ",
            "AND v.item_key = w.item_key AND v.tool = w.tool ",
            "AND v.state IN ('succeeded', 'reconciled') AND v.id > w.id)"
        )
    };
}

const CLAIM_ITEM: &str = concat!(
    "UPDATE work_items SET status = 'running', lease_owner = $3, lease_expires_at = $4, ",
    "updated_at = $5 WHERE workflow = $1 AND item_key = $2 AND ",
    claimable!("$5"),
    " RETURNING attempts, fingerprint"
);

const CLAIM_NEXT_SQLITE: &str = concat!(
    "UPDATE work_items SET status = 'running', lease_owner = $2, lease_expires_at = $3, ",
    "updated_at = $4 WHERE workflow = $1 AND item_key = (",
    "SELECT item_key FROM work_items WHERE workflow = $1 AND attempts < $5 AND ",
    claimable!("$4"),
    " ORDER BY created_at, item_key LIMIT 1) ",
    "RETURNING item_key, attempts, fingerprint"
);

// Replicas pull from one queue: SKIP LOCKED lets each take a different row instead of queueing
// behind the same one; the outer condition is re-checked on the locked row.
const CLAIM_NEXT_POSTGRES: &str = concat!(
    "UPDATE work_items SET status = 'running', lease_owner = $2, lease_expires_at = $3, ",
    "updated_at = $4 WHERE workflow = $1 AND attempts < $5 AND ",
    claimable!("$4"),
    " AND item_key = (",
    "SELECT item_key FROM work_items WHERE workflow = $1 AND attempts < $5 AND ",
    claimable!("$4"),
    " ORDER BY created_at, item_key LIMIT 1 FOR UPDATE SKIP LOCKED) ",
    "RETURNING item_key, attempts, fingerprint"
);

fn item_from_row(row: &AnyRow) -> Result<WorkItem, StoreError> {
    Ok(WorkItem {
        workflow: col(row, "workflow")?,
        item_key: col(row, "item_key")?,
        status: enum_col(row, "status")?,
        attempts: col(row, "attempts")?,
        last_error: col(row, "last_error")?,
        fingerprint: col(row, "fingerprint")?,
        lease_owner: col(row, "lease_owner")?,
        lease_expires_at: col(row, "lease_expires_at")?,
        not_before: col(row, "not_before")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

impl Store {
    /// Registers the items a run selected and returns the keys it should work on, in the order
    /// given: new items, items whose fingerprint changed (their attempts start over), failed
    /// items with attempts left (put back to `pending`), and items whose lease expired. Items
    /// that succeeded unchanged, were abandoned unchanged, or are leased right now are left out.
    pub async fn offer_items(
        &self,
        workflow: &str,
        items: &[(String, Option<String>)],
        max_attempts: u32,
    ) -> Result<Vec<String>, StoreError> {
        let max_attempts = i64::from(max_attempts.max(1));
        // Touch rows in key order so two replicas offering overlapping sets cannot deadlock.
        let mut sorted: Vec<&(String, Option<String>)> = items.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);

        let now = self.now();
        let mut eligible = std::collections::HashSet::new();
        let mut tx = self.begin_write().await?;
        for (key, fingerprint) in sorted {
            sqlx::query(
                "INSERT INTO work_items (workflow, item_key, status, attempts, fingerprint, \
                 created_at, updated_at) VALUES ($1, $2, 'pending', 0, $3, $4, $4) \
                 ON CONFLICT (workflow, item_key) DO NOTHING",
            )
            .bind(workflow)
            .bind(key.as_str())
            .bind(fingerprint.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // A changed fingerprint starts the item over (even if it succeeded or was abandoned);
            // a failed item with attempts left goes back in the queue. A running item is left
            // alone: under a live lease it is someone's, and under an expired one it is resumed
            // with its old fingerprint, which its write intents are keyed on (its own writes are
            // what changed the ticket).
            sqlx::query(
                "UPDATE work_items SET status = 'pending', lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = $4, \
                 attempts = CASE WHEN $3 IS NOT NULL AND (fingerprint IS NULL OR fingerprint <> $3) \
                     THEN 0 ELSE attempts END, \
                 last_error = CASE WHEN $3 IS NOT NULL AND (fingerprint IS NULL OR fingerprint <> $3) \
                     THEN NULL ELSE last_error END, \
                 fingerprint = COALESCE($3, fingerprint) \
                 WHERE workflow = $1 AND item_key = $2 AND status <> 'running' \
                 AND (($3 IS NOT NULL AND (fingerprint IS NULL OR fingerprint <> $3)) \
                      OR (status = 'failed' AND attempts < $5))",
            )
            .bind(workflow)
            .bind(key.as_str())
            .bind(fingerprint.as_deref())
            .bind(now)
            .bind(max_attempts)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(
                "SELECT status, attempts, lease_expires_at, not_before FROM work_items \
                 WHERE workflow = $1 AND item_key = $2",
            )
            .bind(workflow)
            .bind(key.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let status: ItemStatus = enum_col(&row, "status")?;
            let attempts: i64 = col(&row, "attempts")?;
            let lease_expires_at: Option<i64> = col(&row, "lease_expires_at")?;
            let not_before: Option<i64> = col(&row, "not_before")?;
            let offered = match status {
                ItemStatus::Pending => not_before.is_none_or(|at| at <= now),
                ItemStatus::Running => {
                    lease_expires_at.is_some_and(|at| at <= now) && attempts < max_attempts
                }
                ItemStatus::Succeeded | ItemStatus::Failed | ItemStatus::Abandoned => false,
            };
            if offered {
                eligible.insert(key.as_str());
            }
        }
        tx.commit().await?;

        let mut seen = std::collections::HashSet::new();
        Ok(items
            .iter()
            .filter(|(key, _)| eligible.contains(key.as_str()) && seen.insert(key.as_str()))
            .map(|(key, _)| key.clone())
            .collect())
    }

    /// Leases one item for `lease` if it is pending or its previous lease expired. `None` means
    /// someone else holds it or it is finished: skip it.
    pub async fn claim_item(
        &self,
        workflow: &str,
        item_key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.now();
        let expires_at = now.saturating_add(duration_ms(lease));
        let row = sqlx::query(CLAIM_ITEM)
            .bind(workflow)
            .bind(item_key)
            .bind(owner)
            .bind(expires_at)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let attempts: i64 = col(&row, "attempts")?;
            Ok(Lease {
                workflow: workflow.to_owned(),
                item_key: item_key.to_owned(),
                owner: owner.to_owned(),
                attempt: attempts + 1,
                expires_at,
                fingerprint: col(&row, "fingerprint")?,
            })
        })
        .transpose()
    }

    /// Leases the oldest claimable item of `workflow` with fewer than `max_attempts` attempts,
    /// for workers pulling from a shared queue; `None` when nothing is left to take.
    pub async fn claim_next(
        &self,
        workflow: &str,
        owner: &str,
        lease: Duration,
        max_attempts: u32,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.now();
        let expires_at = now.saturating_add(duration_ms(lease));
        let sql = match self.backend() {
            Backend::Sqlite => CLAIM_NEXT_SQLITE,
            Backend::Postgres => CLAIM_NEXT_POSTGRES,
        };
        let row = sqlx::query(sql)
            .bind(workflow)
            .bind(owner)
            .bind(expires_at)
            .bind(now)
            .bind(i64::from(max_attempts.max(1)))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let attempts: i64 = col(&row, "attempts")?;
            Ok(Lease {
                workflow: workflow.to_owned(),
                item_key: col(&row, "item_key")?,
                owner: owner.to_owned(),
                attempt: attempts + 1,
                expires_at,
                fingerprint: col(&row, "fingerprint")?,
            })
        })
        .transpose()
    }

    /// Extends a lease to `extend` from now. [`StoreError::LeaseLost`] means another owner took
    /// the item after the lease expired (or it was released): stop working on it.
    pub async fn renew_lease(&self, lease: &mut Lease, extend: Duration) -> Result<(), StoreError> {
        let now = self.now();
        let expires_at = now.saturating_add(duration_ms(extend));
        let result = sqlx::query(
            "UPDATE work_items SET lease_expires_at = $4, updated_at = $5 \
             WHERE workflow = $1 AND item_key = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(lease.workflow.as_str())
        .bind(lease.item_key.as_str())
        .bind(lease.owner.as_str())
        .bind(expires_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(lease_lost(lease));
        }
        lease.expires_at = expires_at;
        Ok(())
    }

    /// Ends the attempt held by `lease` and returns the item as it now stands. Every outcome
    /// counts an attempt; a failure that reaches `max_attempts` abandons the item.
    pub async fn complete_item(
        &self,
        lease: &Lease,
        outcome: ItemOutcome,
        error: Option<&str>,
        max_attempts: u32,
    ) -> Result<WorkItem, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE work_items SET attempts = attempts + 1, ",
            "status = CASE WHEN $4 = 'failed' AND attempts + 1 >= $5 THEN 'abandoned' ELSE $4 END, ",
            "last_error = $6, fingerprint = COALESCE($7, fingerprint), lease_owner = NULL, ",
            "lease_expires_at = NULL, updated_at = $8 ",
            "WHERE workflow = $1 AND item_key = $2 AND lease_owner = $3 AND status = 'running' ",
            "RETURNING ",
            item_columns!()
        ))
        .bind(lease.workflow.as_str())
        .bind(lease.item_key.as_str())
        .bind(lease.owner.as_str())
        .bind(outcome.as_str())
        .bind(i64::from(max_attempts.max(1)))
        .bind(error)
        .bind(lease.fingerprint.as_deref())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => item_from_row(&row),
            None => Err(lease_lost(lease)),
        }
    }

    /// Hands a leased item back with no attempt counted, because a fault outside the ticket
    /// stopped it; nobody claims it before `not_before` (epoch ms) when that is known.
    pub async fn defer_item(
        &self,
        lease: &Lease,
        not_before: Option<i64>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE work_items SET status = 'pending', lease_owner = NULL, \
             lease_expires_at = NULL, not_before = $4, last_error = $5, updated_at = $6 \
             WHERE workflow = $1 AND item_key = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(lease.workflow.as_str())
        .bind(lease.item_key.as_str())
        .bind(lease.owner.as_str())
        .bind(not_before)
        .bind(reason)
        .bind(self.now())
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(lease_lost(lease));
        }
        Ok(())
    }

    /// Makes one item due again whatever its state (`run --ticket`), unless it is running.
    pub async fn reopen_item(&self, workflow: &str, item_key: &str) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE work_items SET status = 'pending', attempts = 0, not_before = NULL, \
             last_error = NULL, updated_at = $3 \
             WHERE workflow = $1 AND item_key = $2 AND status <> 'running'",
        )
        .bind(workflow)
        .bind(item_key)
        .bind(self.now())
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// Hands one leased item back untouched (no attempt counted), e.g. when its run is cancelled.
    pub async fn release_item(&self, lease: &Lease) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE work_items SET status = 'pending', lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $4 \
             WHERE workflow = $1 AND item_key = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(lease.workflow.as_str())
        .bind(lease.item_key.as_str())
        .bind(lease.owner.as_str())
        .bind(self.now())
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 0 {
            return Err(lease_lost(lease));
        }
        Ok(())
    }

    /// Hands back every item `owner` holds (graceful shutdown), so other replicas can take them
    /// at once instead of waiting for the leases to expire. Returns how many were released.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE work_items SET status = 'pending', lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $2 \
             WHERE lease_owner = $1 AND status = 'running'",
        )
        .bind(owner)
        .bind(self.now())
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }

    /// Keeps each item's payload (the `for_each` element) so a crashed item can be resumed.
    pub async fn remember_payloads(
        &self,
        workflow: &str,
        payloads: &[(String, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (key, payload) in payloads {
            sqlx::query("UPDATE work_items SET payload = $3 WHERE workflow = $1 AND item_key = $2")
                .bind(workflow)
                .bind(key.as_str())
                .bind(payload.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Items that must be worked again whatever the `for_each` selection says now, with their
    /// stored payloads: those whose attempt never finished (lease expired while running), and
    /// finished ones with attempts left that still have a write unsettled or unsent (an item whose
    /// assignment landed and whose note failed is no longer "unassigned", yet its note is due;
    /// a model that was told its note failed and answered anyway leaves the same gap). They are
    /// put back to `pending` so they can be claimed.
    pub async fn resumable_items(
        &self,
        workflow: &str,
        max_attempts: u32,
    ) -> Result<Vec<(String, Option<serde_json::Value>)>, StoreError> {
        let now = self.now();
        let max_attempts = i64::from(max_attempts.max(1));
        sqlx::query(concat!(
            "UPDATE work_items SET status = 'pending', updated_at = $2 ",
            "WHERE workflow = $1 AND status IN ('failed', 'succeeded') AND attempts < $3 ",
            "AND EXISTS (SELECT 1 FROM write_intents w WHERE w.workflow = work_items.workflow ",
            "AND w.item_key = work_items.item_key AND ",
            open_write!(),
            ")"
        ))
        .bind(workflow)
        .bind(now)
        .bind(max_attempts)
        .execute(self.pool())
        .await?;
        let rows = sqlx::query(concat!(
            "SELECT item_key, payload FROM work_items i WHERE workflow = $1 AND attempts < $3 ",
            "AND ((status = 'running' AND lease_expires_at <= $2) ",
            "OR (status = 'pending' AND (not_before IS NULL OR not_before <= $2) AND EXISTS (",
            "SELECT 1 FROM write_intents w WHERE w.workflow = i.workflow ",
            "AND w.item_key = i.item_key AND ",
            open_write!(),
            "))) ORDER BY created_at, item_key"
        ))
        .bind(workflow)
        .bind(now)
        .bind(max_attempts)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = col(row, "item_key")?;
                let payload: Option<String> = col(row, "payload")?;
                Ok((key, payload.and_then(|p| serde_json::from_str(&p).ok())))
            })
            .collect()
    }

    /// Items of every workflow (or one), optionally only in one state. `deferred` is a pending
    /// item whose `not_before` lies ahead.
    pub async fn items_in_state(
        &self,
        workflow: Option<&str>,
        state: Option<ItemView>,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM work_items WHERE ($1 = '' OR workflow = $1) AND ($2 = '' ",
            "OR ($2 = 'deferred' AND status = 'pending' AND not_before > $3) ",
            "OR ($2 <> 'deferred' AND status = $2)) ORDER BY workflow, created_at, item_key"
        ))
        .bind(workflow.unwrap_or(""))
        .bind(state.map_or("", ItemView::as_str))
        .bind(self.now())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// Gives failed, abandoned or deferred items a fresh start: `pending`, no attempts, no
    /// deferral. Returns how many were reset. Running and succeeded items are left alone.
    pub async fn retry_items(
        &self,
        workflow: Option<&str>,
        keys: &[String],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut reset = 0;
        let all = keys.is_empty();
        let targets: Vec<&str> = if all {
            vec![""]
        } else {
            keys.iter().map(String::as_str).collect()
        };
        for key in targets {
            let result = sqlx::query(
                "UPDATE work_items SET status = 'pending', attempts = 0, not_before = NULL, \
                 last_error = NULL, updated_at = $3 \
                 WHERE ($1 = '' OR workflow = $1) AND ($2 = '' OR item_key = $2) \
                 AND (status IN ('failed', 'abandoned') OR (status = 'pending' AND not_before IS NOT NULL))",
            )
            .bind(workflow.unwrap_or(""))
            .bind(key)
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
            reset += result.rows_affected();
        }
        tx.commit().await?;
        Ok(reset)
    }

    /// The stored payload of one item.
    pub async fn item_payload(
        &self,
        workflow: &str,
        item_key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row =
            sqlx::query("SELECT payload FROM work_items WHERE workflow = $1 AND item_key = $2")
                .bind(workflow)
                .bind(item_key)
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let payload: Option<String> = col(&row, "payload")?;
        Ok(payload.and_then(|p| serde_json::from_str(&p).ok()))
    }

    pub async fn get_item(
        &self,
        workflow: &str,
        item_key: &str,
    ) -> Result<Option<WorkItem>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM work_items WHERE workflow = $1 AND item_key = $2"
        ))
        .bind(workflow)
        .bind(item_key)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(item_from_row).transpose()
    }

    /// Every item of a workflow, oldest first.
    pub async fn list_items(&self, workflow: &str) -> Result<Vec<WorkItem>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM work_items WHERE workflow = $1 ORDER BY created_at, item_key"
        ))
        .bind(workflow)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item_from_row).collect()
    }
}

fn lease_lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        workflow: lease.workflow.clone(),
        item_key: lease.item_key.clone(),
        owner: lease.owner.clone(),
    }
}
