//! Did a write land? Asked of Zoho when the runner cannot know: after a crash between a write's
//! intent and its outcome, and after a 5xx or a dropped connection on the write itself.
//!
//! Each write tool of the catalog has a check against the ticket's state, read through the
//! composite context tool (ticket, threads with content, comments) in one call: an update landed
//! when every field it set has that value; a comment or reply landed when the ticket has one with
//! the same text (equal after normalisation, not merely containing it) created after the write
//! was sent, so an older identical note never stands in for a lost new one. A tool without a
//! check is `Unknown`, and its intent stays unsettled rather than being resent blindly.

use chrono::DateTime;
use serde_json::{Map, Value, json};

use crate::store::{Intent, IntentState, StoreError};

use super::toolbox::{ReadError, Toolbox};

pub const UPDATE_TICKET: &str = "update_a_zoho_desk_ticket_by_id";
pub const ADD_COMMENT: &str = "create_a_zoho_desk_ticket_comment";
pub const SEND_REPLY: &str = "zoho_desk_tickets_send_reply";
pub const DRAFT_REPLY: &str = "zoho_desk_tickets_draft_reply";
pub const MOVE_TICKET: &str = "zoho_desk_tickets_move";
pub const TICKET_CONTEXT: &str = "zoho_desk_tickets_get_full_context";

/// How far Zoho's clock may run behind ours when a new entry's creation time is compared with the
/// moment the write was sent. Larger than any sane NTP drift, far smaller than the gap between a
/// run's note and the same note of an earlier run.
pub const CLOCK_SKEW_MS: i64 = 30_000;

/// What Zoho says about a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Landing {
    /// It is there; the value is what was found (the ticket, comment or thread).
    Landed(Value),
    NotLanded,
    /// No way to tell (no check for this tool, or the check itself failed).
    Unknown(String),
}

/// Checks one intent against Zoho's current state.
pub async fn check(toolbox: &Toolbox, intent: &Intent) -> Landing {
    let args = intent.arguments.as_object().cloned().unwrap_or_default();
    let ticket_id = match intent.tool.as_str() {
        UPDATE_TICKET => args.get("id"),
        ADD_COMMENT | SEND_REPLY | DRAFT_REPLY | MOVE_TICKET => args.get("ticketId"),
        other => return Landing::Unknown(format!("there is no check for {other} calls")),
    };
    let Some(ticket_id) = ticket_id.and_then(id_text) else {
        return Landing::Unknown("the recorded arguments name no ticket".into());
    };
    let mut query = Map::new();
    query.insert("ticketId".into(), json!(ticket_id));
    let context = match toolbox.read(TICKET_CONTEXT, query).await {
        Ok(context) => context,
        Err(ReadError::Failed {
            status: Some(404), ..
        }) => {
            // The ticket is gone: nothing can land on it any more.
            return Landing::NotLanded;
        }
        Err(e) => return Landing::Unknown(format!("reading ticket {ticket_id} failed: {e}")),
    };
    match intent.tool.as_str() {
        UPDATE_TICKET => update_landed(&context["ticket"], &args),
        MOVE_TICKET => {
            let mut fields = args.clone();
            fields.remove("ticketId");
            update_landed(&context["ticket"], &fields)
        }
        ADD_COMMENT => text_landed(&context["comments"], &args, sent_since(intent)),
        _ => text_landed(&context["threads"], &args, sent_since(intent)),
    }
}

/// The earliest creation time (ms since the epoch) a landed entry of this intent can have: its
/// last change (a `sent` intent's is the send, a `recorded` one's precedes any send), less the
/// allowed clock skew.
fn sent_since(intent: &Intent) -> i64 {
    intent.updated_at.saturating_sub(CLOCK_SKEW_MS)
}

fn update_landed(ticket: &Value, args: &Map<String, Value>) -> Landing {
    if !ticket.is_object() {
        return Landing::Unknown("the context has no ticket".into());
    }
    let all_set = args
        .iter()
        .filter(|(k, _)| k.as_str() != "id")
        .all(|(k, want)| same_value(&ticket[k.as_str()], want));
    if all_set {
        Landing::Landed(ticket.clone())
    } else {
        Landing::NotLanded
    }
}

fn text_landed(list: &Value, args: &Map<String, Value>, since_ms: i64) -> Landing {
    let Some(wanted) = args.get("content").and_then(Value::as_str).map(normalise) else {
        return Landing::Unknown("the recorded write has no content".into());
    };
    if wanted.is_empty() {
        return Landing::Unknown("the recorded write has empty content".into());
    }
    let Some(entries) = list.as_array() else {
        return Landing::Unknown("the context has no list to check".into());
    };
    let mut undated = false;
    for entry in entries {
        if entry["content"]
            .as_str()
            .is_none_or(|c| normalise(c) != wanted)
        {
            continue;
        }
        match created_ms(entry) {
            Some(at) if at >= since_ms => return Landing::Landed(entry.clone()),
            Some(_) => {}
            None => undated = true,
        }
    }
    if undated {
        // The same text without a readable date could be the write or an older twin: neither
        // resend (a duplicate) nor give up (a loss); leave it for a later check.
        Landing::Unknown("an entry with the same text has no readable creation time".into())
    } else {
        Landing::NotLanded
    }
}

/// When a comment (`commentedTime`) or thread (`createdTime`) was created, in ms since the epoch.
fn created_ms(entry: &Value) -> Option<i64> {
    ["commentedTime", "createdTime"]
        .iter()
        .find_map(|k| entry[*k].as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.timestamp_millis())
}

/// Zoho answers ids as strings and may echo numbers as strings; compare by text for scalars.
pub(crate) fn same_value(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| same_value(&h.get(k).cloned().unwrap_or(Value::Null), v)),
        (Value::Array(_), _) | (_, Value::Array(_)) => have == want,
        _ => scalar_text(have) == scalar_text(want),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Text without markup, entities or runs of whitespace: Zoho may store a comment as HTML.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            _ => out.push(c),
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How the writes left unsettled by earlier runs ended up.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    /// Found in Zoho: marked reconciled, never sent again.
    pub landed: u32,
    /// Not in Zoho: marked failed; the item's next attempt sends it again under the same key.
    pub not_landed: u32,
    /// Could not be checked: left for the next run.
    pub unknown: u32,
}

/// Settles every unsettled intent of the toolbox's workflow before a run starts on items.
pub async fn settle_pending(toolbox: &Toolbox) -> Result<Reconciliation, StoreError> {
    let store = toolbox.store();
    let mut summary = Reconciliation::default();
    for intent in store.pending_intents_of(&toolbox.workflow).await? {
        match check(toolbox, &intent).await {
            Landing::Landed(found) => {
                tracing::info!(tool = %intent.tool, item = %intent.item_key, "a write from an interrupted run had landed; not sending it again");
                store
                    .mark_intent(
                        &intent.idempotency_key,
                        IntentState::Reconciled,
                        Some(&found),
                    )
                    .await?;
                summary.landed += 1;
            }
            Landing::NotLanded => {
                tracing::info!(tool = %intent.tool, item = %intent.item_key, "a write from an interrupted run had not landed; the item will make it again");
                store
                    .mark_intent(
                        &intent.idempotency_key,
                        IntentState::Failed,
                        Some(&json!({ "not_landed": true })),
                    )
                    .await?;
                summary.not_landed += 1;
            }
            Landing::Unknown(reason) => {
                tracing::warn!(tool = %intent.tool, item = %intent.item_key, %reason, "could not check a write from an interrupted run");
                summary.unknown += 1;
            }
        }
    }
    Ok(summary)
}
