//! Writes under the workflow's policy, exactly once.
//!
//! Under `apply`, a write's intent is stored under a deterministic key before it is sent and
//! marked with its outcome after. The key is (workflow, item, item version, tool, n-th call of
//! that tool in the attempt): a resumed attempt at the same ticket version reaches the same keys
//! whatever the model phrased differently, finds what the crashed attempt did and does not do it
//! twice. A write whose fate is unknown (crash, dropped connection, 5xx) is checked against Zoho
//! ([`super::reconcile`]) before anything is sent again.

use std::time::Instant;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::mcp::ToolOutcome as McpOutcome;
use crate::retry::CallOutcome;
use crate::store::{
    Approval, ApprovalState, Intent, IntentState, NewApproval, StoreError, ToolOutcome,
};
use crate::workflow::WritePolicy;

use super::proposal::{self, Drift, Proposal};
use super::reconcile::{self, ADD_COMMENT, Landing, UPDATE_TICKET};
use super::toolbox::{Halt, ItemTools, ToolReply, Toolbox, answer_to_reply};

/// The idempotency key of the `ordinal`-th call of `tool` for one item version.
pub fn idempotency_key(
    workflow: &str,
    item_key: &str,
    scope: &str,
    tool: &str,
    ordinal: u32,
) -> String {
    let mut hash = Sha256::new();
    for part in [workflow, item_key, scope, tool, &ordinal.to_string()] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    hex::encode(&hash.finalize()[..16])
}

/// The write's idempotency key for this item and its intent, stored on first sight: what both
/// `approve` and `apply` build on.
async fn intent_of(
    tools: &ItemTools<'_>,
    name: &str,
    ordinal: u32,
    arguments: &Value,
) -> Result<(String, Intent), StoreError> {
    let toolbox = tools.toolbox();
    let key = idempotency_key(
        &toolbox.workflow,
        &tools.item_key,
        &tools.scope,
        name,
        ordinal,
    );
    let intent = toolbox
        .store()
        .record_intent(&key, toolbox.run_id(), &tools.item_key, name, arguments)
        .await?;
    Ok((key, intent))
}

