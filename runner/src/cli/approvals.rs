//! `deskhand approvals`: the writes held under `writes: approve`, decided by a human. Approving
//! applies the write through the same exactly-once path as a run (intent first, reconcile after
//! a crash), after claiming it, so approving twice, at once or after an interruption never
//! writes twice. An approval is applied only under the connection it was proposed for, and only
//! while its ticket still has the values the proposal was based on (`--anyway` overrides that).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use super::backend::{self, BackendArgs};
use super::output::{self, outln};
use super::table;
use crate::agent::Toolbox;
use crate::agent::writes::{self, ApplyError};
use crate::embedded::SandboxBackend;
use crate::engine::Engine;
use crate::mcp::EmbeddedServer;
use crate::retry::NoopObserver;
use crate::store::{
    Approval, ApprovalFilter, ApprovalState, Decision, NewRun, RunCounts, RunFinish, RunId,
    RunStatus, Store, Trigger,
};

#[derive(Debug, clap::Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ApprovalsCommand {
    /// Queued writes per ticket, oldest first: the change, the reason and the confidence.
    List {
        /// pending (default), approved, applying, rejected, applied, failed, or all.
        #[arg(long, default_value = "pending")]
        state: String,
        #[arg(long)]
        workflow: Option<String>,
        /// Only the writes of this run.
        #[arg(long)]
        run: Option<RunId>,
        /// Only the writes for this ticket (its number or id).
        #[arg(long)]
        ticket: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
        /// Do not shorten cells to fit 80 columns.
        #[arg(long)]
        wide: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// One queued write: its ticket, the change field by field, reason, decision and result.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Approve writes and apply them now: one by id, or all pending ones of a run, workflow or
    /// ticket, or every pending one (after a confirmation).
    Approve {
        #[command(flatten)]
        select: Select,
        /// Apply even if a person changed the ticket since the proposal.
        #[arg(long)]
        anyway: bool,
        /// Who approved (default: $USER).
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// Approve the write with these arguments instead of the proposed ones: a JSON object
        /// replacing them all (the same ticket; `approvals show N --json` prints the proposal).
        /// The proposal stays on record.
        #[arg(long, value_name = "FILE")]
        args_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Reject writes: never sent, never queued again; a rejected assignment leaves a private
    /// note on the ticket.
    Reject {
        #[command(flatten)]
        select: Select,
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Apply an approved write again after its apply failed (it is still sent at most once).
    Retry {
        id: i64,
        /// Apply even if a person changed the ticket since the proposal.
        #[arg(long)]
        anyway: bool,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

/// Which approvals a decision covers: one id, or a bulk selection of pending ones.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("which")
        .required(true)
        .args(["id", "run", "workflow", "ticket", "all_pending"])
))]
struct Select {
    /// One approval.
    id: Option<i64>,
    /// Every pending write of this run.
    #[arg(long)]
    run: Option<RunId>,
    /// Every pending write of this workflow.
    #[arg(long)]
    workflow: Option<String>,
    /// Every pending write for this ticket (its number or id).
    #[arg(long)]
    ticket: Option<String>,
    /// Every pending write.
    #[arg(long)]
    all_pending: bool,
    /// Decide a bulk selection without asking for confirmation.
    #[arg(long)]
    yes: bool,
}

/// Bulk decisions look at this many pending approvals at most.
const BULK_LIMIT: u32 = 10_000;

pub async fn run(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ApprovalsCommand::List {
            state,
            workflow,
            run,
            ticket,
            limit,
            json,
            wide,
            backend,
        } => {
            let state = match state.as_str() {
                "all" => None,
                s => Some(s.parse::<ApprovalState>().map_err(anyhow::Error::msg)?),
            };
            let store = backend::store(&backend).await?;
            let approvals = store
                .find_approvals(&ApprovalFilter {
                    state,
                    workflow,
                    run_id: run,
                    item_key: None,
                    limit: if ticket.is_some() { BULK_LIMIT } else { limit },
                })
                .await?;
            let approvals: Vec<Approval> = match &ticket {
                Some(t) => approvals
                    .into_iter()
                    .filter(|a| for_ticket(a, t))
                    .take(usize::try_from(limit).unwrap_or(usize::MAX))
                    .collect(),
                None => approvals,
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&approvals)?);
            } else if approvals.is_empty() {
                outln!("no approvals");
            } else {
                outln!("{}", render_list(&approvals, wide));
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
                outln!("{}", render_one(&approval));
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Approve {
            select,
            anyway,
            by,
            note,
            args_file,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let chosen = selected(&store, &select).await?;
            if !confirmed(&select, "approve and apply", &chosen)? {
                outln!("nothing decided");
                return Ok(ExitCode::SUCCESS);
            }
            let arguments = match &args_file {
                Some(path) => {
                    if select.id.is_none() {
                        anyhow::bail!(
                            "--args-file edits one write; name it by its id, not a bulk selection"
                        );
                    }
                    Some(read_args_file(path)?)
                }
                None => None,
            };
            if let Some(edited) = &arguments {
                for approval in &chosen {
                    writes::check_edit_target(approval, edited)?;
                }
            }
            let decision = Decide {
                by: reviewer(by),
                note,
                anyway,
                arguments,
            };
            decide_all(&store, &backend, chosen, Verb::Approve, &decision).await
        }
        ApprovalsCommand::Reject {
            select,
            by,
            note,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let chosen = selected(&store, &select).await?;
            if !confirmed(&select, "reject", &chosen)? {
                outln!("nothing decided");
                return Ok(ExitCode::SUCCESS);
            }
            let decision = Decide {
                by: reviewer(by),
                note,
                anyway: false,
                arguments: None,
            };
            decide_all(&store, &backend, chosen, Verb::Reject, &decision).await
        }
        ApprovalsCommand::Retry {
            id,
            anyway,
            backend,
        } => {
            let store = backend::store(&backend).await?;
            let approval = store
                .get_approval(id)
                .await?
                .with_context(|| format!("there is no approval {id}"))?;
            if !matches!(
                approval.state,
                ApprovalState::Failed | ApprovalState::Approved | ApprovalState::Applying
            ) {
                anyhow::bail!(
                    "approval {id} is {}; only a failed (or interrupted) apply can be retried",
                    approval.state
                );
            }
            let decision = Decide {
                by: reviewer(None),
                note: None,
                anyway,
                arguments: None,
            };
            decide_all(&store, &backend, vec![approval], Verb::Retry, &decision).await
        }
    }
}

