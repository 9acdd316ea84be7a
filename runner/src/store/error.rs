//! What can go wrong in the run store.

use zoho_desk_mcp::registry::database::DatabaseError;

use super::RunId;

/// A failure of the run store. Conflicts that callers are expected to handle (a tick already
/// claimed, a lease lost to another replica, an approval already decided) are their own variants
/// so that the scheduler and the agent loop can match on them instead of parsing SQL errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Connect(#[from] DatabaseError),
    #[error("could not migrate the run store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("run store query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the run store holds an unreadable {column}: {message}")]
    Corrupt {
        column: &'static str,
        message: String,
    },
    #[error("invalid input for the run store: {0}")]
    Invalid(String),
    #[error("run {0} does not exist")]
    RunNotFound(RunId),
    #[error("run {run_id} has already finished with status {status}")]
    RunFinished { run_id: RunId, status: String },
    #[error("the tick of workflow {workflow} at {scheduled_for} ms has already been claimed")]
    TickTaken {
        workflow: String,
        scheduled_for: i64,
    },
    #[error("item {item_key} of workflow {workflow} is not leased to {owner} any more")]
    LeaseLost {
        workflow: String,
        item_key: String,
        owner: String,
    },
    #[error("item attempt {0} does not exist")]
    AttemptNotFound(i64),
    #[error("no write intent has the idempotency key {0}")]
    IntentNotFound(String),
    #[error("write intent {key} is already settled as {state}")]
    IntentSettled { key: String, state: String },
    #[error("approval {0} does not exist")]
    ApprovalNotFound(i64),
    #[error("approval {id} is {state}, not {expected}")]
    ApprovalState {
        id: i64,
        state: String,
        expected: &'static str,
    },
}
