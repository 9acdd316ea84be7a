//! Runs and the schedule ticks that start them.
//!
//! Every run holds a *run lease* (`lease_expires_at`) that the process working on it renews, as
//! it renews its item leases. The lease is what tells replicas apart from the rows they leave:
//! a run is live while its lease is; a run whose lease lapsed belongs to a process that died and
//! is closed as `interrupted` by [`Store::close_lapsed_runs`].

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use zoho_desk_mcp::registry::database::Backend;

use super::clock::duration_ms;
use super::{
    RunId, Store, StoreError, bool_col, col, enum_col, json_col, opt_json_col, text_enum, to_i64,
};

/// The lease of a run whose creator names none (and of rows recorded before runs had leases):
/// long enough for any short-lived command that does not renew it.
pub const DEFAULT_RUN_LEASE: Duration = Duration::from_secs(600);

text_enum!(
    /// What started a run.
    Trigger {
        Cli => "cli",
        Schedule => "schedule",
        Eval => "eval",
        Demo => "demo",
        Approval => "approval",
    }
);

text_enum!(
    /// Where a run stands. A claimed tick is `Queued` until it gets its turn
    /// ([`Store::take_turn`]), then `Running` until [`Store::finish_run`]; `Partial` means some
    /// items failed and others succeeded; `Cancelled` is a run stopped before it finished (its
    /// counts say how far it got); `Skipped` is a tick that was claimed but not run (overlap);
    /// `Interrupted` is a run whose process died: its lease lapsed before it finished.
    RunStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Partial => "partial",
        Cancelled => "cancelled",
        Skipped => "skipped",
        Interrupted => "interrupted",
    }
);

impl RunStatus {
    /// Whether the run is still open (its lease decides whether anyone is working on it).
    pub fn is_open(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// What [`Store::take_turn`] decided for a claimed tick.
#[derive(Debug, Clone, PartialEq)]
pub enum RunTurn {
    /// The run is now the workflow's running run.
    Started,
    /// Another live run of the workflow is running; this one stays `queued`.
    Waiting {
        /// The oldest live running run of the workflow.
        behind: Box<Run>,
        /// Another tick of the workflow is queued too (live, not this one).
        queued_elsewhere: bool,
    },
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub workflow: String,
    pub trigger: Trigger,
    /// The tick this run serves (epoch ms); `(workflow, scheduled_for)` is unique.
    pub scheduled_for: Option<i64>,
    pub inputs: Value,
    /// The model label shown in history, e.g. `openai/gpt-4.1-mini` or `baseline`.
    pub model: Option<String>,
    /// False for the deterministic non-LLM baseline, so history never passes it off as a model.
    pub llm_used: bool,
    /// The replica (or CLI process) that runs it.
    pub owner: String,
    /// How long the run counts as live without a renewal ([`Store::renew_run`]).
    pub lease: Duration,
}

impl NewRun {
    pub fn new(workflow: impl Into<String>, trigger: Trigger, owner: impl Into<String>) -> Self {
        NewRun {
            workflow: workflow.into(),
            trigger,
            scheduled_for: None,
            inputs: Value::Object(Default::default()),
            model: None,
            llm_used: false,
            owner: owner.into(),
            lease: DEFAULT_RUN_LEASE,
        }
    }

    /// The run lease; a process that renews it should renew well within it.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// A scheduled run for the tick at `scheduled_for` (epoch ms).
    pub fn tick(workflow: impl Into<String>, scheduled_for: i64, owner: impl Into<String>) -> Self {
        NewRun::new(workflow, Trigger::Schedule, owner).scheduled_for(scheduled_for)
    }

    pub fn scheduled_for(mut self, scheduled_for: i64) -> Self {
        self.scheduled_for = Some(scheduled_for);
        self
    }

    pub fn inputs(mut self, inputs: Value) -> Self {
        self.inputs = inputs;
        self
    }

    pub fn model(mut self, label: impl Into<String>, llm_used: bool) -> Self {
        self.model = Some(label.into());
        self.llm_used = llm_used;
        self
    }
}

/// Item counts of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFinish {
    pub status: RunStatus,
    pub summary: Value,
    pub counts: RunCounts,
    /// A run-level failure (the item selection call failed, the run was cancelled, ...).
    pub error: Option<String>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: RunId,
    pub workflow: String,
    pub trigger: Trigger,
    pub scheduled_for: Option<i64>,
    pub status: RunStatus,
    pub inputs: Value,
    pub model: Option<String>,
    pub llm_used: bool,
    pub owner: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub summary: Option<Value>,
    pub error: Option<String>,
    pub counts: RunCounts,
}

impl Run {
    /// Wall time from start to finish; `None` while the run is going on.
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_at.map(|finished| finished - self.started_at)
    }
}

/// Which runs [`Store::list_runs`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    pub workflow: Option<String>,
    pub limit: u32,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            workflow: None,
            limit: 20,
        }
    }
}

