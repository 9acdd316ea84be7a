//! Prometheus metrics of a scheduler process, written in the text exposition format by hand: a
//! dozen counters and gauges do not justify a metrics crate and its global registry.
//!
//! Counters are per process (Prometheus sums replicas); run counters include skipped ticks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::engine::{ItemReport, Progress};
use crate::retry::RetryObserver;
use crate::store::RunStatus;

/// What became of a tick in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TickOutcome {
    /// This process claimed it.
    Claimed,
    /// Another replica claimed it first.
    Lost,
    /// Claimed, then recorded as skipped (overlap).
    Skipped,
    /// Claimed and waiting for the run in flight.
    Queued,
}

impl TickOutcome {
    fn as_str(self) -> &'static str {
        match self {
            TickOutcome::Claimed => "claimed",
            TickOutcome::Lost => "lost",
            TickOutcome::Skipped => "skipped",
            TickOutcome::Queued => "queued",
        }
    }
}

#[derive(Debug, Default)]
struct Values {
    runs: BTreeMap<(String, &'static str), u64>,
    items: BTreeMap<(String, &'static str), u64>,
    tool_calls: BTreeMap<String, u64>,
    tokens: BTreeMap<(String, &'static str), u64>,
    retries: BTreeMap<&'static str, u64>,
    rate_limited: u64,
    ticks: BTreeMap<(String, &'static str), u64>,
    missed: BTreeMap<String, u64>,
    tick_lag: BTreeMap<String, f64>,
    in_flight: BTreeMap<String, i64>,
    scheduled: usize,
    draining: bool,
    reloads_refused: u64,
    /// Why the last reload was refused, until one succeeds.
    reload_refused: Option<String>,
}

/// The scheduler's metrics; shared by the engine (as its retry observer), each run (as its
/// progress) and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Mutex<Values>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    fn values(&self) -> MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn run_finished(&self, workflow: &str, status: RunStatus) {
        *self
            .values()
            .runs
            .entry((workflow.to_owned(), status.as_str()))
            .or_default() += 1;
    }

    pub fn tick(&self, workflow: &str, outcome: TickOutcome) {
        *self
            .values()
            .ticks
            .entry((workflow.to_owned(), outcome.as_str()))
            .or_default() += 1;
    }

    /// A due tick: how late it is handled and how many ticks before it were dropped.
    pub fn tick_due(&self, workflow: &str, lag: Duration, missed: u32) {
        let mut values = self.values();
        values
            .tick_lag
            .insert(workflow.to_owned(), lag.as_secs_f64());
        *values.missed.entry(workflow.to_owned()).or_default() += u64::from(missed);
    }

    pub fn set_in_flight(&self, workflow: &str, runs: i64) {
        self.values().in_flight.insert(workflow.to_owned(), runs);
    }

    pub fn set_scheduled(&self, workflows: usize) {
        self.values().scheduled = workflows;
    }

    /// Set on SIGTERM: `/healthz` answers 503 so a load balancer stops sending work.
    pub fn set_draining(&self) {
        self.values().draining = true;
    }

    pub fn is_draining(&self) -> bool {
        self.values().draining
    }

    /// A reload (SIGHUP) was refused and the previous workflows stay scheduled: counted, and
    /// `/healthz` says so until a reload succeeds, since a log line alone is easily missed.
    pub fn reload_refused(&self, reason: &str) {
        let mut values = self.values();
        values.reloads_refused += 1;
        values.reload_refused = Some(reason.split('\n').collect::<Vec<_>>().join("; "));
    }

    pub fn reload_applied(&self) {
        self.values().reload_refused = None;
    }

    /// Why the last reload was refused, if no reload has succeeded since.
    pub fn degraded(&self) -> Option<String> {
        self.values().reload_refused.clone()
    }

    /// The progress sink for one run of `workflow`.
    pub fn progress(self: &Arc<Self>, workflow: &str) -> RunProgress {
        RunProgress {
            metrics: self.clone(),
            workflow: workflow.to_owned(),
        }
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        let v = self.values();
        let mut out = String::new();
        family(
            &mut out,
            "deskhand_runs_total",
            "counter",
            "Runs finished by this process, by final status (skipped ticks included).",
        );
        for ((workflow, status), n) in &v.runs {
            sample(
                &mut out,
                "deskhand_runs_total",
                &[("workflow", workflow), ("status", status)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_items_total",
            "counter",
            "Items worked by this process, by attempt status.",
        );
        for ((workflow, status), n) in &v.items {
            sample(
                &mut out,
                "deskhand_items_total",
                &[("workflow", workflow), ("status", status)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_tool_calls_total",
            "counter",
            "MCP tool calls made while working items.",
        );
        for (workflow, n) in &v.tool_calls {
            sample(
                &mut out,
                "deskhand_tool_calls_total",
                &[("workflow", workflow)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_llm_tokens_total",
            "counter",
            "LLM tokens used, prompt and completion.",
        );
        for ((workflow, kind), n) in &v.tokens {
            sample(
                &mut out,
                "deskhand_llm_tokens_total",
                &[("workflow", workflow), ("kind", kind)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_retries_total",
            "counter",
            "Retries, by layer (mcp, llm, item).",
        );
        for (layer, n) in &v.retries {
            sample(
                &mut out,
                "deskhand_retries_total",
                &[("layer", layer)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_rate_limited_total",
            "counter",
            "Retries caused by HTTP 429 (Zoho or the LLM provider).",
        );
        sample(
            &mut out,
            "deskhand_rate_limited_total",
            &[],
            v.rate_limited as f64,
        );
        family(
            &mut out,
            "deskhand_ticks_total",
            "counter",
            "Schedule ticks seen by this process, by outcome (claimed, lost to another replica, skipped, queued).",
        );
        for ((workflow, outcome), n) in &v.ticks {
            sample(
                &mut out,
                "deskhand_ticks_total",
                &[("workflow", workflow), ("outcome", outcome)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_ticks_missed_total",
            "counter",
            "Ticks dropped because a later one was already due (downtime, stalls).",
        );
        for (workflow, n) in &v.missed {
            sample(
                &mut out,
                "deskhand_ticks_missed_total",
                &[("workflow", workflow)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_tick_lag_seconds",
            "gauge",
            "How late the latest due tick was handled, from its nominal time.",
        );
        for (workflow, lag) in &v.tick_lag {
            sample(
                &mut out,
                "deskhand_tick_lag_seconds",
                &[("workflow", workflow)],
                *lag,
            );
        }
        family(
            &mut out,
            "deskhand_runs_in_flight",
            "gauge",
            "Runs of each workflow in flight in this process.",
        );
        for (workflow, n) in &v.in_flight {
            sample(
                &mut out,
                "deskhand_runs_in_flight",
                &[("workflow", workflow)],
                *n as f64,
            );
        }
        family(
            &mut out,
            "deskhand_workflows_scheduled",
            "gauge",
            "Workflows with a schedule loaded.",
        );
        sample(
            &mut out,
            "deskhand_workflows_scheduled",
            &[],
            v.scheduled as f64,
        );
        family(
            &mut out,
            "deskhand_draining",
            "gauge",
            "1 after SIGTERM while in-flight runs finish.",
        );
        sample(
            &mut out,
            "deskhand_draining",
            &[],
            if v.draining { 1.0 } else { 0.0 },
        );
        family(
            &mut out,
            "deskhand_reloads_refused_total",
            "counter",
            "Workflow reloads (SIGHUP) refused because a file was broken; the previous set stayed.",
        );
        sample(
            &mut out,
            "deskhand_reloads_refused_total",
            &[],
            v.reloads_refused as f64,
        );
        out
    }
}

impl RetryObserver for Metrics {
    fn on_retry(&self, layer: &'static str, _attempt: u32, _wait: Duration, reason: &str) {
        let mut values = self.values();
        *values.retries.entry(layer).or_default() += 1;
        // The same test the engine's run observer applies to the retry reason.
        if reason.starts_with("429") || reason.contains(" 429") {
            values.rate_limited += 1;
        }
    }
}

/// Counts one run's items, tool calls and tokens under its workflow.
pub struct RunProgress {
    metrics: Arc<Metrics>,
    workflow: String,
}

impl Progress for RunProgress {
    fn item_finished(&self, item: &ItemReport) {
        let mut values = self.metrics.values();
        let w = &self.workflow;
        *values
            .items
            .entry((w.clone(), item.status.as_str()))
            .or_default() += 1;
        *values.tool_calls.entry(w.clone()).or_default() += non_negative(item.tool_calls);
        *values.tokens.entry((w.clone(), "prompt")).or_default() +=
            non_negative(item.prompt_tokens);
        *values.tokens.entry((w.clone(), "completion")).or_default() +=
            non_negative(item.completion_tokens);
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(val));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline (the exposition format's rule).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
