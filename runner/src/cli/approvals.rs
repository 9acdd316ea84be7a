//! `deskhand approvals`: the writes held under `writes: approve`, decided by a human. Approving
//! applies the write through the same exactly-once path as a run (intent first, reconcile after
//! a crash), so approving twice or after an interruption never writes twice.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use super::backend::{self, BackendArgs};
use super::output::outln;
use super::table;
use crate::agent::writes;
use crate::engine::Engine;
use crate::retry::NoopObserver;
use crate::store::{ApprovalState, Decision, NewRun, RunCounts, RunFinish, RunStatus, Trigger};

#[derive(Debug, clap::Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ApprovalsCommand {
    /// Queued writes, oldest first.
    List {
        /// pending (default), approved, rejected, applied, failed, or all.
        #[arg(long, default_value = "pending")]
        state: String,
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// One queued write with its arguments.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Approve a write and apply it now.
    Approve {
        id: i64,
        /// Who approved (default: $USER).
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Reject a write; it is never sent, and later runs do not queue it again.
    Reject {
        id: i64,
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

pub async fn run(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ApprovalsCommand::List {
            state,
            workflow,
            limit,
            json,
            backend,
        } => {
            let state = match state.as_str() {
                "all" => None,
                s => Some(s.parse::<ApprovalState>().map_err(anyhow::Error::msg)?),
            };
            let store = backend::store(&backend).await?;
            let approvals = store
                .list_approvals(state, workflow.as_deref(), limit)
                .await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&approvals)?);
            } else if approvals.is_empty() {
                outln!("no approvals");
            } else {
                let rows: Vec<Vec<String>> = approvals
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.to_string(),
                            a.state.to_string(),
                            a.workflow.clone(),
                            a.item_key.clone(),
                            a.tool.clone(),
                            a.arguments.to_string(),
                            table::time(a.created_at),
                        ]
                    })
                    .collect();
                outln!(
                    "{}",
                    table::render(
                        &[
                            "id",
                            "state",
                            "workflow",
                            "item",
                            "tool",
                            "arguments",
                            "queued (UTC)"
                        ],
                        &rows,
                        70
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Show { id, json, backend } => {
            let store = backend::store(&backend).await?;
            let approval = store
                .get_approval(id)
                .await?
                .with_context(|| format!("there is no approval {id}"))?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&approval)?);
            } else {
                outln!(
                    "approval {} ({}) from run {} of {}, item {}\ntool: {}\narguments:\n{}",
                    approval.id,
                    approval.state,
                    approval.run_id.map(|r| r.to_string()).unwrap_or_default(),
                    approval.workflow,
                    approval.item_key,
                    approval.tool,
                    serde_json::to_string_pretty(&approval.arguments)?
                );
                if let Some(by) = &approval.decided_by {
                    outln!(
                        "decided by {by}{}",
                        approval
                            .note
                            .as_deref()
                            .map(|n| format!(": {n}"))
                            .unwrap_or_default()
                    );
                }
                if let Some(result) = &approval.result {
                    outln!("result: {result}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Reject {
            id,
            by,
            note,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let approval = store
                .decide_approval(id, Decision::Reject, &reviewer(by), note.as_deref())
                .await?;
            writes::reject_intent(&store, &approval).await?;
            outln!("approval {id} rejected; the write was not sent");
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Approve {
            id,
            by,
            note,
            backend,
        } => approve(id, by, note, backend).await,
    }
}

async fn approve(
    id: i64,
    by: Option<String>,
    note: Option<String>,
    args: BackendArgs,
) -> anyhow::Result<ExitCode> {
    let store = backend::store(&args).await?;
    let approval = store
        .get_approval(id)
        .await?
        .with_context(|| format!("there is no approval {id}"))?;
    let catalog = backend::catalog()?;
    let workflow = backend::find_workflow(&approval.workflow, &args.workflows, &catalog)
        .with_context(|| {
            format!(
                "approval {id} belongs to workflow `{}`, which is needed for its MCP connection",
                approval.workflow
            )
        })?;
    // Approving an already-approved (say, interrupted) approval goes straight to applying it.
    if approval.state == ApprovalState::Pending {
        store
            .decide_approval(id, Decision::Approve, &reviewer(by), note.as_deref())
            .await?;
    }
    let (embedded, _sandbox) =
        backend::embedded(&args, catalog, backend::uses_embedded(&workflow)).await?;
    let mut engine = Engine::new(store.clone(), backend::owner("approvals"));
    if let Some(embedded) = embedded {
        engine = engine.with_embedded(embedded);
    }
    let run_id = store
        .create_run(
            &NewRun::new(&workflow.name, Trigger::Approval, engine.owner())
                .inputs(json!({ "approval": id })),
        )
        .await?;
    let toolbox = engine
        .toolbox(&workflow, run_id, Arc::new(NoopObserver))
        .await;
    let result = match toolbox {
        Ok(toolbox) => writes::apply_approval(&toolbox, id)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e.into()),
    };
    let (status, error, summary) = match &result {
        Ok(a) if a.state == ApprovalState::Applied => {
            (RunStatus::Succeeded, None, a.result.clone())
        }
        Ok(a) => (
            RunStatus::Failed,
            Some(format!(
                "the write failed: {}",
                a.result.clone().unwrap_or(Value::Null)
            )),
            a.result.clone(),
        ),
        Err(e) => (RunStatus::Failed, Some(format!("{e:#}")), None),
    };
    store
        .finish_run(
            run_id,
            &RunFinish {
                status,
                summary: json!({ "approval": id, "result": summary }),
                counts: RunCounts::default(),
                error: error.clone(),
            },
        )
        .await?;
    match (result, error) {
        (Ok(_), None) => {
            outln!("approval {id} applied");
            Ok(ExitCode::SUCCESS)
        }
        (_, Some(error)) => anyhow::bail!("approval {id}: {error}"),
        (Err(e), None) => Err(e),
    }
}

fn reviewer(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
