//! Layer 1 of the runner's retry design: the LLM HTTP retry, as a tower layer under async-openai.
//!
//! It sits where the response headers are visible, replaces async-openai's built-in retry (which
//! retries 3× and honours `Retry-After` without a cap) and is the only retry on this path. Every
//! attempt ends in one of three ways: a usable response (normalised by [`super::compat`]), an
//! error worth waiting for (429, 5xx, timeout, dropped connection) or a final [`LlmError`]
//! (quota, auth, other 4xx). Final errors travel through async-openai as
//! `OpenAIError::Boxed(LlmError)` and are unboxed by the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use backon::{ExponentialBuilder, Retryable};
use reqwest::Response;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tower::ServiceExt;

use super::compat::normalise_completion;
use super::error::LlmError;
use super::settings::RetryPolicy;
use super::wait_hint::wait_hint;

/// The `layer` name this module reports retries under.
pub const LLM_LAYER: &str = "llm";

// One observer trait for every retry layer (LLM here, MCP in `crate::retry`), so a single
// store-backed observer records both. `attempt` is the attempt that just failed (1 = the first
// request); `wait` is the wait that now follows, already capped.
pub use crate::retry::RetryObserver;

/// One reported retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryEvent {
    pub layer: String,
    pub attempt: u32,
    pub wait: Duration,
    pub reason: String,
}

/// A [`RetryObserver`] that keeps every event in memory (for summaries and tests).
#[derive(Debug, Default)]
pub struct RetryLog {
    events: Mutex<Vec<RetryEvent>>,
}

impl RetryLog {
    pub fn events(&self) -> Vec<RetryEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl RetryObserver for RetryLog {
    fn on_retry(&self, layer: &'static str, attempt: u32, wait: Duration, reason: &str) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(RetryEvent {
                layer: layer.to_owned(),
                attempt,
                wait,
                reason: reason.to_owned(),
            });
    }
}

/// What one chat call's attempts added up to.
#[derive(Debug, Default)]
pub(crate) struct CallStats {
    pub attempts: AtomicU32,
    pub retries: AtomicU32,
}

/// Everything the layer needs that does not change between calls.
#[derive(Clone)]
pub(crate) struct RetryContext {
    pub policy: RetryPolicy,
    pub attempt_timeout: Duration,
    pub provider: Arc<str>,
    pub key_env: Option<Arc<str>>,
    /// Used only to scrub the key from provider messages before they reach an error.
    pub key: Option<Arc<str>>,
    pub observer: Option<Arc<dyn RetryObserver>>,
}

#[derive(Clone)]
pub(crate) struct RetryLayer {
    pub ctx: RetryContext,
    pub stats: Arc<CallStats>,
}

impl tower::Layer<ReqwestService> for RetryLayer {
    type Service = RetryService;

