//! The offline baseline: deterministic, non-LLM routines that do the shipped workflows' jobs
//! through the same MCP tools and write policy as a model would. It makes a fresh machine useful
//! and is the floor `deskhand eval` compares models against. It never claims to be a model.
//!
//! Every call goes through [`ItemTools::call`], so the workflow's allow-list, argument checks,
//! write policy and exactly-once intents hold for the baseline exactly as for a model.

pub mod reply;
pub mod text;
pub mod triage;

use serde_json::{Map, Value, json};

use crate::agent::{Finish, ItemTools, RunContext};
use crate::workflow::BaselineKind;

/// How runs on the baseline are labelled in output and history.
pub const LABEL: &str = "baseline (deterministic, no LLM)";

/// The first line of everything the baseline writes into Zoho Desk, so no agent or customer
/// mistakes it for a model's (or a person's) judgement.
pub const SIGNATURE: &str = "[deskhand baseline] Written by the deterministic offline baseline (text ranking), not by an LLM or a person.";

/// Pages a list read follows at most; the baseline's lists (departments, teams, agents, one
/// agent group's open tickets) are small, and a server that always returns a cursor must not
/// keep an item busy.
const MAX_PAGES: usize = 20;

/// What the runner already read for a decide-mode item: the run context and the item's prefetch.
/// The baseline uses them instead of reading the same things again, so it spends the credits a
/// model's run would.
pub struct Prepared<'a> {
    pub context: &'a RunContext,
    /// The `prefetch` variable: `{ <name>: <result> }`.
    pub prefetch: Value,
}

/// Works one item with the routine `kind`.
pub async fn work(
    kind: BaselineKind,
    item: Option<&Value>,
    inputs: &Map<String, Value>,
    tools: &ItemTools<'_>,
    prepared: Option<&Prepared<'_>>,
) -> Result<Value, Finish> {
    match kind {
        BaselineKind::TriageAndAssign => triage::work(item, inputs, tools, prepared).await,
        BaselineKind::KbGroundedReply => reply::work(item, inputs, tools, prepared).await,
    }
}

/// An id as Zoho sends it (a string, sometimes a number).
pub(crate) fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The ticket an item is about: the item's `id`, else `inputs.ticket_id` (a run without
/// `for_each`).
pub(crate) fn ticket_id(
    item: Option<&Value>,
    inputs: &Map<String, Value>,
) -> Result<String, Finish> {
    id_of(item.and_then(|i| i.get("id")))
        .or_else(|| id_of(inputs.get("ticket_id")))
        .ok_or_else(|| {
            Finish::Tool(
                "no ticket to work on: the item has no `id` and `inputs.ticket_id` is not set"
                    .into(),
            )
        })
}

/// A read the routine cannot do without: a refused or failed call ends the item.
pub(crate) async fn read(tools: &ItemTools<'_>, name: &str, args: Value) -> Result<Value, Finish> {
    let reply = tools.call(0, name, object(args)).await?;
    if reply.ok {
        Ok(reply.content)
    } else {
        Err(Finish::Tool(format!("{name} failed: {}", reply.to_text())))
    }
}

/// A write; a refusal ends the item (it is tried again on a later run, and the write intents
/// keep what already landed from landing twice).
pub(crate) async fn write(tools: &ItemTools<'_>, name: &str, args: Value) -> Result<Value, Finish> {
    let reply = tools.call(0, name, object(args)).await?;
    if reply.ok {
        Ok(reply.content)
    } else {
        Err(Finish::Tool(format!(
            "{name} was refused: {}",
            reply.to_text()
        )))
    }
}

/// Every element of a list tool's result, following `next_cursor`.
pub(crate) async fn list_all(
    tools: &ItemTools<'_>,
    name: &str,
    args: Value,
) -> Result<Vec<Value>, Finish> {
    let mut args = object(args);
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = read(tools, name, Value::Object(args.clone())).await?;
        let (items, cursor) = split_page(&page);
        out.extend(items.iter().cloned());
        match cursor {
            Some(c) => {
                args.insert("next_cursor".into(), json!(c));
            }
            None => break,
        }
    }
    Ok(out)
}

fn split_page(page: &Value) -> (&[Value], Option<String>) {
    if let Some(list) = page.as_array() {
        return (list, None);
    }
    let list = page
        .get("result")
        .or_else(|| page.get("data"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let cursor = page
        .get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    (list, cursor)
}

fn object(args: Value) -> Map<String, Value> {
    match args {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A number input, or `default` when absent or not a number.
pub(crate) fn number_input(inputs: &Map<String, Value>, key: &str, default: f64) -> f64 {
    inputs.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// Two decimals, for confidences shown to people.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The customer's side of a ticket as plain text: subject, description and incoming threads.
/// Agent replies and comments are left out: they are not what the customer asked.
pub(crate) fn customer_text(context: &Value) -> (String, String) {
    let ticket = context.get("ticket").unwrap_or(&Value::Null);
    let subject = str_of(ticket, "subject").to_owned();
    let mut body = text::strip_html(str_of(ticket, "description"));
    let description = body.clone();
    if let Some(threads) = context.get("threads").and_then(Value::as_array) {
        for thread in threads {
            let inbound = thread
                .get("direction")
                .and_then(Value::as_str)
                .is_none_or(|d| d == "in");
            if !inbound {
                continue;
            }
            let content = text::strip_html(str_of(thread, "content"));
            let content = if content.is_empty() {
                str_of(thread, "summary").to_owned()
            } else {
                content
            };
            // The description usually is the first thread; do not count it twice.
            if !content.is_empty() && content != description {
                body.push('\n');
                body.push_str(&content);
            }
        }
    }
    (subject, body)
}
