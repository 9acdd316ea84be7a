//! What happened inside one attempt at one item: the LLM steps, the tool calls and the retries.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;

use super::{
    AttemptId, RunId, Store, StoreError, bool_col, col, enum_col, json_col, opt_json_col, redact,
    text_enum, truncate_summary,
};

text_enum!(
    /// How an attempt at an item stands. `Deferred`: stopped by a fault outside the ticket
    /// (Zoho's budget, the LLM or the MCP connection down); no attempt counted, the item comes
    /// back after its `not_before`.
    AttemptStatus {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Abandoned => "abandoned",
        Cancelled => "cancelled",
        Skipped => "skipped",
        Deferred => "deferred",
    }
);

text_enum!(
    /// What became of a tool call. `DryRun` and `Queued` are writes that were not sent
    /// (`writes: dry_run` and `writes: approve`).
    ToolOutcome {
        Ok => "ok",
        Error => "error",
        DryRun => "dry_run",
        Queued => "queued",
    }
);

text_enum!(
    /// Which of the three retry layers waited: LLM HTTP, MCP tool results, or whole items.
    RetryLayer {
        Llm => "llm",
        Mcp => "mcp",
        Item => "item",
    }
);

/// One row per item per run (and per attempt, should a run retry an item itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemAttempt {
    pub id: AttemptId,
    pub run_id: RunId,
    pub workflow: String,
    pub item_key: String,
    pub attempt: i64,
    pub status: AttemptStatus,
    pub error: Option<String>,
    pub output: Option<Value>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub steps: i64,
    pub tool_calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The part of `prompt_tokens` served from the provider's prompt cache.
    pub cached_tokens: i64,
}

impl ItemAttempt {
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_at.map(|finished| finished - self.started_at)
    }
}

/// How an attempt ended. Step, tool-call and token counts are summed from the recorded detail.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptFinish {
    pub status: AttemptStatus,
    pub error: Option<String>,
    /// The agent's final answer (validated against the workflow's output schema), if any.
    pub output: Option<Value>,
}

/// One chat completion round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLlmStep {
    pub step: i64,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The part of `prompt_tokens` the provider served from its prompt cache.
    pub cached_tokens: i64,
    pub latency_ms: i64,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmStep {
    pub id: i64,
    pub attempt_id: AttemptId,
    pub step: i64,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub latency_ms: i64,
    pub finish_reason: Option<String>,
    pub created_at: i64,
}

/// One MCP tool call. The store redacts `arguments` with [`redact`] and truncates
/// `result_summary` with [`truncate_summary`] before writing, so callers can pass them raw.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToolCall {
    pub step: i64,
    pub tool: String,
    pub arguments: Value,
    pub is_write: bool,
    pub outcome: ToolOutcome,
    pub http_status: Option<u16>,
    /// Zoho's `errorCode` (e.g. `THRESHOLD_EXCEEDED`) when the call failed upstream.
    pub error_code: Option<String>,
    pub result_summary: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallRecord {
    pub id: i64,
    pub attempt_id: AttemptId,
    pub step: i64,
    pub tool: String,
    pub arguments: Value,
    pub is_write: bool,
    pub outcome: ToolOutcome,
    pub http_status: Option<i64>,
    pub error_code: Option<String>,
    pub result_summary: Option<String>,
    pub duration_ms: i64,
    pub created_at: i64,
}

/// One wait before a repeat, in any layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRetry {
    /// The item attempt it happened in; `None` for run-level calls (e.g. the `for_each` listing).
    pub attempt_id: Option<AttemptId>,
    pub item_key: Option<String>,
    pub layer: RetryLayer,
    /// Why, e.g. `429 THRESHOLD_EXCEEDED` or `timeout`.
    pub reason: String,
    pub wait_ms: i64,
    /// Which repeat this is within its layer, 1-based.
    pub attempt: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryRecord {
    pub id: i64,
    pub run_id: RunId,
    pub attempt_id: Option<AttemptId>,
    pub item_key: Option<String>,
    pub layer: RetryLayer,
    pub reason: String,
    pub wait_ms: i64,
    pub attempt: i64,
    pub created_at: i64,
}

macro_rules! attempt_columns {
    () => {
        "id, run_id, workflow, item_key, attempt, status, error, output, started_at, finished_at, \
         steps, tool_calls, prompt_tokens, completion_tokens, cached_tokens"
    };
}
pub(super) use attempt_columns;

