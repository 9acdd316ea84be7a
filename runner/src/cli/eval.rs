//! `deskhand eval WORKFLOW... --dataset SEED --gold GOLD`: each workflow on its own fresh sandbox
//! loaded with the dataset, with a throwaway run store, scored against the gold labels. The same
//! command evaluates OpenAI, a local OpenAI-compatible server and the offline baseline.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_mcp::registry::database;
use zoho_desk_sandbox::{SandboxConfig, SeedData};

use super::backend;
use super::output::{self, outln};
use super::run::Lines;
use super::table;
use crate::embedded::SandboxBackend;
use crate::engine::{Decider, Engine, Progress, Quiet, RunRequest};
use crate::eval::{self, EvalKind, EvalReport, Gold};
use crate::llm::LlmSettings;
use crate::mcp::EmbeddedServer;
use crate::store::{Store, Trigger};
use crate::workflow::{McpConnection, Workflow, WritePolicy, parse_assignment};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Workflow files, or names of workflows in --workflows; each is evaluated on a fresh sandbox.
    #[arg(value_name = "WORKFLOW", required = true)]
    targets: Vec<String>,
    /// Sandbox seed file with the org and the labelled tickets (Zoho JSON shapes).
    #[arg(long, value_name = "SEED_FILE")]
    dataset: PathBuf,
    /// Gold labels: {"tickets": {"<id>": {departmentId, teamId, eligibleAssigneeIds, articleIds}}}.
    #[arg(long, value_name = "GOLD_FILE")]
    gold: PathBuf,
    /// `baseline` for the offline baseline, or a model name for the configured LLM endpoint
    /// (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server). Default: as `deskhand run` picks.
    #[arg(long)]
    model: Option<String>,
    /// Override an input: --set min_confidence=0.7 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    set: Vec<(String, String)>,
    /// Evaluate on the first N tickets only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Print the reports as a JSON array on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Where workflows are looked up by name.
    #[arg(long, default_value = "workflows", env = "DESKHAND_WORKFLOWS")]
    workflows: PathBuf,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let catalog = backend::catalog()?;
    let gold = Gold::load(&args.gold)?;
    let seed = SeedData::from_path(&args.dataset)
        .with_context(|| format!("could not load the dataset {}", args.dataset.display()))?;
    let ticket_count = seed.ticket_count();

    let mut reports = Vec::new();
    for target in &args.targets {
        let mut workflow = backend::find_workflow(target, &args.workflows, &catalog)?;
        workflow.apply_overrides(&args.set)?;
        let kind = EvalKind::for_workflow(&workflow).with_context(|| {
            format!(
                "cannot score workflow `{}`: eval scores triage workflows (output `decision`) and reply workflows (output `action`)",
                workflow.name
            )
        })?;
        // The dataset's sandbox is the only helpdesk an eval may touch, whatever `mcp:` says;
        // it is throwaway, so writes are applied, and every ticket of the dataset is in scope.
        workflow.mcp = McpConnection::Embedded;
        workflow.writes = WritePolicy::Apply;
        if let Some(for_each) = workflow.for_each.as_mut() {
            let all = u32::try_from(ticket_count).unwrap_or(u32::MAX).max(1);
            for_each.max_items = args.limit.map_or(all, |l| l.min(all));
        }
        let decider = decider(&mut workflow, args.model.as_deref())?;
        if !args.json {
            output::note(format_args!(
                "eval {} on {} ({} tickets), decider {}",
                workflow.name,
                args.dataset.display(),
                args.limit
                    .map_or(ticket_count, |l| ticket_count.min(l as usize)),
                decider.label()
            ));
        }
        let report = evaluate_one(
            catalog.clone(),
            &workflow,
            kind,
            &decider,
            seed.clone(),
            &gold,
            args.json,
        )
        .await?;
        if !args.json {
            outln!("{}\n", render(&report));
        }
        reports.push(report);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The decider `--model` asks for, or the one `deskhand run` would pick.
fn decider(workflow: &mut Workflow, model: Option<&str>) -> anyhow::Result<Decider> {
    let Some(name) = model else {
        return Ok(Decider::for_workflow(workflow, |k| std::env::var(k).ok())?);
    };
    if name == "baseline" {
        return workflow
            .baseline
            .map(Decider::Baseline)
            .with_context(|| format!("workflow `{}` has no `baseline:` routine", workflow.name));
    }
    if let Some(settings) = workflow.model.as_mut() {
        settings.name = Some(name.to_owned());
    }
    let env = |k: &str| {
        if k == "DESKHAND_LLM_MODEL" {
            Some(name.to_owned())
        } else {
            std::env::var(k).ok()
        }
    };
    LlmSettings::resolve(workflow.model.as_ref(), env)?
        .map(|s| Decider::Llm(Box::new(s)))
        .with_context(|| {
            format!(
                "--model {name} needs an LLM endpoint: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for a local OpenAI-compatible server (Ollama, vLLM, llama.cpp)"
            )
        })
}

async fn evaluate_one(
    catalog: Arc<Catalog>,
    workflow: &Workflow,
    kind: EvalKind,
    decider: &Decider,
    seed: SeedData,
    gold: &Gold,
    quiet: bool,
) -> anyhow::Result<EvalReport> {
    let backend = SandboxBackend::start_with(
        catalog,
        SandboxConfig {
            seed_data: Some(seed),
            ..Default::default()
        },
    )
    .await?;
    let db = ScratchDb::new(&workflow.name);
    let store = Store::connect(&database::sqlite_url(&db.path.to_string_lossy()))
        .await
        .context("could not create the eval's run store")?;
    let engine = Engine::new(store, backend::owner("eval"))
        .with_embedded(EmbeddedServer::new(backend.gateway.clone()));

    let before = backend.sandbox.admin().state_json();
    let terminal = !quiet && std::io::stderr().is_terminal();
    let lines = Lines::new(terminal);
    let progress: &dyn Progress = if terminal { &lines } else { &Quiet };
    let started = Instant::now();
    let report = engine
        .run(workflow, decider, RunRequest::new(Trigger::Eval), progress)
        .await
        .context("the eval run could not be recorded")?;
    let wall = started.elapsed();
    lines.finish();
    if let Some(error) = &report.run.error {
        anyhow::bail!("the eval run of `{}` failed: {error}", workflow.name);
    }
    let after = backend.sandbox.admin().state_json();
    Ok(eval::evaluate(kind, gold, &before, &after, &report, wall))
}

/// A run store that exists for one evaluation: earlier runs must not make tickets look handled.
struct ScratchDb {
    path: PathBuf,
}

impl ScratchDb {
    fn new(name: &str) -> ScratchDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "deskhand-eval-{name}-{}-{nanos}.db",
            std::process::id()
        ));
        ScratchDb { path }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        database::remove_sqlite_files(&self.path);
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn of(n: usize, d: usize) -> String {
    format!("{n}/{d}")
}

