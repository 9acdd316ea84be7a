//! Shared fixtures for end-to-end tests and the runner benchmarks.
//!
//! - [`agents`]: scripted agents that do the shipped workflows' jobs from real tool results.
//!
//! - [`postgres`]: the gate every PostgreSQL test goes through (fails under CI, reports a skip
//!   visibly elsewhere).
//!
//! - [`scripted_llm`]: an OpenAI-compatible chat-completions server on `127.0.0.1:0` that plays a
//!   script. Each request consumes one [`scripted_llm::Step`] from a queue: a final answer
//!   ([`Step::text`](scripted_llm::Step::text)), one or several parallel tool calls
//!   ([`Step::tool_call`](scripted_llm::Step::tool_call),
//!   [`Step::tool_calls`](scripted_llm::Step::tool_calls)), an HTTP error with headers
//!   ([`Step::rate_limited`](scripted_llm::Step::rate_limited)`.with_header("retry-after", "1")`,
//!   [`Step::insufficient_quota`](scripted_llm::Step::insufficient_quota),
//!   [`Step::server_error`](scripted_llm::Step::server_error), [`Step::error`](scripted_llm::Step::error)),
//!   a raw 200 body for imitating quirky local servers ([`Step::raw`](scripted_llm::Step::raw)),
//!   a delay before another step, or a dropped connection. When the queue is empty, an optional
//!   responder closure `Fn(&serde_json::Value) -> Step` decides from the request body (e.g. keep
//!   calling tools until a tool result contains X); with neither, the server answers 400
//!   "script exhausted". Text and tool-call steps report `usage`
//!   ([`DEFAULT_PROMPT_TOKENS`](scripted_llm::DEFAULT_PROMPT_TOKENS) /
//!   [`DEFAULT_COMPLETION_TOKENS`](scripted_llm::DEFAULT_COMPLETION_TOKENS) unless
//!   `.with_usage(p, c)` or `.without_usage()`).
//!
//!   Paths: `POST /v1/chat/completions` (use [`ScriptedLlm::base_url`](scripted_llm::ScriptedLlm::base_url))
//!   and Azure's `POST /openai/deployments/{deployment}/chat/completions?api-version=...` (use
//!   [`ScriptedLlm::origin`](scripted_llm::ScriptedLlm::origin) as the Azure API base).
//!   [`ScriptedLlm::requests`](scripted_llm::ScriptedLlm::requests) returns every request's path,
//!   query, headers and JSON body; [`ScriptedLlm::hits`](scripted_llm::ScriptedLlm::hits) counts
//!   them, dropped and failed ones included.

pub mod agents;
pub mod postgres;
pub mod scripted_llm;

pub use scripted_llm::{RecordedRequest, ScriptedLlm, ScriptedToolCall, Step};
