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
            ("mail_reply_addresses", "list"),
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
    let list_addresses = operation(gw, "mail_reply_addresses", "list")?;
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

    // On request, the department's from addresses follow the ticket (they need its
    // departmentId), so a reply or draft on EMAIL can name a valid fromEmailAddress without
    // another round trip. Opt-in: the lookup is a list call (3 credits), and triage and write
    // reconciliation, the context's other users, have no use for it.
    let with_addresses = args
        .get("includeFromAddresses")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ticket = async {
        let ticket = gw
            .send(get_ticket, &by_id, Some(permits))
            .await
            .map(|r| r.body.unwrap_or_else(|| json!({})))?;
        if !with_addresses {
            return Ok::<(Value, Option<Value>), ToolError>((ticket, None));
        }
        let addresses = match ticket.get("departmentId").and_then(lenient::as_string) {
            Some(dept) => {
                let mut a = Map::new();
                a.insert("departmentId".into(), json!(dept));
                from_addresses(gw.fetch_all(list_addresses, &a, Some(permits)).await)?
            }
            None => json!({"addresses": [], "error": "the ticket has no departmentId"}),
        };
        Ok((ticket, Some(addresses)))
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

    let ((ticket, from), threads, comments) = futures::try_join!(ticket, threads, comments)?;
    let mut out = json!({ "ticket": ticket, "threads": threads, "comments": comments });
    if let Some(from) = from {
        out["fromAddresses"] = from;
    }
    Ok(out)
}

/// `{addresses: [active addresses], error?}`. Unlike the other parts, a refusal here (401/403)
/// does not fail the context: reading it needs a settings scope some connections lack, and every
/// other use of the context (triage, reconciling writes) does without it. The error says why the
/// list is empty, so a reply on EMAIL can still be refused with a reason. Anything else (a 429
/// above all, which the caller retries) fails the call like the other parts.
fn from_addresses(listed: Result<Vec<Value>, ToolError>) -> Result<Value, ToolError> {
    Ok(match listed {
        Ok(items) => {
            let addresses: Vec<Value> = items
                .into_iter()
                .filter(|a| a.get("isActive").and_then(Value::as_bool) != Some(false))
                .filter_map(|a| {
                    let address = a.get("address").and_then(Value::as_str)?.to_owned();
                    Some(json!({
                        "address": address,
                        "displayName": a.get("displayName").cloned().unwrap_or(Value::Null),
                        "isVerified": a.get("isVerified").cloned().unwrap_or(Value::Null),
                    }))
                })
                .collect();
            json!({ "addresses": addresses })
        }
        Err(ToolError::Upstream(e)) if matches!(e.status, 401 | 403) => {
            json!({ "addresses": [], "error": e.to_string() })
        }
        Err(e) => return Err(e),
    })
}
