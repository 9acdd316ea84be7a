//! The tools of one run and one item. A [`Toolbox`] holds what every item of a run shares (the
//! MCP session, the rate gate, the allow-list with its schemas, the write policy); an
//! [`ItemTools`] is one item's view of it, which records every call under the item's attempt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use zoho_desk_mcp::catalog::validate_json;

use crate::mcp::{McpError, McpSession, ToolOutcome as McpOutcome};
use crate::retry::{CallOutcome, RateGate, RetryObserver, RetryPolicy, call_with_retry};
use crate::store::{AttemptId, NewToolCall, RunId, Store, StoreError, ToolOutcome};
use crate::workflow::WritePolicy;

use super::writes;

/// A tool as the server describes it.
#[derive(Debug, Clone)]
pub struct ToolInfo {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
    /// Not annotated read-only: goes through the write policy. A server without annotations
    /// makes every tool a write, which is the safe reading.
    pub is_write: bool,
}

/// Why an item cannot go on. Everything else a tool call can end in goes back to the decider.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    /// Zoho's limit will not reset within the retry layer's patience: try the item later.
    #[error("Zoho Desk is rate limiting until {until}: {message}")]
    RateLimited {
        until: DateTime<Utc>,
        message: String,
    },
    #[error("{0}")]
    Unreachable(McpError),
    /// Zoho refused the connection's credentials (HTTP 401: a revoked refresh token, the token
    /// endpoint's limit): every item would fail the same way.
    #[error("Zoho Desk refused the credentials: {0}")]
    Unauthorized(String),
    /// A write whose fate is unknown and could not be checked: the next run reconciles it.
    #[error("a {tool} call may or may not have been applied and could not be checked: {reason}")]
    Unsettled { tool: String, reason: String },
    #[error("the run store failed: {0}")]
    Store(#[from] StoreError),
}

/// What a tool call gives back to whoever decides.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReply {
    pub ok: bool,
    /// The result (or the error object) as the model sees it.
    pub content: Value,
}

impl ToolReply {
    pub fn ok(content: Value) -> Self {
        ToolReply { ok: true, content }
    }

    pub fn error(message: impl Into<String>) -> Self {
        ToolReply {
            ok: false,
            content: json!({ "error": message.into() }),
        }
    }

    /// The text of a tool message.
    pub fn to_text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// What every item of one run shares.
pub struct Toolbox {
    pub(crate) session: Arc<McpSession>,
    pub(crate) gate: RateGate,
    pub(crate) retry: RetryPolicy,
    pub(crate) store: Store,
    pub(crate) run_id: RunId,
    pub(crate) workflow: String,
    pub(crate) policy: WritePolicy,
    /// The allow-list, in the workflow's order.
    allowed: Vec<ToolInfo>,
    /// Every tool the server lists (the runner's own reads need not be in the allow-list).
    server: HashMap<String, ToolInfo>,
    pub(crate) observer: Arc<dyn RetryObserver>,
    /// The helpdesk this toolbox writes to ([`crate::engine::Engine::connection_label`]): what
    /// an approval is bound to.
    connection: String,
    /// Department, team and agent names by id, read once per run for the approvals it queues.
    pub(crate) directory: tokio::sync::OnceCell<HashMap<String, String>>,
}

/// Settings of a [`Toolbox`] beyond the session.
pub struct ToolboxConfig {
    pub store: Store,
    pub run_id: RunId,
    pub workflow: String,
    pub policy: WritePolicy,
    pub allow_list: Vec<String>,
    pub retry: RetryPolicy,
    pub observer: Arc<dyn RetryObserver>,
}

impl Toolbox {
    /// Lists the server's tools and checks the allow-list against them: a tool the server does
    /// not offer is an error now, not a surprise in the middle of an item.
    pub async fn new(
        session: Arc<McpSession>,
        gate: RateGate,
        config: ToolboxConfig,
    ) -> Result<Toolbox, McpError> {
        let listed = session.list_tools().await?;
        let server: HashMap<String, ToolInfo> = listed
            .iter()
            .map(|t| {
                let read_only = t
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false);
                let info = ToolInfo {
                    name: t.name.to_string(),
                    description: t.description.as_ref().map(|d| d.to_string()),
                    input_schema: Value::Object((*t.input_schema).clone()),
                    is_write: !read_only,
                };
                (info.name.clone(), info)
            })
            .collect();
        let mut allowed = Vec::new();
        let mut missing = Vec::new();
        for name in &config.allow_list {
            match server.get(name) {
                Some(info) => allowed.push(info.clone()),
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(McpError::UnknownTools {
                target: session.target().to_owned(),
                tools: missing,
            });
        }
        let connection = session.target().to_owned();
        Ok(Toolbox {
            session,
            gate,
            retry: config.retry,
            store: config.store,
            run_id: config.run_id,
            workflow: config.workflow,
            policy: config.policy,
            allowed,
            server,
            observer: config.observer,
            connection,
            directory: tokio::sync::OnceCell::new(),
        })
    }

