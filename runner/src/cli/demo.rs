//! `deskhand demo`: the first five minutes. An in-process sandbox, the embedded MCP server and a
//! SQLite store; triage-and-assign then kb-grounded-reply on a handful of tickets with the best
//! available decider; a before/after table of what changed in the helpdesk; what to try next.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;
use zoho_desk_mcp::registry::database;

use super::backend::{self, BackendArgs};
use super::output::outln;
use super::run::summary;
use super::table;
use crate::engine::{Decider, Engine, Quiet, RunRequest};
use crate::store::{Store, Trigger};
use crate::workflow::WritePolicy;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the shipped workflows are.
    #[arg(long, default_value = "workflows")]
    workflows: PathBuf,
    /// Tickets per workflow.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    tickets: u32,
    /// The demo's run store. An earlier demo's store is replaced; any other existing file is
    /// refused unless --replace is given.
    #[arg(long, default_value = "deskhand-demo.db")]
    database: PathBuf,
    /// Delete an existing --database file that is not an earlier demo's store.
    #[arg(long)]
    replace: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let catalog = backend::catalog()?;
    let sandbox_args = BackendArgs {
        workflows: args.workflows.clone(),
        database_url: None,
        sandbox: true,
        sandbox_seed: None,
        zoho: backend::ZohoArgs::default(),
    };
    let (embedded, sandbox) = backend::embedded(&sandbox_args, catalog.clone(), true).await?;
    let (Some(embedded), Some(sandbox)) = (embedded, sandbox) else {
        anyhow::bail!("the demo sandbox did not start");
    };
    if args.database.exists() && !args.replace && !is_demo_store(&args.database).await {
        anyhow::bail!(
            "{} exists and is not an earlier demo's store; the demo replaces its store, so pass --replace to delete it, or choose another --database",
            args.database.display()
        );
    }
    database::remove_sqlite_files(&args.database);
    let db_path = args.database.to_string_lossy().into_owned();
    let store = Store::connect(&database::sqlite_url(&db_path))
        .await
        .context("could not create the demo's run store")?;
    let engine = Engine::new(store, backend::owner("demo")).with_embedded(embedded);
    let before = sandbox.sandbox.admin().state_json();

    outln!(
        "deskhand demo: an offline Zoho Desk sandbox ({} tickets), the embedded MCP server and a SQLite store ({db_path})\n",
        before["tickets"].as_array().map_or(0, Vec::len)
    );
    let mut failed = false;
    for name in ["triage-and-assign", "kb-grounded-reply"] {
        let mut workflow = backend::find_workflow(name, &args.workflows, &catalog)
            .with_context(|| format!("the demo needs the shipped workflow `{name}` (run it from the repository root, or pass --workflows)"))?;
        // The sandbox is throwaway: the demo shows real changes.
        workflow.writes = WritePolicy::Apply;
        let decider = Decider::for_workflow(&workflow, |k| std::env::var(k).ok())?;
        outln!(
            "== {name} on {} ticket(s), decider: {}",
            args.tickets,
            decider.label()
        );
        if !decider.uses_llm() {
            outln!("   (no LLM configured: set OPENAI_API_KEY or OPENAI_BASE_URL to use a model)");
        }
        let mut request = RunRequest::new(Trigger::Demo);
        request.limit = Some(args.tickets);
        let report = engine.run(&workflow, &decider, request, &Quiet).await?;
        failed |= !report.is_success();
        outln!("{}\n", summary(&report));
    }

    let after = sandbox.sandbox.admin().state_json();
    let changes = changed_tickets(&before, &after);
    outln!(
        "What changed in the helpdesk ({} ticket(s)):",
        changes.len()
    );
    outln!(
        "{}\n",
        table::render(
            &[
                "ticket",
                "subject",
                "team",
                "assignee",
                "status",
                "new comments",
                "new drafts"
            ],
            &changes,
            48
        )
    );
    outln!("Next:");
    outln!(
        "  deskhand history --database-url {db_path}          # what each run did, step by step"
    );
    outln!(
        "  deskhand run triage-and-assign --sandbox --dry-run --limit 10  # one workflow, writing nothing"
    );
    outln!(
        "  deskhand mcp serve --http --sandbox --print-url                # the MCP server for ChatGPT, Claude, Cursor"
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The tables of the run store: a demo's store holds nothing else.
const STORE_TABLES: [&str; 13] = [
    "deskhand_store_migrations",
    "rate_budgets",
    "call_slots",
    "zoho_tokens",
    "runs",
    "work_items",
    "item_attempts",
    "llm_steps",
    "tool_calls",
    "retries",
    "write_intents",
    "approvals",
    "sqlite_sequence",
];

/// Whether `path` is a store an earlier demo wrote: a SQLite file with only the run store's
/// tables, every run of which the demo made. Anything else (another program's database, a real
/// `deskhand.db` with scheduled runs or MCP servers, a file that is not SQLite) is not the demo's
/// to delete. Opened read-only, so looking changes nothing.
async fn is_demo_store(path: &std::path::Path) -> bool {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path.display());
    let Ok(mut conn) = sqlx::AnyConnection::connect(&url).await else {
        return false;
    };
    let tables: Result<Vec<String>, _> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await;
    let ours = match tables {
        Ok(tables) => {
            tables.iter().any(|t| t == "runs")
                && tables.iter().all(|t| STORE_TABLES.contains(&t.as_str()))
        }
        Err(_) => false,
    };
    let only_demo_runs = ours
        && matches!(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM runs WHERE trigger_kind <> 'demo'")
                .fetch_one(&mut conn)
                .await,
            Ok(0)
        );
    let _ = conn.close().await;
    only_demo_runs
}

