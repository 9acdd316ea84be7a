//! Repeating one tool call until it settles: 429s are waited out (bounded by `max_wait`), 5xx and
//! broken connections get exponential backoff when repeating is safe, and everything else is
//! returned at once so the model can correct itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::mcp::{McpError, McpSession, ToolFailure, ToolOutcome};
use crate::retry::RetryObserver;
use crate::retry::backoff::{ServerErrorBackoff, jitter};
use crate::retry::rate_gate::{ClosedUntil, RateGate};

/// The first backoff after a 429 that reports no reset, doubled per repeat up to the maximum.
const UNTIMED_429_BASE: Duration = Duration::from_secs(1);
const UNTIMED_429_MAX: Duration = Duration::from_secs(64);

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Repeats after 429s, at most.
    pub max_rate_limit_retries: u32,
    /// The longest single wait this layer accepts. A reset further away (Zoho's daily credit
    /// budget) ends the call with [`CallOutcome::RateLimited`] for the item layer to reschedule,
    /// instead of holding a worker for hours.
    pub max_wait: Duration,
    /// The most time spent waiting on 429s for one call, all attempts together.
    pub max_total_wait: Duration,
    /// Random extra on top of each reported reset.
    pub rate_limit_jitter: Duration,
    pub server_errors: ServerErrorBackoff,
    /// Repeat 5xx answers and broken connections even for tools that are neither read-only nor
    /// idempotent. Off by default: a 502 after a dropped connection may hide a write that
    /// happened, and the write path (idempotency records) owns that case.
    pub repeat_unsafe_calls: bool,
    /// What a 429 leads to. Only [`RateLimitStrategy::HonourReset`] drains a backlog at the
    /// limit; the others exist to be measured against it (`bench/drain.sh`) and for servers whose
    /// rate-limit fields cannot be trusted.
    pub on_rate_limit: RateLimitStrategy,
}

/// How the tool-call layer answers a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitStrategy {
    /// Wait for the reported reset (plus jitter) and close the shared gate so every item waits.
    HonourReset,
    /// Exponential backoff with jitter from `base`, capped at `max`, ignoring the reported reset
    /// and the shared gate: what a generic HTTP retry library does.
    Backoff { base: Duration, max: Duration },
    /// No retry: the 429 goes back to the model as a tool error, as a client with no retry layer
    /// of its own would see it.
    Surface,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_rate_limit_retries: 20,
            max_wait: Duration::from_secs(5 * 60),
            max_total_wait: Duration::from_secs(15 * 60),
            rate_limit_jitter: Duration::from_millis(500),
            server_errors: ServerErrorBackoff::default(),
            repeat_unsafe_calls: false,
            on_rate_limit: RateLimitStrategy::HonourReset,
        }
    }
}

/// How a call with retries ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The server's last answer: a value, a failure for the model (4xx, or a 5xx that outlasted
    /// the backoff), or a protocol error.
    Answered(ToolOutcome),
    /// Still rate limited, and waiting longer is not this layer's job: retry the item at `until`.
    /// `failure` is the last 429 (absent when the shared gate was already closed that long).
    RateLimited {
        until: DateTime<Utc>,
        failure: Option<ToolFailure>,
    },
    /// The connection failed and repeating did not help (or was not safe).
    Unreachable(McpError),
}