/// The JSON object of `--args-file`.
fn read_args_file(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid JSON ({e}); nothing was changed",
            path.display()
        )
    })?;
    if !value.is_object() {
        anyhow::bail!(
            "{} must hold a JSON object of the write's arguments; nothing was changed",
            path.display()
        );
    }
    Ok(value)
}

/// Whether `approval` is for ticket `wanted` (its number, with or without `#`, or its id).
fn for_ticket(approval: &Approval, wanted: &str) -> bool {
    let wanted = wanted.trim().trim_start_matches('#');
    approval.item_key == wanted || approval.ticket_number() == wanted
}

async fn selected(store: &Store, select: &Select) -> anyhow::Result<Vec<Approval>> {
    if let Some(id) = select.id {
        let approval = store
            .get_approval(id)
            .await?
            .with_context(|| format!("there is no approval {id}"))?;
        return Ok(vec![approval]);
    }
    let pending = store
        .find_approvals(&ApprovalFilter {
            state: Some(ApprovalState::Pending),
            workflow: select.workflow.clone(),
            run_id: select.run,
            item_key: None,
            limit: BULK_LIMIT,
        })
        .await?;
    Ok(match &select.ticket {
        Some(t) => pending.into_iter().filter(|a| for_ticket(a, t)).collect(),
        None => pending,
    })
}

/// Asks before a bulk decision, unless `--yes`; one approval by id needs no confirmation.
fn confirmed(select: &Select, what: &str, chosen: &[Approval]) -> anyhow::Result<bool> {
    if select.id.is_some() || select.yes || chosen.is_empty() {
        return Ok(true);
    }
    let mut tickets: Vec<String> = chosen
        .iter()
        .map(|a| format!("#{}", a.ticket_number()))
        .collect();
    tickets.sort();
    tickets.dedup();
    let question = format!(
        "{what} {} pending write(s) on {} ticket(s) ({})? [y/N] ",
        chosen.len(),
        tickets.len(),
        tickets.join(", ")
    );
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{question}\nnot asked, since input is not a terminal; pass --yes to confirm"
        );
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("could not read the confirmation")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verb {
    Approve,
    Reject,
    Retry,
}