pub(crate) async fn write(
    tools: &ItemTools<'_>,
    step: u32,
    name: &str,
    args: Map<String, Value>,
    ordinal: u32,
) -> Result<ToolReply, Halt> {
    let toolbox = tools.toolbox();
    let store = toolbox.store();
    let started = Instant::now();
    let args_value = Value::Object(args.clone());
    match toolbox.policy() {
        WritePolicy::DryRun => {
            let key = format!(
                "dry-{}",
                idempotency_key(
                    &toolbox.workflow,
                    &tools.item_key,
                    &format!("run {}", toolbox.run_id()),
                    name,
                    ordinal
                )
            );
            let intent = store
                .record_intent(&key, toolbox.run_id(), &tools.item_key, name, &args_value)
                .await?;
            if !intent.state.is_final() {
                store.mark_intent(&key, IntentState::DryRun, None).await?;
            }
            let reply = ToolReply::ok(json!({
                "dry_run": true,
                "sent": false,
                "note": "dry run: this write was recorded, not sent; go on as if it had succeeded",
            }));
            tools
                .record_write(
                    step,
                    name,
                    args_value,
                    ToolOutcome::DryRun,
                    None,
                    &reply,
                    started,
                )
                .await?;
            Ok(reply)
        }
        WritePolicy::Approve => {
            let (key, intent) = intent_of(tools, name, ordinal, &args_value).await?;
            let reply = match intent.state {
                IntentState::Succeeded | IntentState::Reconciled => already_applied(&intent),
                IntentState::Rejected => ToolReply::error(
                    "a reviewer rejected this write for this ticket; do not try it again",
                ),
                _ => {
                    // A queued intent has its approval already: queuing it again returns that.
                    let described = if intent.state == IntentState::Queued {
                        Proposal::default()
                    } else {
                        store.mark_intent(&key, IntentState::Queued, None).await?;
                        proposal::describe(toolbox, name, &args).await
                    };
                    let approval = store
                        .queue_approval(&NewApproval {
                            intent_id: Some(intent.id),
                            run_id: Some(toolbox.run_id()),
                            workflow: toolbox.workflow.clone(),
                            item_key: tools.item_key.clone(),
                            tool: name.to_owned(),
                            arguments: args_value.clone(),
                            connection: Some(toolbox.connection().to_owned()),
                            base: described.base,
                            ticket: described.ticket,
                            names: described.names,
                            ..NewApproval::default()
                        })
                        .await?;
                    ToolReply::ok(json!({
                        "queued_for_approval": true,
                        "approval_id": approval.id,
                        "sent": false,
                        "note": "queued for a human to approve; go on as if it will be applied",
                    }))
                }
            };
            tools
                .record_write(
                    step,
                    name,
                    args_value,
                    ToolOutcome::Queued,
                    None,
                    &reply,
                    started,
                )
                .await?;
            Ok(reply)
        }
        WritePolicy::Apply => {
            let (key, intent) = intent_of(tools, name, ordinal, &args_value).await?;
            if !intent.created {
                match intent.state {
                    IntentState::Succeeded | IntentState::Reconciled => {
                        let reply = already_applied(&intent);
                        tools
                            .record_write(
                                step,
                                name,
                                args_value,
                                ToolOutcome::Ok,
                                Some("ALREADY_APPLIED".into()),
                                &reply,
                                started,
                            )
                            .await?;
                        return Ok(reply);
                    }
                    IntentState::Recorded | IntentState::Sent => {
                        match reconcile::check(toolbox, &intent).await {
                            Landing::Landed(found) => {
                                let settled = store
                                    .mark_intent(&key, IntentState::Reconciled, Some(&found))
                                    .await?;
                                let reply = already_applied(&settled);
                                tools
                                    .record_write(
                                        step,
                                        name,
                                        args_value,
                                        ToolOutcome::Ok,
                                        Some("ALREADY_APPLIED".into()),
                                        &reply,
                                        started,
                                    )
                                    .await?;
                                return Ok(reply);
                            }
                            Landing::NotLanded => {
                                store
                                    .reopen_intent(&key, toolbox.run_id(), &args_value)
                                    .await?;
                            }
                            Landing::Unknown(reason) => {
                                return Err(Halt::Unsettled {
                                    tool: name.to_owned(),
                                    reason,
                                });
                            }
                        }
                    }
                    IntentState::Failed => {
                        store
                            .reopen_intent(&key, toolbox.run_id(), &args_value)
                            .await?;
                    }
                    IntentState::Queued | IntentState::Rejected | IntentState::DryRun => {
                        let reply = ToolReply::error(format!(
                            "this write is {} from an earlier run under another write policy; it was not sent",
                            intent.state
                        ));
                        tools
                            .record_write(
                                step,
                                name,
                                args_value,
                                ToolOutcome::Error,
                                Some("NOT_SENT".into()),
                                &reply,
                                started,
                            )
                            .await?;
                        return Ok(reply);
                    }
                }
            }
            let reply =
                send_recorded(toolbox, &key, name, args, Some((tools, step, started))).await?;
            Ok(reply)
        }
    }
}

