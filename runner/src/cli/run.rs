//! `deskhand run WORKFLOW`: one run now, with progress, a summary table and an exit code that
//! says whether every item succeeded.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;

use super::backend::{self, BackendArgs};
use super::output::{self, outln};
use super::table;
use crate::engine::{Decider, Engine, ItemReport, Progress, RunCost, RunReport, RunRequest};
use crate::store::{AttemptStatus, RunTokens, Trigger};
use crate::workflow::{WritePolicy, parse_assignment};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A workflow file, or the name of a workflow in --workflows.
    workflow: String,
    /// Override an input: --set department=Billing (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    set: Vec<(String, String)>,
    /// Record writes instead of sending them, whatever the workflow says (--writes dry_run).
    #[arg(long, conflicts_with = "writes")]
    dry_run: bool,
    /// What happens to writes in this run, whatever the workflow says: apply (send them),
    /// approve (queue them for `deskhand approvals`) or dry_run (record them only).
    #[arg(long, value_name = "MODE", value_parser = parse_writes)]
    writes: Option<WritePolicy>,
    /// Work this one ticket (its id or number), even if an earlier run handled it.
    #[arg(long, value_name = "N")]
    ticket: Option<String>,
    /// Work on at most N items.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Print the run report as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let catalog = backend::catalog()?;
    let mut workflow = backend::find_workflow(&args.workflow, &args.backend.workflows, &catalog)?;
    workflow.apply_overrides(&args.set)?;
    if args.dry_run {
        workflow.writes = WritePolicy::DryRun;
    }
    if let Some(writes) = args.writes {
        workflow.writes = writes;
    }
    if args.ticket.is_some() && workflow.for_each.is_none() {
        anyhow::bail!(
            "--ticket needs a workflow with `for_each`; `{}` has none",
            workflow.name
        );
    }
    let decider = Decider::for_workflow(&workflow, |k| std::env::var(k).ok())?;
    let store = backend::store(&args.backend).await?;
    let (embedded, _sandbox) = backend::embedded_for(&args.backend, catalog, &mut workflow).await?;
    let mut engine = Engine::new(store, backend::owner("cli"));
    if let Some(embedded) = embedded {
        engine = engine.with_embedded(embedded);
    }

    let mut request = RunRequest::new(Trigger::Cli);
    request.limit = args.limit;
    request.ticket = args.ticket.clone();
    let stop = request.stop.clone();
    let abort = request.abort.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            output::note(format_args!(
                "stopping: finishing the items in progress (Ctrl-C again to abandon them)"
            ));
            stop.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                abort.cancel();
            }
        }
    });

    if !args.json {
        output::note(format_args!(
            "{}: decider {}, writes {}",
            workflow.name,
            decider.label(),
            workflow.writes
        ));
    }
    let progress = Lines::new(!args.json && std::io::stderr().is_terminal());
    let report = engine
        .run(&workflow, &decider, request, &progress)
        .await
        .context("the run could not be recorded")?;
    progress.finish();

    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!("{}", summary(&report));
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_writes(text: &str) -> Result<WritePolicy, String> {
    match text {
        "apply" => Ok(WritePolicy::Apply),
        "approve" => Ok(WritePolicy::Approve),
        "dry_run" | "dry-run" => Ok(WritePolicy::DryRun),
        other => Err(format!(
            "unknown write mode {other:?} (expected apply, approve or dry_run)"
        )),
    }
}

/// The table printed after a run.
pub fn summary(report: &RunReport) -> String {
    let rows: Vec<Vec<String>> = report
        .items
        .iter()
        .map(|i| {
            vec![
                i.label.clone(),
                i.status.to_string(),
                i.steps.to_string(),
                i.tool_calls.to_string(),
                i.writes.to_string(),
                i.credits.to_string(),
                table::tokens(i.prompt_tokens + i.completion_tokens, i.cached_tokens),
                table::duration(i.duration_ms),
                outcome_text(i),
            ]
        })
        .collect();
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&table::render(
            &[
                "item", "status", "steps", "tools", "writes", "credits", "tokens", "time", "result",
            ],
            &rows,
            60,
        ));
        out.push_str("\n\n");
    }
    let run = &report.run;
    out.push_str(&format!(
        "run {} {}: {} item(s), {} succeeded, {} failed, {} skipped in {}; {} retr{}, {} rate-limited; decider: {}{}",
        run.id,
        run.status,
        run.counts.total,
        run.counts.succeeded,
        run.counts.failed,
        run.counts.skipped,
        table::duration(run.duration_ms().unwrap_or_default()),
        report.retries,
        if report.retries == 1 { "y" } else { "ies" },
        report.rate_limited,
        report.decider,
        if report.llm_used { "" } else { " — no LLM was used" },
    ));
    if report.llm_used {
        out.push_str(&format!("\n{}", table::token_line(&run_tokens(report))));
    }
    out.push('\n');
    out.push_str(&cost_line(&report.cost));
    let r = &report.reconciliation;
    if r.landed + r.not_landed + r.unknown > 0 {
        out.push_str(&format!(
            "\nreconciled writes of an interrupted run: {} had landed, {} had not (redone), {} could not be checked",
            r.landed, r.not_landed, r.unknown
        ));
    }
    if let Some(error) = &run.error {
        out.push_str(&format!("\nerror: {error}"));
    }
    out.push_str(&format!("\ndetails: deskhand history {}", run.id));
    out
}

