//! One run of one workflow, from the claim to the summary: the path from a cron tick (or
//! `deskhand run`) to Zoho writes.
//!
//! 1. The run is created (or was claimed by the scheduler for its tick).
//! 2. An MCP session opens; unsettled writes of earlier, interrupted runs are reconciled.
//! 3. Items are selected with the `for_each` tool, registered in the store, and leased one by
//!    one; items whose process died mid-attempt come first.
//! 4. Each item is worked by the decider (the LLM conversation or the baseline) through
//!    [`ItemTools`], under `item_timeout`, with its lease renewed while it runs.
//! 5. Attempts, steps, tool calls and retries are recorded; the run is finished with counts.

pub mod connections;
pub mod cost;
pub mod decider;
pub mod observer;
pub mod selection;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::agent::conversation::TokenBudget;
use crate::agent::reconcile::{self, Reconciliation};
use crate::agent::toolbox::ToolboxConfig;
use crate::agent::{Conversation, DecideRun, Finish, Halt, ItemTools, RunContext, Toolbox};
use crate::llm::LlmClient;
use crate::mcp::error::redact_url;
use crate::mcp::{EmbeddedServer, McpError, McpSession};
use crate::retry::{GateConfig, RateGate, RetryObserver, RetryPolicy};
use crate::store::{
    AttemptFinish, AttemptStatus, ItemOutcome, Lease, NewRetry, NewRun, RetryLayer, Run, RunCounts,
    RunFinish, RunId, RunStatus, Store, StoreError, Trigger,
};
use crate::workflow::{McpConnection, Mode, RunInfo, Workflow, WritePolicy};
use zoho_desk_mcp::registry::database::Backend;

pub use connections::{ConnectionFactory, ZohoConnections};
pub use cost::{CostEstimate, RunCost};
pub use decider::{Decider, DeciderError};
use observer::{CURRENT_ITEM, RunObserver};
pub use selection::SelectedItem;

fn zoho_label(config: &zoho_desk_mcp::zoho::ZohoConfig) -> String {
    let host = config.desk_base_url.host_str().unwrap_or_default();
    let local = matches!(host, "127.0.0.1" | "localhost" | "::1" | "[::1]");
    if local {
        format!("sandbox org {}", config.org_id)
    } else {
        format!("{host} org {}", config.org_id)
    }
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub trigger: Trigger,
    /// The tick of a scheduled run.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A run the caller already created (the scheduler claims ticks before running them).
    pub run_id: Option<RunId>,
    /// At most this many items (on top of the workflow's `max_items`).
    pub limit: Option<u32>,
    /// Work this one ticket (id or number) only, even if an earlier run handled it.
    pub ticket: Option<String>,
    /// Stop taking new items when cancelled; items in flight go on.
    pub stop: CancellationToken,
    /// Abandon items in flight when cancelled: their leases are handed back untouched.
    pub abort: CancellationToken,
}

impl RunRequest {
    pub fn new(trigger: Trigger) -> Self {
        RunRequest {
            trigger,
            scheduled_for: None,
            run_id: None,
            limit: None,
            ticket: None,
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        }
    }
}

/// What became of one item in this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemReport {
    pub key: String,
    /// A short label for tables: the ticket subject or number when the item has one.
    pub label: String,
    pub status: AttemptStatus,
    pub error: Option<String>,
    pub output: Option<Value>,
    pub attempt: i64,
    pub steps: i64,
    pub tool_calls: i64,
    pub writes: u32,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Zoho credits this item's calls cost (as the gateway reports them).
    pub credits: u64,
    /// The part of `prompt_tokens` served from the provider's prompt cache.
    pub cached_tokens: i64,
    pub duration_ms: i64,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run: Run,
    pub decider: String,
    pub llm_used: bool,
    pub writes: String,
    pub items: Vec<ItemReport>,
    pub reconciliation: Reconciliation,
    pub retries: u64,
    pub rate_limited: u64,
    pub cost: RunCost,
}

impl RunReport {
    pub fn failed_items(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.status, AttemptStatus::Failed | AttemptStatus::Abandoned))
            .count()
    }

    /// Whether the run went as asked: no run-level error and no failed item.
    pub fn is_success(&self) -> bool {
        matches!(self.run.status, RunStatus::Succeeded | RunStatus::Skipped)
    }
}

