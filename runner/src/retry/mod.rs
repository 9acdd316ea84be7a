//! Layer 2 of the runner's retry policy: MCP tool calls. A 429 is waited out and repeated here,
//! so the model never sees it; a shared [`RateGate`] keeps concurrent items from stampeding a
//! limit; 5xx and broken connections get bounded backoff; other failures go back to the caller.
//! Layer 1 (LLM HTTP) and layer 3 (items on a later run) never wrap this one, so attempts never
//! multiply.

pub mod backoff;
pub mod rate_gate;
pub mod tool_call;

use std::time::Duration;

pub use rate_gate::{GateConfig, GatePermit, RateGate};
pub use tool_call::{CallOutcome, RateLimitStrategy, RetryPolicy, call_with_retry};

/// Told about every retry, so the store and metrics can count them. `layer` is `"mcp"` for tool
/// calls and `"llm"` for model requests (the LLM client reports through the same trait).
pub trait RetryObserver: Send + Sync {
    fn on_retry(&self, layer: &'static str, attempt: u32, wait: Duration, reason: &str);

    /// A tool call that reached Zoho cost `credits` (the request weight the gateway reports in a
    /// result's `_meta.ratelimit`, or in a failure's rate-limit fields).
    fn on_credits(&self, _credits: u64) {}
}

/// For callers that only want the tracing events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RetryObserver for NoopObserver {
    fn on_retry(&self, _: &'static str, _: u32, _: Duration, _: &str) {}
}