    fn layer(&self, inner: ReqwestService) -> RetryService {
        RetryService {
            inner,
            ctx: self.ctx.clone(),
            stats: self.stats.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct RetryService {
    inner: ReqwestService,
    ctx: RetryContext,
    stats: Arc<CallStats>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for RetryService {
    type Response = Response;
    type Error = OpenAIError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let inner = self.inner.clone();
        let ctx = self.ctx.clone();
        let stats = self.stats.clone();
        Box::pin(async move {
            run(inner, ctx, stats, request)
                .await
                .map_err(|e| OpenAIError::Boxed(Box::new(e)))
        })
    }
}

/// Why an attempt failed in a way that waiting may fix.
#[derive(Debug)]
enum Transient {
    RateLimited {
        hint: Option<Duration>,
        message: String,
    },
    Server {
        status: u16,
        hint: Option<Duration>,
        message: String,
    },
    Timeout,
    Transport(String),
}

impl Transient {
    fn hint(&self) -> Option<Duration> {
        match self {
            Transient::RateLimited { hint, .. } | Transient::Server { hint, .. } => *hint,
            Transient::Timeout | Transient::Transport(_) => None,
        }
    }

    fn reason(&self) -> String {
        match self {
            Transient::RateLimited { .. } => "HTTP 429 rate limited".into(),
            Transient::Server { status, .. } => format!("HTTP {status}"),
            Transient::Timeout => "timeout".into(),
            Transient::Transport(m) => m.clone(),
        }
    }
}

#[derive(Debug)]
enum AttemptError {
    Transient(Transient),
    Final(LlmError),
}

async fn run(
    inner: ReqwestService,
    ctx: RetryContext,
    stats: Arc<CallStats>,
    request: HttpRequestFactory,
) -> Result<Response, LlmError> {
    let policy = ctx.policy;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_backoff.min(policy.max_wait))
        .with_max_delay(policy.max_wait)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter();
    let try_once = || {
        let inner = inner.clone();
        let request = request.clone();
        let ctx = ctx.clone();
        stats.attempts.fetch_add(1, Ordering::SeqCst);
        async move { attempt(inner, &ctx, request).await }
    };
    let result = try_once
        .retry(backoff)
        .when(|e| matches!(e, AttemptError::Transient(_)))
        // backon passes `None` once its budget is spent; keep it `None`, or an adjusted
        // Some(..) would retry forever.
        .adjust(|e, backoff| {
            let backoff = backoff?;
            let wanted = match e {
                AttemptError::Transient(t) => t.hint().unwrap_or(backoff),
                AttemptError::Final(_) => backoff,
            };
            Some(wanted.min(policy.max_wait))
        })
        .notify(|e, wait| {
            if let AttemptError::Transient(t) = e {
                let attempt = stats.attempts.load(Ordering::SeqCst);
                stats.retries.fetch_add(1, Ordering::SeqCst);
                let reason = t.reason();
                tracing::warn!(
                    layer = LLM_LAYER,
                    attempt,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    reason = %reason,
                    provider = %ctx.provider,
                    "retrying the LLM request"
                );
                if let Some(observer) = &ctx.observer {
                    observer.on_retry(LLM_LAYER, attempt, wait, &reason);
                }
            }
        })
        .await;
    let attempts = stats.attempts.load(Ordering::SeqCst);
    result.map_err(|e| match e {
        AttemptError::Final(e) => e,
        AttemptError::Transient(t) => exhausted(&ctx, attempts, t),
    })
}

fn exhausted(ctx: &RetryContext, attempts: u32, t: Transient) -> LlmError {
    let provider = ctx.provider.to_string();
    match t {
        Transient::RateLimited { hint, message } => LlmError::RateLimited {
            provider,
            attempts,
            last_wait: hint,
            message,
        },
        Transient::Server {
            status, message, ..
        } => LlmError::ServerError {
            provider,
            status,
            attempts,
            message,
        },
        Transient::Timeout => LlmError::Timeout {
            provider,
            attempts,
            after: ctx.attempt_timeout,
        },
        Transient::Transport(message) => LlmError::Transport {
            provider,
            attempts,
            message,
        },
    }
}

async fn attempt(
    inner: ReqwestService,
    ctx: &RetryContext,
    request: HttpRequestFactory,
) -> Result<Response, AttemptError> {
    let exchange = async {
        let response = inner
            .oneshot(request)
            .await
            .map_err(|e| transport(ctx, e))?;
        classify(ctx, response).await
    };
    match tokio::time::timeout(ctx.attempt_timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(AttemptError::Transient(Transient::Timeout)),
    }
}

fn transport(ctx: &RetryContext, e: OpenAIError) -> AttemptError {
    match e {
        OpenAIError::Reqwest(e) if e.is_builder() => {
            AttemptError::Final(LlmError::Config(format!(
                "cannot build a request for {}: {}",
                ctx.provider,
                e.without_url()
            )))
        }
        OpenAIError::Reqwest(e) => AttemptError::Transient(reqwest_transient(&e)),
        other => AttemptError::Final(LlmError::Config(format!(
            "cannot build a request for {}: {other}",
            ctx.provider
        ))),
    }
}

fn reqwest_transient(e: &reqwest::Error) -> Transient {
    if e.is_timeout() {
        Transient::Timeout
    } else if e.is_connect() {
        Transient::Transport(format!("connection failed: {}", root_cause(e)))
    } else {
        Transient::Transport(format!("connection dropped: {}", root_cause(e)))
    }
}

/// The innermost cause, which names what happened ("connection refused") without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn read_body(response: Response) -> Result<Vec<u8>, AttemptError> {
    match response.bytes().await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) if e.is_timeout() => Err(AttemptError::Transient(Transient::Timeout)),
        Err(e) => Err(AttemptError::Transient(Transient::Transport(format!(
            "connection dropped while reading the response: {}",
            root_cause(&e)
        )))),
    }
}

