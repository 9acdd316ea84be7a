//! What a claimed tick does when an earlier run of the same workflow is still going.

use crate::workflow::OverlapPolicy;

/// Where earlier runs of the workflow stand when a new tick has been claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Busy {
    /// A run of the workflow is in flight in this process.
    pub local: bool,
    /// A tick is already waiting for the running one to finish, in this process or another.
    pub queued: bool,
    /// Another replica's run of the workflow is in flight: its run lease, which that replica
    /// renews while it works, has not lapsed (`Store::take_turn` asks the store directly).
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