    pub fn allowed(&self) -> &[ToolInfo] {
        &self.allowed
    }

    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// Names the helpdesk this toolbox reaches, for binding approvals to it.
    pub fn with_connection(mut self, connection: impl Into<String>) -> Self {
        self.connection = connection.into();
        self
    }

    pub fn connection(&self) -> &str {
        &self.connection
    }

    pub fn policy(&self) -> WritePolicy {
        self.policy
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn server_tool(&self, name: &str) -> Option<&ToolInfo> {
        self.server.get(name)
    }

    /// One item's view. `scope` keys the item's write intents: the item's fingerprint for a
    /// `for_each` item (so a resumed attempt finds the writes of the crashed one), the run id
    /// otherwise.
    ///
    /// `write_target` confines writes to one ticket: for a `for_each` item it is the item's own
    /// id, so instructions planted in one ticket cannot make the model write to another.
    pub fn for_item(
        &self,
        item_key: &str,
        scope: &str,
        attempt_id: AttemptId,
        write_target: Option<&str>,
    ) -> ItemTools<'_> {
        ItemTools {
            toolbox: self,
            write_target: write_target.map(str::to_owned),
            item_key: item_key.to_owned(),
            scope: scope.to_owned(),
            attempt_id,
            ordinals: Mutex::new(HashMap::new()),
            calls: AtomicU32::new(0),
            writes: AtomicU32::new(0),
        }
    }

    /// One call through the retry layer, unrecorded.
    pub(crate) async fn send(&self, name: &str, args: Map<String, Value>) -> CallOutcome {
        call_with_retry(
            &self.session,
            &self.gate,
            name,
            args,
            &self.retry,
            self.observer.as_ref(),
        )
        .await
    }

    /// A read the runner makes itself (item selection, reconciliation): retried like any call,
    /// not subject to the allow-list, not recorded under an item. A tool failure is an `Err`
    /// with the server's message.
    pub async fn read(&self, name: &str, args: Map<String, Value>) -> Result<Value, ReadError> {
        match self.send(name, args).await {
            CallOutcome::Answered(McpOutcome::Ok(value)) => Ok(value),
            CallOutcome::Answered(McpOutcome::ToolError(f)) if f.status == Some(401) => {
                Err(ReadError::Halt(Halt::Unauthorized(f.message)))
            }
            CallOutcome::Answered(McpOutcome::ToolError(f)) => Err(ReadError::Failed {
                tool: name.to_owned(),
                status: f.status,
                message: f.message,
            }),
            CallOutcome::Answered(McpOutcome::Protocol(p)) => Err(ReadError::Failed {
                tool: name.to_owned(),
                status: None,
                message: p.message,
            }),
            CallOutcome::RateLimited { until, failure } => {
                Err(ReadError::Halt(Halt::RateLimited {
                    until,
                    message: failure.map(|f| f.message).unwrap_or_default(),
                }))
            }
            CallOutcome::Unreachable(e) => Err(ReadError::Halt(Halt::Unreachable(e))),
        }
    }
}

/// A failed runner-side read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{tool} failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Failed {
        tool: String,
        status: Option<u16>,
        message: String,
    },
    #[error(transparent)]
    Halt(Halt),
}