/// Zoho credits and LLM tokens of a run, per item, and for a backlog of 1,000 such items.
pub fn cost_line(cost: &RunCost) -> String {
    let per_item = |total: u64| {
        if cost.items == 0 {
            "0".to_owned()
        } else {
            format!("{:.1}", total as f64 / cost.items as f64)
        }
    };
    let item_credits = cost.credits.saturating_sub(cost.run_credits);
    let tokens = |t: i64| u64::try_from(t).unwrap_or(0);
    let mut line = format!(
        "cost: {} Zoho credits ({} per item, {} for the run's own reads); tokens: {} prompt + {} completion ({} + {} per item)",
        cost.credits,
        per_item(item_credits),
        cost.run_credits,
        cost.prompt_tokens,
        cost.completion_tokens,
        per_item(tokens(cost.prompt_tokens)),
        per_item(tokens(cost.completion_tokens)),
    );
    if let Some(e) = &cost.per_1000_items {
        line.push_str(&format!(
            "\nestimate for a backlog of 1,000 such items: ~{} Zoho credits, ~{} prompt + {} completion tokens",
            e.credits, e.prompt_tokens, e.completion_tokens
        ));
        if cost.unsent_writes > 0 {
            line.push_str(&format!(
                " (with the {} writes this run did not send, at 1 credit each)",
                cost.unsent_writes
            ));
        }
    }
    line
}

/// The run's token totals from its item reports.
pub fn run_tokens(report: &RunReport) -> RunTokens {
    report.items.iter().fold(
        RunTokens {
            items: i64::try_from(report.items.len()).unwrap_or(i64::MAX),
            ..RunTokens::default()
        },
        |mut t, i| {
            t.prompt_tokens += i.prompt_tokens;
            t.completion_tokens += i.completion_tokens;
            t.cached_tokens += i.cached_tokens;
            t
        },
    )
}

fn outcome_text(item: &ItemReport) -> String {
    if let Some(error) = &item.error {
        return error.clone();
    }
    let Some(output) = &item.output else {
        return String::new();
    };
    for key in ["decision", "action", "summary", "reason", "text"] {
        if let Some(v) = output.get(key).and_then(|v| v.as_str()) {
            return v.to_owned();
        }
    }
    output.to_string()
}

/// Progress on stderr: a bar redrawn in place on a terminal, one line per item otherwise.
pub(super) struct Lines {
    terminal: bool,
    total: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    out: Mutex<()>,
}

impl Lines {
    pub(super) fn new(terminal: bool) -> Self {
        Lines {
            terminal,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            out: Mutex::new(()),
        }
    }

    fn draw(&self) {
        let total = self.total.load(Ordering::Relaxed).max(1);
        let done = self.done.load(Ordering::Relaxed);
        let width = 30;
        let filled = done * width / total;
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r[{}{}] {done}/{total} items, {} failed ",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.failed.load(Ordering::Relaxed)
        );
        let _ = err.flush();
    }

    pub(super) fn finish(&self) {
        if self.terminal {
            output::note("");
        }
    }
}

impl Progress for Lines {
    fn selected(&self, items: usize) {
        self.total.store(items, Ordering::Relaxed);
        let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if self.terminal {
            self.draw();
        } else {
            output::note(format_args!("{items} item(s) to work on"));
        }
    }

    fn item_finished(&self, item: &ItemReport) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if matches!(
            item.status,
            AttemptStatus::Failed | AttemptStatus::Abandoned
        ) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if self.terminal {
            self.draw();
        } else {
            output::note(format_args!(
                "item {} {}{}",
                item.label,
                item.status,
                item.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
    }
}
