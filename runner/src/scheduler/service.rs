//! The running scheduler: one task that owns every workflow's tick state and in-flight runs, fed
//! by tokio-cron-scheduler jobs, a watchdog, signals and finished runs.
//!
//! Timers only *wake* a workflow; what is due is decided by its [`TickPlanner`] from the clock, so
//! a timer that fires late, early or twice changes nothing. tokio-cron-scheduler fixes a zone's UTC
//! offset when a job is created, so the watchdog re-creates a job whose zone changed offset (DST)
//! and also wakes every workflow, which bounds how late a tick can be when a timer misfires.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::catalog::Catalog;

use super::SchedulerError;
use super::metrics::{Metrics, TickOutcome};
use super::overlap::{self, Action, Busy};
use super::ticks::TickPlanner;
use crate::engine::{Decider, Engine, RunRequest, lease_duration};
use crate::store::{
    Clock, NewRun, RunCounts, RunFinish, RunId, RunStatus, RunTurn, Store, StoreError, Trigger,
};
use crate::workflow::{OverlapPolicy, Workflow};

/// Reads an environment variable (replaceable so tests need not touch the process environment).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How the scheduler is set up.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Directory of workflow files; only those with a `schedule` are used.
    pub workflows: PathBuf,
    /// After SIGTERM, how long runs in flight may go on before they are aborted. `None`: one
    /// item lease of the workflows in flight ([`lease_duration`] of the longest `item_timeout`),
    /// which is as long as an item in flight can still take, and as long as a replica killed
    /// at that moment would hold its items.
    pub grace: Option<Duration>,
    /// Where "now" comes from for ticks. A manual clock also turns off the timers: tests wake
    /// workflows themselves after moving the clock.
    pub clock: Clock,
    /// How often every workflow is woken regardless of timers (and timers are re-armed after a
    /// zone's offset changed).
    pub watchdog: Duration,
    /// Environment lookup for each workflow's LLM settings.
    pub env: EnvLookup,
}

impl SchedulerConfig {
    pub fn new(workflows: impl Into<PathBuf>) -> Self {
        SchedulerConfig {
            workflows: workflows.into(),
            grace: None,
            clock: Clock::System,
            watchdog: Duration::from_secs(5),
            env: Arc::new(|k| std::env::var(k).ok()),
        }
    }
}

/// A workflow as the scheduler sees it, for status output and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowStatus {
    pub name: String,
    pub expression: String,
    pub timezone: String,
    pub overlap: OverlapPolicy,
    pub last_tick: DateTime<Utc>,
    pub next_tick: Option<DateTime<Utc>>,
    pub running: usize,
    pub queued: bool,
}

/// What a shutdown did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The grace period that applied.
    pub grace: Duration,
    /// Runs that finished within the grace period.
    pub drained: usize,
    /// Runs aborted after it.
    pub aborted: usize,
    /// Queued ticks that never started (recorded as cancelled).
    pub cancelled_queued: usize,
    /// Item leases handed back at the end.
    pub released_leases: u64,
}

enum Command {
    Wake(String),
    Watchdog,
    Reload(oneshot::Sender<Result<Vec<String>, String>>),
    Status(oneshot::Sender<Vec<WorkflowStatus>>),
    Shutdown(oneshot::Sender<ShutdownReport>),
}

/// Talks to a running scheduler. Dropping it does not stop the scheduler; call
/// [`SchedulerHandle::shutdown`].
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl SchedulerHandle {
    /// Asks `workflow` whether a tick is due now (timers do this; tests with a manual clock too).
    pub fn wake(&self, workflow: &str) {
        let _ = self.tx.send(Command::Wake(workflow.to_owned()));
    }

    /// Re-reads the workflow directory; runs in flight go on with the definition they started
    /// with. Returns the scheduled workflow names, or why the files were refused (the previous
    /// set then stays in force).
    pub async fn reload(&self) -> Result<Vec<String>, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Reload(tx))
            .map_err(|_| "the scheduler has stopped".to_owned())?;
        rx.await
            .map_err(|_| "the scheduler has stopped".to_owned())?
    }

    pub async fn status(&self) -> Vec<WorkflowStatus> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Status(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Stops claiming ticks, lets runs in flight finish within the grace period, aborts the rest
    /// and hands back this process's item leases.
    pub async fn shutdown(&self) -> ShutdownReport {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).is_err() {
            return ShutdownReport::default();
        }
        rx.await.unwrap_or_default()
    }
}

