//! Writes held for a human under `writes: approve`.
//!
//! `pending -> approved | rejected` happens once, by one person: the decision is a conditional
//! update, so two people (or two `deskhand approvals approve` processes) cannot both decide.
//! An approved write is then applied: whoever applies it first claims it (`approved | failed ->
//! applying`, again one conditional update), so two approvers racing to apply send it once;
//! the claimant alone settles it (`applying -> applied | failed`). A failed apply can be claimed
//! again (`deskhand approvals retry`); a claim whose holder died lapses after its lease.
//!
//! Every change is compare-and-set on the state (and the claimant): no read-then-write.

use std::time::Duration;

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
        Applying => "applying",
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
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// How sure the decision was (0..1), when the item's answer says.
    pub confidence: Option<f64>,
    /// The helpdesk the write was proposed for ([`crate::engine::Engine::connection_label`]);
    /// applying it under another is refused.
    pub connection: Option<String>,
    /// The ticket's values, at proposal time, of the fields the write sets: applying refuses a
    /// ticket that no longer has them.
    pub base: Option<Value>,
    /// `{id, number, subject, url}` of the ticket, for reviewers.
    pub ticket: Option<Value>,
    /// Names of the ids in `base` and `arguments` (id -> name), for reviewers.
    pub names: Option<Value>,
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
    pub confidence: Option<f64>,
    pub connection: Option<String>,
    pub base: Option<Value>,
    pub ticket: Option<Value>,
    pub names: Option<Value>,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    pub result: Option<Value>,
    pub applied_at: Option<i64>,
    pub created_at: i64,
    /// Who holds (or last held) the claim to apply it.
    pub claimed_by: Option<String>,
    /// How many times applying it was started.
    pub attempts: i64,
    /// What the agent proposed, when a reviewer edited the write before approving it
    /// (`arguments` is then what was approved and sent); `None`: approved as proposed.
    pub proposed_arguments: Option<Value>,
}

impl Approval {
    /// The ticket's number (`#1003`-style, without the `#`), or its id when the number is unknown.
    pub fn ticket_number(&self) -> String {
        self.ticket
            .as_ref()
            .and_then(|t| t.get("number"))
            .and_then(text_of)
            .unwrap_or_else(|| self.item_key.clone())
    }

    pub fn subject(&self) -> Option<String> {
        self.ticket
            .as_ref()
            .and_then(|t| t.get("subject"))
            .and_then(text_of)
    }

    /// A value as a reviewer reads it: the name behind an id when known.
    pub fn named(&self, value: &Value) -> String {
        let text = text_of(value).unwrap_or_else(|| value.to_string());
        match self
            .names
            .as_ref()
            .and_then(|n| n.get(text.as_str()))
            .and_then(Value::as_str)
        {
            Some(name) => name.to_owned(),
            None if value.is_null() => "(none)".to_owned(),
            None => text,
        }
    }

    /// The change as `field: current -> proposed`, one entry per field the write sets (the
    /// ticket id and a comment's text are not changes).
    pub fn changes(&self) -> Vec<FieldChange> {
        let Some(args) = self.arguments.as_object() else {
            return Vec::new();
        };
        args.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "ticketId"))
            .map(|(field, proposed)| FieldChange {
                field: field.clone(),
                current: self.base.as_ref().and_then(|b| b.get(field)).cloned(),
                proposed: proposed.clone(),
            })
            .collect()
    }
}

/// One field of a proposed write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    /// The ticket's value when the write was proposed (`None`: not recorded).
    pub current: Option<Value>,
    pub proposed: Value,
}

/// A string or number as text (Zoho sends ids as either).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Which approvals a listing or a bulk decision covers; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalFilter {
    pub state: Option<ApprovalState>,
    pub workflow: Option<String>,
    pub run_id: Option<RunId>,
    /// The item (the ticket id) the write is for.
    pub item_key: Option<String>,
    pub limit: u32,
}

macro_rules! approval_columns {
    () => {
        "id, intent_id, run_id, workflow, item_key, tool, arguments, reason, confidence, \
         connection, base, ticket, names, state, decided_by, decided_at, note, result, \
         applied_at, created_at, claimed_by, attempts, proposed_arguments"
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
        confidence: col(row, "confidence")?,
        connection: col(row, "connection")?,
        base: opt_json_col(row, "base")?,
        ticket: opt_json_col(row, "ticket")?,
        names: opt_json_col(row, "names")?,
        state: enum_col(row, "state")?,
        decided_by: col(row, "decided_by")?,
        decided_at: col(row, "decided_at")?,
        note: col(row, "note")?,
        result: opt_json_col(row, "result")?,
        applied_at: col(row, "applied_at")?,
        created_at: col(row, "created_at")?,
        claimed_by: col(row, "claimed_by")?,
        attempts: col(row, "attempts")?,
        proposed_arguments: opt_json_col(row, "proposed_arguments")?,
    })
}