/// Rows for tickets whose team, assignee, status, comments or threads changed: `before -> after`;
/// new threads that are Zoho drafts are counted apart from comments and sent replies.
fn changed_tickets(before: &Value, after: &Value) -> Vec<Vec<String>> {
    let index = |state: &Value| -> BTreeMap<String, Value> {
        state["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t.clone())))
            .collect()
    };
    let old = index(before);
    let names = |state: &Value, list: &str, key: &str| -> BTreeMap<String, String> {
        state[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((x["id"].as_str()?.to_owned(), x[key].as_str()?.to_owned())))
            .collect()
    };
    let teams = names(after, "teams", "name");
    let agents = names(after, "agents", "name");
    let show = |map: &BTreeMap<String, String>, v: &Value| -> String {
        match v.as_str() {
            Some(id) => map.get(id).cloned().unwrap_or_else(|| id.to_owned()),
            None => "-".into(),
        }
    };
    let mut rows = Vec::new();
    for (id, now) in index(after) {
        let Some(was) = old.get(&id) else { continue };
        let comments = |t: &Value| t["comments"].as_array().map_or(0, Vec::len);
        let threads = |t: &Value| t["threads"].as_array().map_or(0, Vec::len);
        // Zoho draft replies: threads an agent still has to send.
        let drafts = |t: &Value| {
            t["threads"]
                .as_array()
                .map_or(0, |l| l.iter().filter(|x| x["status"] == "DRAFT").count())
        };
        let added = (comments(&now) + threads(&now)).saturating_sub(comments(was) + threads(was));
        let added_drafts = drafts(&now).saturating_sub(drafts(was));
        let field = |key: &str, map: Option<&BTreeMap<String, String>>| -> String {
            let render = |v: &Value| match map {
                Some(m) => show(m, v),
                None => v.as_str().unwrap_or("-").to_owned(),
            };
            let (a, b) = (render(&was[key]), render(&now[key]));
            if a == b { a } else { format!("{a} -> {b}") }
        };
        let changed = added > 0
            || was["teamId"] != now["teamId"]
            || was["assigneeId"] != now["assigneeId"]
            || was["status"] != now["status"]
            || was["departmentId"] != now["departmentId"];
        if changed {
            rows.push(vec![
                format!("#{}", now["ticketNumber"].as_str().unwrap_or(&id)),
                now["subject"].as_str().unwrap_or_default().to_owned(),
                field("teamId", Some(&teams)),
                field("assigneeId", Some(&agents)),
                field("status", None),
                (added - added_drafts.min(added)).to_string(),
                added_drafts.to_string(),
            ]);
        }
    }
    rows
}
