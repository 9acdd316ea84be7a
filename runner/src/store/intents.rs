//! Write intents: exactly-once writes across crashes.
//!
//! The agent loop records an intent under a deterministic idempotency key before it sends a
//! write, and marks it once the answer is in. After a crash, intents still `recorded` or `sent`
//! are the writes whose fate is unknown: the resumed run reconciles them (reads the ticket back)
//! instead of sending them again.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;

use super::{RunId, Store, StoreError, col, enum_col, json_col, opt_json_col, text_enum};

text_enum!(
    /// Where a write intent stands. `Recorded` (not yet sent) and `Sent` (no answer yet) are
    /// unsettled; `Failed` may be sent again; `Queued` waits for a human (`writes: approve`);
    /// the rest are final.
    IntentState {
        Recorded => "recorded",
        Sent => "sent",
        Succeeded => "succeeded",
        Failed => "failed",
        Reconciled => "reconciled",
        DryRun => "dry_run",
        Queued => "queued",
        Rejected => "rejected",
    }
);

impl IntentState {
    /// Whether nothing may change this intent any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IntentState::Succeeded
                | IntentState::Reconciled
                | IntentState::DryRun
                | IntentState::Rejected
        )
    }
}

/// A write intent as stored. Its arguments are kept verbatim (not redacted): an intent must be
/// replayable, and write arguments are ticket fields, not credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    pub id: i64,
    pub idempotency_key: String,
    pub run_id: RunId,
    pub workflow: String,
    pub item_key: String,
    pub tool: String,
    pub arguments: Value,
    pub state: IntentState,
    pub outcome: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Whether this call created the intent; `false` means the key was already recorded (by
    /// this run or an earlier, crashed one) and `state` says how far it got.
    #[serde(skip)]
    pub created: bool,
}

macro_rules! intent_columns {
    () => {
        "id, idempotency_key, run_id, workflow, item_key, tool, arguments, state, outcome, \
         created_at, updated_at"
    };
}

fn intent_from_row(row: &AnyRow, created: bool) -> Result<Intent, StoreError> {
    Ok(Intent {
        id: col(row, "id")?,
        idempotency_key: col(row, "idempotency_key")?,
        run_id: col(row, "run_id")?,
        workflow: col(row, "workflow")?,
        item_key: col(row, "item_key")?,
        tool: col(row, "tool")?,
        arguments: json_col(row, "arguments")?,
        state: enum_col(row, "state")?,
        outcome: opt_json_col(row, "outcome")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        created,
    })
}

impl Store {
    /// Records the intent to call `tool` with `arguments`, before sending it. Idempotent by
    /// key: if the key exists, the existing intent (and its state) comes back with
    /// `created: false`, whatever the other arguments say.
    pub async fn record_intent(
        &self,
        idempotency_key: &str,
        run_id: RunId,
        item_key: &str,
        tool: &str,
        arguments: &Value,
    ) -> Result<Intent, StoreError> {
        let now = self.now();
        // The WHERE clause also keeps SQLite from reading ON CONFLICT as a join constraint.
        let inserted = sqlx::query(concat!(
            "INSERT INTO write_intents (idempotency_key, run_id, workflow, item_key, tool, ",
            "arguments, state, created_at, updated_at) ",
            "SELECT $1, id, workflow, $3, $4, $5, 'recorded', $6, $6 FROM runs WHERE id = $2 ",
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING ",
            intent_columns!()
        ))
        .bind(idempotency_key)
        .bind(run_id)
        .bind(item_key)
        .bind(tool)
        .bind(arguments.to_string())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = inserted {
            return intent_from_row(&row, true);
        }
        match self.get_intent(idempotency_key).await? {
            Some(existing) => Ok(existing),
            None => Err(StoreError::RunNotFound(run_id)),
        }
    }