pub(super) const STEP_COLUMNS: &str = "id, attempt_id, step, model, prompt_tokens, \
     completion_tokens, cached_tokens, latency_ms, finish_reason, created_at";
pub(super) const TOOL_CALL_COLUMNS: &str = "id, attempt_id, step, tool, arguments, is_write, \
     outcome, http_status, error_code, result_summary, duration_ms, created_at";
pub(super) const RETRY_COLUMNS: &str =
    "id, run_id, attempt_id, item_key, layer, reason, wait_ms, attempt, created_at";

pub(super) fn attempt_from_row(row: &AnyRow) -> Result<ItemAttempt, StoreError> {
    Ok(ItemAttempt {
        id: col(row, "id")?,
        run_id: col(row, "run_id")?,
        workflow: col(row, "workflow")?,
        item_key: col(row, "item_key")?,
        attempt: col(row, "attempt")?,
        status: enum_col(row, "status")?,
        error: col(row, "error")?,
        output: opt_json_col(row, "output")?,
        started_at: col(row, "started_at")?,
        finished_at: col(row, "finished_at")?,
        steps: col(row, "steps")?,
        tool_calls: col(row, "tool_calls")?,
        prompt_tokens: col(row, "prompt_tokens")?,
        completion_tokens: col(row, "completion_tokens")?,
        cached_tokens: col(row, "cached_tokens")?,
    })
}

pub(super) fn step_from_row(row: &AnyRow) -> Result<LlmStep, StoreError> {
    Ok(LlmStep {
        id: col(row, "id")?,
        attempt_id: col(row, "attempt_id")?,
        step: col(row, "step")?,
        model: col(row, "model")?,
        prompt_tokens: col(row, "prompt_tokens")?,
        completion_tokens: col(row, "completion_tokens")?,
        cached_tokens: col(row, "cached_tokens")?,
        latency_ms: col(row, "latency_ms")?,
        finish_reason: col(row, "finish_reason")?,
        created_at: col(row, "created_at")?,
    })
}

pub(super) fn tool_call_from_row(row: &AnyRow) -> Result<ToolCallRecord, StoreError> {
    Ok(ToolCallRecord {
        id: col(row, "id")?,
        attempt_id: col(row, "attempt_id")?,
        step: col(row, "step")?,
        tool: col(row, "tool")?,
        arguments: json_col(row, "arguments")?,
        is_write: bool_col(row, "is_write")?,
        outcome: enum_col(row, "outcome")?,
        http_status: col(row, "http_status")?,
        error_code: col(row, "error_code")?,
        result_summary: col(row, "result_summary")?,
        duration_ms: col(row, "duration_ms")?,
        created_at: col(row, "created_at")?,
    })
}

