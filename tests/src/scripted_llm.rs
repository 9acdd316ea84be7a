//! A scripted OpenAI-compatible chat-completions server for tests.
//!
//! Tests need an LLM whose every answer is known in advance, reached over real HTTP so the client's
//! transport, retry and decoding paths run exactly as they do against a provider. The server takes
//! a queue of [`Step`]s (one per request, in order) and, once the queue is empty, an optional
//! responder closure that decides from the request body. It records every request so tests can
//! assert on what the client sent.
//!
//! It can also play an endpoint without structured outputs
//! ([`ScriptedLlmBuilder::rejecting_response_format`]): every request that carries a
//! `response_format` is refused with OpenAI's 400 for it, and only the others reach the script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Prompt tokens reported when a step does not say otherwise.
pub const DEFAULT_PROMPT_TOKENS: u32 = 11;
/// Completion tokens reported when a step does not say otherwise.
pub const DEFAULT_COMPLETION_TOKENS: u32 = 7;

/// A tool call the scripted assistant makes.
#[derive(Debug, Clone)]
pub struct ScriptedToolCall {
    /// `None`: the server makes one up (`call_<hit>_<index>`).
    pub id: Option<String>,
    pub name: String,
    /// Sent as a JSON-encoded string, as OpenAI does.
    pub arguments: Value,
}

impl ScriptedToolCall {
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        Self {
            id: None,
            name: name.into(),
            arguments,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// What the server does for one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// A final assistant answer (`finish_reason: "stop"`).
    Text { text: String, usage: Option<Usage> },
    /// One or several (parallel) tool calls (`finish_reason: "tool_calls"`).
    ToolCalls {
        calls: Vec<ScriptedToolCall>,
        usage: Option<Usage>,
    },
    /// An HTTP error with this status, JSON body and extra headers.
    Error {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    /// A 200 with exactly this JSON body, for imitating servers that bend the OpenAI shape.
    Raw(Value),
    /// Wait, then do the inner step (a client with a shorter timeout gives up first).
    Delay(Duration, Box<Step>),
    /// Close the connection without a complete response.
    Drop,
}

/// Token counts reported in a response's `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Reported as `prompt_tokens_details.cached_tokens`, as OpenAI does (0 included).
    pub cached_tokens: u32,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            completion_tokens: DEFAULT_COMPLETION_TOKENS,
            cached_tokens: 0,
        }
    }
}

impl Step {
    /// A final answer with the default usage.
    pub fn text(text: impl Into<String>) -> Self {
        Step::Text {
            text: text.into(),
            usage: Some(Usage::default()),
        }
    }