/// A report as a two-column table (and, for triage, one row per difficulty kind).
pub fn render(report: &EvalReport) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |k: &str, v: String| rows.push(vec![k.to_owned(), v]);
    row("decider", report.decider.clone());
    row("tickets", report.tickets.to_string());
    if let Some(t) = &report.triage {
        row(
            "department accuracy (all tickets)",
            pct(t.department_accuracy),
        );
        row(
            "assigned",
            format!(
                "{} ({} abstained, {} failed)",
                t.assigned, t.abstained, t.failed
            ),
        );
        row("abstention rate", pct(t.abstention_rate));
        row(
            "department accuracy (assigned)",
            pct(t.assigned_department_accuracy),
        );
        row("team accuracy (assigned)", pct(t.team_accuracy));
        row("assignee accuracy (assigned)", pct(t.assignee_accuracy));
        row("fully routed right (all tickets)", pct(t.fully_routed_rate));
        row(
            "moved between departments",
            format!("{} ({} rightly)", t.moved, t.moved_right),
        );
        row("public writes", t.public_writes.to_string());
    }
    if let Some(r) = &report.replies {
        row(
            "answered",
            format!(
                "{} ({} answerable, {} failed)",
                r.answered, r.answerable, r.failed
            ),
        );
        row("answer rate (answerable tickets)", pct(r.answer_rate));
        row("answers citing a gold article", pct(r.citing_gold_share));
        row("answers with no unsupported claim", pct(r.grounded_share));
        row(
            "no-article note (unanswerable tickets)",
            format!("{} of {}", pct(r.no_article_share), r.unanswerable),
        );
        row(
            "invented answers (unanswerable tickets)",
            r.invented.to_string(),
        );
        row("replies sent to customers", r.public_replies.to_string());
        row("Zoho draft replies saved", r.drafts.to_string());
    }
    let u = &report.usage;
    row(
        "tool calls per ticket",
        format!("{:.2}", u.tool_calls_per_ticket),
    );
    row(
        "LLM round trips per ticket",
        format!("{:.2}", u.llm_round_trips_per_ticket),
    );
    row(
        "tokens per ticket (prompt + completion)",
        format!(
            "{:.0} + {:.0}",
            u.prompt_tokens_per_ticket, u.completion_tokens_per_ticket
        ),
    );
    if u.cached_tokens > 0 {
        row(
            "prompt tokens from the provider's cache",
            format!("{} of {}", u.cached_tokens, u.prompt_tokens),
        );
    }
    row("429s met", u.rate_limited.to_string());
    row(
        "wall time",
        table::duration(i64::try_from(u.wall_ms).unwrap_or(i64::MAX)),
    );
    let mut out = format!(
        "{} ({}){}\n",
        report.workflow,
        match report.kind {
            EvalKind::Triage => "triage",
            EvalKind::Reply => "replies",
        },
        if report.llm_used {
            ""
        } else {
            " — no LLM was used"
        }
    );
    out.push_str(&table::render(&["metric", "value"], &rows, 80));
    if let Some(t) = report.triage.as_ref().filter(|t| !t.by_kind.is_empty()) {
        let kinds: Vec<Vec<String>> = t
            .by_kind
            .iter()
            .map(|(kind, k)| {
                vec![
                    kind.clone(),
                    k.tickets.to_string(),
                    of(k.department_right, k.tickets),
                    of(k.fully_routed, k.tickets),
                    of(k.abstained, k.tickets),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&table::render(
            &[
                "kind",
                "tickets",
                "department right",
                "fully routed",
                "abstained",
            ],
            &kinds,
            40,
        ));
    }
    if let Some(r) = report
        .replies
        .as_ref()
        .filter(|r| !r.unsupported_examples.is_empty())
    {
        out.push_str("\n\nunsupported sentences (first few):");
        for u in r.unsupported_examples.iter().take(5) {
            out.push_str(&format!("\n  ticket {}: {}", u.ticket, u.sentence));
        }
    }
    out
}