macro_rules! run_columns {
    () => {
        "id, workflow, trigger_kind, scheduled_for, status, inputs, model, llm_used, owner, \
         started_at, finished_at, summary, error, items_total, items_succeeded, items_failed, \
         items_skipped"
    };
}

const INSERT_RUN: &str = "INSERT INTO runs \
     (workflow, trigger_kind, scheduled_for, status, inputs, model, llm_used, owner, started_at, \
     lease_expires_at) VALUES ($1, $2, $3, $9, $4, $5, $6, $7, $8, $10) \
     ON CONFLICT (workflow, scheduled_for) DO NOTHING RETURNING id";

/// An open run's lease; rows from before run leases count from their start.
macro_rules! run_lease {
    () => {
        "COALESCE(lease_expires_at, started_at + $3)"
    };
}

const LIVE_RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE workflow = $1 AND status IN ('queued', 'running') AND ",
    run_lease!(),
    " > $2 ORDER BY started_at, id"
);

const CLOSE_LAPSED: &str = concat!(
    "UPDATE runs SET status = 'interrupted', finished_at = $2, lease_expires_at = NULL, ",
    "error = 'its process (' || owner || ') stopped without finishing it: the run''s lease lapsed', ",
    "summary = '{\"reason\": \"the run''s lease lapsed\"}' ",
    "WHERE ($1 IS NULL OR workflow = $1) AND status IN ('queued', 'running') AND ",
    run_lease!(),
    " <= $2 RETURNING ",
    run_columns!()
);

fn run_from_row(row: &AnyRow) -> Result<Run, StoreError> {
    Ok(Run {
        id: col(row, "id")?,
        workflow: col(row, "workflow")?,
        trigger: enum_col(row, "trigger_kind")?,
        scheduled_for: col(row, "scheduled_for")?,
        status: enum_col(row, "status")?,
        inputs: json_col(row, "inputs")?,
        model: col(row, "model")?,
        llm_used: bool_col(row, "llm_used")?,
        owner: col(row, "owner")?,
        started_at: col(row, "started_at")?,
        finished_at: col(row, "finished_at")?,
        summary: opt_json_col(row, "summary")?,
        error: col(row, "error")?,
        counts: RunCounts {
            total: col(row, "items_total")?,
            succeeded: col(row, "items_succeeded")?,
            failed: col(row, "items_failed")?,
            skipped: col(row, "items_skipped")?,
        },
    })
}

