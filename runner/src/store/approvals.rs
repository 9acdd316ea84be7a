//! Writes held for a human under `writes: approve`.
//!
//! `pending -> approved | rejected` happens once, by one person: the decision is a conditional
//! update, so two people (or two `deskhand approvals approve` processes) cannot both decide.
//! An approved write is then applied: `approved -> applied | failed`.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;

use super::{RunId, Store, StoreError, col, enum_col, json_col, opt_json_col, text_enum, to_i64};

text_enum!(
    /// Where an approval stands.
    ApprovalState {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Applied => "applied",
        Failed => "failed",
    }
);

text_enum!(
    /// A reviewer's answer.
    Decision {
        Approve => "approve",
        Reject => "reject",
    }
);

/// A write to queue for approval.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// The write intent the approval releases; queuing the same intent twice returns the first.
    pub intent_id: Option<i64>,
    pub run_id: Option<RunId>,
    pub workflow: String,
    pub item_key: String,
    pub tool: String,
    pub arguments: Value,
    /// Why the agent wants this write, shown to the reviewer.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub id: i64,
    pub intent_id: Option<i64>,
    pub run_id: Option<RunId>,
    pub workflow: String,
    pub item_key: String,
    pub tool: String,
    pub arguments: Value,
    pub reason: Option<String>,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    pub result: Option<Value>,
    pub applied_at: Option<i64>,
    pub created_at: i64,
}

macro_rules! approval_columns {
    () => {
        "id, intent_id, run_id, workflow, item_key, tool, arguments, reason, state, decided_by, \
         decided_at, note, result, applied_at, created_at"
    };
}

fn approval_from_row(row: &AnyRow) -> Result<Approval, StoreError> {
    Ok(Approval {
        id: col(row, "id")?,
        intent_id: col(row, "intent_id")?,
        run_id: col(row, "run_id")?,
        workflow: col(row, "workflow")?,
        item_key: col(row, "item_key")?,
        tool: col(row, "tool")?,
        arguments: json_col(row, "arguments")?,
        reason: col(row, "reason")?,
        state: enum_col(row, "state")?,
        decided_by: col(row, "decided_by")?,
        decided_at: col(row, "decided_at")?,
        note: col(row, "note")?,
        result: opt_json_col(row, "result")?,
        applied_at: col(row, "applied_at")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Queues a write for approval. Idempotent per intent: a resumed run that queues the same
    /// intent again gets the existing approval back.
    pub async fn queue_approval(&self, new: &NewApproval) -> Result<Approval, StoreError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO approvals (intent_id, run_id, workflow, item_key, tool, arguments, reason, ",
            "state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ",
            "ON CONFLICT (intent_id) DO NOTHING RETURNING ",
            approval_columns!()
        ))
        .bind(new.intent_id)
        .bind(new.run_id)
        .bind(new.workflow.as_str())
        .bind(new.item_key.as_str())
        .bind(new.tool.as_str())
        .bind(new.arguments.to_string())
        .bind(new.reason.as_deref())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = inserted {
            return approval_from_row(&row);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE intent_id = $1"
        ))
        .bind(new.intent_id)
        .fetch_one(self.pool())
        .await?;
        approval_from_row(&row)
    }

    pub async fn get_approval(&self, id: i64) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// Approvals in `state` of `workflow` (either `None` for all), oldest first so reviewers
    /// work down the queue.
    pub async fn list_approvals(
        &self,
        state: Option<ApprovalState>,
        workflow: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR workflow = $2) ",
            "ORDER BY id LIMIT $3"
        ))
        .bind(state.map(ApprovalState::as_str))
        .bind(workflow)
        .bind(to_i64(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(approval_from_row).collect()
    }

    /// Approves or rejects a pending approval. Deciding one that is no longer pending is
    /// [`StoreError::ApprovalState`], even when the earlier decision was the same.
    pub async fn decide_approval(
        &self,
        id: i64,
        decision: Decision,
        by: &str,
        note: Option<&str>,
    ) -> Result<Approval, StoreError> {
        let state = match decision {
            Decision::Approve => ApprovalState::Approved,
            Decision::Reject => ApprovalState::Rejected,
        };
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4, note = $5 ",
            "WHERE id = $1 AND state = 'pending' RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(state.as_str())
        .bind(by)
        .bind(self.now())
        .bind(note)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "pending").await),
        }
    }

    /// Records the result of sending an approved write: `applied` or `failed`.
    pub async fn mark_approval(
        &self,
        id: i64,
        state: ApprovalState,
        result: &Value,
    ) -> Result<Approval, StoreError> {
        if !matches!(state, ApprovalState::Applied | ApprovalState::Failed) {
            return Err(StoreError::Invalid(format!(
                "an approved write ends applied or failed, not {state}"
            )));
        }
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = $2, result = $3, applied_at = $4 ",
            "WHERE id = $1 AND state = 'approved' RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(state.as_str())
        .bind(result.to_string())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "approved").await),
        }
    }

    async fn approval_not_in(&self, id: i64, expected: &'static str) -> StoreError {
        match self.get_approval(id).await {
            Ok(Some(approval)) => StoreError::ApprovalState {
                id,
                state: approval.state.to_string(),
                expected,
            },
            Ok(None) => StoreError::ApprovalNotFound(id),
            Err(error) => error,
        }
    }
}