/// Calls `name` through `gate`, repeating as the policy allows. Every repeat is reported to
/// `observer` (layer `"mcp"`) and as a tracing event.
pub async fn call_with_retry(
    session: &McpSession,
    gate: &RateGate,
    name: &str,
    args: Map<String, Value>,
    policy: &RetryPolicy,
    observer: &dyn RetryObserver,
) -> CallOutcome {
    let mut delays = policy.server_errors.delays();
    let mut safe_to_repeat: Option<bool> = None;
    let mut attempt: u32 = 0;
    let mut rate_retries: u32 = 0;
    let mut rate_waited = Duration::ZERO;
    let mut last_429: Option<ToolFailure> = None;

    loop {
        attempt += 1;
        let permit = match gate.wait_at_most(policy.max_wait).await {
            Ok(permit) => permit,
            Err(ClosedUntil(until)) => {
                return rate_limited(until - tokio::time::Instant::now(), last_429);
            }
        };
        let answer = session.call_tool_metered(name, args.clone()).await;
        if let Ok((outcome, budget)) = &answer {
            let weight = match outcome {
                ToolOutcome::ToolError(f) => f.ratelimit.and_then(|r| r.weight),
                _ => budget.and_then(|b| b.weight),
            };
            if let Some(credits) = weight.filter(|w| *w > 0) {
                observer.on_credits(credits);
            }
        }
        let honour = policy.on_rate_limit == RateLimitStrategy::HonourReset;
        let gate_closed = match &answer {
            Ok((outcome, budget)) if honour => {
                gate.observe_budget(budget.as_ref());
                permit.observe(outcome)
            }
            _ => None,
        };
        drop(permit);
        let answer = answer.map(|(outcome, _)| outcome);

        let (wait, reason) = match answer {
            Ok(ToolOutcome::ToolError(failure)) if failure.is_rate_limited() => {
                let reported = failure.ratelimit.and_then(|r| r.delay());
                let own = match policy.on_rate_limit {
                    RateLimitStrategy::HonourReset => match reported {
                        Some(delay) => delay + jitter(policy.rate_limit_jitter),
                        // A 429 that says nothing of its reset (Zoho's concurrency 429): backoff
                        // from 1 s doubling to 64 s, with up to half again of jitter, not a fixed
                        // second that hammers a limit 20 times in 20 s.
                        None => {
                            let cap = UNTIMED_429_BASE
                                .saturating_mul(1u32 << rate_retries.min(16))
                                .min(UNTIMED_429_MAX);
                            cap + jitter(cap / 2)
                        }
                    },
                    RateLimitStrategy::Backoff { base, max } => {
                        let cap = base.saturating_mul(1u32 << rate_retries.min(16)).min(max);
                        cap / 2 + jitter(cap / 2)
                    }
                    RateLimitStrategy::Surface => {
                        return CallOutcome::Answered(ToolOutcome::ToolError(failure));
                    }
                };
                // When the answer closed the shared gate until a reported reset, the gate does
                // the waiting (and the staggered release); otherwise (a concurrency 429, or no
                // reset reported) this call waits alone, at least as long as the gate.
                let gate_waits = gate_closed.is_some() && reported.is_some();
                let wait = if gate_waits {
                    gate_closed.unwrap_or(own)
                } else {
                    own.max(gate_closed.unwrap_or_default())
                };
                let reason = format!(
                    "429 {}",
                    failure.error_code.as_deref().unwrap_or("rate limited")
                );
                if wait > policy.max_wait
                    || rate_retries >= policy.max_rate_limit_retries
                    || rate_waited + wait > policy.max_total_wait
                {
                    return rate_limited(wait, Some(failure));
                }
                rate_retries += 1;
                rate_waited += wait;
                last_429 = Some(failure);
                report(observer, name, attempt, wait, &reason);
                if !gate_waits {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            Ok(ToolOutcome::ToolError(failure))
                if failure.is_server_error() || failure.is_unreadable_success() =>
            {
                if !is_safe(session, name, policy, &mut safe_to_repeat).await {
                    return CallOutcome::Answered(ToolOutcome::ToolError(failure));
                }
                match delays.next() {
                    Some(d) => {
                        let reason = format!(
                            "{} {}",
                            failure.status.unwrap_or_default(),
                            failure.error_code.as_deref().unwrap_or("server error")
                        );
                        (d, reason)
                    }
                    None => return CallOutcome::Answered(ToolOutcome::ToolError(failure)),
                }
            }
            Ok(outcome) => return CallOutcome::Answered(outcome),
            Err(e) if e.is_transport() => {
                if !is_safe(session, name, policy, &mut safe_to_repeat).await {
                    return CallOutcome::Unreachable(e);
                }
                match delays.next() {
                    Some(d) => (d, format!("connection: {e}")),
                    None => return CallOutcome::Unreachable(e),
                }
            }
            Err(e) => return CallOutcome::Unreachable(e),
        };
        report(observer, name, attempt, wait, &reason);
        tokio::time::sleep(wait).await;
    }
}

async fn is_safe(
    session: &McpSession,
    name: &str,
    policy: &RetryPolicy,
    known: &mut Option<bool>,
) -> bool {
    if policy.repeat_unsafe_calls {
        return true;
    }
    if let Some(safe) = *known {
        return safe;
    }
    let safe = session.is_safe_to_repeat(name).await;
    *known = Some(safe);
    safe
}

fn rate_limited(wait: Duration, failure: Option<ToolFailure>) -> CallOutcome {
    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    let until = Utc::now()
        .checked_add_signed(wait)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    CallOutcome::RateLimited { until, failure }
}

fn report(observer: &dyn RetryObserver, tool: &str, attempt: u32, wait: Duration, reason: &str) {
    tracing::info!(
        layer = "mcp",
        tool,
        attempt,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        reason,
        "retrying MCP tool call"
    );
    observer.on_retry("mcp", attempt, wait, reason);
}