    /// Moves an intent to `state` with the call's outcome. A final intent (succeeded,
    /// reconciled, dry_run) cannot move again: [`StoreError::IntentSettled`].
    pub async fn mark_intent(
        &self,
        idempotency_key: &str,
        state: IntentState,
        outcome: Option<&Value>,
    ) -> Result<Intent, StoreError> {
        if state == IntentState::Recorded {
            return Err(StoreError::Invalid(
                "an intent cannot be marked recorded again".into(),
            ));
        }
        let row = sqlx::query(concat!(
            "UPDATE write_intents SET state = $2, outcome = COALESCE($3, outcome), updated_at = $4 ",
            "WHERE idempotency_key = $1 AND state NOT IN ('succeeded', 'reconciled', 'dry_run', 'rejected') ",
            "RETURNING ",
            intent_columns!()
        ))
        .bind(idempotency_key)
        .bind(state.as_str())
        .bind(outcome.map(Value::to_string))
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => intent_from_row(&row, false),
            None => Err(self.not_movable(idempotency_key).await),
        }
    }

    pub async fn get_intent(&self, idempotency_key: &str) -> Result<Option<Intent>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            intent_columns!(),
            " FROM write_intents WHERE idempotency_key = $1"
        ))
        .bind(idempotency_key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| intent_from_row(&row, false)).transpose()
    }

    /// Intents of an item whose fate is unknown (recorded or sent, no outcome), oldest first:
    /// what a resumed run must reconcile before it writes anything for that item.
    pub async fn pending_intents(
        &self,
        workflow: &str,
        item_key: &str,
    ) -> Result<Vec<Intent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            intent_columns!(),
            " FROM write_intents WHERE workflow = $1 AND item_key = $2 ",
            "AND state IN ('recorded', 'sent') ORDER BY id"
        ))
        .bind(workflow)
        .bind(item_key)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| intent_from_row(row, false)).collect()
    }
    /// Every unsettled intent of a workflow, oldest first: what a run reconciles before it starts
    /// on items, since the item a crashed write belonged to may no longer be selected.
    pub async fn pending_intents_of(&self, workflow: &str) -> Result<Vec<Intent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            intent_columns!(),
            " FROM write_intents WHERE workflow = $1 AND state IN ('recorded', 'sent') ORDER BY id"
        ))
        .bind(workflow)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| intent_from_row(row, false)).collect()
    }

    /// Every intent of one item, oldest first, whatever its state.
    pub async fn intents_of_item(
        &self,
        workflow: &str,
        item_key: &str,
    ) -> Result<Vec<Intent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            intent_columns!(),
            " FROM write_intents WHERE workflow = $1 AND item_key = $2 ORDER BY id"
        ))
        .bind(workflow)
        .bind(item_key)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| intent_from_row(row, false)).collect()
    }

    /// Takes an intent that failed, was found not to have landed, or was approved after being
    /// queued back to `recorded` under
    /// `run_id` with the arguments about to be sent, so its key can be used again.
    pub async fn reopen_intent(
        &self,
        idempotency_key: &str,
        run_id: RunId,
        arguments: &Value,
    ) -> Result<Intent, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE write_intents SET state = 'recorded', run_id = $2, arguments = $3, ",
            "outcome = NULL, updated_at = $4 WHERE idempotency_key = $1 ",
            "AND state IN ('recorded', 'sent', 'failed', 'queued') RETURNING ",
            intent_columns!()
        ))
        .bind(idempotency_key)
        .bind(run_id)
        .bind(arguments.to_string())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => intent_from_row(&row, false),
            None => Err(self.not_movable(idempotency_key).await),
        }
    }
    pub async fn get_intent_by_id(&self, id: i64) -> Result<Option<Intent>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            intent_columns!(),
            " FROM write_intents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| intent_from_row(&row, false)).transpose()
    }
    /// Why a conditional update of an intent changed no row: it is settled, or it does not exist.
    async fn not_movable(&self, idempotency_key: &str) -> StoreError {
        match self.get_intent(idempotency_key).await {
            Ok(Some(existing)) => StoreError::IntentSettled {
                key: idempotency_key.to_owned(),
                state: existing.state.to_string(),
            },
            Ok(None) => StoreError::IntentNotFound(idempotency_key.to_owned()),
            Err(error) => error,
        }
    }
}