/// Told about progress, for bars, log lines and metrics.
pub trait Progress: Send + Sync {
    fn selected(&self, _items: usize) {}
    fn item_started(&self, _key: &str) {}
    fn item_finished(&self, _item: &ItemReport) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Why a run could not start or went wrong as a whole. Item failures are not errors: they are
/// in the report.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Decider(#[from] DeciderError),
}

/// Runs workflows. One per process: it owns the store handle, the embedded server (if any), and
/// the rate gate of each MCP connection, shared by every run on that connection.
pub struct Engine {
    store: Store,
    owner: String,
    embedded: Option<EmbeddedServer>,
    /// Per-connection servers, for embedded workflows when `embedded` is not set.
    connections: Option<Arc<ZohoConnections>>,
    retry: RetryPolicy,
    gates: Mutex<HashMap<String, RateGate>>,
    observer: Option<Arc<dyn RetryObserver>>,
    env: crate::notify::EnvLookup,
}

impl Engine {
    /// `owner` names this process in leases and runs (host and pid, or a replica name).
    pub fn new(store: Store, owner: impl Into<String>) -> Self {
        Engine {
            store,
            owner: owner.into(),
            embedded: None,
            connections: None,
            retry: RetryPolicy::default(),
            gates: Mutex::new(HashMap::new()),
            observer: None,
            env: Arc::new(|name| std::env::var(name).ok()),
        }
    }

    /// Where the engine reads settings it looks up at run time (the notify webhook's URL).
    pub fn with_env(mut self, env: crate::notify::EnvLookup) -> Self {
        self.env = env;
        self
    }

    /// The gateway every embedded workflow uses (the sandbox, or the one Zoho connection of a
    /// command that runs one workflow).
    pub fn with_embedded(mut self, embedded: EmbeddedServer) -> Self {
        self.embedded = Some(embedded);
        self
    }

    /// Serves each embedded workflow through its own Zoho connection (the scheduler's case);
    /// [`Engine::with_embedded`] wins over it when both are set.
    pub fn with_connections(mut self, connections: Arc<ZohoConnections>) -> Self {
        self.connections = Some(connections);
        self
    }