/// Starts the scheduler: loads the workflows (any broken file is an error here, unlike on
/// reload), arms the timers, and handles ticks until [`SchedulerHandle::shutdown`].
pub async fn start(
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    config: SchedulerConfig,
) -> Result<SchedulerHandle, SchedulerError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let timers = match config.clock {
        Clock::System => {
            let timers = JobScheduler::new()
                .await
                .map_err(|e| SchedulerError::Timer(format!("{e:?}")))?;
            timers
                .start()
                .await
                .map_err(|e| SchedulerError::Timer(format!("{e:?}")))?;
            Some(timers)
        }
        Clock::Manual(_) => None,
    };
    let mut actor = Actor {
        store: engine.store().clone(),
        engine,
        metrics,
        config,
        tx: tx.clone(),
        timers,
        entries: HashMap::new(),
        runs: JoinSet::new(),
        local_runs: HashMap::new(),
        stopping: false,
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
    };
    let loaded = actor.load().await?;
    actor.apply(loaded).await?;
    if actor.timers.is_some() {
        let watchdog = actor.config.watchdog.max(Duration::from_millis(100));
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(watchdog);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if tx.send(Command::Watchdog).is_err() {
                    return;
                }
            }
        });
    }
    // Catch-up ticks (and ticks that fell between loading and arming) are handled at once.
    for name in actor.entries.keys() {
        let _ = tx.send(Command::Wake(name.clone()));
    }
    tokio::spawn(actor.run(rx));
    Ok(SchedulerHandle { tx })
}

