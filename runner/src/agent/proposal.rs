//! What a reviewer needs to judge a queued write, and what applying it later checks.
//!
//! When a write is queued for approval the ticket is read once: its number, subject and link
//! (reviewers think in ticket numbers, not ids), its values of the fields the write sets (the
//! ticket version the proposal was based on) and the names of the departments, teams and agents
//! involved. Applying the approval reads the ticket again: if a person changed one of those
//! fields since, the proposal is stale and is refused unless the reviewer approves anyway.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::reconcile::{ADD_COMMENT, DRAFT_REPLY, MOVE_TICKET, SEND_REPLY, TICKET_CONTEXT};
use super::reconcile::{UPDATE_TICKET, id_text, same_value};
use super::toolbox::Toolbox;
use crate::store::Approval;

/// What [`describe`] found; every part is optional because a failed read must not stop the
/// write from being queued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposal {
    pub ticket: Option<Value>,
    pub base: Option<Value>,
    pub names: Option<Value>,
}

/// One field a person changed between the proposal and now.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub field: String,
    pub based_on: Value,
    pub current: Value,
    pub proposed: Value,
}

/// The ticket a write is for, from its arguments.
pub fn ticket_of(tool: &str, args: &Map<String, Value>) -> Option<String> {
    match tool {
        UPDATE_TICKET => args.get("id").and_then(id_text),
        ADD_COMMENT | SEND_REPLY | DRAFT_REPLY | MOVE_TICKET => {
            args.get("ticketId").and_then(id_text)
        }
        _ => None,
    }
}

/// Whether a write changes ticket fields (and so has a version to be stale against).
fn sets_fields(tool: &str) -> bool {
    matches!(tool, UPDATE_TICKET | MOVE_TICKET)
}

/// The fields a write sets, without the ticket's id.
fn set_fields(args: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    args.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "ticketId"))
}

async fn read_ticket(toolbox: &Toolbox, ticket_id: &str) -> Result<Value, String> {
    let mut query = Map::new();
    query.insert("ticketId".into(), json!(ticket_id));
    let context = toolbox
        .read(TICKET_CONTEXT, query)
        .await
        .map_err(|e| format!("reading ticket {ticket_id} failed: {e}"))?;
    match context.get("ticket") {
        Some(ticket) if ticket.is_object() => Ok(ticket.clone()),
        _ => Err(format!("the context of ticket {ticket_id} has no ticket")),
    }
}

/// Reads what a reviewer needs about a write about to be queued.
pub async fn describe(toolbox: &Toolbox, tool: &str, args: &Map<String, Value>) -> Proposal {
    let Some(ticket_id) = ticket_of(tool, args) else {
        return Proposal::default();
    };
    let ticket = match read_ticket(toolbox, &ticket_id).await {
        Ok(ticket) => ticket,
        Err(reason) => {
            tracing::warn!(ticket = %ticket_id, %reason, "the proposal is queued without the ticket's current values");
            return Proposal::default();
        }
    };
    let base = sets_fields(tool).then(|| {
        Value::Object(
            set_fields(args)
                .map(|(field, _)| {
                    (
                        field.clone(),
                        ticket.get(field).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
        )
    });
    let directory = directory(toolbox).await;
    let mut names = Map::new();
    let ids = set_fields(args).map(|(_, v)| v).chain(
        base.iter()
            .filter_map(Value::as_object)
            .flat_map(|b| b.values()),
    );
    for id in ids.filter_map(id_text) {
        if let Some(name) = directory.get(&id) {
            names.insert(id, json!(name));
        }
    }
    Proposal {
        ticket: Some(json!({
            "id": ticket_id,
            "number": ticket.get("ticketNumber").cloned().unwrap_or_default(),
            "subject": ticket.get("subject").cloned().unwrap_or_default(),
            "url": ticket.get("webUrl").cloned().unwrap_or_default(),
        })),
        base,
        names: (!names.is_empty()).then_some(Value::Object(names)),
    }
}

/// Department, team and agent names by id, read once per toolbox (one page of each: names are
/// for display, and an id without one is shown as the id).
async fn directory(toolbox: &Toolbox) -> &HashMap<String, String> {
    toolbox
        .directory
        .get_or_init(|| async {
            let mut names = HashMap::new();
            for tool in [
                "list_all_zoho_desk_departments",
                "list_all_zoho_desk_teams",
                "list_all_zoho_desk_agents",
            ] {
                if toolbox.server_tool(tool).is_none() {
                    continue;
                }
                let mut args = Map::new();
                args.insert("limit".into(), json!(100));
                let Ok(page) = toolbox.read(tool, args).await else {
                    continue;
                };
                let list = page
                    .as_array()
                    .or_else(|| page.get("data").and_then(Value::as_array))
                    .or_else(|| page.get("result").and_then(Value::as_array));
                for entry in list.into_iter().flatten() {
                    let Some(id) = entry.get("id").and_then(id_text) else {
                        continue;
                    };
                    if let Some(name) = display_name(entry) {
                        names.insert(id, name);
                    }
                }
            }
            names
        })
        .await
}

fn display_name(entry: &Value) -> Option<String> {
    if let Some(name) = entry.get("name").and_then(Value::as_str)
        && !name.trim().is_empty()
    {
        return Some(name.trim().to_owned());
    }
    let first = entry.get("firstName").and_then(Value::as_str).unwrap_or("");
    let last = entry.get("lastName").and_then(Value::as_str).unwrap_or("");
    let full = format!("{first} {last}").trim().to_owned();
    (!full.is_empty()).then_some(full)
}

/// The fields of `approval`'s ticket a person changed since the proposal; empty when it is
/// fresh (or records no version: a comment, or an approval queued before versions were kept).
pub async fn drift(toolbox: &Toolbox, approval: &Approval) -> Result<Vec<Drift>, String> {
    let Some(base) = approval.base.as_ref().and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    if base.is_empty() {
        return Ok(Vec::new());
    }
    let args = approval.arguments.as_object().cloned().unwrap_or_default();
    let Some(ticket_id) = ticket_of(&approval.tool, &args) else {
        return Ok(Vec::new());
    };
    let ticket = read_ticket(toolbox, &ticket_id).await?;
    Ok(base
        .iter()
        .filter_map(|(field, based_on)| {
            let current = ticket.get(field).cloned().unwrap_or_default();
            (!same_value(&current, based_on)).then(|| Drift {
                field: field.clone(),
                based_on: based_on.clone(),
                current,
                proposed: args.get(field).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

/// `field: current -> proposed` per drifted field, with names where the approval knows them.
pub fn describe_drift(approval: &Approval, drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| {
            format!(
                "{}: now {} (was {} when proposed) -> proposed {}",
                d.field,
                approval.named(&d.current),
                approval.named(&d.based_on),
                approval.named(&d.proposed)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