async fn classify(ctx: &RetryContext, response: Response) -> Result<Response, AttemptError> {
    let status = response.status();
    let headers = response.headers().clone();
    let version = response.version();
    let body = read_body(response).await?;
    if status.is_success() {
        let body = normalise_completion(&body).unwrap_or(body);
        return Ok(rebuild(status, version, &headers, body));
    }
    let code = status.as_u16();
    let (message, error_type) = provider_message(&body, code);
    let message = scrub(ctx, message);
    let provider = ctx.provider.to_string();
    Err(match code {
        429 if error_type.as_deref() == Some("insufficient_quota") => {
            AttemptError::Final(LlmError::QuotaExhausted { provider, message })
        }
        429 => AttemptError::Transient(Transient::RateLimited {
            hint: wait_hint(&headers),
            message,
        }),
        500..=599 => AttemptError::Transient(Transient::Server {
            status: code,
            hint: wait_hint(&headers),
            message,
        }),
        401 => AttemptError::Final(LlmError::Auth {
            provider,
            status: code,
            hint: auth_hint(ctx),
        }),
        403 => AttemptError::Final(LlmError::Auth {
            provider,
            status: code,
            hint: format!("{}: {message}", auth_hint(ctx)),
        }),
        _ => AttemptError::Final(LlmError::BadRequest {
            provider,
            status: code,
            message,
        }),
    })
}

fn auth_hint(ctx: &RetryContext) -> String {
    match (&ctx.key, &ctx.key_env) {
        (Some(_), Some(var)) => format!("; check the API key in {var}"),
        (Some(_), None) => "; check the API key".into(),
        (None, Some(var)) => format!("; {var} is not set"),
        (None, None) => "; no API key is configured (set `api_key_env` in the workflow)".into(),
    }
}

fn scrub(ctx: &RetryContext, message: String) -> String {
    match &ctx.key {
        Some(key) if key.len() >= 4 => message.replace(key.as_ref(), "<redacted>"),
        _ => message,
    }
}

/// The provider's own words: OpenAI's `{"error": {"message", "type"}}`, Ollama's
/// `{"error": "..."}`, FastAPI's `{"detail": ...}`, or the text itself.
fn provider_message(body: &[u8], status: u16) -> (String, Option<String>) {
    const MAX: usize = 500;
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let error_type = error.and_then(|e| {
        let t = e.get("type").and_then(Value::as_str);
        let c = e.get("code").and_then(Value::as_str);
        match (t, c) {
            (_, Some("insufficient_quota")) => Some("insufficient_quota".to_owned()),
            (t, _) => t.map(str::to_owned),
        }
    });
    let message = match (error, parsed.as_ref()) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (Some(e), _) => e.get("message").and_then(Value::as_str).map(str::to_owned),
        (None, Some(v)) => v
            .get("message")
            .or_else(|| v.get("detail"))
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned)),
        (None, None) => None,
    };
    let message = message
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
        .trim()
        .to_owned();
    // OpenAI names the offending field in `param`; keep it when the message does not.
    let message = match error.and_then(|e| e.get("param")).and_then(Value::as_str) {
        Some(param) if !param.is_empty() && !message.contains(param) => {
            format!("{message} (parameter `{param}`)")
        }
        _ => message,
    };
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else if message.chars().count() > MAX {
        let cut: String = message.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        message
    };
    (message, error_type)
}

fn rebuild(
    status: reqwest::StatusCode,
    version: reqwest::Version,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Response {
    let mut response = axum::http::Response::new(body);
    *response.status_mut() = status;
    *response.version_mut() = version;
    for (name, value) in headers {
        // The body was re-encoded, so its length and encodings no longer apply.
        if name == reqwest::header::CONTENT_LENGTH
            || name == reqwest::header::TRANSFER_ENCODING
            || name == reqwest::header::CONTENT_ENCODING
        {
            continue;
        }
        response.headers_mut().append(name, value.clone());
    }
    Response::from(response)
}
