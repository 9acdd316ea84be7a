//! `deskhand history [RUN_ID]`: what runs did, down to each tool call.

use std::process::ExitCode;

use anyhow::Context;

use super::backend::{self, BackendArgs};
use super::output::outln;
use super::table;
use crate::store::{Run, RunDetail, RunFilter, RunTokens};

/// A run in `history --json`: the run as stored, with what its items spent on the LLM.
#[derive(serde::Serialize)]
struct RunRow<'a> {
    #[serde(flatten)]
    run: &'a Run,
    tokens: RunTokens,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Show this run's items, LLM steps, tool calls and retries.
    #[arg(conflicts_with = "ticket")]
    run_id: Option<i64>,
    /// Every run that worked this ticket (its number as Zoho shows it, or its id): per item
    /// the decision, the writes and the errors, then the writes held for approval.
    #[arg(long, conflicts_with = "workflow")]
    ticket: Option<String>,
    /// With --ticket: do not shorten cells to fit 80 columns.
    #[arg(long, requires = "ticket")]
    wide: bool,
    /// Only runs of this workflow.
    #[arg(long)]
    workflow: Option<String>,
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = backend::store(&args.backend).await?;
    // A run whose process died shows as interrupted once its lease lapses, not running forever.
    if let Err(e) = store.close_lapsed_runs(None).await {
        tracing::warn!(error = %e, "could not close runs whose lease lapsed");
    }
    if let Some(ticket) = &args.ticket {
        return ticket_history(&store, ticket, args.json, args.wide).await;
    }
    if let Some(id) = args.run_id {
        let Some(detail) = store.run_detail(id).await? else {
            anyhow::bail!("there is no run {id}");
        };
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&detail)?);
        } else {
            outln!("{}", render_detail(&detail));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runs = store
        .list_runs(&RunFilter {
            workflow: args.workflow.clone(),
            limit: args.limit,
        })
        .await
        .context("could not read the run history")?;
    let tokens = store
        .run_tokens(&runs.iter().map(|r| r.id).collect::<Vec<_>>())
        .await
        .context("could not read the runs' token totals")?;
    let tokens_of = |r: &Run| tokens.get(&r.id).copied().unwrap_or_default();
    if args.json {
        let rows: Vec<RunRow<'_>> = runs
            .iter()
            .map(|run| RunRow {
                run,
                tokens: tokens_of(run),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        outln!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.workflow.clone(),
                r.trigger.to_string(),
                r.status.to_string(),
                write_mode(r),
                format!("{}/{}", r.counts.succeeded, r.counts.total),
                r.counts.failed.to_string(),
                r.model.clone().unwrap_or_default(),
                {
                    let t = tokens_of(r);
                    table::tokens(t.total(), t.cached_tokens)
                },
                table::time(r.started_at),
                r.duration_ms()
                    .map(table::duration)
                    .unwrap_or_else(|| "running".into()),
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(
            &[
                "run",
                "workflow",
                "trigger",
                "status",
                "writes",
                "ok/items",
                "failed",
                "decider",
                "tokens",
                "started (UTC)",
                "took"
            ],
            &rows,
            40
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// The write mode a run worked under (recorded in its summary when it finished).
fn write_mode(run: &crate::store::Run) -> String {
    run.summary
        .as_ref()
        .and_then(|s| s.get("writes"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("-")
        .to_owned()
}

fn render_detail(detail: &RunDetail) -> String {
    let run = &detail.run;
    let mut out = format!(
        "run {} of {} ({}), {}; started {} UTC, took {}\ndecider: {}{}, writes {}\nitems: {} succeeded, {} failed, {} skipped of {}; {}\n",
        run.id,
        run.workflow,
        run.trigger,
        run.status,
        table::time(run.started_at),
        run.duration_ms()
            .map(table::duration)
            .unwrap_or_else(|| "(running)".into()),
        run.model.clone().unwrap_or_default(),
        if run.llm_used { "" } else { " (no LLM)" },
        write_mode(run),
        run.counts.succeeded,
        run.counts.failed,
        run.counts.skipped,
        run.counts.total,
        table::token_line(&detail.tokens()),
    );
    let summary = run.summary.as_ref();
    if let Some(cost) = summary
        .and_then(|s| s.get("cost"))
        .and_then(|c| serde_json::from_value::<crate::engine::RunCost>(c.clone()).ok())
    {
        out.push_str(&super::run::cost_line(&cost));
        out.push('\n');
    }
    let item_credits = summary.and_then(|s| s.get("item_credits"));
    if let Some(error) = &run.error {
        out.push_str(&format!("error: {error}\n"));
    }
    for a in &detail.attempts {
        let at = &a.attempt;
        let tokens = if at.steps > 0 {
            format!(
                ", {} tokens",
                table::tokens(at.prompt_tokens + at.completion_tokens, at.cached_tokens)
            )
        } else {
            String::new()
        };
        let credits = item_credits
            .and_then(|c| c.get(&at.item_key))
            .and_then(serde_json::Value::as_u64)
            .map(|c| format!(" ({c} Zoho credits)"))
            .unwrap_or_default();
        out.push_str(&format!(
            "\nitem {} (attempt {}): {}{tokens}{credits}{}\n",
            at.item_key,
            at.attempt,
            at.status,
            at.error
                .as_deref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default()
        ));
        if let Some(output) = &at.output {
            out.push_str(&format!("  answer: {output}\n"));
        }
        for s in &a.steps {
            let cached = if s.cached_tokens > 0 {
                format!(" ({} cached)", s.cached_tokens)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  step {}: {} {}{cached}+{} tokens, {}, {}\n",
                s.step,
                s.model,
                s.prompt_tokens,
                s.completion_tokens,
                table::duration(s.latency_ms),
                s.finish_reason.clone().unwrap_or_default()
            ));
        }
        for t in &a.tool_calls {
            let summary: String = t
                .result_summary
                .clone()
                .unwrap_or_default()
                .chars()
                .take(100)
                .collect();
            out.push_str(&format!(
                "  [{}] {}{} {} {}{} {} {}\n",
                t.step,
                t.tool,
                if t.is_write { " (write)" } else { "" },
                t.arguments,
                t.outcome,
                t.http_status
                    .map(|s| format!(" HTTP {s}"))
                    .unwrap_or_default(),
                table::duration(t.duration_ms),
                summary
            ));
        }
        for r in &a.retries {
            out.push_str(&format!(
                "  retry ({}) after {}: {}\n",
                r.layer,
                table::duration(r.wait_ms),
                r.reason
            ));
        }
    }
    if !detail.retries.is_empty() {
        out.push_str("\nrun-level retries:\n");
        for r in &detail.retries {
            out.push_str(&format!(
                "  ({}) after {}: {}\n",
                r.layer,
                table::duration(r.wait_ms),
                r.reason
            ));
        }
    }
    out
}

/// A write tool as a reviewer names it.
fn write_kind(tool: &str) -> &str {
    use crate::agent::reconcile::{
        ADD_COMMENT, DRAFT_REPLY, MOVE_TICKET, SEND_REPLY, UPDATE_TICKET,
    };
    match tool {
        UPDATE_TICKET => "update",
        ADD_COMMENT => "note",
        SEND_REPLY => "reply",
        DRAFT_REPLY => "draft",
        MOVE_TICKET => "move",
        other => other,
    }
}

/// The writes of one attempt: `update queued, note queued` (wide) or counts per outcome.
fn writes_cell(attempt: &crate::store::AttemptDetail, wide: bool) -> String {
    let writes: Vec<_> = attempt.tool_calls.iter().filter(|t| t.is_write).collect();
    if writes.is_empty() {
        return "-".to_owned();
    }
    if wide {
        return writes
            .iter()
            .map(|t| format!("{} {}", write_kind(&t.tool), t.outcome))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for t in &writes {
        *counts.entry(t.outcome.to_string()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(outcome, n)| format!("{n} {outcome}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The decision an item's answer records (its `decision`, else `action`).
fn decision_cell(output: Option<&serde_json::Value>) -> String {
    match output.and_then(|o| o.get("decision").or_else(|| o.get("action"))) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    }
}

async fn ticket_history(
    store: &crate::store::Store,
    wanted: &str,
    json: bool,
    wide: bool,
) -> anyhow::Result<ExitCode> {
    let wanted = wanted.trim().trim_start_matches('#');
    if wanted.is_empty() {
        anyhow::bail!("--ticket needs a ticket number or id");
    }
    let view = crate::console::ticket_view(store, wanted)
        .await
        .context("could not read the ticket's history")?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    if view.runs.is_empty() && view.approvals.is_empty() {
        outln!("no run has worked ticket #{wanted}");
        return Ok(ExitCode::SUCCESS);
    }
    let cut = |text: &str, max: usize| {
        if wide {
            text.to_owned()
        } else {
            table::cut(text, max)
        }
    };
    let mut out = match &view.subject {
        Some(subject) => format!("ticket #{wanted}: {}\n", cut(subject, 60)),
        None => format!("ticket #{wanted}\n"),
    };
    if let Some(url) = &view.url {
        // On a line of its own and never cut: a shortened link is no link.
        out.push_str(&format!(
            "in Zoho:\n{}\n",
            super::output::terminal_safe(url)
        ));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for detail in &view.runs {
        let run = &detail.run;
        for a in &detail.attempts {
            let at = &a.attempt;
            rows.push(vec![
                run.id.to_string(),
                cut(&run.workflow, 15),
                chrono::DateTime::from_timestamp_millis(run.started_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| run.started_at.to_string()),
                format!("{}/{}", at.attempt, at.status),
                cut(&decision_cell(at.output.as_ref()), 10),
                cut(&writes_cell(a, wide), 13),
            ]);
            if let Some(error) = &at.error {
                errors.push(format!("run {} attempt {}: {error}", run.id, at.attempt));
            }
        }
    }
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table::render(
            &[
                "run",
                "workflow",
                "started (UTC)",
                "attempt",
                "decision",
                "writes",
            ],
            &rows,
            usize::MAX,
        ));
        out.push('\n');
    }
    if !errors.is_empty() {
        out.push_str("\nerrors:\n");
        for e in &errors {
            out.push_str(&format!("  {}\n", cut(e, 76)));
        }
    }
    if !view.approvals.is_empty() {
        let rows: Vec<Vec<String>> = view
            .approvals
            .iter()
            .map(|a| {
                let mut change = super::approvals::change_text(a);
                if a.proposed_arguments.is_some() {
                    change.push_str(" (edited)");
                }
                vec![
                    a.id.to_string(),
                    a.run_id.map_or_else(|| "-".into(), |r| r.to_string()),
                    cut(&change, 46),
                    a.state.to_string(),
                ]
            })
            .collect();
        out.push_str("\nwrites held for approval:\n");
        out.push_str(&table::render(
            &["id", "run", "change", "state"],
            &rows,
            usize::MAX,
        ));
        out.push('\n');
    }
    outln!("{}", out.trim_end());
    Ok(ExitCode::SUCCESS)
}