impl ReadError {
    pub fn into_halt(self) -> Halt {
        match self {
            ReadError::Halt(h) => h,
            ReadError::Failed { tool, message, .. } => Halt::Unsettled {
                tool,
                reason: message,
            },
        }
    }
}

/// One item's tools: every call is checked, routed through the write policy and recorded.
pub struct ItemTools<'a> {
    pub(crate) toolbox: &'a Toolbox,
    pub(crate) item_key: String,
    write_target: Option<String>,
    pub(crate) scope: String,
    pub(crate) attempt_id: AttemptId,
    /// Write calls per tool so far in this attempt: the n-th comment of an item version is the
    /// same logical write in every attempt, whatever the model phrased differently.
    ordinals: Mutex<HashMap<String, u32>>,
    calls: AtomicU32,
    writes: AtomicU32,
}

impl ItemTools<'_> {
    pub fn toolbox(&self) -> &Toolbox {
        self.toolbox
    }

    pub fn item_key(&self) -> &str {
        &self.item_key
    }

    /// Tool calls made so far (including refused ones).
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Write calls made so far (applied, dry-run or queued).
    pub fn writes(&self) -> u32 {
        self.writes.load(Ordering::Relaxed)
    }

    /// A call with arguments as a model wrote them (a JSON text that may not parse).
    pub async fn call_text(
        &self,
        step: u32,
        name: &str,
        arguments: &str,
    ) -> Result<ToolReply, Halt> {
        let text = arguments.trim();
        let parsed = if text.is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            serde_json::from_str::<Value>(text)
        };
        match parsed {
            Ok(Value::Object(args)) => self.call(step, name, args).await,
            Ok(_) => {
                self.refuse(
                    step,
                    name,
                    Value::String(text.to_owned()),
                    "the arguments must be a JSON object",
                )
                .await
            }
            Err(e) => {
                self.refuse(
                    step,
                    name,
                    Value::String(text.to_owned()),
                    &format!("the arguments are not valid JSON ({e}); send one JSON object"),
                )
                .await
            }
        }
    }

    /// Calls an allow-listed tool. Unknown tools and arguments that break the tool's schema come
    /// back as errors for the model; writes go through the workflow's write policy.
    pub async fn call(
        &self,
        step: u32,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<ToolReply, Halt> {
        let Some(info) = self.toolbox.allowed.iter().find(|t| t.name == name) else {
            let names: Vec<&str> = self
                .toolbox
                .allowed
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            return self
                .refuse(
                    step,
                    name,
                    Value::Object(args),
                    &format!(
                        "unknown tool `{name}`; the tools available are: {}",
                        names.join(", ")
                    ),
                )
                .await;
        };
        let args = match validate_json(&info.input_schema, Value::Object(args.clone())) {
            Ok(Value::Object(valid)) => valid,
            Ok(_) => args,
            Err(message) => {
                return self
                    .refuse(
                        step,
                        name,
                        Value::Object(args),
                        &format!("invalid arguments for `{name}`: {message}"),
                    )
                    .await;
            }
        };
        if info.is_write {
            if let Some(target) = &self.write_target {
                let named = ["ticketId", "id"]
                    .iter()
                    .find_map(|k| args.get(*k))
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    });
                // Fail closed: a write that names no ticket (a new ticket, a contact, an
                // article) is as far outside the item as one naming another ticket.
                if named.as_deref() != Some(target.as_str()) {
                    return self
                        .refuse(
                            step,
                            name,
                            Value::Object(args),
                            &format!(
                                "this item may only write to ticket {target}; writes that name another ticket or none are refused"
                            ),
                        )
                        .await;
                }
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
            let ordinal = {
                let mut ordinals = self.ordinals.lock().unwrap_or_else(|p| p.into_inner());
                let n = ordinals.entry(name.to_owned()).or_insert(0);
                *n += 1;
                *n
            };
            return writes::write(self, step, name, args, ordinal).await;
        }
        let started = Instant::now();
        let outcome = self.send(name, args.clone()).await;
        self.finish_read(step, name, args, outcome, started).await
    }

    /// One call through the retry layer.
    pub(crate) async fn send(&self, name: &str, args: Map<String, Value>) -> CallOutcome {
        self.toolbox.send(name, args).await
    }

    async fn finish_read(
        &self,
        step: u32,
        name: &str,
        args: Map<String, Value>,
        outcome: CallOutcome,
        started: Instant,
    ) -> Result<ToolReply, Halt> {
        let (reply, status, code) = answer_to_reply(outcome)?;
        self.record(
            step,
            name,
            Value::Object(args),
            false,
            if reply.ok {
                ToolOutcome::Ok
            } else {
                ToolOutcome::Error
            },
            status,
            code,
            &reply.content,
            started,
        )
        .await?;
        Ok(reply)
    }

    async fn refuse(
        &self,
        step: u32,
        name: &str,
        args: Value,
        message: &str,
    ) -> Result<ToolReply, Halt> {
        let reply = ToolReply::error(message);
        self.record(
            step,
            name,
            args,
            false,
            ToolOutcome::Error,
            None,
            Some("INVALID_CALL".into()),
            &reply.content,
            Instant::now(),
        )
        .await?;
        Ok(reply)
    }

    /// Records a write call that answered the model with `reply` (no HTTP status: writes that
    /// reach Zoho are recorded by [`super::writes`] with theirs).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_write(
        &self,
        step: u32,
        name: &str,
        args: Value,
        outcome: ToolOutcome,
        error_code: Option<String>,
        reply: &ToolReply,
        started: Instant,
    ) -> Result<(), StoreError> {
        self.record(
            step,
            name,
            args,
            true,
            outcome,
            None,
            error_code,
            &reply.content,
            started,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record(
        &self,
        step: u32,
        name: &str,
        args: Value,
        is_write: bool,
        outcome: ToolOutcome,
        http_status: Option<u16>,
        error_code: Option<String>,
        content: &Value,
        started: Instant,
    ) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.toolbox
            .store
            .record_tool_call(
                self.attempt_id,
                &NewToolCall {
                    step: i64::from(step),
                    tool: name.to_owned(),
                    arguments: args,
                    is_write,
                    outcome,
                    http_status,
                    error_code,
                    result_summary: Some(content.to_string()),
                    duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                },
            )
            .await?;
        Ok(())
    }
}