impl Store {
    /// Records a run that starts now. A run carrying a `scheduled_for` that another run already
    /// holds is refused with [`StoreError::TickTaken`]; schedulers should use [`Store::claim_tick_run`].
    pub async fn create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        self.insert_run(run)
            .await?
            .ok_or_else(|| StoreError::TickTaken {
                workflow: run.workflow.clone(),
                scheduled_for: run.scheduled_for.unwrap_or_default(),
            })
    }

    /// Claims the tick `(workflow, scheduled_for_ms)` for `owner` with an empty input set and no
    /// model label. Exactly one of any number of concurrent claimants, across replicas, gets
    /// `Some(run_id)`; the others get `None` and must not run the tick.
    pub async fn claim_tick(
        &self,
        workflow: &str,
        scheduled_for_ms: i64,
        owner: &str,
    ) -> Result<Option<RunId>, StoreError> {
        self.claim_tick_run(&NewRun::tick(workflow, scheduled_for_ms, owner))
            .await
    }

    /// [`Store::claim_tick`] with the run's inputs and model recorded in the same statement.
    /// The claimed run is `queued`: it starts only through [`Store::take_turn`].
    pub async fn claim_tick_run(&self, run: &NewRun) -> Result<Option<RunId>, StoreError> {
        if run.scheduled_for.is_none() {
            return Err(StoreError::Invalid(format!(
                "a tick of workflow {} needs a scheduled_for time",
                run.workflow
            )));
        }
        self.insert(run, RunStatus::Queued).await
    }

    async fn insert_run(&self, run: &NewRun) -> Result<Option<RunId>, StoreError> {
        self.insert(run, RunStatus::Running).await
    }

    async fn insert(&self, run: &NewRun, status: RunStatus) -> Result<Option<RunId>, StoreError> {
        let now = self.now();
        let row = sqlx::query(INSERT_RUN)
            .bind(run.workflow.as_str())
            .bind(run.trigger.as_str())
            .bind(run.scheduled_for)
            .bind(run.inputs.to_string())
            .bind(run.model.as_deref())
            .bind(i64::from(run.llm_used))
            .bind(run.owner.as_str())
            .bind(now)
            .bind(status.as_str())
            .bind(now.saturating_add(duration_ms(run.lease)))
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| col(&row, "id")).transpose()
    }

    /// Gives the open run `run_id` the workflow's turn if no other live run of the workflow is
    /// running: it becomes `running`; otherwise it stays (or becomes) `queued`. Either way its
    /// lease is renewed for `lease`, so a tick waiting for its turn stays live while its process
    /// does. Decisions for one workflow are serialised (SQLite's write lock, a transaction-scoped
    /// advisory lock on PostgreSQL), so of any number of queued ticks, on any replicas, one starts
    /// and the others see it running. A closed run is [`StoreError::RunFinished`].
    pub async fn take_turn(&self, run_id: RunId, lease: Duration) -> Result<RunTurn, StoreError> {
        let Some(run) = self.get_run(run_id).await? else {
            return Err(StoreError::RunNotFound(run_id));
        };
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // The lock function returns `void`, which the Any driver cannot carry: select a
            // constant over it instead.
            sqlx::query(
                "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l",
            )
            .bind(format!("deskhand run turn {}", run.workflow))
            .fetch_one(&mut *tx)
            .await?;
        }
        let now = self.now();
        let rows = sqlx::query(LIVE_RUNS)
            .bind(run.workflow.as_str())
            .bind(now)
            .bind(duration_ms(DEFAULT_RUN_LEASE))
            .fetch_all(&mut *tx)
            .await?;
        let live = rows
            .iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let own = sqlx::query("SELECT status FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
        let own: RunStatus = enum_col(&own, "status")?;
        if !own.is_open() {
            // Closed meanwhile (cancelled, or its lease lapsed and it was closed).
            tx.rollback().await?;
            return Err(StoreError::RunFinished {
                run_id,
                status: own.to_string(),
            });
        }
        let behind = live
            .iter()
            .find(|r| r.id != run_id && r.status == RunStatus::Running)
            .cloned();
        let status = match behind {
            Some(_) => RunStatus::Queued,
            None => RunStatus::Running,
        };
        sqlx::query(
            "UPDATE runs SET status = $2, lease_expires_at = $3 \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(now.saturating_add(duration_ms(lease)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match behind {
            Some(behind) => RunTurn::Waiting {
                behind: Box::new(behind),
                queued_elsewhere: live
                    .iter()
                    .any(|r| r.id != run_id && r.status == RunStatus::Queued),
            },
            None => RunTurn::Started,
        })
    }

    /// Extends an open run's lease to `extend` from now. `false`: the run is closed (finished,
    /// or closed as interrupted because its lease had lapsed).
    pub async fn renew_run(&self, run_id: RunId, extend: Duration) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE runs SET lease_expires_at = $2 \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(run_id)
        .bind(self.now().saturating_add(duration_ms(extend)))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The live runs of `workflow` (open, lease not lapsed), oldest first, on any replica: the
    /// overlap decision asks this, not a page of recent rows.
    pub async fn live_runs(&self, workflow: &str) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(LIVE_RUNS)
            .bind(workflow)
            .bind(self.now())
            .bind(duration_ms(DEFAULT_RUN_LEASE))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Closes every open run (of `workflow`, or of all workflows) whose lease lapsed: its process
    /// died (SIGKILL, a crash, a lost host). They are recorded `interrupted` with the owner in the
    /// error, so history never shows them running forever. Their items' leases lapse with the
    /// same formula, so the items are offered again from then on.
    pub async fn close_lapsed_runs(&self, workflow: Option<&str>) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(CLOSE_LAPSED)
            .bind(workflow)
            .bind(self.now())
            .bind(duration_ms(DEFAULT_RUN_LEASE))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The latest tick claimed for `workflow` (epoch ms), for catching up missed ticks on start.
    pub async fn last_tick(&self, workflow: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MAX(scheduled_for) AS last FROM runs WHERE workflow = $1")
            .bind(workflow)
            .fetch_one(self.pool())
            .await?;
        col(&row, "last")
    }

    /// Ends an open (running or queued) run. A run finishes once: finishing it again is
    /// [`StoreError::RunFinished`], so a cancelled run is not later reported as succeeded.
    pub async fn finish_run(&self, run_id: RunId, finish: &RunFinish) -> Result<Run, StoreError> {
        if finish.status.is_open() {
            return Err(StoreError::Invalid(format!(
                "a run cannot finish with status {}",
                finish.status
            )));
        }
        let row = sqlx::query(concat!(
            "UPDATE runs SET status = $2, finished_at = $3, summary = $4, error = $5, ",
            "items_total = $6, items_succeeded = $7, items_failed = $8, items_skipped = $9, ",
            "lease_expires_at = NULL WHERE id = $1 AND status IN ('queued', 'running') RETURNING ",
            run_columns!()
        ))
        .bind(run_id)
        .bind(finish.status.as_str())
        .bind(self.now())
        .bind(finish.summary.to_string())
        .bind(finish.error.as_deref())
        .bind(finish.counts.total)
        .bind(finish.counts.succeeded)
        .bind(finish.counts.failed)
        .bind(finish.counts.skipped)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => run_from_row(&row),
            None => match self.get_run(run_id).await? {
                Some(run) => Err(StoreError::RunFinished {
                    run_id,
                    status: run.status.to_string(),
                }),
                None => Err(StoreError::RunNotFound(run_id)),
            },
        }
    }

    pub async fn get_run(&self, run_id: RunId) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(run_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Recent runs, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE ($1 IS NULL OR workflow = $1) ",
            "ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(filter.workflow.as_deref())
        .bind(to_i64(filter.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }
}
