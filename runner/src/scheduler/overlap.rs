//! What a claimed tick does when an earlier run of the same workflow is still going.

use crate::workflow::OverlapPolicy;

/// Where earlier runs of the workflow stand when a new tick has been claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Busy {
    /// A run of the workflow is in flight in this process.
    pub local: bool,
    /// A tick is already waiting in this process for the running one to finish.
    pub queued: bool,
    /// Another replica's run of the workflow is in flight (see [`remote_run_alive`]).
    pub remote: bool,
}

/// What to do with the claimed tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run it now.
    Start,
    /// Record it as skipped, with this reason.
    Skip(&'static str),
    /// Start it once the runs in flight are done.
    Queue,
}

/// The overlap decision. Queueing keeps at most one waiting tick per workflow: a schedule that
/// is always faster than its runs would otherwise pile up an unbounded backlog, and a later tick
/// sees everything an earlier queued one would have.
pub fn decide(policy: OverlapPolicy, busy: Busy) -> Action {
    if !busy.local && !busy.remote {
        return Action::Start;
    }
    match policy {
        OverlapPolicy::Skip if busy.local => Action::Skip("the previous run is still in flight"),
        OverlapPolicy::Skip => {
            Action::Skip("the previous run is still in flight on another replica")
        }
        OverlapPolicy::Queue if busy.queued => {
            Action::Skip("a run is in flight and another tick is already queued")
        }
        OverlapPolicy::Queue => Action::Queue,
    }
}

/// Whether another replica's `running` run still counts as in flight. A replica killed mid-run
/// leaves its run `running` forever, so the row alone is not proof of life: the run counts only
/// while its owner holds an unexpired item lease of the workflow (leases are renewed while items
/// are worked and lapse when the process dies), or while it is younger than `grace_ms` (it may
/// still be selecting items and hold no lease yet).
pub fn remote_run_alive(
    started_at_ms: i64,
    owner_holds_live_lease: bool,
    now_ms: i64,
    grace_ms: i64,
) -> bool {
    owner_holds_live_lease || now_ms.saturating_sub(started_at_ms) < grace_ms
}
