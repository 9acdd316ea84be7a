//! Item selection: the `for_each` tool's result, paged, turned into keyed items with fingerprints.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::agent::Halt;
use crate::agent::toolbox::{ReadError, Toolbox};
use crate::workflow::ForEach;

/// An item a run selected.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedItem {
    pub key: String,
    pub fingerprint: String,
    pub payload: Value,
}

/// Why selection failed. The run fails with it; no item is touched.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("the for_each call failed: {0}")]
    Read(ReadError),
    #[error(
        "the for_each result has no list (expected an array, or an object with `result` or `data`)"
    )]
    NotAList,
    #[error("item {index} of the for_each result has no `{field}` to key it by")]
    NoKey { index: usize, field: String },
    #[error("there is no ticket with the id or number {0}")]
    NoTicket(String),
}

impl SelectionError {
    pub fn halt(&self) -> Option<&Halt> {
        match self {
            SelectionError::Read(ReadError::Halt(h)) => Some(h),
            _ => None,
        }
    }
}

/// The `for_each` tool's result, one page at a time (following `next_cursor`). The engine asks
/// for pages until enough items are due: on a queue whose first pages were all handled already,
/// counting `max_items` before that filter would never reach the rest.
pub struct Pages<'a> {
    toolbox: &'a Toolbox,
    for_each: &'a ForEach,
    args: Map<String, Value>,
    seen: usize,
    pages: usize,
    done: bool,
}

/// A misbehaving server that always returns a cursor must not keep a run paging forever.
const MAX_PAGES: usize = 1000;

impl<'a> Pages<'a> {
    pub fn new(toolbox: &'a Toolbox, for_each: &'a ForEach, args: Map<String, Value>) -> Self {
        Pages {
            toolbox,
            for_each,
            args,
            seen: 0,
            pages: 0,
            done: false,
        }
    }

    /// The next page's items; `None` after the last page.
    pub async fn next(&mut self) -> Result<Option<Vec<SelectedItem>>, SelectionError> {
        if self.done || self.pages >= MAX_PAGES {
            return Ok(None);
        }
        self.pages += 1;
        let answer = self
            .toolbox
            .read(&self.for_each.tool, self.args.clone())
            .await
            .map_err(SelectionError::Read)?;
        let (list, cursor) = split_page(&answer).ok_or(SelectionError::NotAList)?;
        let mut items = Vec::with_capacity(list.len());
        for value in list {
            let key = value
                .get(&self.for_each.id_field)
                .and_then(key_text)
                .ok_or_else(|| SelectionError::NoKey {
                    index: self.seen,
                    field: self.for_each.id_field.clone(),
                })?;
            self.seen += 1;
            items.push(SelectedItem {
                fingerprint: fingerprint(value, &self.for_each.fingerprint),
                key,
                payload: value.clone(),
            });
        }
        match cursor {
            Some(cursor) => {
                self.args.insert("next_cursor".into(), json!(cursor));
            }
            None => self.done = true,
        }
        Ok(Some(items))
    }
}

/// The one ticket `run --ticket` names, by id or else by number, as an item of `for_each`.
pub async fn one_ticket(
    toolbox: &Toolbox,
    for_each: &ForEach,
    wanted: &str,
) -> Result<SelectedItem, SelectionError> {
    let wanted = wanted.trim().trim_start_matches('#');
    let mut query = Map::new();
    query.insert("ticketId".into(), json!(wanted));
    let by_id = match toolbox.read(TICKET_CONTEXT, query).await {
        Ok(context) => context.get("ticket").filter(|t| t.is_object()).cloned(),
        Err(ReadError::Failed {
            status: Some(400 | 404 | 422),
            ..
        }) => None,
        Err(e) => return Err(SelectionError::Read(e)),
    };
    let ticket = match by_id {
        Some(ticket) => ticket,
        None if toolbox.server_tool(SEARCH_TICKETS).is_some() => {
            let mut query = Map::new();
            query.insert("ticketNumber".into(), json!(wanted));
            query.insert("limit".into(), json!(1));
            let answer = toolbox
                .read(SEARCH_TICKETS, query)
                .await
                .map_err(SelectionError::Read)?;
            split_page(&answer)
                .and_then(|(list, _)| list.first().cloned())
                .ok_or_else(|| SelectionError::NoTicket(wanted.to_owned()))?
        }
        None => return Err(SelectionError::NoTicket(wanted.to_owned())),
    };
    let key = ticket
        .get(&for_each.id_field)
        .and_then(key_text)
        .ok_or_else(|| SelectionError::NoKey {
            index: 0,
            field: for_each.id_field.clone(),
        })?;
    Ok(SelectedItem {
        fingerprint: fingerprint(&ticket, &for_each.fingerprint),
        key,
        payload: ticket,
    })
}

const TICKET_CONTEXT: &str = crate::agent::reconcile::TICKET_CONTEXT;
const SEARCH_TICKETS: &str = "zoho_desk_tickets_search";

fn split_page(answer: &Value) -> Option<(&Vec<Value>, Option<String>)> {
    if let Some(list) = answer.as_array() {
        return Some((list, None));
    }
    let list = answer
        .get("result")
        .or_else(|| answer.get("data"))
        .and_then(Value::as_array)?;
    let cursor = answer
        .get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Some((list, cursor))
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A hash of the named fields (or of the whole item): what must change for a handled item to be
/// due again.
pub fn fingerprint(item: &Value, fields: &[String]) -> String {
    let material = if fields.is_empty() {
        item.to_string()
    } else {
        fields
            .iter()
            .map(|f| format!("{f}={}", item.get(f).unwrap_or(&Value::Null)))
            .collect::<Vec<_>>()
            .join("\u{1f}")
    };
    hex::encode(&Sha256::digest(material.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_fields_left_out() {
        let fields = vec!["status".to_owned(), "threadCount".to_owned()];
        let a = json!({"id": "1", "status": "Open", "threadCount": "2", "commentCount": "0"});
        let b = json!({"id": "1", "status": "Open", "threadCount": "2", "commentCount": "1"});
        let c = json!({"id": "1", "status": "Open", "threadCount": "3", "commentCount": "1"});
        assert_eq!(fingerprint(&a, &fields), fingerprint(&b, &fields));
        assert_ne!(fingerprint(&b, &fields), fingerprint(&c, &fields));
        assert_ne!(fingerprint(&a, &[]), fingerprint(&b, &[]));
    }
}
