//! One run with everything recorded under it, for `deskhand history RUN_ID`.

use std::collections::HashMap;

use serde::Serialize;

use super::attempts::{
    RETRY_COLUMNS, STEP_COLUMNS, TOOL_CALL_COLUMNS, attempt_columns, attempt_from_row,
    retry_from_row, step_from_row, tool_call_from_row,
};
use super::{
    ItemAttempt, LlmStep, RetryRecord, Run, RunId, Store, StoreError, ToolCallRecord, col,
};

/// What a run's item attempts spent on the LLM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunTokens {
    /// Item attempts in the run (the divisor of a per-item figure).
    pub items: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The part of `prompt_tokens` served from the provider's prompt cache.
    pub cached_tokens: i64,
}

impl RunTokens {
    pub fn total(&self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Prompt plus completion tokens per item attempt, rounded; 0 for a run without items.
    pub fn per_item(&self) -> i64 {
        if self.items == 0 {
            0
        } else {
            (self.total() + self.items / 2) / self.items
        }
    }
}

/// A run, its item attempts (each with its detail) and the retries outside any item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub run: Run,
    pub attempts: Vec<AttemptDetail>,
    /// Retries of run-level calls (e.g. the `for_each` listing), not tied to an item attempt.
    pub retries: Vec<RetryRecord>,
}

impl RunDetail {
    pub fn prompt_tokens(&self) -> i64 {
        self.attempts.iter().map(|a| a.attempt.prompt_tokens).sum()
    }

    pub fn completion_tokens(&self) -> i64 {
        self.attempts
            .iter()
            .map(|a| a.attempt.completion_tokens)
            .sum()
    }

    /// The part of [`Self::prompt_tokens`] served from the provider's prompt cache.
    pub fn cached_tokens(&self) -> i64 {
        self.attempts.iter().map(|a| a.attempt.cached_tokens).sum()
    }

    pub fn tokens(&self) -> RunTokens {
        RunTokens {
            items: i64::try_from(self.attempts.len()).unwrap_or(i64::MAX),
            prompt_tokens: self.prompt_tokens(),
            completion_tokens: self.completion_tokens(),
            cached_tokens: self.cached_tokens(),
        }
    }
}

/// One item attempt with its LLM steps, tool calls and retries in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptDetail {
    pub attempt: ItemAttempt,
    pub steps: Vec<LlmStep>,
    pub tool_calls: Vec<ToolCallRecord>,
    pub retries: Vec<RetryRecord>,
}

impl Store {
    /// The token totals of each of `runs` that has item attempts (the others are absent).
    pub async fn run_tokens(
        &self,
        runs: &[RunId],
    ) -> Result<HashMap<RunId, RunTokens>, StoreError> {
        if runs.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=runs.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            // PostgreSQL sums BIGINTs as NUMERIC, which the Any driver cannot read.
            "SELECT run_id, COUNT(*) AS items, \
             CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt, \
             CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS completion, \
             CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT) AS cached \
             FROM item_attempts WHERE run_id IN ({}) GROUP BY run_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for run in runs {
            query = query.bind(*run);
        }
        let mut totals = HashMap::new();
        for row in query.fetch_all(self.pool()).await? {
            totals.insert(
                col(&row, "run_id")?,
                RunTokens {
                    items: col(&row, "items")?,
                    prompt_tokens: col(&row, "prompt")?,
                    completion_tokens: col(&row, "completion")?,
                    cached_tokens: col(&row, "cached")?,
                },
            );
        }
        Ok(totals)
    }

    /// Everything recorded for one run, or `None` if there is no such run.
    pub async fn run_detail(&self, run_id: RunId) -> Result<Option<RunDetail>, StoreError> {
        let Some(run) = self.get_run(run_id).await? else {
            return Ok(None);
        };
        let attempts = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM item_attempts WHERE run_id = $1 ORDER BY id"
        ))
        .bind(run_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>, _>>()?;

        let steps_sql = format!(
            "SELECT {STEP_COLUMNS} FROM llm_steps WHERE attempt_id IN \
             (SELECT id FROM item_attempts WHERE run_id = $1) ORDER BY id"
        );
        let mut steps = sqlx::query(sqlx::AssertSqlSafe(steps_sql))
            .bind(run_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(step_from_row)
            .collect::<Result<Vec<_>, _>>()?;

        let calls_sql = format!(
            "SELECT {TOOL_CALL_COLUMNS} FROM tool_calls WHERE attempt_id IN \
             (SELECT id FROM item_attempts WHERE run_id = $1) ORDER BY id"
        );
        let mut calls = sqlx::query(sqlx::AssertSqlSafe(calls_sql))
            .bind(run_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(tool_call_from_row)
            .collect::<Result<Vec<_>, _>>()?;

        let retries_sql =
            format!("SELECT {RETRY_COLUMNS} FROM retries WHERE run_id = $1 ORDER BY id");
        let mut retries = sqlx::query(sqlx::AssertSqlSafe(retries_sql))
            .bind(run_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(retry_from_row)
            .collect::<Result<Vec<_>, _>>()?;

        let attempts = attempts
            .into_iter()
            .map(|attempt| {
                let id = attempt.id;
                AttemptDetail {
                    steps: take_where(&mut steps, |s| s.attempt_id == id),
                    tool_calls: take_where(&mut calls, |c| c.attempt_id == id),
                    retries: take_where(&mut retries, |r| r.attempt_id == Some(id)),
                    attempt,
                }
            })
            .collect();
        Ok(Some(RunDetail {
            run,
            attempts,
            retries,
        }))
    }

    /// The item keys a ticket is known by in any workflow: its id, or the key of an item whose
    /// stored payload has this `ticketNumber` (what people call tickets by).
    pub async fn item_keys_for_ticket(&self, ticket: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!(
            "%\"ticketNumber\":\"{}\"%",
            ticket.replace(['%', '_', '"'], "")
        );
        let rows = sqlx::query(
            "SELECT DISTINCT item_key FROM work_items WHERE item_key = $1 OR payload LIKE $2 \
             ORDER BY item_key",
        )
        .bind(ticket)
        .bind(pattern)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| super::col(row, "item_key")).collect()
    }

    /// The runs that worked an item (any workflow), newest first.
    pub async fn runs_of_item(&self, item_key: &str, limit: u32) -> Result<Vec<RunId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT run_id FROM item_attempts WHERE item_key = $1 \
             ORDER BY run_id DESC LIMIT $2",
        )
        .bind(item_key)
        .bind(super::to_i64(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| super::col(row, "run_id")).collect()
    }
}

/// Moves the elements matching `pred` out of `items`, keeping both sides in order.
fn take_where<T>(items: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept) = std::mem::take(items).into_iter().partition(pred);
    *items = kept;
    taken
}