    /// The embedded server `workflow` uses, if this engine has one for it.
    fn embedded_for(&self, workflow: &Workflow) -> Result<Option<EmbeddedServer>, McpError> {
        if self.embedded.is_some() || !workflow.mcp.is_embedded() {
            return Ok(self.embedded.clone());
        }
        match &self.connections {
            Some(connections) => connections
                .server_for(workflow)
                .map(Some)
                .map_err(|e| McpError::Embedded(format!("{e:#}"))),
            None => Ok(None),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Also tells `observer` about every retry (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn RetryObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Opens an MCP session for `workflow`'s connection.
    pub async fn connect(&self, workflow: &Workflow) -> Result<McpSession, McpError> {
        McpSession::connect(&workflow.mcp, self.embedded_for(workflow)?).await
    }

    fn gate_for(&self, workflow: &Workflow) -> RateGate {
        // Each Zoho connection has its own budget; the default one keeps the key it always had.
        let named = match (&self.embedded, &self.connections) {
            _ if !workflow.mcp.is_embedded() => None,
            (None, Some(connections)) => connections.effective(workflow),
            _ => connections::normalise(workflow.connection.as_deref()),
        };
        let key = match named {
            Some(name) => format!("Embedded({name})"),
            None => format!("{:?}", workflow.mcp),
        };
        let config = GateConfig {
            shared_cap: zoho_concurrency(),
            ..GateConfig::default()
        };
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(key.clone())
            .or_insert_with(|| match self.store.backend() {
                // Replicas meet on PostgreSQL: one budget per connection for all of them.
                Backend::Postgres => RateGate::share_through(config, self.store.clone(), key),
                Backend::Sqlite => RateGate::new(config),
            })
            .clone()
    }

    /// Names the helpdesk `workflow` reaches through this engine: an approval proposed under one
    /// label is applied under the same one only. The embedded server is named by its Zoho org
    /// and host, a local sandbox (its port changes with every process) by its org alone.
    pub fn connection_label(&self, workflow: &Workflow) -> String {
        match &workflow.mcp {
            McpConnection::Embedded => match self.embedded_for(workflow).ok().flatten() {
                Some(embedded) => zoho_label(embedded.gateway.client().config()),
                None => match zoho_desk_mcp::zoho::ZohoConfig::from_env() {
                    Ok(config) => zoho_label(&config),
                    Err(_) => "zoho (from the environment)".to_owned(),
                },
            },
            McpConnection::Url { url, .. } => format!("mcp {}", redact_url(url)),
            McpConnection::Command { command, .. } => format!("mcp command {}", command.join(" ")),
        }
    }

    /// Builds the toolbox a run (or an approval) works with.
    pub async fn toolbox(
        &self,
        workflow: &Workflow,
        run_id: RunId,
        observer: Arc<dyn RetryObserver>,
    ) -> Result<Toolbox, McpError> {
        let session = Arc::new(self.connect(workflow).await?);
        Toolbox::new(
            session,
            self.gate_for(workflow),
            ToolboxConfig {
                store: self.store.clone(),
                run_id,
                workflow: workflow.name.clone(),
                policy: workflow.writes,
                allow_list: workflow.offered_tools(),
                retry: self.retry.clone(),
                observer,
            },
        )
        .await
        .map(|toolbox| toolbox.with_connection(self.connection_label(workflow)))
    }

    /// Runs `workflow` once with `decider`.
    pub async fn run(
        &self,
        workflow: &Workflow,
        decider: &Decider,
        request: RunRequest,
        progress: &dyn Progress,
    ) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        let run_id = match request.run_id {
            Some(id) => id,
            None => {
                let mut new = NewRun::new(&workflow.name, request.trigger, &self.owner)
                    .inputs(Value::Object(workflow.inputs.clone()))
                    .model(decider.label(), decider.uses_llm())
                    .lease(lease_duration(workflow.limits.item_timeout));
                if let Some(at) = request.scheduled_for {
                    new = new.scheduled_for(at.timestamp_millis());
                }
                self.store.create_run(&new).await?
            }
        };
        let info = RunInfo {
            id: run_id.to_string(),
            workflow: workflow.name.clone(),
            started_at: Utc::now(),
            scheduled_for: request.scheduled_for,
            trigger: request.trigger.to_string(),
        };
        let observer = RunObserver::start(self.store.clone(), run_id, self.observer.clone());
        let mut worked = Worked::default();
        // The run's lease is renewed like its items' leases, so other replicas see it live
        // while this process works on it, and closed as interrupted soon after it dies.
        let renew = keep_run_alive(
            &self.store,
            run_id,
            lease_duration(workflow.limits.item_timeout),
        );
        let outcome = tokio::select! {
            outcome = self.run_items(
                workflow,
                decider,
                &request,
                &info,
                run_id,
                observer.clone(),
                &mut worked,
                progress,
            ) => outcome,
            never = renew => match never {},
        };
        observer.flush().await;
        let (retries, rate_limited) = (observer.retries(), observer.rate_limited());
        let Worked {
            items,
            reconciliation,
            not_started,
        } = worked;
        let cost = RunCost::of(
            &items,
            observer.credits(),
            workflow.writes == crate::workflow::WritePolicy::Apply,
        );

        // Items the run selected but never started (it was stopped) count as skipped: the run
        // is cut short, and its counts say how far it got.
        let unstarted = i64::try_from(not_started).unwrap_or(i64::MAX);
        let counts = RunCounts {
            total: i64::try_from(items.len())
                .unwrap_or(i64::MAX)
                .saturating_add(unstarted),
            succeeded: count(&items, &[AttemptStatus::Succeeded]),
            failed: count(&items, &[AttemptStatus::Failed, AttemptStatus::Abandoned]),
            skipped: count(
                &items,
                &[
                    AttemptStatus::Skipped,
                    AttemptStatus::Cancelled,
                    AttemptStatus::Deferred,
                ],
            )
            .saturating_add(unstarted),
        };
        let (status, error) = match outcome {
            Err(error) => (RunStatus::Failed, Some(error)),
            Ok(()) if request.abort.is_cancelled() => (
                RunStatus::Cancelled,
                Some("the run was stopped before it finished".into()),
            ),
            Ok(()) if not_started > 0 => (
                RunStatus::Cancelled,
                Some(format!(
                    "the run was stopped before it finished: {not_started} selected item(s) were \
                     not started and stay due"
                )),
            ),
            Ok(()) if counts.failed == 0 => (RunStatus::Succeeded, None),
            Ok(()) if counts.succeeded == 0 => (RunStatus::Failed, None),
            Ok(()) => (RunStatus::Partial, None),
        };
        let summary = json!({
            "decider": decider.label(),
            "llm_used": decider.uses_llm(),
            "writes": workflow.writes.to_string(),
            "reconciled": reconciliation,
            "retries": retries,
            "rate_limited": rate_limited,
            "wall_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "cost": cost,
            "item_credits": items.iter().map(|i| (i.key.clone(), json!(i.credits))).collect::<serde_json::Map<String, Value>>(),
        });
        let run = self
            .store
            .finish_run(
                run_id,
                &RunFinish {
                    status,
                    summary,
                    counts,
                    error,
                },
            )
            .await?;
        // Never holds the run up: the summary goes out on a task of its own.
        if let Err(e) = crate::notify::after_run(workflow, &self.store, run_id, &self.env).await {
            tracing::warn!(workflow = %workflow.name, error = %e, "could not count the pending approvals to notify about");
        }
        Ok(RunReport {
            run,
            decider: decider.label(),
            llm_used: decider.uses_llm(),
            writes: workflow.writes.to_string(),
            items,
            reconciliation,
            retries,
            rate_limited,
            cost,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_items(
        &self,
        workflow: &Workflow,
        decider: &Decider,
        request: &RunRequest,
        info: &RunInfo,
        run_id: RunId,
        observer: Arc<RunObserver>,
        worked: &mut Worked,
        progress: &dyn Progress,
    ) -> Result<(), String> {
        let observer_dyn: Arc<dyn RetryObserver> = observer.clone();
        let llm = decider
            .client(observer_dyn.clone())
            .map_err(|e| e.to_string())?;
        let toolbox = self
            .toolbox(workflow, run_id, observer_dyn)
            .await
            .map_err(|e| e.to_string())?;
        worked.reconciliation = reconcile::settle_pending(&toolbox)
            .await
            .map_err(|e| e.to_string())?;
        // Once per run, before any item: every item's prompt shares these reads.
        let run_context = RunContext::fetch(&toolbox, workflow, info)
            .await
            .map_err(|e| e.to_string())?;

        // Items: interrupted ones first, then the selection; or one item for the whole run.
        let mut work: Vec<(String, Option<Value>)> = Vec::new();
        let max_attempts = workflow.limits.max_attempts;
        match &workflow.for_each {
            Some(for_each) => {
                let args = match workflow.for_each_args(info) {
                    Some(Ok(args)) => args,
                    Some(Err(e)) => return Err(format!("for_each.args: {e}")),
                    None => Default::default(),
                };
                let max = request
                    .limit
                    .map_or(for_each.max_items, |l| l.min(for_each.max_items));
                if let Some(wanted) = &request.ticket {
                    let item = selection::one_ticket(&toolbox, for_each, wanted)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.store
                        .offer_items(
                            &workflow.name,
                            &[(item.key.clone(), Some(item.fingerprint.clone()))],
                            max_attempts,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    // Asked for by name: due again whatever earlier runs made of it.
                    self.store
                        .reopen_item(&workflow.name, &item.key)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.store
                        .remember_payloads(
                            &workflow.name,
                            &[(item.key.clone(), item.payload.clone())],
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    work.push((item.key, Some(item.payload)));
                } else {
                    let unfinished = self
                        .store
                        .resumable_items(&workflow.name, max_attempts)
                        .await
                        .map_err(|e| e.to_string())?;
                    for (key, payload) in unfinished {
                        work.push((key, payload));
                    }
                    // Resumed items count against the run's `max_items` like any other.
                    let max = usize::try_from(max).unwrap_or(usize::MAX);
                    let mut due = work.len();
                    let mut pages = selection::Pages::new(&toolbox, for_each, args);
                    while due < max {
                        let Some(page) = pages.next().await.map_err(|e| e.to_string())? else {
                            break;
                        };
                        let offered = self
                            .store
                            .offer_items(
                                &workflow.name,
                                &page
                                    .iter()
                                    .map(|s| (s.key.clone(), Some(s.fingerprint.clone())))
                                    .collect::<Vec<_>>(),
                                max_attempts,
                            )
                            .await
                            .map_err(|e| e.to_string())?;
                        self.store
                            .remember_payloads(
                                &workflow.name,
                                &page
                                    .iter()
                                    .map(|s| (s.key.clone(), s.payload.clone()))
                                    .collect::<Vec<_>>(),
                            )
                            .await
                            .map_err(|e| e.to_string())?;
                        // In the listing's order, not the store's.
                        for item in page {
                            if due >= max {
                                break;
                            }
                            if !offered.contains(&item.key)
                                || work.iter().any(|(k, _)| *k == item.key)
                            {
                                continue;
                            }
                            work.push((item.key, Some(item.payload)));
                            due += 1;
                        }
                    }
                    if let Some(limit) = request.limit {
                        work.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                    }
                }
            }
            None => {
                let key = format!("run-{}", info.id);
                self.store
                    .offer_items(&workflow.name, &[(key.clone(), None)], 1)
                    .await
                    .map_err(|e| e.to_string())?;
                work.push((key, None));
            }
        }
        // A template that does not render is the workflow's mistake, not the tickets': found
        // before the first item is leased, it stops the run and no attempt is counted.
        // Prompts that name `prefetch` can only be rendered once it is read, per item.
        if decider.uses_llm() && workflow.decide.prefetch.is_empty() {
            let context_value = run_context.value();
            for (key, payload) in &work {
                let ctx =
                    workflow.context_with(info, payload.as_ref(), &[("context", &context_value)]);
                if let Err((which, e)) = workflow.render_prompts_in(&ctx) {
                    return Err(format!(
                        "the {which} does not render for item {key}: {e}; no item was worked"
                    ));
                }
            }
        }
        progress.selected(work.len());

        let budget = TokenBudget::new(workflow.limits.token_budget);
        let halt_run = CancellationToken::new();
        let run_error: Mutex<Option<String>> = Mutex::new(None);
        let reports: Mutex<Vec<ItemReport>> = Mutex::new(Vec::new());
        let not_started = std::sync::atomic::AtomicUsize::new(0);
        let concurrency = usize::try_from(workflow.limits.concurrency.max(1)).unwrap_or(1);
        let ctx = ItemContext {
            engine: self,
            workflow,
            decider,
            llm: llm.as_ref(),
            toolbox: &toolbox,
            info,
            budget: &budget,
            run_context: &run_context,
            observer: &observer,
        };
        futures::stream::iter(work)
            .for_each_concurrent(concurrency, |(key, payload)| {
                let ctx = &ctx;
                let halt_run = &halt_run;
                let run_error = &run_error;
                let reports = &reports;
                let not_started = &not_started;
                async move {
                    if halt_run.is_cancelled() {
                        return;
                    }
                    if request.stop.is_cancelled() {
                        not_started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    progress.item_started(&key);
                    match ctx.work(&key, payload, request).await {
                        Ok(Some((item, stop))) => {
                            if let Some(reason) = stop {
                                let mut slot = run_error.lock().unwrap_or_else(|p| p.into_inner());
                                slot.get_or_insert(reason);
                                halt_run.cancel();
                            }
                            progress.item_finished(&item);
                            reports.lock().unwrap_or_else(|p| p.into_inner()).push(item);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let mut slot = run_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert(e.to_string());
                            halt_run.cancel();
                        }
                    }
                }
            })
            .await;
        worked.items = reports.into_inner().unwrap_or_else(|p| p.into_inner());
        worked.not_started = not_started.into_inner();
        match run_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// What a run's items came to, kept even when the run stops early.
#[derive(Default)]
struct Worked {
    items: Vec<ItemReport>,
    reconciliation: Reconciliation,
    /// Selected items never started because the run was asked to stop.
    not_started: usize,
}

/// What every item of a run needs.
struct ItemContext<'a> {
    engine: &'a Engine,
    workflow: &'a Workflow,
    decider: &'a Decider,
    llm: Option<&'a LlmClient>,
    toolbox: &'a Toolbox,
    info: &'a RunInfo,
    budget: &'a TokenBudget,
    run_context: &'a RunContext,
    observer: &'a RunObserver,
}

impl ItemContext<'_> {
    /// Leases and works one item. `None`: someone else holds it. The second element, when set,
    /// is why the whole run should stop (every other item would fail the same way).
    async fn work(
        &self,
        key: &str,
        payload: Option<Value>,
        request: &RunRequest,
    ) -> Result<Option<(ItemReport, Option<String>)>, StoreError> {
        let store = &self.engine.store;
        let workflow = self.workflow;
        let lease_for = lease_duration(workflow.limits.item_timeout);
        let Some(lease) = store
            .claim_item(&workflow.name, key, &self.engine.owner, lease_for)
            .await?
        else {
            return Ok(None);
        };
        let payload = match payload {
            Some(p) => Some(p),
            None if workflow.for_each.is_some() => store.item_payload(&workflow.name, key).await?,
            None => None,
        };
        let run_id = self.toolbox.run_id();
        store
            .close_stale_attempts(
                &workflow.name,
                key,
                "interrupted: the process working on it stopped (the item was resumed later)",
            )
            .await?;
        let attempt_id = store.start_attempt(run_id, key, lease.attempt).await?;
        if lease.attempt > 1 {
            let previous = store
                .get_item(&workflow.name, key)
                .await?
                .and_then(|i| i.last_error)
                .unwrap_or_else(|| "an earlier attempt did not finish".into());
            store
                .record_retry(
                    run_id,
                    &NewRetry {
                        attempt_id: Some(attempt_id),
                        item_key: Some(key.to_owned()),
                        layer: RetryLayer::Item,
                        reason: previous,
                        wait_ms: 0,
                        attempt: lease.attempt - 1,
                    },
                )
                .await?;
        }
        let scope = match (&workflow.for_each, &lease.fingerprint) {
            (Some(_), Some(fingerprint)) => fingerprint.clone(),
            _ => format!("run {run_id}"),
        };
        let write_target = workflow.for_each.as_ref().map(|_| key);
        let tools = self.toolbox.for_item(key, &scope, attempt_id, write_target);
        let started = Instant::now();

        let decided = CURRENT_ITEM.scope(
            (attempt_id, key.to_owned()),
            self.decide_with_lease(&tools, payload.as_ref(), lease.clone(), request),
        );
        let outcome = decided.await;

        let (status, end, error, output, stop) = match outcome {
            Decided::Answer(output) => (
                AttemptStatus::Succeeded,
                ItemEnd::Complete(ItemOutcome::Succeeded),
                None,
                Some(output),
                None,
            ),
            Decided::Aborted => (
                AttemptStatus::Cancelled,
                ItemEnd::Release,
                Some("stopped before it finished".to_owned()),
                None,
                None,
            ),
            Decided::Failed(finish) => match finish.outside_fault() {
                // Not the ticket's fault: no attempt counted, the run stops taking items.
                Some(fault) => (
                    AttemptStatus::Deferred,
                    ItemEnd::Defer(fault.not_before.map(|at| at.timestamp_millis())),
                    Some(fault.reason.clone()),
                    None,
                    Some(fault.reason),
                ),
                None => (
                    AttemptStatus::Failed,
                    ItemEnd::Complete(ItemOutcome::Failed),
                    Some(finish.to_string()),
                    None,
                    None,
                ),
            },
            Decided::Broken(message) => (
                AttemptStatus::Abandoned,
                ItemEnd::Complete(ItemOutcome::Abandoned),
                Some(message),
                None,
                None,
            ),
            Decided::TimedOut(after) => (
                AttemptStatus::Failed,
                ItemEnd::Complete(ItemOutcome::Failed),
                Some(format!(
                    "item_timeout ({}) ran out",
                    crate::workflow::format_duration(after)
                )),
                None,
                None,
            ),
        };
        if let Some(e) = &error {
            tracing::warn!(workflow = %workflow.name, item = key, error = %e, "item did not succeed");
        }
        // A dry run previews: whatever it made of an item, the item stays as due as it was.
        let end = match end {
            ItemEnd::Complete(_) if workflow.writes == WritePolicy::DryRun => ItemEnd::Release,
            other => other,
        };
        let attempt = store
            .finish_attempt(
                attempt_id,
                &AttemptFinish {
                    status,
                    error: error.clone(),
                    output: output.clone(),
                },
            )
            .await?;
        if let Some(answer) = &output {
            // The answer explains the writes it queued for approval; reviewers see why.
            store
                .annotate_approvals(
                    run_id,
                    key,
                    answer.get("reason").and_then(Value::as_str),
                    answer.get("confidence").and_then(Value::as_f64),
                )
                .await?;
        }
        let final_status = match end {
            ItemEnd::Complete(outcome) => {
                let item = store
                    .complete_item(
                        &lease,
                        outcome,
                        error.as_deref(),
                        workflow.limits.max_attempts,
                    )
                    .await?;
                if item.status == crate::store::ItemStatus::Abandoned
                    && status == AttemptStatus::Failed
                {
                    AttemptStatus::Abandoned
                } else {
                    status
                }
            }
            ItemEnd::Release => {
                store.release_item(&lease).await?;
                status
            }
            ItemEnd::Defer(not_before) => {
                let reason = error.as_deref().unwrap_or("deferred");
                store.defer_item(&lease, not_before, reason).await?;
                status
            }
        };
        Ok(Some((
            ItemReport {
                key: key.to_owned(),
                label: label_of(payload.as_ref(), key),
                status: final_status,
                error,
                output,
                attempt: lease.attempt,
                steps: attempt.steps,
                tool_calls: attempt.tool_calls,
                writes: tools.writes(),
                prompt_tokens: attempt.prompt_tokens,
                completion_tokens: attempt.completion_tokens,
                credits: self.observer.item_credits(key),
                cached_tokens: attempt.cached_tokens,
                duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            },
            stop,
        )))
    }

    /// Works the item under its timeout while renewing its lease; aborts with the run.
    async fn decide_with_lease(
        &self,
        tools: &ItemTools<'_>,
        item: Option<&Value>,
        mut lease: Lease,
        request: &RunRequest,
    ) -> Decided {
        let timeout = self.workflow.limits.item_timeout;
        let lease_for = lease_duration(timeout);
        let store = &self.engine.store;
        let renew = async {
            loop {
                tokio::time::sleep(lease_for / 3).await;
                if let Err(e) = store.renew_lease(&mut lease, lease_for).await {
                    return e;
                }
            }
        };
        tokio::select! {
            decided = tokio::time::timeout(timeout, self.decide(tools, item)) => match decided {
                Ok(d) => d,
                Err(_) => Decided::TimedOut(timeout),
            },
            lost = renew => Decided::Failed(Finish::Halt(Halt::Store(lost))),
            () = request.abort.cancelled() => Decided::Aborted,
        }
    }

    async fn decide(&self, tools: &ItemTools<'_>, item: Option<&Value>) -> Decided {
        let workflow = self.workflow;
        match (self.decider, self.llm) {
            (Decider::Llm { .. }, Some(llm)) if workflow.mode == Mode::Decide => {
                let run = DecideRun {
                    llm,
                    workflow,
                    info: self.info,
                    context: self.run_context,
                    budget: self.budget,
                };
                match run.work(tools, item).await {
                    Ok(answer) => Decided::Answer(answer),
                    Err(finish) => Decided::Failed(finish),
                }
            }
            (Decider::Llm { .. }, Some(llm)) => {
                let context_value = self.run_context.value();
                let ctx = workflow.context_with(self.info, item, &[("context", &context_value)]);
                let (prompt, system) = match workflow.render_prompts_in(&ctx) {
                    Ok(p) => p,
                    Err((which, e)) => return Decided::Broken(format!("{which} template: {e}")),
                };
                let conversation = Conversation {
                    llm,
                    max_steps: workflow.limits.max_steps,
                    output_schema: workflow.output_schema.as_ref(),
                    budget: self.budget,
                };
                match conversation.run(tools, system.as_deref(), &prompt).await {
                    Ok(answer) => Decided::Answer(answer),
                    Err(finish) => Decided::Failed(finish),
                }
            }
            (Decider::Baseline(kind), _) => {
                // In decide mode the baseline reads what a model would be given, so both spend
                // the same credits.
                let prepared = if workflow.mode == Mode::Decide {
                    match crate::agent::decide::prefetch(
                        workflow,
                        self.info,
                        item,
                        self.run_context,
                        tools,
                    )
                    .await
                    {
                        Ok(prefetch) => Some(crate::baseline::Prepared {
                            context: self.run_context,
                            prefetch,
                        }),
                        Err(finish) => return Decided::Failed(finish),
                    }
                } else {
                    None
                };
                match crate::baseline::work(*kind, item, &workflow.inputs, tools, prepared.as_ref())
                    .await
                {
                    Ok(answer) => Decided::Answer(answer),
                    Err(finish) => Decided::Failed(finish),
                }
            }
            (Decider::Llm { .. }, None) => Decided::Broken("no LLM client".into()),
        }
    }
}

/// An item's lease outlives its timeout by a margin, so a live worker never loses it, yet a dead
/// one's items are free again soon after they would have timed out anyway. The run's own lease
/// and the scheduler's default shutdown grace use the same formula (see the README's scheduler
/// section).
pub fn lease_duration(item_timeout: Duration) -> Duration {
    item_timeout
        .saturating_add(item_timeout / 4)
        .saturating_add(Duration::from_secs(1))
}

/// Renews the run's lease until dropped (the run is over).
async fn keep_run_alive(store: &Store, run_id: RunId, lease: Duration) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew_run(run_id, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(run_id, "the run was closed by another process while it ran")
            }
            Err(e) => tracing::warn!(run_id, error = %e, "could not renew the run's lease"),
        }
    }
}

/// How an item's lease is handed back.
enum ItemEnd {
    /// An attempt counted, with its outcome.
    Complete(ItemOutcome),
    /// Untouched (the run was aborted).
    Release,
    /// No attempt counted; not claimable before the time given (epoch ms), when known.
    Defer(Option<i64>),
}

enum Decided {
    Answer(Value),
    Failed(Finish),
    /// The item can never succeed as it is (its prompt does not render).
    Broken(String),
    TimedOut(Duration),
    Aborted,
}

fn count(items: &[ItemReport], statuses: &[AttemptStatus]) -> i64 {
    i64::try_from(
        items
            .iter()
            .filter(|i| statuses.contains(&i.status))
            .count(),
    )
    .unwrap_or(i64::MAX)
}

fn label_of(item: Option<&Value>, key: &str) -> String {
    let Some(item) = item else {
        return key.to_owned();
    };
    let number = item.get("ticketNumber").and_then(Value::as_str);
    let subject = item
        .get("subject")
        .or_else(|| item.get("title"))
        .or_else(|| item.get("name"))
        .and_then(Value::as_str);
    match (number, subject) {
        (Some(n), Some(s)) => format!("#{n} {s}"),
        (None, Some(s)) => s.to_owned(),
        (Some(n), None) => format!("#{n}"),
        (None, None) => key.to_owned(),
    }
}

/// Zoho's cap on calls in flight for the org, which the replicas on one PostgreSQL store share:
/// `DESKHAND_ZOHO_CONCURRENCY` (5 on the Free edition, 10 on Express and Standard, 15 on
/// Professional, 25 on Enterprise), 10 when unset.
fn zoho_concurrency() -> usize {
    const DEFAULT: usize = 10;
    match std::env::var("DESKHAND_ZOHO_CONCURRENCY") {
        Err(_) => DEFAULT,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                tracing::warn!(
                    value = %text,
                    "DESKHAND_ZOHO_CONCURRENCY is not a positive whole number; using {DEFAULT}"
                );
                DEFAULT
            }
        },
    }
}