impl Store {
    /// Queues a write for approval. Idempotent per intent: a resumed run that queues the same
    /// intent again gets the existing approval back.
    pub async fn queue_approval(&self, new: &NewApproval) -> Result<Approval, StoreError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO approvals (intent_id, run_id, workflow, item_key, tool, arguments, reason, ",
            "state, created_at, confidence, connection, base, ticket, names) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13) ",
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
        .bind(new.confidence)
        .bind(new.connection.as_deref())
        .bind(new.base.as_ref().map(Value::to_string))
        .bind(new.ticket.as_ref().map(Value::to_string))
        .bind(new.names.as_ref().map(Value::to_string))
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
        self.find_approvals(&ApprovalFilter {
            state,
            workflow: workflow.map(str::to_owned),
            limit,
            ..ApprovalFilter::default()
        })
        .await
    }

    /// Approvals matching `filter`, oldest first.
    pub async fn find_approvals(
        &self,
        filter: &ApprovalFilter,
    ) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR workflow = $2) ",
            "AND ($3 IS NULL OR run_id = $3) AND ($4 IS NULL OR item_key = $4) ",
            "ORDER BY id LIMIT $5"
        ))
        .bind(filter.state.map(ApprovalState::as_str))
        .bind(filter.workflow.as_deref())
        .bind(filter.run_id)
        .bind(filter.item_key.as_deref())
        .bind(to_i64(filter.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(approval_from_row).collect()
    }

    /// Adds the item's decision (reason and confidence) to the approvals its attempt queued,
    /// where they have none: the answer comes after the writes that it explains.
    pub async fn annotate_approvals(
        &self,
        run_id: RunId,
        item_key: &str,
        reason: Option<&str>,
        confidence: Option<f64>,
    ) -> Result<u64, StoreError> {
        if reason.is_none() && confidence.is_none() {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE approvals SET reason = COALESCE(reason, $3), \
             confidence = COALESCE(confidence, $4) WHERE run_id = $1 AND item_key = $2",
        )
        .bind(run_id)
        .bind(item_key)
        .bind(reason)
        .bind(confidence)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
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

    /// Approves a pending write with the reviewer's edit of its arguments, in the same
    /// conditional update as [`Store::decide_approval`]: `arguments` becomes what is sent and the
    /// agent's proposal is kept in `proposed_arguments`. The caller checks the edit (same ticket,
    /// the tool's schema) before.
    pub async fn approve_edited(
        &self,
        id: i64,
        by: &str,
        note: Option<&str>,
        arguments: &Value,
    ) -> Result<Approval, StoreError> {
        if !arguments.is_object() {
            return Err(StoreError::Invalid(
                "a write's arguments are a JSON object".to_owned(),
            ));
        }
        // The right-hand side reads the row as it was, so the proposal moves aside before the
        // edit replaces it (the same in SQLite and PostgreSQL).
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = 'approved', decided_by = $2, decided_at = $3, note = $4, ",
            "proposed_arguments = arguments, arguments = $5 ",
            "WHERE id = $1 AND state = 'pending' RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(by)
        .bind(self.now())
        .bind(note)
        .bind(arguments.to_string())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "pending").await),
        }
    }

    /// Claims an approved (or failed, or abandoned) write for `by` to apply: the one conditional
    /// update that makes concurrent approvers send it once. The claim lapses after `lease`, so
    /// a crashed applier does not hold it forever; whoever claims it then reconciles first.
    pub async fn claim_approval(
        &self,
        id: i64,
        by: &str,
        lease: Duration,
    ) -> Result<Approval, StoreError> {
        let now = self.now();
        let until = now.saturating_add(to_i64(lease.as_millis()));
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = 'applying', claimed_by = $2, claimed_until = $3, ",
            "attempts = attempts + 1 WHERE id = $1 AND (state IN ('approved', 'failed') ",
            "OR (state = 'applying' AND claimed_until < $4)) RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(by)
        .bind(until)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "approved or failed").await),
        }
    }

    /// Gives a claim back unsent (the ticket changed since the proposal): the approval is
    /// approved again, waiting for an explicit approve-anyway or a rejection.
    pub async fn release_approval(&self, id: i64, by: &str) -> Result<Approval, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = 'approved', claimed_until = NULL ",
            "WHERE id = $1 AND state = 'applying' AND claimed_by = $2 RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(by)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "applying").await),
        }
    }

    /// Records the result of sending a claimed write: `applied` or `failed`. Only the claimant
    /// settles it.
    pub async fn mark_approval(
        &self,
        id: i64,
        by: &str,
        state: ApprovalState,
        result: &Value,
    ) -> Result<Approval, StoreError> {
        if !matches!(state, ApprovalState::Applied | ApprovalState::Failed) {
            return Err(StoreError::Invalid(format!(
                "an approved write ends applied or failed, not {state}"
            )));
        }
        let row = sqlx::query(concat!(
            "UPDATE approvals SET state = $2, result = $3, applied_at = $4, claimed_until = NULL ",
            "WHERE id = $1 AND state = 'applying' AND claimed_by = $5 RETURNING ",
            approval_columns!()
        ))
        .bind(id)
        .bind(state.as_str())
        .bind(result.to_string())
        .bind(self.now())
        .bind(by)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => approval_from_row(&row),
            None => Err(self.approval_not_in(id, "applying under this claim").await),
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
