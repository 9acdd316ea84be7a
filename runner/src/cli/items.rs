//! `deskhand items`: the work items behind the runs, for the operator to see what is deferred,
//! failed or abandoned, and to give items a fresh start.

use std::process::ExitCode;

use super::backend::{self, BackendArgs};
use super::output::outln;
use super::table;
use crate::store::ItemView;

#[derive(Debug, clap::Args)]
pub struct ItemsArgs {
    #[command(subcommand)]
    command: ItemsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ItemsCommand {
    /// List items, optionally of one workflow and in one state.
    List {
        /// Only this workflow's items.
        #[arg(long)]
        workflow: Option<String>,
        /// pending, deferred (waiting for a rate limit to reset), running, succeeded, failed or
        /// abandoned.
        #[arg(long, value_parser = parse_view)]
        state: Option<ItemView>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Give failed, abandoned or deferred items a fresh start (no attempts, no deferral): the
    /// next run works them again.
    Retry {
        /// The workflow whose items to retry.
        #[arg(long)]
        workflow: String,
        /// Item keys (ticket ids); all of the workflow's failed, abandoned and deferred items
        /// when none is given.
        keys: Vec<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

fn parse_view(text: &str) -> Result<ItemView, String> {
    text.parse()
}

pub async fn run(args: ItemsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ItemsCommand::List {
            workflow,
            state,
            json,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let items = store.items_in_state(workflow.as_deref(), state).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(ExitCode::SUCCESS);
            }
            if items.is_empty() {
                outln!("no items");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    vec![
                        i.workflow.clone(),
                        i.item_key.clone(),
                        i.status.to_string(),
                        i.attempts.to_string(),
                        i.not_before.map(table::time).unwrap_or_default(),
                        i.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            outln!(
                "{}",
                table::render(
                    &[
                        "workflow",
                        "item",
                        "status",
                        "attempts",
                        "not before (UTC)",
                        "last error"
                    ],
                    &rows,
                    60
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        ItemsCommand::Retry {
            workflow,
            keys,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let reset = store.retry_items(Some(&workflow), &keys).await?;
            outln!("{reset} item(s) of {workflow} will be worked again on the next run");
            Ok(ExitCode::SUCCESS)
        }
    }
}
