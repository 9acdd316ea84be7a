//! `deskhand validate`: check workflow files and their tools before anything runs (in CI, in an
//! editor hook, before a deploy).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use zoho_desk_mcp::catalog::Catalog;

use super::backend::ZohoArgs;
use super::output::outln;
use crate::workflow::{McpConnection, Workflow, WorkflowError, workflow_files};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Workflow files to check (default: every *.yaml and *.yml in --workflows).
    files: Vec<PathBuf>,
    /// Directory searched when no files are given.
    #[arg(long, default_value = "workflows")]
    workflows: PathBuf,
    /// Print one JSON document instead of one line per file.
    #[arg(long)]
    json: bool,
    /// The connections file `connection:` names are looked up in (default: connections.yaml in
    /// the user's config directory).
    #[arg(long, env = "DESKHAND_CONNECTIONS")]
    connections: Option<PathBuf>,
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::zoho_desk().context("the embedded Zoho Desk tool catalog is invalid")?;
    let paths = if args.files.is_empty() {
        match workflow_files(&args.workflows) {
            Ok(paths) => paths,
            Err(e) => return report(&[], Some(&e), &args),
        }
    } else {
        args.files.clone()
    };
    let zoho = ZohoArgs {
        connection: None,
        connections: args.connections.clone(),
    };
    let results: Vec<_> = Workflow::load_paths(&paths, &catalog)
        .into_iter()
        .map(|(path, result)| {
            let result = result.and_then(|w| match w.connection.as_deref() {
                Some(name) => match zoho.undefined(name) {
                    Some(problem) => Err(w.connection_error(problem)),
                    None => Ok(w),
                },
                None => Ok(w),
            });
            (path, result)
        })
        .collect();
    if results.is_empty() {
        let e = WorkflowError {
            path: args.workflows.clone(),
            position: None,
            field: None,
            kind: crate::workflow::WorkflowErrorKind::Invalid(
                "no workflow files (*.yaml, *.yml) found".to_string(),
            ),
        };
        return report(&[], Some(&e), &args);
    }
    report(&results, None, &args)
}

fn report(
    results: &[(PathBuf, Result<Workflow, WorkflowError>)],
    fatal: Option<&WorkflowError>,
    args: &ValidateArgs,
) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let failed = fatal.is_some() || results.iter().any(|(_, r)| r.is_err());
    if args.json {
        let mut files: Vec<Value> = results
            .iter()
            .map(|(path, result)| match result {
                Ok(w) => json!({
                    "path": path,
                    "ok": true,
                    "name": w.name,
                    "tools": w.tools,
                    "tools_verified": w.tools_verified,
                    "schedule": w.schedule.as_ref().map(|s| &s.expression),
                    "cron": w.cron(),
                    "timezone": w.timezone.name(),
                    "next_run": w.next_run(now).map(|t| t.to_rfc3339()),
                    "writes": w.writes,
                    "connection": w.connection,
                }),
                Err(e) => json!({ "path": path, "ok": false, "error": error_json(e) }),
            })
            .collect();
        if let Some(e) = fatal {
            files.push(json!({ "path": e.path, "ok": false, "error": error_json(e) }));
        }
        let doc = json!({ "ok": !failed, "files": files });
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for (path, result) in results {
            match result {
                Ok(w) => outln!("ok  {} ({})", path.display(), summary(w, now)),
                Err(e) => outln!("err {}", one_line(&e.to_string())),
            }
        }
        if let Some(e) = fatal {
            outln!("err {}", one_line(&e.to_string()));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(w: &Workflow, now: chrono::DateTime<chrono::Utc>) -> String {
    let count = w.tools.len();
    let mut parts = vec![format!(
        "{}: {count} tool{}",
        w.name,
        if count == 1 { "" } else { "s" }
    )];
    if !w.tools_verified {
        let kind = match w.mcp {
            McpConnection::Url { .. } => "url",
            McpConnection::Command { .. } => "command",
            McpConnection::Embedded => "embedded",
        };
        parts.push(format!(
            "tools not checked: {kind} MCP connection, listed when connected"
        ));
    }
    parts.push(format!("writes {}", w.writes));
    if let Some(connection) = &w.connection {
        parts.push(format!("connection {connection}"));
    }
    match &w.schedule {
        Some(s) => {
            let next = w
                .next_run(now)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".to_string());
            parts.push(format!(
                "schedule {} {}, next run {next}",
                s.expression,
                w.timezone.name()
            ));
        }
        None => parts.push("no schedule".to_string()),
    }
    parts.join(", ")
}

fn error_json(e: &WorkflowError) -> Value {
    json!({
        "file": e.path,
        "line": e.position.map(|p| p.line),
        "column": e.position.map(|p| p.col),
        "field": e.field,
        "message": e.kind.to_string(),
        "text": e.to_string(),
    })
}

/// One line per file, whatever the message contains.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ")
}
