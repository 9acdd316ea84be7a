//! Executes tool calls: validate, route, call Zoho once, shape the result. The gateway never
//! retries, sleeps or throttles; every upstream failure comes back as a [`ToolError`].

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::cursor::Cursor;
use super::routing::{self, Request};
use super::{Catalog, EnvelopeKey, MethodKind, Operation, ToolError, ToolSpec, composite, schema};
use crate::zoho::{RateLimitInfo, UpstreamError, ZohoClient, ZohoResponse, lenient};

tokio::task_local! {
    /// The rate-limit fields of the upstream answers of the tool call in progress, so successful
    /// results can carry them too: a client that sees its budget shrink can pace itself before
    /// Zoho starts refusing.
    static METER: RefCell<Option<RateLimitInfo>>;
}

#[derive(Clone, Debug)]
pub struct Gateway {
    catalog: Arc<Catalog>,
    client: ZohoClient,
}

/// Where a page starts: a logical 0-based offset, and the id of the item just before it (when
/// known) to recognise an overlapping item.
#[derive(Debug, Clone, Default)]
pub(crate) struct Position {
    pub offset: u64,
    pub prev_id: Option<String>,
}

impl Position {
    pub fn start() -> Self {
        Position::default()
    }
}

/// One page of a list, before it is shaped into a tool result.
pub(crate) struct Page {
    pub items: Vec<Value>,
    pub has_more: bool,
    pub count: Option<u64>,
}

