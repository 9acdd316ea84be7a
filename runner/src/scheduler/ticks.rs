//! Which ticks of a schedule are due: pure computation over a previous tick and "now", so that
//! replicas agree on each tick's key and tests need no waiting.
//!
//! A tick is the schedule's *nominal* time (the cron occurrence in the workflow's zone, as UTC),
//! never the moment a timer happened to fire. Every replica computes the same nominal time, which
//! is what makes `(workflow, scheduled_for)` a key they can race on in the store.
//!
//! Time zones follow croner's rules, read at every tick (so a daily `0 9 * * *` in
//! `Europe/Berlin` runs at 09:00 local time on both sides of a DST change):
//! - a fixed time that does not exist (02:30 on the spring-forward night) runs at the first
//!   valid time after the gap (03:00 local), once;
//! - a fixed time that exists twice (02:30 on the fall-back night) runs once, at its first
//!   occurrence;
//! - interval schedules (every N seconds or minutes) do not repeat the fall-back hour: ticks
//!   resume after it, since a second pass would produce ticks earlier than ones already run.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::workflow::{CatchUp, Schedule, Workflow};

/// How many ticks [`TickPlanner::due`] counts one by one before it reports "at least this many"
/// missed ticks: a seconds schedule after a week of downtime would otherwise mean 600 000 steps.
pub const MISSED_COUNT_CAP: u32 = 1000;

/// A tick that should run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The nominal time of the tick.
    pub scheduled_for: DateTime<Utc>,
    /// Ticks between the previous one and this that will never run (downtime, a stalled
    /// process); capped at [`MISSED_COUNT_CAP`].
    pub missed: u32,
    /// How late the tick is being handled (now minus its nominal time).
    pub lag: TimeDelta,
}

/// Why a workflow cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TickError {
    #[error("workflow `{0}` has no schedule")]
    NoSchedule(String),
    #[error("schedule `{expression}` is invalid: {reason}")]
    Invalid { expression: String, reason: String },
}

/// The tick state of one workflow: its schedule, zone, and the latest tick already handed out.
#[derive(Debug, Clone)]
pub struct TickPlanner {
    schedule: Schedule,
    timezone: Tz,
    /// Ticks at or before this are done (run, claimed by another replica, or deliberately
    /// dropped at start-up).
    last: DateTime<Utc>,
}

impl TickPlanner {
    /// A planner starting at `now`. `last_claimed` is the latest tick any replica claimed
    /// (`store.last_tick`). With `catch_up: latest`, the most recent tick missed since then is due
    /// at once; with `none`, or for a workflow that never ran, only ticks after `now` are.
    pub fn new(
        schedule: Schedule,
        timezone: Tz,
        catch_up: CatchUp,
        last_claimed: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let last = match (catch_up, last_claimed) {
            (CatchUp::Latest, Some(claimed)) if claimed < now => claimed,
            _ => now,
        };
        TickPlanner {
            schedule,
            timezone,
            last,
        }
    }

    /// [`TickPlanner::new`] from a workflow's `schedule`, `timezone` and `catch_up`.
    pub fn for_workflow(
        workflow: &Workflow,
        last_claimed: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, TickError> {
        let schedule = workflow
            .schedule
            .clone()
            .ok_or_else(|| TickError::NoSchedule(workflow.name.clone()))?;
        Ok(TickPlanner::new(
            schedule,
            workflow.timezone,
            workflow.catch_up,
            last_claimed,
            now,
        ))
    }

    /// Parses `expression` (5 or 6 fields) and starts a planner, for callers without a workflow.
    pub fn parse(
        expression: &str,
        timezone: Tz,
        catch_up: CatchUp,
        last_claimed: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, TickError> {
        let schedule = Schedule::parse(expression).map_err(|reason| TickError::Invalid {
            expression: expression.to_owned(),
            reason,
        })?;
        Ok(TickPlanner::new(
            schedule,
            timezone,
            catch_up,
            last_claimed,
            now,
        ))
    }

    /// Takes over the progress of `previous` (a reload): ticks it handed out are not due again,
    /// and a tick that fell between the last one and the reload is still due, as if the process
    /// had never reloaded.
    pub fn resume_from(mut self, previous: &TickPlanner) -> Self {
        self.last = previous.last;
        self
    }

    /// The latest tick handed out (or the start-up time).
    pub fn last(&self) -> DateTime<Utc> {
        self.last
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The next tick after the last one handed out.
    pub fn upcoming(&self) -> Option<DateTime<Utc>> {
        self.next(self.last)
    }

    /// The tick due at `now`, if any: the latest nominal time in `(last, now]`. Older ticks in
    /// that range are skipped and counted in [`Due::missed`]; a workflow never runs a backlog.
    /// Calling it again at the same `now` yields nothing, so timers may wake it freely.
    pub fn due(&mut self, now: DateTime<Utc>) -> Option<Due> {
        let latest = self.latest_at_or_before(now)?;
        let missed = self.count_between(self.last, latest);
        self.last = latest;
        Some(Due {
            scheduled_for: latest,
            missed,
            lag: now - latest,
        })
    }

    /// The first tick strictly after `after`.
    fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .next_after(after, self.timezone)
            .map(|t| t.with_timezone(&Utc))
            // Guards against a zone transition answering with a time that is not later.
            .filter(|t| *t > after)
    }

    fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let floor = self.last;
        if self.next(floor)? > now {
            return None;
        }
        // Find a start close to `now` from which a tick still falls in range, doubling the window
        // back from `now`; then walk forward. This stays cheap after long downtime.
        let mut window = TimeDelta::seconds(1);
        let start = loop {
            let from = now.checked_sub_signed(window).unwrap_or(floor).max(floor);
            if self.next(from).is_some_and(|t| t <= now) || from == floor {
                break from;
            }
            window = window.checked_mul(2).unwrap_or(TimeDelta::MAX);
        };
        let mut tick = self.next(start).filter(|t| *t <= now)?;
        while let Some(next) = self.next(tick).filter(|t| *t <= now) {
            tick = next;
        }
        Some(tick)
    }

    /// Ticks strictly between `from` and `to`, counting at most [`MISSED_COUNT_CAP`].
    fn count_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
        let mut count = 0;
        let mut cursor = from;
        while count < MISSED_COUNT_CAP {
            match self.next(cursor) {
                Some(t) if t < to => {
                    count += 1;
                    cursor = t;
                }
                _ => break,
            }
        }
        count
    }
}