/// Sends a write whose intent is recorded under `key` and settles the intent. `record` is the
/// item to record the tool call under (absent when an approval is applied outside any item).
pub(crate) async fn send_recorded(
    toolbox: &Toolbox,
    key: &str,
    name: &str,
    args: Map<String, Value>,
    record: Option<(&ItemTools<'_>, u32, Instant)>,
) -> Result<ToolReply, Halt> {
    let store = toolbox.store();
    let sent = store.mark_intent(key, IntentState::Sent, None).await?;
    let args_value = Value::Object(args.clone());
    let outcome = match record {
        Some((tools, _, _)) => tools.send(name, args).await,
        None => toolbox.send(name, args).await,
    };
    let settle = settle_outcome(toolbox, &sent, outcome).await;
    let (reply, status, code) = match settle {
        Ok(done) => done,
        Err(halt) => {
            if let Some((tools, step, started)) = record {
                let content = json!({ "error": halt.to_string() });
                tools
                    .record(
                        step,
                        name,
                        args_value,
                        true,
                        ToolOutcome::Error,
                        None,
                        Some("HALTED".into()),
                        &content,
                        started,
                    )
                    .await?;
            }
            return Err(halt);
        }
    };
    if let Some((tools, step, started)) = record {
        let outcome = if reply.ok {
            ToolOutcome::Ok
        } else {
            ToolOutcome::Error
        };
        tools
            .record(
                step,
                name,
                args_value,
                true,
                outcome,
                status,
                code,
                &reply.content,
                started,
            )
            .await?;
    }
    Ok(reply)
}

type Settled = (ToolReply, Option<u16>, Option<String>);

async fn settle_outcome(
    toolbox: &Toolbox,
    intent: &Intent,
    outcome: CallOutcome,
) -> Result<Settled, Halt> {
    let store = toolbox.store();
    let key = intent.idempotency_key.as_str();
    // A write without a readable success may have happened: a 5xx (Zoho may have committed
    // before failing), a dropped connection, a timeout, or a 2xx whose body was unreadable. Ask
    // Zoho before deciding, and never count it as a refusal.
    let uncertain = match &outcome {
        CallOutcome::Answered(McpOutcome::ToolError(f)) => f.may_have_landed(),
        CallOutcome::Unreachable(_) => true,
        _ => false,
    };
    if uncertain {
        match reconcile::check(toolbox, intent).await {
            Landing::Landed(found) => {
                store
                    .mark_intent(key, IntentState::Reconciled, Some(&found))
                    .await?;
                return Ok((ToolReply::ok(found), None, Some("RECONCILED".into())));
            }
            Landing::NotLanded => {}
            Landing::Unknown(reason) => {
                // Left `sent`: the next run checks again before anything is resent.
                return Err(Halt::Unsettled {
                    tool: intent.tool.clone(),
                    reason,
                });
            }
        }
    }
    match outcome {
        CallOutcome::Answered(McpOutcome::Ok(value)) => {
            store
                .mark_intent(key, IntentState::Succeeded, Some(&value))
                .await?;
            Ok((ToolReply::ok(value), None, None))
        }
        CallOutcome::RateLimited { until, failure } => {
            // A 429 is a refusal: nothing was written.
            let raw = failure
                .as_ref()
                .map(|f| f.raw.clone())
                .unwrap_or(Value::Null);
            store
                .mark_intent(key, IntentState::Failed, Some(&raw))
                .await?;
            Err(Halt::RateLimited {
                until,
                message: failure
                    .map(|f| f.message)
                    .unwrap_or_else(|| "rate limited".into()),
            })
        }
        other => {
            let failed = answer_to_reply(other);
            let content = match &failed {
                Ok((reply, _, _)) => reply.content.clone(),
                Err(halt) => json!({ "error": halt.to_string() }),
            };
            store
                .mark_intent(key, IntentState::Failed, Some(&content))
                .await?;
            failed
        }
    }
}

fn already_applied(intent: &Intent) -> ToolReply {
    ToolReply::ok(json!({
        "already_applied": true,
        "note": "an earlier attempt at this ticket already made this write; it was not sent again",
        "result": intent.outcome.clone().unwrap_or(Value::Null),
    }))
}

/// How long a claim to apply an approval holds before another approver may take it over (the
/// holder crashed). Longer than any apply, including waits for a rate limit's reset.
pub const CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Refuses an approval proposed for another helpdesk than the one `toolbox` reaches.
pub fn check_connection(toolbox: &Toolbox, approval: &Approval) -> Result<(), ApplyError> {
    match &approval.connection {
        Some(proposed) if proposed != toolbox.connection() => Err(ApplyError::WrongConnection {
            id: approval.id,
            proposed: proposed.clone(),
            current: toolbox.connection().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Refuses an approval whose ticket a person changed since the proposal.
pub async fn check_fresh(toolbox: &Toolbox, approval: &Approval) -> Result<(), ApplyError> {
    match proposal::drift(toolbox, approval).await {
        Ok(drift) if drift.is_empty() => Ok(()),
        Ok(drift) => Err(ApplyError::Stale {
            id: approval.id,
            ticket: approval.ticket_number(),
            diff: proposal::describe_drift(approval, &drift),
            drift,
        }),
        Err(reason) => Err(ApplyError::Unchecked {
            id: approval.id,
            reason,
        }),
    }
}

/// The keys that name a write's ticket: an edit may not change them.
const TICKET_KEYS: [&str; 2] = ["id", "ticketId"];

/// Checks a reviewer's edit of a pending write without a connection: a JSON object that names
/// the same ticket as the proposal. A run's writes are confined to the item's own ticket, and
/// an edit is held to the same rule (a write that names no ticket is refused too).
pub fn check_edit_target(approval: &Approval, edited: &Value) -> Result<(), ApplyError> {
    let id = approval.id;
    let Some(edited) = edited.as_object() else {
        return Err(ApplyError::Edit {
            id,
            reason: "the edited arguments must be a JSON object".to_owned(),
        });
    };
    let proposed = approval.arguments.as_object().cloned().unwrap_or_default();
    let named = |args: &Map<String, Value>, key: &str| args.get(key).and_then(reconcile::id_text);
    for key in TICKET_KEYS {
        if named(&proposed, key) != named(edited, key) {
            return Err(ApplyError::Edit {
                id,
                reason: format!(
                    "`{key}` must stay {} (an edit may not move the write to another ticket)",
                    named(&proposed, key).map_or_else(|| "absent".to_owned(), |t| format!("{t:?}"))
                ),
            });
        }
    }
    if proposal::ticket_of(&approval.tool, edited).is_none() {
        return Err(ApplyError::Edit {
            id,
            reason: "the edited write names no ticket".to_owned(),
        });
    }
    Ok(())
}

/// Checks a reviewer's edit as the run checked the agent's call: same ticket, and valid for the
/// tool's input schema as `toolbox`'s server describes it. Returns the arguments to send.
pub fn check_edit(
    toolbox: &Toolbox,
    approval: &Approval,
    edited: &Value,
) -> Result<Value, ApplyError> {
    check_edit_target(approval, edited)?;
    let Some(info) = toolbox.server_tool(&approval.tool) else {
        return Err(ApplyError::Edit {
            id: approval.id,
            reason: format!("the server has no tool `{}`", approval.tool),
        });
    };
    let valid = zoho_desk_mcp::catalog::validate_json(&info.input_schema, edited.clone()).map_err(
        |message| ApplyError::Edit {
            id: approval.id,
            reason: format!("invalid arguments for `{}`: {message}", approval.tool),
        },
    )?;
    // Coercion may not move the write either.
    check_edit_target(approval, &valid)?;
    Ok(valid)
}

/// Applies an approved (or failed, to retry it) write: `claimant` claims it first, so of two
/// approvers applying at once one sends and the other is told it is being applied. The intent it
/// was queued under is sent (or, after a crash in the middle of an earlier apply, checked
/// against Zoho first). Unless `anyway`, a ticket changed since the proposal is refused and
/// the approval stays approved.
pub async fn apply_approval(
    toolbox: &Toolbox,
    approval_id: i64,
    claimant: &str,
    anyway: bool,
) -> Result<Approval, ApplyError> {
    let store = toolbox.store();
    let approval = store
        .get_approval(approval_id)
        .await?
        .ok_or(ApplyError::Store(StoreError::ApprovalNotFound(approval_id)))?;
    check_connection(toolbox, &approval)?;
    let claimed = store
        .claim_approval(approval_id, claimant, CLAIM_LEASE)
        .await?;
    match send_claimed(toolbox, &claimed, anyway).await {
        Ok(reply) => {
            let state = if reply.ok {
                ApprovalState::Applied
            } else {
                ApprovalState::Failed
            };
            Ok(store
                .mark_approval(approval_id, claimant, state, &reply.content)
                .await?)
        }
        Err(error @ (ApplyError::Stale { .. } | ApplyError::Unchecked { .. })) => {
            store.release_approval(approval_id, claimant).await?;
            Err(error)
        }
        Err(error) => {
            // Failed, so `approvals retry` can take it again; the intent says how far it got.
            store
                .mark_approval(
                    approval_id,
                    claimant,
                    ApprovalState::Failed,
                    &json!({ "error": error.to_string() }),
                )
                .await?;
            Err(error)
        }
    }
}

async fn send_claimed(
    toolbox: &Toolbox,
    approval: &Approval,
    anyway: bool,
) -> Result<ToolReply, ApplyError> {
    let store = toolbox.store();
    let args = approval.arguments.as_object().cloned().unwrap_or_default();
    let intent = match approval.intent_id {
        Some(id) => store.get_intent_by_id(id).await?,
        None => None,
    };
    let intent = match intent {
        Some(intent) => intent,
        None => {
            let key = format!("approval-{}", approval.id);
            store
                .record_intent(
                    &key,
                    toolbox.run_id(),
                    &approval.item_key,
                    &approval.tool,
                    &approval.arguments,
                )
                .await?
        }
    };
    let key = intent.idempotency_key.clone();
    match intent.state {
        IntentState::Succeeded | IntentState::Reconciled => return Ok(already_applied(&intent)),
        IntentState::Sent | IntentState::Recorded => {
            match reconcile::check(toolbox, &intent).await {
                Landing::Landed(found) => {
                    let settled = store
                        .mark_intent(&key, IntentState::Reconciled, Some(&found))
                        .await?;
                    return Ok(already_applied(&settled));
                }
                Landing::NotLanded => {}
                Landing::Unknown(reason) => {
                    return Err(ApplyError::Halt(Halt::Unsettled {
                        tool: approval.tool.clone(),
                        reason,
                    }));
                }
            }
        }
        IntentState::Queued | IntentState::Failed => {}
        IntentState::DryRun | IntentState::Rejected => {
            return Ok(ToolReply::error(format!("the write is {}", intent.state)));
        }
    }
    if !anyway {
        check_fresh(toolbox, approval).await?;
    }
    store
        .reopen_intent(&key, toolbox.run_id(), &approval.arguments)
        .await?;
    Ok(send_recorded(toolbox, &key, &approval.tool, args, None).await?)
}

/// Marks a rejected approval's intent so no later run queues the same write again.
pub async fn reject_intent(
    store: &crate::store::Store,
    approval: &Approval,
) -> Result<(), StoreError> {
    if let Some(id) = approval.intent_id
        && let Some(intent) = store.get_intent_by_id(id).await?
        && !intent.state.is_final()
    {
        store
            .mark_intent(
                &intent.idempotency_key,
                IntentState::Rejected,
                Some(&json!({"rejected": true})),
            )
            .await?;
    }
    Ok(())
}

/// Whether an approval assigns its ticket (to an agent, team or department).
pub fn is_assignment(approval: &Approval) -> bool {
    approval.tool == UPDATE_TICKET
        && ["assigneeId", "teamId", "departmentId"]
            .iter()
            .any(|f| approval.arguments.get(f).is_some())
}

/// Leaves a private note on the ticket of a rejected assignment, so whoever opens it in Zoho
/// sees that a proposal was made and turned down. Sent once per approval (its own intent key).
pub async fn note_rejection(toolbox: &Toolbox, approval: &Approval) -> Result<(), ApplyError> {
    let args = approval.arguments.as_object().cloned().unwrap_or_default();
    let Some(ticket_id) = proposal::ticket_of(&approval.tool, &args) else {
        return Ok(());
    };
    check_connection(toolbox, approval)?;
    let proposed = approval
        .changes()
        .iter()
        .map(|c| format!("{} {}", field_label(&c.field), approval.named(&c.proposed)))
        .collect::<Vec<_>>()
        .join(", ");
    let by = approval.decided_by.as_deref().unwrap_or("a reviewer");
    let mut text = format!(
        "deskhand: {by} rejected the proposed assignment ({proposed}); the ticket was left as it was."
    );
    if let Some(note) = approval.note.as_deref().filter(|n| !n.trim().is_empty()) {
        text.push_str(&format!("\nReviewer's note: {note}"));
    }
    let note_args = json!({
        "ticketId": ticket_id,
        "isPublic": false,
        "contentType": "plainText",
        "content": text,
    });
    let key = format!("rejection-note-{}", approval.id);
    let intent = toolbox
        .store()
        .record_intent(
            &key,
            toolbox.run_id(),
            &approval.item_key,
            ADD_COMMENT,
            &note_args,
        )
        .await?;
    if intent.state.is_final() {
        return Ok(());
    }
    if !intent.created {
        if let Landing::Landed(found) = reconcile::check(toolbox, &intent).await {
            toolbox
                .store()
                .mark_intent(&key, IntentState::Reconciled, Some(&found))
                .await?;
            return Ok(());
        }
        toolbox
            .store()
            .reopen_intent(&key, toolbox.run_id(), &intent.arguments)
            .await?;
    }
    let sent_args = intent.arguments.as_object().cloned().unwrap_or_default();
    let reply = send_recorded(toolbox, &key, ADD_COMMENT, sent_args, None).await?;
    if reply.ok {
        Ok(())
    } else {
        Err(ApplyError::Note(reply.to_text()))
    }
}

/// A ticket field as a reviewer names it.
pub fn field_label(field: &str) -> &str {
    match field {
        "assigneeId" => "assignee",
        "teamId" => "team",
        "departmentId" => "department",
        other => other,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Halt(#[from] Halt),
    #[error(
        "approval {id} was proposed for {proposed}, not {current}; apply it with the connection it was proposed for"
    )]
    WrongConnection {
        id: i64,
        proposed: String,
        current: String,
    },
    #[error(
        "approval {id} is stale: ticket #{ticket} changed since the proposal ({diff}); approve it with --anyway to apply it regardless, or reject it"
    )]
    Stale {
        id: i64,
        ticket: String,
        diff: String,
        drift: Vec<Drift>,
    },
    #[error(
        "approval {id} was not applied: the ticket could not be checked for changes since the proposal ({reason}); try again, or approve it with --anyway"
    )]
    Unchecked { id: i64, reason: String },
    #[error("the note was not added: {0}")]
    Note(String),
    #[error("approval {id} was not changed: {reason}")]
    Edit { id: i64, reason: String },
}