impl Gateway {
    pub fn new(catalog: Arc<Catalog>, client: ZohoClient) -> Self {
        Gateway { catalog, client }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn client(&self) -> &ZohoClient {
        &self.client
    }

    /// Calls a tool by name. The result is always a JSON object: lists are
    /// `{result, next_cursor?}` (plus `count` for searches), single resources are the upstream
    /// object unchanged.
    pub async fn call(&self, tool: &str, args: Map<String, Value>) -> Result<Value, ToolError> {
        let (spec, op) = self
            .catalog
            .tool(tool)
            .ok_or_else(|| ToolError::UnknownTool {
                name: tool.to_string(),
            })?;
        let (args, position) = self.prepare(spec, op, args)?;
        op.check_arguments(&args)
            .map_err(|message| ToolError::InvalidArguments {
                message,
                allowed_keys: allowed_keys_of(spec),
            })?;
        let outcome = match op.kind {
            MethodKind::Composite => composite::run(self, op, args).await,
            _ if op.paging.is_some() => self.list(spec, op, args, position).await,
            MethodKind::List => self
                .send(op, &args, None)
                .await
                .map(|resp| op.whole_list(resp.body)),
            _ => self
                .send(op, &args, None)
                .await
                .map(|resp| op.result(resp.body, &args)),
        };
        // Refusals found after validation (a path value that is not an id, a URL too long) list
        // the tool's keys too, so every argument error lets the model correct itself.
        outcome.map_err(|e| match e {
            ToolError::InvalidArguments {
                message,
                allowed_keys,
            } if allowed_keys.is_empty() => ToolError::InvalidArguments {
                message,
                allowed_keys: allowed_keys_of(spec),
            },
            other => other,
        })
    }

    /// Like [`call`](Self::call), also returning the rate-limit fields of the last upstream answer
    /// that carried any (the composite tool makes several calls).
    pub async fn call_metered(
        &self,
        tool: &str,
        args: Map<String, Value>,
    ) -> (Result<Value, ToolError>, Option<RateLimitInfo>) {
        METER
            .scope(RefCell::new(None), async {
                let result = self.call(tool, args).await;
                let seen = METER.with(|m| *m.borrow());
                (result, seen)
            })
            .await
    }

    /// Merges a cursor's query into the arguments, then validates them; returns the validated
    /// arguments and the logical offset to start from.
    fn prepare(
        &self,
        spec: &ToolSpec,
        op: &Operation,
        mut args: Map<String, Value>,
    ) -> Result<(Map<String, Value>, Position), ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments {
            message,
            allowed_keys: allowed_keys_of(spec),
        };
        let mut position = Position::start();
        let cursor_text = match (op.paging, args.get("next_cursor")) {
            (Some(_), Some(Value::String(text))) => Some(text.clone()),
            (Some(_), Some(Value::Null)) => {
                args.remove("next_cursor");
                None
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "next_cursor must be the string a previous page returned, passed back unchanged; omit it to start from the first page".into(),
                ));
            }
            _ => None,
        };
        if let Some(paging) = op.paging
            && let Some(text) = cursor_text
        {
            let cursor = Cursor::decode(&spec.name, &text).map_err(|e| invalid(e.to_string()))?;
            // A cursor is readable JSON, so its offset can be forged; one past what the endpoint
            // can page to was not issued here.
            if cursor.o > paging.max_offset.unwrap_or(MAX_CURSOR_OFFSET) {
                return Err(invalid(super::cursor::CursorError::Malformed.to_string()));
            }
            for (key, value) in &args {
                if key == "limit" || key == "next_cursor" {
                    continue;
                }
                match cursor.a.get(key) {
                    Some(original) if loosely_equal(original, value) => {}
                    _ => {
                        return Err(invalid(format!(
                            "argument `{key}` differs from the query that issued next_cursor; omit `{key}` to continue that query, or omit next_cursor to start a new one"
                        )));
                    }
                }
            }
            for (key, value) in cursor.a {
                args.entry(key).or_insert(value);
            }
            position = Position {
                offset: cursor.o,
                prev_id: cursor.p,
            };
        }
        let validated = schema::validate(&spec.input_schema, Value::Object(args), "")
            .map_err(|v| invalid(v.to_string()))?;
        match validated {
            Value::Object(map) => Ok((map, position)),
            _ => Err(invalid("arguments must be a JSON object".to_string())),
        }
    }

    async fn list(
        &self,
        spec: &ToolSpec,
        op: &Operation,
        mut args: Map<String, Value>,
        position: Position,
    ) -> Result<Value, ToolError> {
        let Some(paging) = op.paging else {
            return Err(internal("list without paging"));
        };
        args.remove("next_cursor");
        let limit = args
            .remove("limit")
            .and_then(|v| lenient::as_u64(&v))
            .unwrap_or(paging.size.default)
            .clamp(paging.size.min, paging.max_limit());
        let page = self.page(op, &args, &position, limit, None).await?;
        let last_id = page
            .items
            .last()
            .and_then(|item| item.get("id"))
            .and_then(lenient::as_string);
        let mut out = Map::new();
        out.insert("result".into(), Value::Array(page.items));
        if page.has_more {
            let next = position.offset.saturating_add(limit);
            if paging.max_offset.is_none_or(|max| next <= max) {
                out.insert(
                    "next_cursor".into(),
                    Value::String(Cursor::new(&spec.name, next, args, last_id).encode()),
                );
            }
        }
        if op.count {
            out.insert("count".into(), json!(page.count.unwrap_or(0)));
        }
        Ok(Value::Object(out))
    }

    /// Fetches `limit` items at a position and finds out whether more exist: by asking for one
    /// extra item when the endpoint's range allows, otherwise by peeking at the next offset.
    pub(crate) async fn page(
        &self,
        op: &Operation,
        args: &Map<String, Value>,
        at: &Position,
        limit: u64,
        permits: Option<&Semaphore>,
    ) -> Result<Page, ToolError> {
        let Some(paging) = op.paging else {
            return Err(internal("page without paging"));
        };
        if limit.saturating_add(1 + paging.overlap(at.offset)) <= paging.size.max {
            let (mut items, count) = self.window(op, args, at, limit + 1, permits).await?;
            let has_more = items.len() as u64 > limit;
            items.truncate(limit as usize);
            return Ok(Page {
                items,
                has_more,
                count,
            });
        }
        let (items, count) = self.window(op, args, at, limit, permits).await?;
        // Never peek at an offset the endpoint refuses: past it there is nothing reachable.
        let peek_allowed = paging.max_offset.is_none_or(|max| at.offset + limit <= max);
        let has_more = if items.len() as u64 == limit && peek_allowed {
            let next = Position {
                offset: at.offset.saturating_add(limit),
                prev_id: items
                    .last()
                    .and_then(|i| i.get("id"))
                    .and_then(lenient::as_string),
            };
            let (peek, _) = self.window(op, args, &next, 1, permits).await?;
            !peek.is_empty()
        } else {
            false
        };
        Ok(Page {
            items,
            has_more,
            count,
        })
    }

    /// Every item of a list (for composites), in the largest pages the endpoint allows.
    pub(crate) async fn fetch_all(
        &self,
        op: &Operation,
        args: &Map<String, Value>,
        permits: Option<&Semaphore>,
    ) -> Result<Vec<Value>, ToolError> {
        let Some(paging) = op.paging else {
            return Err(internal("fetch_all without paging"));
        };
        // A bound on pages, in case an upstream ignores `from` and returns the same page forever.
        const MAX_PAGES: usize = 100;
        let size = paging.max_limit();
        let mut all: Vec<Value> = Vec::new();
        let mut at = Position::start();
        for _ in 0..MAX_PAGES {
            let (items, _) = self.window(op, args, &at, size, permits).await?;
            let n = items.len() as u64;
            all.extend(items);
            if n < size {
                return Ok(all);
            }
            at = Position {
                offset: at.offset.saturating_add(n),
                prev_id: all
                    .last()
                    .and_then(|i| i.get("id"))
                    .and_then(lenient::as_string),
            };
        }
        Ok(all)
    }

    /// Up to `n` items starting at a logical position. For `pagination: offset` past the
    /// start it asks for one more item and drops the first if it repeats the previous page's last
    /// item (a 1-based reading of `from`).
    async fn window(
        &self,
        op: &Operation,
        args: &Map<String, Value>,
        at: &Position,
        n: u64,
        permits: Option<&Semaphore>,
    ) -> Result<(Vec<Value>, Option<u64>), ToolError> {
        let Some(paging) = op.paging else {
            return Err(internal("window without paging"));
        };
        let overlap = paging.overlap(at.offset);
        let (mut items, count) = self
            .fetch(
                op,
                args,
                paging.upstream_from(at.offset),
                n.saturating_add(overlap),
                permits,
            )
            .await?;
        if overlap == 1 {
            let repeats = match (&at.prev_id, items.first()) {
                (Some(prev), Some(first)) => {
                    first.get("id").and_then(lenient::as_string).as_ref() == Some(prev)
                }
                _ => false,
            };
            if repeats {
                items.remove(0);
            }
        }
        items.truncate(n as usize);
        Ok((items, count))
    }

    /// One list request; returns the unwrapped items and the reported count (search endpoints).
    async fn fetch(
        &self,
        op: &Operation,
        args: &Map<String, Value>,
        from: u64,
        limit: u64,
        permits: Option<&Semaphore>,
    ) -> Result<(Vec<Value>, Option<u64>), ToolError> {
        let mut req = self.request_for(op, args)?;
        req.query.push(("from".into(), from.to_string()));
        req.query.push(("limit".into(), limit.to_string()));
        let resp = self.execute(req, permits).await?;
        let Some(body) = resp.body else {
            return Ok((Vec::new(), Some(0)));
        };
        let key = match op.envelope {
            EnvelopeKey::Data => "data",
            EnvelopeKey::Teams => "teams",
            EnvelopeKey::None => return Err(internal("list without envelope")),
        };
        let count = body.get("count").and_then(lenient::as_u64);
        match body.get(key) {
            Some(Value::Array(items)) => Ok((items.clone(), count)),
            None | Some(Value::Null) => Ok((Vec::new(), count)),
            Some(_) => Err(ToolError::Upstream(UpstreamError {
                status: resp.status,
                error_code: None,
                message: format!("upstream list response has a non-array `{key}`"),
                errors: None,
                ratelimit: None,
            })),
        }
    }

    /// A single (non-list) call of an operation with already-validated arguments.
    pub(crate) async fn send(
        &self,
        op: &Operation,
        args: &Map<String, Value>,
        permits: Option<&Semaphore>,
    ) -> Result<ZohoResponse, ToolError> {
        let req = self.request_for(op, args)?;
        self.execute(req, permits).await
    }

    fn request_for(&self, op: &Operation, args: &Map<String, Value>) -> Result<Request, ToolError> {
        let route = op
            .route
            .as_ref()
            .ok_or_else(|| internal("operation without a route"))?;
        routing::route(op, route, args).map_err(|message| ToolError::InvalidArguments {
            message,
            allowed_keys: Vec::new(),
        })
    }

    async fn execute(
        &self,
        req: Request,
        permits: Option<&Semaphore>,
    ) -> Result<ZohoResponse, ToolError> {
        let _permit = match permits {
            Some(sem) => Some(
                sem.acquire()
                    .await
                    .map_err(|_| internal("semaphore closed"))?,
            ),
            None => None,
        };
        let resp = self
            .client
            .request(req.http, &req.path, &req.query, req.body.as_ref())
            .await?;
        if !resp.ratelimit.is_empty() {
            // Outside `call_metered` there is no meter, and nothing to record.
            // The latest budget, and the weight of every upstream call so far: a composite
            // tool costs what all of its calls cost.
            let _ = METER.try_with(|m| {
                let mut seen = m.borrow_mut();
                let spent = seen.and_then(|s| s.weight);
                let mut info = resp.ratelimit;
                info.weight = match (spent, info.weight) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                *seen = Some(info);
            });
        }
        Ok(resp)
    }
}

/// The largest offset a cursor may carry for an endpoint without a documented bound: far beyond
/// any real list, and far from overflow when a page size is added.
const MAX_CURSOR_OFFSET: u64 = 1 << 40;

fn allowed_keys_of(spec: &ToolSpec) -> Vec<String> {
    spec.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Ids may come back as numbers where the cursor stored strings.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    a == b
        || match (lenient::as_string(a), lenient::as_string(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
}

fn internal(what: &str) -> ToolError {
    ToolError::Transport {
        message: format!("internal gateway error: {what}"),
    }
}