pub(super) fn retry_from_row(row: &AnyRow) -> Result<RetryRecord, StoreError> {
    Ok(RetryRecord {
        id: col(row, "id")?,
        run_id: col(row, "run_id")?,
        attempt_id: col(row, "attempt_id")?,
        item_key: col(row, "item_key")?,
        layer: enum_col(row, "layer")?,
        reason: col(row, "reason")?,
        wait_ms: col(row, "wait_ms")?,
        attempt: col(row, "attempt")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    /// Opens the record of attempt number `attempt` (see [`super::Lease::attempt`]) at
    /// `item_key` within `run_id`; the workflow is taken from the run.
    pub async fn start_attempt(
        &self,
        run_id: RunId,
        item_key: &str,
        attempt: i64,
    ) -> Result<AttemptId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO item_attempts (run_id, workflow, item_key, attempt, status, started_at) \
             SELECT id, workflow, $2, $3, 'running', $4 FROM runs WHERE id = $1 RETURNING id",
        )
        .bind(run_id)
        .bind(item_key)
        .bind(attempt)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => col(&row, "id"),
            None => Err(StoreError::RunNotFound(run_id)),
        }
    }

    /// Closes an attempt, totalling its steps, tool calls and tokens from the recorded detail.
    pub async fn finish_attempt(
        &self,
        attempt_id: AttemptId,
        finish: &AttemptFinish,
    ) -> Result<ItemAttempt, StoreError> {
        if finish.status == AttemptStatus::Running {
            return Err(StoreError::Invalid(
                "an attempt cannot finish with status running".into(),
            ));
        }
        let row = sqlx::query(concat!(
            "UPDATE item_attempts SET status = $2, error = $3, output = $4, finished_at = $5, ",
            "steps = (SELECT COUNT(*) FROM llm_steps s WHERE s.attempt_id = $1), ",
            "tool_calls = (SELECT COUNT(*) FROM tool_calls t WHERE t.attempt_id = $1), ",
            "prompt_tokens = (SELECT COALESCE(SUM(s.prompt_tokens), 0) FROM llm_steps s ",
            "WHERE s.attempt_id = $1), ",
            "completion_tokens = (SELECT COALESCE(SUM(s.completion_tokens), 0) FROM llm_steps s ",
            "WHERE s.attempt_id = $1), ",
            "cached_tokens = (SELECT COALESCE(SUM(s.cached_tokens), 0) FROM llm_steps s ",
            "WHERE s.attempt_id = $1) ",
            "WHERE id = $1 AND status = 'running' RETURNING ",
            attempt_columns!()
        ))
        .bind(attempt_id)
        .bind(finish.status.as_str())
        .bind(finish.error.as_deref())
        .bind(finish.output.as_ref().map(Value::to_string))
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => attempt_from_row(&row),
            None => match self.get_attempt(attempt_id).await? {
                Some(attempt) => Err(StoreError::Invalid(format!(
                    "item attempt {attempt_id} has already finished as {}",
                    attempt.status
                ))),
                None => Err(StoreError::AttemptNotFound(attempt_id)),
            },
        }
    }

    pub async fn get_attempt(
        &self,
        attempt_id: AttemptId,
    ) -> Result<Option<ItemAttempt>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM item_attempts WHERE id = $1"
        ))
        .bind(attempt_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(attempt_from_row).transpose()
    }

    pub async fn record_step(
        &self,
        attempt_id: AttemptId,
        step: &NewLlmStep,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO llm_steps (attempt_id, step, model, prompt_tokens, completion_tokens, \
             cached_tokens, latency_ms, finish_reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(attempt_id)
        .bind(step.step)
        .bind(step.model.as_str())
        .bind(step.prompt_tokens)
        .bind(step.completion_tokens)
        .bind(step.cached_tokens)
        .bind(step.latency_ms)
        .bind(step.finish_reason.as_deref())
        .bind(self.now())
        .fetch_one(self.pool())
        .await?;
        col(&row, "id")
    }

    /// Records a tool call with its arguments redacted and its result summary truncated.
    pub async fn record_tool_call(
        &self,
        attempt_id: AttemptId,
        call: &NewToolCall,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO tool_calls (attempt_id, step, tool, arguments, is_write, outcome, \
             http_status, error_code, result_summary, duration_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(attempt_id)
        .bind(call.step)
        .bind(call.tool.as_str())
        .bind(redact(&call.arguments).to_string())
        .bind(i64::from(call.is_write))
        .bind(call.outcome.as_str())
        .bind(call.http_status.map(i64::from))
        .bind(call.error_code.as_deref())
        .bind(call.result_summary.as_deref().map(truncate_summary))
        .bind(call.duration_ms)
        .bind(self.now())
        .fetch_one(self.pool())
        .await?;
        col(&row, "id")
    }

    pub async fn record_retry(&self, run_id: RunId, retry: &NewRetry) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO retries (run_id, attempt_id, item_key, layer, reason, wait_ms, attempt, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(run_id)
        .bind(retry.attempt_id)
        .bind(retry.item_key.as_deref())
        .bind(retry.layer.as_str())
        .bind(retry.reason.as_str())
        .bind(retry.wait_ms)
        .bind(retry.attempt)
        .bind(self.now())
        .fetch_one(self.pool())
        .await?;
        col(&row, "id")
    }
    /// Closes attempts at an item still marked running. Called by whoever holds the item's lease
    /// now, so any such attempt belongs to a process that died: history then says so instead of
    /// showing it running forever.
    pub async fn close_stale_attempts(
        &self,
        workflow: &str,
        item_key: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE item_attempts SET status = 'cancelled', error = $3, finished_at = $4 \
             WHERE workflow = $1 AND item_key = $2 AND status = 'running'",
        )
        .bind(workflow)
        .bind(item_key)
        .bind(reason)
        .bind(self.now())
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected())
    }
}
