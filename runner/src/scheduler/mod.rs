//! `deskhand schedule`: runs every workflow that has a `schedule`, exactly once per tick across
//! any number of replicas sharing one PostgreSQL database.
//!
//! - [`ticks`]: which tick is due, computed from the schedule, the zone and the clock alone.
//! - [`overlap`]: what a tick does while an earlier run of its workflow is in flight.
//! - [`service`]: the running scheduler (timers, claims, runs, reload, graceful shutdown).
//! - [`metrics`] and the HTTP endpoint: `/healthz` and Prometheus `/metrics`.
//!
//! Exactly-once rests on the store, not on the timers: every replica fires every tick, and the
//! first to insert the `(workflow, scheduled_for)` run row claims it; the others log and skip.
//! The claimed tick then asks the store for its turn (`Store::take_turn`): whether a live run of
//! the workflow exists anywhere is one serialised query over run leases, so overlap decisions and
//! queued ticks agree across replicas. Runs and items are leased with one formula
//! ([`crate::engine::lease_duration`]), so a replica that dies mid-run loses nothing: its run is
//! closed as interrupted and its items are taken up by a later run once the leases lapse.

mod http;
pub mod metrics;
pub mod overlap;
pub mod service;
pub mod ticks;

pub use http::serve as serve_http;
pub use metrics::{Metrics, TickOutcome};
pub use service::{SchedulerConfig, SchedulerHandle, ShutdownReport, WorkflowStatus, start};
pub use ticks::{Due, TickError, TickPlanner};

use crate::engine::DeciderError;
use crate::store::StoreError;
use crate::workflow::WorkflowErrors;

/// Why the scheduler could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("{0}")]
    Workflows(WorkflowErrors),
    #[error("workflow `{workflow}`: {source}")]
    Decider {
        workflow: String,
        #[source]
        source: DeciderError,
    },
    #[error(transparent)]
    Tick(#[from] TickError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the timer could not be set up: {0}")]
    Timer(String),
    #[error("the built-in Zoho Desk tool catalog could not be loaded: {0}")]
    Catalog(String),
}