pub(crate) struct Decide {
    pub by: String,
    pub note: Option<String>,
    pub anyway: bool,
    /// The reviewer's edit of one pending write's arguments, approved and sent instead of the
    /// proposal (only with [`Verb::Approve`] and one approval).
    pub arguments: Option<Value>,
}

/// What became of one approval in a decision: a line for the reviewer, or why it failed.
pub(crate) type Outcome = Result<String, String>;

/// The connection one workflow's approvals are applied through, and the run that records it.
struct Applier {
    run_id: RunId,
    toolbox: Toolbox,
    engine: Engine,
}

async fn decide_all(
    store: &Store,
    args: &BackendArgs,
    chosen: Vec<Approval>,
    verb: Verb,
    decision: &Decide,
) -> anyhow::Result<ExitCode> {
    if chosen.is_empty() {
        outln!("no pending approvals match");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for outcome in decide(store, args, None, chosen, verb, decision).await? {
        match outcome {
            Ok(line) => outln!("{line}"),
            Err(line) => {
                failed = true;
                output::note(&line);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Decides `chosen` (grouped per workflow, each group applied through its workflow's connection
/// under a run of its own), one outcome per approval in order. `embedded`, when given, is the
/// gateway embedded workflows use (a long-lived process's own); otherwise `args` says.
pub(crate) async fn decide(
    store: &Store,
    args: &BackendArgs,
    embedded: Option<&EmbeddedServer>,
    chosen: Vec<Approval>,
    verb: Verb,
    decision: &Decide,
) -> anyhow::Result<Vec<Outcome>> {
    if decision.arguments.is_some() && (verb != Verb::Approve || chosen.len() != 1) {
        anyhow::bail!("an edit applies to one pending write being approved");
    }
    let mut outcomes = Vec::new();
    let mut by_workflow: BTreeMap<String, Vec<Approval>> = BTreeMap::new();
    for approval in chosen {
        by_workflow
            .entry(approval.workflow.clone())
            .or_default()
            .push(approval);
    }
    let catalog = backend::catalog()?;
    // With --sandbox, one in-process sandbox serves every workflow of this command.
    let mut sandbox: Option<SandboxBackend> = None;
    for (workflow_name, approvals) in by_workflow {
        let needs_connection = verb != Verb::Reject || approvals.iter().any(writes::is_assignment);
        let mut applier = None;
        if needs_connection {
            match connect(
                store,
                args,
                embedded,
                &catalog,
                &workflow_name,
                &mut sandbox,
            )
            .await
            {
                Ok(a) => applier = Some(a),
                Err(e) => {
                    for a in &approvals {
                        outcomes.push(Err(format!("approval {}: {e:#}", a.id)));
                    }
                    continue;
                }
            }
        }
        let mut applied = 0u32;
        let mut failed = 0u32;
        for approval in &approvals {
            let outcome = decide_one(store, applier.as_ref(), approval, verb, decision).await;
            match outcome {
                Ok(message) => {
                    applied += 1;
                    outcomes.push(Ok(message));
                }
                Err(e) => {
                    failed += 1;
                    outcomes.push(Err(format!("{e:#}")));
                }
            }
        }
        if let Some(applier) = applier {
            let ids: Vec<i64> = approvals.iter().map(|a| a.id).collect();
            store
                .finish_run(
                    applier.run_id,
                    &RunFinish {
                        status: if failed == 0 {
                            RunStatus::Succeeded
                        } else {
                            RunStatus::Failed
                        },
                        summary: json!({ "approvals": ids, "done": applied, "failed": failed }),
                        counts: RunCounts::default(),
                        error: (failed > 0)
                            .then(|| format!("{failed} of {} approvals failed", ids.len())),
                    },
                )
                .await?;
        }
    }
    Ok(outcomes)
}

async fn connect(
    store: &Store,
    args: &BackendArgs,
    given: Option<&EmbeddedServer>,
    catalog: &Arc<zoho_desk_mcp::catalog::Catalog>,
    workflow_name: &str,
    sandbox: &mut Option<SandboxBackend>,
) -> anyhow::Result<Applier> {
    let mut workflow = backend::find_workflow(workflow_name, &args.workflows, catalog)
        .with_context(|| {
            format!("the workflow `{workflow_name}` is needed for its MCP connection")
        })?;
    let mut engine = Engine::new(store.clone(), backend::owner("approvals"));
    if let Some(given) = given {
        engine = engine.with_embedded(given.clone());
    } else if let Some(s) = sandbox.as_ref() {
        engine = engine.with_embedded(EmbeddedServer::new(s.gateway.clone()));
    } else {
        // The workflow's own connection (or --connection): the one its approvals were proposed
        // under, which `check_connection` then confirms.
        let (embedded, started) =
            backend::embedded_for(args, catalog.clone(), &mut workflow).await?;
        if let Some(embedded) = embedded {
            engine = engine.with_embedded(embedded);
        }
        *sandbox = started;
    }
    let run_id = store
        .create_run(&NewRun::new(
            &workflow.name,
            Trigger::Approval,
            engine.owner(),
        ))
        .await?;
    let toolbox = match engine
        .toolbox(&workflow, run_id, Arc::new(NoopObserver))
        .await
    {
        Ok(t) => t,
        Err(e) => {
            store
                .finish_run(
                    run_id,
                    &RunFinish {
                        status: RunStatus::Failed,
                        summary: Value::Null,
                        counts: RunCounts::default(),
                        error: Some(e.to_string()),
                    },
                )
                .await?;
            return Err(e.into());
        }
    };
    Ok(Applier {
        run_id,
        toolbox,
        engine,
    })
}

async fn decide_one(
    store: &Store,
    applier: Option<&Applier>,
    approval: &Approval,
    verb: Verb,
    decision: &Decide,
) -> anyhow::Result<String> {
    let id = approval.id;
    let ticket = approval.ticket_number();
    match verb {
        Verb::Reject => {
            let note_it = writes::is_assignment(approval);
            if note_it && let Some(a) = applier {
                writes::check_connection(&a.toolbox, approval)?;
            }
            let rejected = store
                .decide_approval(id, Decision::Reject, &decision.by, decision.note.as_deref())
                .await?;
            writes::reject_intent(store, &rejected).await?;
            if note_it && let Some(a) = applier {
                writes::note_rejection(&a.toolbox, &rejected)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("approval {id} rejected, but the ticket's note: {e}")
                    })?;
                return Ok(format!(
                    "approval {id} (#{ticket}) rejected; the write was not sent, and the ticket has a private note saying so"
                ));
            }
            Ok(format!(
                "approval {id} (#{ticket}) rejected; the write was not sent"
            ))
        }
        Verb::Approve | Verb::Retry => {
            let Some(a) = applier else {
                anyhow::bail!("approval {id}: no connection to apply it through");
            };
            writes::check_connection(&a.toolbox, approval)?;
            if approval.state == ApprovalState::Pending {
                let edited = match &decision.arguments {
                    Some(edit) => Some(writes::check_edit(&a.toolbox, approval, edit)?)
                        .filter(|args| *args != approval.arguments),
                    None => None,
                };
                if !decision.anyway {
                    // Fresh against what will be sent: the edit's fields, the proposal's base.
                    let sent = Approval {
                        arguments: edited.clone().unwrap_or_else(|| approval.arguments.clone()),
                        ..approval.clone()
                    };
                    writes::check_fresh(&a.toolbox, &sent).await?;
                }
                match &edited {
                    Some(args) => {
                        store
                            .approve_edited(id, &decision.by, decision.note.as_deref(), args)
                            .await?
                    }
                    None => {
                        store
                            .decide_approval(
                                id,
                                Decision::Approve,
                                &decision.by,
                                decision.note.as_deref(),
                            )
                            .await?
                    }
                };
            } else if decision.arguments.is_some() {
                anyhow::bail!(
                    "approval {id} is {}; only a pending write can be edited",
                    approval.state
                );
            }
            let claimant = format!("{} ({})", a.engine.owner(), decision.by);
            let done = writes::apply_approval(&a.toolbox, id, &claimant, decision.anyway)
                .await
                .map_err(|e| match e {
                    ApplyError::Store(inner) => anyhow::anyhow!("approval {id}: {inner}"),
                    other => anyhow::anyhow!("{other}"),
                })?;
            if done.state == ApprovalState::Applied {
                let edited = if done.proposed_arguments.is_some() {
                    " as edited"
                } else {
                    ""
                };
                Ok(format!("approval {id} (#{ticket}) applied{edited}"))
            } else {
                anyhow::bail!(
                    "approval {id} (#{ticket}) failed: {}; `deskhand approvals retry {id}` tries again",
                    done.result.unwrap_or(Value::Null)
                )
            }
        }
    }
}

/// What a write does, in a few words: the changed fields with names, or the text it adds.
pub(crate) fn change_text(approval: &Approval) -> String {
    if let Some(content) = approval.arguments.get("content").and_then(Value::as_str) {
        let kind = match approval.tool.as_str() {
            crate::agent::reconcile::ADD_COMMENT => "note",
            _ => "reply",
        };
        return format!("{kind}: {}", content.replace(['\n', '\r'], " "));
    }
    approval
        .changes()
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                writes::field_label(&c.field),
                c.current
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), |v| approval.named(v)),
                approval.named(&c.proposed)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_list(approvals: &[Approval], wide: bool) -> String {
    let (ticket_w, change_w, reason_w) = if wide {
        (usize::MAX, usize::MAX, usize::MAX)
    } else {
        (16, 24, 14)
    };
    // Per ticket: a ticket's writes are read (and decided) together.
    let mut sorted: Vec<&Approval> = approvals.iter().collect();
    sorted.sort_by_key(|a| (a.workflow.clone(), a.ticket_number(), a.id));
    let rows: Vec<Vec<String>> = sorted
        .into_iter()
        .map(|a| {
            let ticket = match a.subject() {
                Some(s) => format!("#{} {s}", a.ticket_number()),
                None => format!("#{}", a.ticket_number()),
            };
            vec![
                a.id.to_string(),
                table::cut(&ticket, ticket_w),
                table::cut(&change_text(a), change_w),
                table::cut(a.reason.as_deref().unwrap_or("-"), reason_w),
                a.confidence
                    .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
                a.state.to_string(),
            ]
        })
        .collect();
    table::render(
        &["id", "ticket", "change", "reason", "conf", "state"],
        &rows,
        usize::MAX,
    )
}

fn render_one(a: &Approval) -> String {
    let mut out = format!(
        "approval {} ({}) of {}, run {}\nticket: #{}{}",
        a.id,
        a.state,
        a.workflow,
        a.run_id
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into()),
        a.ticket_number(),
        a.subject().map(|s| format!(" {s}")).unwrap_or_default(),
    );
    if let Some(url) = a
        .ticket
        .as_ref()
        .and_then(|t| t.get("url"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        out.push_str(&format!("\nin Zoho: {url}"));
    }
    if let Some(connection) = &a.connection {
        out.push_str(&format!("\nconnection: {connection}"));
    }
    out.push_str(&format!("\ntool: {}", a.tool));
    if let Some(content) = a.arguments.get("content").and_then(Value::as_str) {
        out.push_str(&format!("\ntext:\n{content}"));
    } else {
        for c in a.changes() {
            out.push_str(&format!(
                "\n  {}: {} -> {}",
                writes::field_label(&c.field),
                c.current
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), |v| a.named(v)),
                a.named(&c.proposed)
            ));
        }
    }
    if let Some(reason) = &a.reason {
        out.push_str(&format!("\nreason: {reason}"));
    }
    if let Some(confidence) = a.confidence {
        out.push_str(&format!("\nconfidence: {confidence:.2}"));
    }
    if let Some(by) = &a.decided_by {
        out.push_str(&format!(
            "\ndecided by {by}{}",
            a.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ));
    }
    if let Some(proposed) = &a.proposed_arguments {
        out.push_str(&format!(
            "\nedited before approval; the agent proposed: {proposed}"
        ));
    }
    if a.attempts > 0 {
        out.push_str(&format!("\napply attempts: {}", a.attempts));
    }
    if let Some(result) = &a.result {
        out.push_str(&format!("\nresult: {result}"));
    }
    out
}

pub(crate) fn reviewer(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
