//! The run store: run history, schedule ticks, item leases, write intents and approvals, over
//! SQLite (one process) or PostgreSQL (several replicas).
//!
//! Every query is runtime-checked SQL with `$n` placeholders through sqlx's `Any` driver, so each
//! statement is written once; the few places where the backends must differ (row locking in
//! [`Store::claim_next`], transaction start) branch on [`Backend`]. Coordination between replicas
//! rests on single conditional statements (`INSERT .. ON CONFLICT DO NOTHING`, `UPDATE .. WHERE
//! <still free> RETURNING`) rather than read-then-write transactions, which keeps them atomic on
//! both engines.

mod approvals;
mod attempts;
mod call_slots;
mod clock;
mod error;
mod file_mode;
mod history;
mod intents;
mod items;
mod migrate;
mod rate_budget;
mod redact;
mod runs;
mod tokens;

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;
use zoho_desk_mcp::registry::database::{self, Backend, Database};

pub use approvals::{Approval, ApprovalFilter, ApprovalState, Decision, FieldChange, NewApproval};
pub use attempts::{
    AttemptFinish, AttemptStatus, ItemAttempt, LlmStep, NewLlmStep, NewRetry, NewToolCall,
    RetryLayer, RetryRecord, ToolCallRecord, ToolOutcome,
};
pub use clock::{Clock, ManualClock};
pub use error::StoreError;
pub use file_mode::{secure_sqlite_file, sqlite_file};
pub use history::{AttemptDetail, RunDetail, RunTokens};
pub use intents::{Intent, IntentState};
pub use items::{ItemOutcome, ItemStatus, ItemView, Lease, WorkItem};
pub use rate_budget::{Reservation, SharedBudget};
pub use redact::{REDACTED, redact, truncate_summary};
pub use runs::{
    DEFAULT_RUN_LEASE, NewRun, Run, RunCounts, RunFilter, RunFinish, RunStatus, RunTurn, Trigger,
};
pub use tokens::{TokenKey, TokenVault};

/// Identifies a run; also what `deskhand history RUN_ID` takes.
pub type RunId = i64;
/// Identifies one attempt at one item within one run.
pub type AttemptId = i64;

/// The run store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    clock: Clock,
}

impl Store {
    /// Connects (see [`database::database_url`] for how the URL is chosen) and migrates. A SQLite
    /// file is created user-only, and an existing one is made so (see `file_mode`).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        file_mode::secure_sqlite_file(url);
        let db = database::connect(url).await?;
        Store::open(db).await
    }

    /// Applies pending migrations and returns the store. Safe when several replicas start at
    /// once: on PostgreSQL sqlx's migrator holds an advisory lock while it applies.
    pub async fn open(db: Database) -> Result<Store, StoreError> {
        migrate::run(&db).await?;
        Ok(Store {
            db,
            clock: Clock::System,
        })
    }

    /// Replaces the clock that leases and timestamps are measured against.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    /// Starts a transaction that holds the write lock from its first statement on SQLite, where a
    /// deferred transaction that reads before it writes fails with `SQLITE_BUSY` instead of waiting.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.db.backend {
            Backend::Sqlite => self.db.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.db.pool.begin().await?,
        })
    }
}

/// Declares a closed set of values stored as lower-case TEXT.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {other:?} (expected one of: {})",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// Reads a column, naming it in the error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(StoreError::Database)
}

/// Reads a TEXT column holding one of a [`text_enum!`]'s values.
pub(crate) fn enum_col<T: FromStr<Err = String>>(
    row: &AnyRow,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = col(row, column)?;
    text.parse()
        .map_err(|message| StoreError::Corrupt { column, message })
}

/// Reads a TEXT column holding JSON. A value that does not parse (a hand edit, a bad restore)
/// becomes an [`unreadable`] marker rather than an error: one bad row must not hide the rest of
/// the history.
pub(crate) fn json_col(
    row: &AnyRow,
    column: &'static str,
) -> Result<serde_json::Value, StoreError> {
    let text: String = col(row, column)?;
    Ok(parse_json(&text, column))
}

/// Reads a nullable TEXT column holding JSON, like [`json_col`].
pub(crate) fn opt_json_col(
    row: &AnyRow,
    column: &'static str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = col(row, column)?;
    Ok(text.map(|text| parse_json(&text, column)))
}

/// The key of the object that stands in for a stored JSON value that does not parse:
/// `{"unreadable": "<column>: <why>"}`, shown as such by `deskhand history`.
pub const UNREADABLE: &str = "unreadable";

fn parse_json(text: &str, column: &'static str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| {
        tracing::warn!("the run store holds unreadable JSON in a {column} value ({e}); it is shown as unreadable");
        serde_json::json!({ UNREADABLE: format!("{column}: not valid JSON ({e})") })
    })
}

/// A 0/1 BIGINT column as a bool (booleans do not round-trip through `Any` on both engines).
pub(crate) fn bool_col(row: &AnyRow, column: &'static str) -> Result<bool, StoreError> {
    let value: i64 = col(row, column)?;
    Ok(value != 0)
}

/// A count or limit for a BIGINT parameter.
pub(crate) fn to_i64(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}