    /// A single tool call with the default usage.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::tool_calls(vec![ScriptedToolCall::new(name, arguments)])
    }

    /// Parallel tool calls with the default usage.
    pub fn tool_calls(calls: Vec<ScriptedToolCall>) -> Self {
        Step::ToolCalls {
            calls,
            usage: Some(Usage::default()),
        }
    }

    /// An HTTP error; the body is sent as JSON.
    pub fn error(status: u16, body: Value) -> Self {
        Step::Error {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// A 429 in OpenAI's shape (`type: "requests"`), with no headers yet; add them with
    /// [`Step::with_header`].
    pub fn rate_limited() -> Self {
        Self::error(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        )
    }

    /// A 429 that no amount of waiting fixes: OpenAI's `insufficient_quota`.
    pub fn insufficient_quota() -> Self {
        Self::error(
            429,
            json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
        )
    }

    /// OpenAI's 400 for a model or endpoint without structured outputs.
    pub fn response_format_unsupported() -> Self {
        Self::error(
            400,
            json!({"error": {"message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", "type": "invalid_request_error", "param": "response_format", "code": null}}),
        )
    }

    /// A 500 in OpenAI's shape.
    pub fn server_error() -> Self {
        Self::error(
            500,
            json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
        )
    }

    pub fn raw(body: Value) -> Self {
        Step::Raw(body)
    }

    pub fn delay(wait: Duration, then: Step) -> Self {
        Step::Delay(wait, Box::new(then))
    }

    pub fn drop_connection() -> Self {
        Step::Drop
    }

    /// Adds a response header (errors only; other steps ignore it).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Step::Error { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Sets the usage reported by a text or tool-call step.
    pub fn with_usage(mut self, prompt_tokens: u32, completion_tokens: u32) -> Self {
        if let Step::Text { usage, .. } | Step::ToolCalls { usage, .. } = &mut self {
            *usage = Some(Usage {
                prompt_tokens,
                completion_tokens,
                cached_tokens: usage.map_or(0, |u| u.cached_tokens),
            });
        }
        self
    }

    /// Sets how many of the prompt tokens the response reports as served from the prompt cache.
    pub fn with_cached_tokens(mut self, cached_tokens: u32) -> Self {
        if let Step::Text { usage, .. } | Step::ToolCalls { usage, .. } = &mut self {
            let mut u = usage.unwrap_or_default();
            u.cached_tokens = cached_tokens;
            *usage = Some(u);
        }
        self
    }

    /// Leaves `usage` out of the response, as some local servers do.
    pub fn without_usage(mut self) -> Self {
        if let Step::Text { usage, .. } | Step::ToolCalls { usage, .. } = &mut self {
            *usage = None;
        }
        self
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// The raw query string, e.g. `api-version=2024-10-21`.
    pub query: Option<String>,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `messages` array of the request (empty if absent).
    pub fn messages(&self) -> Vec<Value> {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The `response_format` of the request, if it carried one.
    pub fn response_format(&self) -> Option<&Value> {
        self.body.get("response_format")
    }

    /// The `tools` array of the request (empty if absent).
    pub fn tools(&self) -> Vec<Value> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

type Responder = dyn Fn(&Value) -> Step + Send + Sync;

struct Shared {
    steps: Mutex<VecDeque<Step>>,
    responder: Option<Box<Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
    hits: AtomicUsize,
    reject_response_format: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the recorded requests.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builds a [`ScriptedLlm`].
#[derive(Default)]
pub struct ScriptedLlmBuilder {
    steps: Vec<Step>,
    responder: Option<Box<Responder>>,
    reject_response_format: bool,
}

impl ScriptedLlmBuilder {
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    pub fn steps(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.steps.extend(steps);
        self
    }

    /// Decides requests that the queued steps do not cover, from the request body.
    pub fn responder(mut self, f: impl Fn(&Value) -> Step + Send + Sync + 'static) -> Self {
        self.responder = Some(Box::new(f));
        self
    }

    /// Refuses every request that carries a `response_format` with
    /// [`Step::response_format_unsupported`], without playing a step: an endpoint without
    /// structured outputs.
    pub fn rejecting_response_format(mut self) -> Self {
        self.reject_response_format = true;
        self
    }

    pub async fn start(self) -> ScriptedLlm {
        let shared = Arc::new(Shared {
            steps: Mutex::new(self.steps.into()),
            responder: self.responder,
            requests: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            reject_response_format: self.reject_response_format,
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(handle),
            )
            .with_state(shared.clone());
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("scripted LLM: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("scripted LLM: no local address: {e}"),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedLlm { addr, shared, task }
    }
}

/// A running scripted server; it stops when dropped.
///
/// ```no_run
/// # async fn demo() {
/// use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
/// let llm = ScriptedLlm::start([
///     Step::rate_limited().with_header("retry-after", "1"),
///     Step::tool_call("get_ticket", serde_json::json!({"ticket_id": "42"})),
///     Step::text("Ticket 42 is open."),
/// ]).await;
/// // point the client at llm.base_url() (".../v1"), run it, then:
/// assert_eq!(llm.hits(), 3);
/// # }
/// ```
pub struct ScriptedLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ScriptedLlm {
    pub fn builder() -> ScriptedLlmBuilder {
        ScriptedLlmBuilder::default()
    }

    /// Starts a server that plays `steps` in order.
    pub async fn start(steps: impl IntoIterator<Item = Step>) -> Self {
        Self::builder().steps(steps).start().await
    }

    /// The OpenAI-style API base, ending in `/v1` (for `OPENAI_BASE_URL` / `base_url`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bare origin, for Azure's `api_base` (`{origin}/openai/deployments/...`).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far, including those answered with errors or dropped.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The most recent request. Panics if there was none (a test-only helper).
    pub fn last_request(&self) -> RecordedRequest {
        match lock(&self.shared.requests).last() {
            Some(r) => r.clone(),
            None => panic!("scripted LLM: no request was received"),
        }
    }

    /// Appends steps to the queue while the server runs.
    pub fn push(&self, step: Step) {
        lock(&self.shared.steps).push_back(step);
    }

    /// Steps not yet played.
    pub fn remaining_steps(&self) -> usize {
        lock(&self.shared.steps).len()
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hit = shared.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&shared.requests).push(RecordedRequest {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    });
    if shared.reject_response_format && body.get("response_format").is_some() {
        return play(Step::response_format_unsupported(), hit, "").await;
    }
    let queued = lock(&shared.steps).pop_front();
    let step = match (queued, &shared.responder) {
        (Some(step), _) => step,
        (None, Some(responder)) => responder(&body),
        (None, None) => Step::error(
            400,
            json!({"error": {"message": format!("scripted LLM: script exhausted at request {hit}"), "type": "invalid_request_error"}}),
        ),
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("scripted")
        .to_owned();
    play(step, hit, &model).await
}

async fn play(step: Step, hit: usize, model: &str) -> Response {
    match step {
        Step::Text { text, usage } => completion(
            hit,
            model,
            json!({"role": "assistant", "content": text}),
            "stop",
            usage,
        ),
        Step::ToolCalls { calls, usage } => {
            let calls: Vec<Value> = calls
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({
                        "id": c.id.unwrap_or_else(|| format!("call_{hit}_{i}")),
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()},
                    })
                })
                .collect();
            completion(
                hit,
                model,
                json!({"role": "assistant", "content": null, "tool_calls": calls}),
                "tool_calls",
                usage,
            )
        }
        Step::Error {
            status,
            body,
            headers,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(body)).into_response();
            for (name, value) in headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    response.headers_mut().append(n, v);
                }
            }
            response
        }
        Step::Raw(body) => axum::Json(body).into_response(),
        // A body that fails before its first byte makes hyper abort the connection, which the
        // client sees as a dropped connection.
        Step::Drop => {
            let failing = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("scripted drop"))
            });
            Response::new(Body::from_stream(failing))
        }
        Step::Delay(wait, then) => {
            tokio::time::sleep(wait).await;
            Box::pin(play(*then, hit, model)).await
        }
    }
}

fn completion(
    hit: usize,
    model: &str,
    message: Value,
    finish_reason: &str,
    usage: Option<Usage>,
) -> Response {
    let mut body = json!({
        "id": format!("chatcmpl-scripted-{hit}"),
        "object": "chat.completion",
        "created": 1_767_225_600u32,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}],
    });
    if let (Some(u), Some(obj)) = (usage, body.as_object_mut()) {
        obj.insert(
            "usage".into(),
            json!({
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.prompt_tokens + u.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
            }),
        );
    }
    axum::Json(body).into_response()
}