/// Turns a settled call into what the model sees; rate limits and lost connections stop the item.
pub(crate) fn answer_to_reply(
    outcome: CallOutcome,
) -> Result<(ToolReply, Option<u16>, Option<String>), Halt> {
    match outcome {
        CallOutcome::Answered(McpOutcome::Ok(value)) => Ok((ToolReply::ok(value), None, None)),
        CallOutcome::Answered(McpOutcome::ToolError(f)) if f.status == Some(401) => {
            Err(Halt::Unauthorized(f.message))
        }
        CallOutcome::Answered(McpOutcome::ToolError(f)) => {
            let content = if f.raw.is_null() {
                json!({ "error": f.message })
            } else {
                f.raw.clone()
            };
            Ok((ToolReply { ok: false, content }, f.status, f.error_code))
        }
        CallOutcome::Answered(McpOutcome::Protocol(p)) => Ok((
            ToolReply::error(p.message),
            None,
            Some(format!("JSONRPC_{}", p.code)),
        )),
        CallOutcome::RateLimited { until, failure } => Err(Halt::RateLimited {
            until,
            message: failure
                .map(|f| f.message)
                .unwrap_or_else(|| "rate limited".into()),
        }),
        CallOutcome::Unreachable(e) => Err(Halt::Unreachable(e)),
    }
}