/// One scheduled workflow.
struct Entry {
    workflow: Arc<Workflow>,
    decider: Arc<Decider>,
    planner: TickPlanner,
    /// The timer job and the zone offset it was created with.
    timer: Option<(Job, i32)>,
    running: usize,
    queued: Option<Claimed>,
    /// Gone from the directory; kept until its runs finish.
    removed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Claimed {
    run_id: RunId,
    scheduled_for: DateTime<Utc>,
}

/// How a run task ended.
struct Done {
    name: String,
    run_id: RunId,
    status: RunStatus,
    /// False for a queued tick that never got its turn.
    started: bool,
}

type Loaded = Vec<(Workflow, Decider)>;

struct Actor {
    engine: Arc<Engine>,
    store: Store,
    metrics: Arc<Metrics>,
    config: SchedulerConfig,
    tx: mpsc::UnboundedSender<Command>,
    timers: Option<JobScheduler>,
    entries: HashMap<String, Entry>,
    runs: JoinSet<Done>,
    local_runs: HashMap<RunId, String>,
    stopping: bool,
    stop: CancellationToken,
    abort: CancellationToken,
}

impl Actor {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.config.clock.now_ms()).unwrap_or_else(Utc::now)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Wake(name)) => self.wake(&name).await,
                    Some(Command::Watchdog) => self.watchdog().await,
                    Some(Command::Reload(reply)) => {
                        let _ = reply.send(self.reload().await);
                    }
                    Some(Command::Status(reply)) => {
                        let _ = reply.send(self.status());
                    }
                    Some(Command::Shutdown(reply)) => {
                        let report = self.shutdown().await;
                        let _ = reply.send(report);
                        return;
                    }
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
                Some(done) = self.runs.join_next(), if !self.runs.is_empty() => {
                    self.finished(done).await;
                }
            }
        }
    }

    /// Reads and checks the directory; every scheduled workflow needs a decider.
    async fn load(&self) -> Result<Loaded, SchedulerError> {
        let dir = self.config.workflows.clone();
        let workflows = tokio::task::spawn_blocking(move || {
            let catalog =
                Catalog::zoho_desk().map_err(|e| SchedulerError::Catalog(e.to_string()))?;
            Workflow::load_all(&dir, &catalog).map_err(SchedulerError::Workflows)
        })
        .await
        .map_err(|e| SchedulerError::Catalog(e.to_string()))??;
        let mut loaded = Vec::new();
        for workflow in workflows.into_iter().filter(|w| w.schedule.is_some()) {
            let env = self.config.env.clone();
            let decider = Decider::for_workflow(&workflow, |k| env(k)).map_err(|source| {
                SchedulerError::Decider {
                    workflow: workflow.name.clone(),
                    source,
                }
            })?;
            loaded.push((workflow, decider));
        }
        Ok(loaded)
    }

    /// Makes `loaded` the scheduled set: new workflows start their planner from the store's last
    /// tick (catch-up), kept ones keep their progress, removed ones stop firing.
    async fn apply(&mut self, loaded: Loaded) -> Result<(), SchedulerError> {
        let now = self.now();
        let names: HashSet<String> = loaded.iter().map(|(w, _)| w.name.clone()).collect();
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.disarm(&name).await;
            let drop_now = match self.entries.get_mut(&name) {
                Some(entry) => {
                    entry.removed = true;
                    entry.running == 0 && entry.queued.is_none()
                }
                None => false,
            };
            if drop_now {
                self.entries.remove(&name);
            }
            tracing::info!(workflow = %name, "workflow removed from the schedule");
        }
        for (workflow, decider) in loaded {
            let name = workflow.name.clone();
            let planner = match self.entries.get(&name) {
                Some(old) => {
                    TickPlanner::for_workflow(&workflow, None, now)?.resume_from(&old.planner)
                }
                None => {
                    let last = self
                        .store
                        .last_tick(&name)
                        .await?
                        .and_then(DateTime::from_timestamp_millis);
                    TickPlanner::for_workflow(&workflow, last, now)?
                }
            };
            self.disarm(&name).await;
            let timer = self.arm(&workflow).await?;
            tracing::info!(
                workflow = %name,
                schedule = %workflow.schedule.as_ref().map(|s| s.expression.as_str()).unwrap_or_default(),
                timezone = %workflow.timezone.name(),
                overlap = %workflow.overlap,
                catch_up = %workflow.catch_up,
                decider = %decider.label(),
                writes = %workflow.writes,
                next_tick = %planner
                    .upcoming()
                    .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
                "scheduled"
            );
            let workflow = Arc::new(workflow);
            let decider = Arc::new(decider);
            match self.entries.get_mut(&name) {
                Some(entry) => {
                    entry.workflow = workflow;
                    entry.decider = decider;
                    entry.planner = planner;
                    entry.timer = timer;
                    entry.removed = false;
                }
                None => {
                    self.entries.insert(
                        name,
                        Entry {
                            workflow,
                            decider,
                            planner,
                            timer,
                            running: 0,
                            queued: None,
                            removed: false,
                        },
                    );
                }
            }
        }
        self.metrics
            .set_scheduled(self.entries.values().filter(|e| !e.removed).count());
        Ok(())
    }

    /// Creates the timer job that wakes `workflow` at its ticks, in its zone.
    async fn arm(&self, workflow: &Workflow) -> Result<Option<(Job, i32)>, SchedulerError> {
        let (Some(timers), Some(cron)) = (&self.timers, workflow.cron()) else {
            return Ok(None);
        };
        let name = workflow.name.clone();
        let tx = self.tx.clone();
        let job = Job::new_async_tz(cron, workflow.timezone, move |_id, _timers| {
            let tx = tx.clone();
            let name = name.clone();
            Box::pin(async move {
                let _ = tx.send(Command::Wake(name));
            })
        })
        .map_err(|e| SchedulerError::Timer(format!("{} ({e:?})", workflow.name)))?;
        timers
            .add(job.clone())
            .await
            .map_err(|e| SchedulerError::Timer(format!("{} ({e:?})", workflow.name)))?;
        Ok(Some((job, offset_now(workflow))))
    }

    async fn disarm(&mut self, name: &str) {
        let timer = self.entries.get_mut(name).and_then(|e| e.timer.take());
        if let (Some(timers), Some((job, _))) = (&self.timers, timer)
            && let Err(e) = timers.remove(&job.guid()).await
        {
            tracing::warn!(workflow = name, error = ?e, "could not remove a timer job");
        }
    }

    async fn watchdog(&mut self) {
        if self.stopping {
            return;
        }
        // Re-arm jobs whose zone changed its UTC offset since they were created (DST).
        let stale: Vec<Arc<Workflow>> = self
            .entries
            .values()
            .filter(|e| !e.removed)
            .filter(|e| {
                e.timer
                    .as_ref()
                    .is_some_and(|(_, offset)| *offset != offset_now(&e.workflow))
            })
            .map(|e| e.workflow.clone())
            .collect();
        for workflow in stale {
            self.disarm(&workflow.name).await;
            match self.arm(&workflow).await {
                Ok(timer) => {
                    tracing::info!(workflow = %workflow.name, timezone = %workflow.timezone.name(), "re-armed the timer after a UTC offset change");
                    if let Some(entry) = self.entries.get_mut(&workflow.name) {
                        entry.timer = timer;
                    }
                }
                Err(e) => {
                    tracing::warn!(workflow = %workflow.name, error = %e, "could not re-arm the timer")
                }
            }
        }
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in names {
            self.wake(&name).await;
        }
    }

    /// Claims the tick due now, if any, and starts, queues or skips its run.
    async fn wake(&mut self, name: &str) {
        if self.stopping {
            return;
        }
        let now = self.now();
        let owner = self.engine.owner().to_owned();
        let Some(entry) = self.entries.get_mut(name).filter(|e| !e.removed) else {
            return;
        };
        let Some(due) = entry.planner.due(now) else {
            return;
        };
        let workflow = entry.workflow.clone();
        let decider = entry.decider.clone();
        let lag = due.lag.to_std().unwrap_or_default();
        self.metrics.tick_due(name, lag, due.missed);
        if due.missed > 0 {
            tracing::info!(workflow = name, missed = due.missed, scheduled_for = %due.scheduled_for, "ticks were missed; running only the latest");
        }
        self.close_lapsed(name).await;
        let lease = lease_duration(workflow.limits.item_timeout);
        let claim = NewRun::tick(name, due.scheduled_for.timestamp_millis(), &owner)
            .inputs(Value::Object(workflow.inputs.clone()))
            .model(decider.label(), decider.uses_llm())
            .lease(lease);
        let run_id = match self.store.claim_tick_run(&claim).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                self.metrics.tick(name, TickOutcome::Lost);
                tracing::info!(workflow = name, scheduled_for = %due.scheduled_for, "tick already claimed by another replica; skipping");
                return;
            }
            Err(e) => {
                tracing::warn!(workflow = name, scheduled_for = %due.scheduled_for, error = %e, "could not claim the tick");
                return;
            }
        };
        self.metrics.tick(name, TickOutcome::Claimed);
        let claimed = Claimed {
            run_id,
            scheduled_for: due.scheduled_for,
        };
        // The store decides whether a run of the workflow is live, on any replica, and gives
        // this tick the turn atomically if none is (see `Store::take_turn`).
        let busy = match self.store.take_turn(run_id, lease).await {
            Ok(RunTurn::Started) => Busy::default(),
            Ok(RunTurn::Waiting {
                behind,
                queued_elsewhere,
            }) => {
                let local = self.local_runs.contains_key(&behind.id);
                let queued_here = self.entries.get(name).is_some_and(|e| e.queued.is_some());
                Busy {
                    local,
                    queued: queued_here || queued_elsewhere,
                    remote: !local,
                }
            }
            Err(e) => {
                tracing::warn!(workflow = name, run_id, error = %e, "could not check for runs in flight; skipping the tick");
                self.metrics.tick(name, TickOutcome::Skipped);
                self.finish_unrun(
                    name,
                    run_id,
                    RunStatus::Skipped,
                    "the store could not say whether a run is in flight",
                )
                .await;
                return;
            }
        };
        match overlap::decide(workflow.overlap, busy) {
            Action::Start => {
                tracing::info!(workflow = name, run_id, scheduled_for = %due.scheduled_for, lag_ms = due.lag.num_milliseconds(), "tick claimed; run starting");
                self.spawn_run(name, claimed, false);
            }
            Action::Skip(reason) => {
                tracing::info!(workflow = name, run_id, scheduled_for = %due.scheduled_for, reason, "tick claimed and skipped");
                self.metrics.tick(name, TickOutcome::Skipped);
                self.finish_unrun(name, run_id, RunStatus::Skipped, reason)
                    .await;
            }
            Action::Queue => {
                self.metrics.tick(name, TickOutcome::Queued);
                if busy.local {
                    tracing::info!(workflow = name, run_id, scheduled_for = %due.scheduled_for, "tick claimed and queued behind the run in flight");
                } else {
                    tracing::info!(workflow = name, run_id, scheduled_for = %due.scheduled_for, "tick claimed; waiting for another replica's run to finish");
                }
                if let Some(entry) = self.entries.get_mut(name) {
                    entry.queued = Some(claimed);
                }
                self.spawn_run(name, claimed, true);
            }
        }
    }

    /// Closes the workflow's runs whose process died (their lease lapsed), on any replica.
    async fn close_lapsed(&self, name: &str) {
        match self.store.close_lapsed_runs(Some(name)).await {
            Ok(closed) => {
                for run in closed {
                    tracing::warn!(workflow = name, run_id = run.id, owner = %run.owner, "closed a run whose process stopped without finishing it (its lease lapsed); its items are offered again");
                    self.metrics.run_finished(name, run.status);
                }
            }
            Err(e) => {
                tracing::warn!(workflow = name, error = %e, "could not close runs whose lease lapsed")
            }
        }
    }

    /// Records a claimed tick that will not run.
    async fn finish_unrun(&self, name: &str, run_id: RunId, status: RunStatus, reason: &str) {
        let finish = RunFinish {
            status,
            summary: json!({ "reason": reason }),
            counts: RunCounts::default(),
            error: Some(reason.to_owned()),
        };
        match self.store.finish_run(run_id, &finish).await {
            Ok(_) => self.metrics.run_finished(name, status),
            Err(e) => {
                tracing::warn!(workflow = name, run_id, error = %e, "could not record the tick's outcome")
            }
        }
    }

    /// Runs the claimed tick. A queued tick (`wait_for_turn`) first asks the store for its turn
    /// every [`TURN_POLL`], which also renews its lease, until the run in flight (here or on
    /// another replica) is over, or the scheduler stops.
    fn spawn_run(&mut self, name: &str, claimed: Claimed, wait_for_turn: bool) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        entry.running += 1;
        self.metrics
            .set_in_flight(name, i64::try_from(entry.running).unwrap_or(i64::MAX));
        self.local_runs.insert(claimed.run_id, name.to_owned());
        let engine = self.engine.clone();
        let workflow = entry.workflow.clone();
        let decider = entry.decider.clone();
        let metrics = self.metrics.clone();
        let stop = self.stop.clone();
        let abort = self.abort.clone();
        let name = name.to_owned();
        self.runs.spawn(async move {
            let run_id = claimed.run_id;
            let lease = lease_duration(workflow.limits.item_timeout);
            if wait_for_turn
                && let Some(status) =
                    wait_for_turn_of(engine.store(), &name, claimed, lease, &stop).await
            {
                return Done {
                    name,
                    run_id,
                    status,
                    started: false,
                };
            }
            let mut request = RunRequest::new(Trigger::Schedule);
            request.scheduled_for = Some(claimed.scheduled_for);
            request.run_id = Some(run_id);
            request.stop = stop;
            request.abort = abort;
            let progress = metrics.progress(&name);
            let status = match engine.run(&workflow, &decider, request, &progress).await {
                Ok(report) => {
                    tracing::info!(
                        workflow = %name,
                        run_id,
                        status = %report.run.status,
                        items = report.items.len(),
                        failed = report.failed_items(),
                        retries = report.retries,
                        rate_limited = report.rate_limited,
                        "run finished"
                    );
                    report.run.status
                }
                Err(e) => {
                    tracing::error!(workflow = %name, run_id, error = %e, "run failed");
                    let finish = RunFinish {
                        status: RunStatus::Failed,
                        summary: json!({}),
                        counts: RunCounts::default(),
                        error: Some(e.to_string()),
                    };
                    let _ = engine.store().finish_run(run_id, &finish).await;
                    RunStatus::Failed
                }
            };
            Done {
                name,
                run_id,
                status,
                started: true,
            }
        });
    }

    async fn finished(&mut self, done: Result<Done, tokio::task::JoinError>) -> Option<Done> {
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                // A panicking run: find nothing to attribute it to but the log.
                tracing::error!(error = %e, "a run task ended abnormally");
                return None;
            }
        };
        self.local_runs.remove(&done.run_id);
        self.metrics.run_finished(&done.name, done.status);
        let Some(entry) = self.entries.get_mut(&done.name) else {
            return Some(done);
        };
        entry.running = entry.running.saturating_sub(1);
        self.metrics
            .set_in_flight(&done.name, i64::try_from(entry.running).unwrap_or(i64::MAX));
        if entry.queued.is_some_and(|q| q.run_id == done.run_id) {
            entry.queued = None;
        }
        if entry.removed && entry.running == 0 {
            self.entries.remove(&done.name);
        }
        Some(done)
    }

    async fn reload(&mut self) -> Result<Vec<String>, String> {
        if self.stopping {
            return Err("the scheduler is shutting down".into());
        }
        let loaded = match self.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(error = %e, "reload refused; the previous workflows stay scheduled");
                self.metrics.reload_refused(&e.to_string());
                return Err(e.to_string());
            }
        };
        if let Err(e) = self.apply(loaded).await {
            tracing::error!(error = %e, "reload failed part-way");
            self.metrics.reload_refused(&e.to_string());
            return Err(e.to_string());
        }
        self.metrics.reload_applied();
        let mut names: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.removed)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        tracing::info!(workflows = %names.join(", "), "workflows reloaded");
        for name in &names {
            let _ = self.tx.send(Command::Wake(name.clone()));
        }
        Ok(names)
    }

    fn status(&self) -> Vec<WorkflowStatus> {
        let mut out: Vec<WorkflowStatus> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.removed)
            .map(|(name, e)| WorkflowStatus {
                name: name.clone(),
                expression: e.planner.schedule().expression.clone(),
                timezone: e.planner.timezone().name().to_owned(),
                overlap: e.workflow.overlap,
                last_tick: e.planner.last(),
                next_tick: e.planner.upcoming(),
                running: e.running,
                queued: e.queued.is_some(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    async fn shutdown(&mut self) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        self.stopping = true;
        self.metrics.set_draining();
        self.stop.cancel();
        if let Some(mut timers) = self.timers.take()
            && let Err(e) = timers.shutdown().await
        {
            tracing::warn!(error = ?e, "could not stop the timers");
        }
        // Queued ticks see the stop and record themselves as cancelled at once.
        report.grace = self.config.grace.unwrap_or_else(|| self.default_grace());
        let in_flight = self.runs.len();
        if in_flight > 0 {
            tracing::info!(
                runs = in_flight,
                grace_ms = u64::try_from(report.grace.as_millis()).unwrap_or(u64::MAX),
                "stopped claiming ticks; waiting for runs in flight"
            );
        }
        self.drain(report.grace, &mut report).await;
        if !self.runs.is_empty() {
            report.aborted = self.runs.len();
            tracing::warn!(
                runs = report.aborted,
                "grace period over; aborting runs in flight"
            );
            self.abort.cancel();
            // Aborted runs hand back their leases and record themselves as cancelled; give them
            // a moment to do so before the tasks are dropped.
            let mut late = ShutdownReport::default();
            self.drain(ABORT_WAIT, &mut late).await;
            report.cancelled_queued += late.cancelled_queued;
            self.runs.abort_all();
            while self.runs.join_next().await.is_some() {}
            for (run_id, name) in std::mem::take(&mut self.local_runs) {
                let finish = RunFinish {
                    status: RunStatus::Cancelled,
                    summary: json!({}),
                    counts: RunCounts::default(),
                    error: Some("the scheduler stopped before the run finished".into()),
                };
                if self.store.finish_run(run_id, &finish).await.is_ok() {
                    self.metrics.run_finished(&name, RunStatus::Cancelled);
                }
            }
        }
        match self.store.release_leases(self.engine.owner()).await {
            Ok(released) => report.released_leases = released,
            Err(e) => {
                tracing::warn!(error = %e, "could not hand back item leases; they expire on their own")
            }
        }
        tracing::info!(
            drained = report.drained,
            aborted = report.aborted,
            cancelled_queued = report.cancelled_queued,
            released_leases = report.released_leases,
            "scheduler stopped"
        );
        report
    }

    /// Waits up to `limit` for runs in flight, counting drained runs and cancelled queued ticks.
    async fn drain(&mut self, limit: Duration, report: &mut ShutdownReport) {
        // `--grace` is bounded, but a library caller's may not be: no deadline is just far away.
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(limit)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
        while !self.runs.is_empty() {
            match tokio::time::timeout_at(deadline, self.runs.join_next()).await {
                Ok(Some(done)) => match self.finished(done).await {
                    Some(done) if !done.started => report.cancelled_queued += 1,
                    _ => report.drained += 1,
                },
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// One item lease of the longest `item_timeout` among the workflows with runs in flight: an
    /// item in flight can take no longer than its timeout, so the drain lets every started item
    /// end on its own, and a replica killed when the grace runs out holds its items no longer
    /// than this either.
    fn default_grace(&self) -> Duration {
        self.local_runs
            .values()
            .filter_map(|name| self.entries.get(name))
            .map(|e| lease_duration(e.workflow.limits.item_timeout))
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// How long aborted runs get to record themselves before their tasks are dropped.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// How often a queued tick asks the store whether it may start (and renews its lease).
const TURN_POLL: Duration = Duration::from_millis(500);

/// Waits until the queued tick `claimed` gets its turn (`None`), asking the store every
/// [`TURN_POLL`], which also renews its lease. `Some(status)`: it ended without starting, because
/// the scheduler stopped (recorded here as cancelled) or someone closed it.
async fn wait_for_turn_of(
    store: &Store,
    name: &str,
    claimed: Claimed,
    lease: Duration,
    stop: &CancellationToken,
) -> Option<RunStatus> {
    let run_id = claimed.run_id;
    loop {
        if stop.is_cancelled() {
            let reason = "the scheduler stopped before this tick started";
            let finish = RunFinish {
                status: RunStatus::Cancelled,
                summary: json!({ "reason": reason }),
                counts: RunCounts::default(),
                error: Some(reason.into()),
            };
            if let Err(e) = store.finish_run(run_id, &finish).await {
                tracing::warn!(workflow = name, run_id, error = %e, "could not record the queued tick as cancelled");
            }
            return Some(RunStatus::Cancelled);
        }
        match store.take_turn(run_id, lease).await {
            Ok(RunTurn::Started) => {
                tracing::info!(workflow = name, run_id, scheduled_for = %claimed.scheduled_for, "queued tick starting");
                return None;
            }
            Ok(RunTurn::Waiting { .. }) => {}
            Err(StoreError::RunFinished { status, .. }) => {
                tracing::warn!(workflow = name, run_id, status = %status, "the queued tick was closed before it started");
                return Some(status.parse().unwrap_or(RunStatus::Cancelled));
            }
            Err(e) => {
                tracing::warn!(workflow = name, run_id, error = %e, "could not ask whether the queued tick may start")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(TURN_POLL) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// The zone's UTC offset right now, as tokio-cron-scheduler fixes it when a job is created.
fn offset_now(workflow: &Workflow) -> i32 {
    workflow
        .timezone
        .offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc()
}
