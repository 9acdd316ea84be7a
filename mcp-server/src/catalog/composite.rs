//! Composite read tools: several upstream reads behind one tool, so an agent needs one round trip
//! instead of four. They call the operations declared in resources.yaml (paths stay data); only
//! the orchestration is Rust. Upstream calls are bounded by a small semaphore because Zoho caps
//! concurrent calls per org (5 on the Free edition) and other work shares that cap.

use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::{Gateway, Operation, ToolError};
use crate::zoho::lenient;

/// Upstream calls one composite call may have in flight.
pub(crate) const CONCURRENCY: usize = 3;

/// The methods each implemented composite needs; `None` if no implementation exists.
pub(crate) fn requirements(
    resource: &str,
    method: &str,
) -> Option<&'static [(&'static str, &'static str)]> {
    match (resource, method) {
        ("tickets", "get_full_context") => Some(&[
            ("tickets", "get"),
            ("ticket_threads", "list"),
            ("ticket_threads", "get"),
            ("ticket_comments", "list"),
        ]),
        _ => None,
    }
}

pub(crate) async fn run(
    gw: &Gateway,
    op: &Operation,
    args: Map<String, Value>,
) -> Result<Value, ToolError> {
    match (op.resource.as_str(), op.method.as_str()) {
        ("tickets", "get_full_context") => full_context(gw, args).await,
        (r, m) => Err(ToolError::Transport {
            message: format!("internal gateway error: composite `{r}.{m}` is not implemented"),
        }),
    }
}

fn operation<'a>(
    gw: &'a Gateway,
    resource: &str,
    method: &str,
) -> Result<&'a Operation, ToolError> {
    gw.catalog()
        .operation(resource, method)
        .ok_or_else(|| ToolError::Transport {
            message: format!("internal gateway error: `{resource}.{method}` is not declared"),
        })
}

/// `{ticket, threads (each fetched for its content), comments}`; any failing part fails the call
/// with that part's error, because a partial context would mislead an agent.
async fn full_context(gw: &Gateway, args: Map<String, Value>) -> Result<Value, ToolError> {
    // Checked here, under the caller's name for it: the parts below pass the id on as `id`, and
    // a refusal there would name a key the caller never sent.
    let invalid = |message: String| ToolError::InvalidArguments {
        message,
        allowed_keys: vec!["ticketId".into()],
    };
    let ticket_id = args
        .get("ticketId")
        .and_then(lenient::as_string)
        .ok_or_else(|| invalid("argument `ticketId`: is required but missing".into()))?;
    super::routing::path_segment("ticketId", &ticket_id).map_err(invalid)?;
    let get_ticket = operation(gw, "tickets", "get")?;
    let list_threads = operation(gw, "ticket_threads", "list")?;
    let get_thread = operation(gw, "ticket_threads", "get")?;
    let list_comments = operation(gw, "ticket_comments", "list")?;
    let permits = Semaphore::new(CONCURRENCY);
    let permits = &permits;

    let mut by_id = Map::new();
    by_id.insert("id".into(), json!(ticket_id));
    let mut by_ticket = Map::new();
    by_ticket.insert("ticketId".into(), json!(ticket_id));
    let by_ticket = &by_ticket;

    let ticket = async {
        gw.send(get_ticket, &by_id, Some(permits))
            .await
            .map(|r| r.body.unwrap_or_else(|| json!({})))
    };
    let threads = async {
        let summaries = gw.fetch_all(list_threads, by_ticket, Some(permits)).await?;
        futures::stream::iter(summaries.into_iter().map(|summary| async move {
            let Some(thread_id) = summary.get("id").and_then(lenient::as_string) else {
                return Ok(summary);
            };
            let mut a = by_ticket.clone();
            a.insert("id".into(), json!(thread_id));
            let resp = gw.send(get_thread, &a, Some(permits)).await?;
            Ok::<Value, ToolError>(resp.body.unwrap_or(summary))
        }))
        .buffered(CONCURRENCY)
        .try_collect::<Vec<Value>>()
        .await
    };
    let comments = gw.fetch_all(list_comments, by_ticket, Some(permits));

    let (ticket, threads, comments) = futures::try_join!(ticket, threads, comments)?;
    Ok(json!({ "ticket": ticket, "threads": threads, "comments": comments }))
}
