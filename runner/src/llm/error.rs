//! How an LLM call fails, classified for the layers above: the agent loop needs to know whether to
//! give up on the item, try it again on a later run, or tell the user to fix their settings.

use std::time::Duration;

/// A failed chat call. Messages name the provider and the setting to fix; they never contain an
/// API key.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Still 429 after every attempt. `last_wait` is the wait the provider asked for last
    /// (uncapped), so a later run can be scheduled after it.
    #[error("{provider} is still rate limiting after {attempts} attempt(s){}: {message}", fmt_wait(.last_wait))]
    RateLimited {
        provider: String,
        attempts: u32,
        last_wait: Option<Duration>,
        message: String,
    },
    /// 429 `insufficient_quota`: waiting does not help, so it is never retried.
    #[error("{provider}: quota exhausted, check the plan and billing ({message})")]
    QuotaExhausted { provider: String, message: String },
    /// 401/403. The provider's message is left out of 401s because providers echo parts of
    /// the rejected key.
    #[error("{provider} refused the credentials (HTTP {status}){hint}")]
    Auth {
        provider: String,
        status: u16,
        hint: String,
    },
    /// Any other 4xx: the request itself is wrong, so repeating it cannot help.
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    BadRequest {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("{provider} failed with HTTP {status} after {attempts} attempt(s): {message}")]
    ServerError {
        provider: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("{provider} did not answer within {}s ({attempts} attempt(s))", .after.as_secs_f64())]
    Timeout {
        provider: String,
        attempts: u32,
        after: Duration,
    },
    #[error("could not reach {provider} ({attempts} attempt(s)): {message}")]
    Transport {
        provider: String,
        attempts: u32,
        message: String,
    },
    #[error("{provider} sent a response that is not a chat completion: {message}")]
    Decode { provider: String, message: String },
    #[error("LLM settings: {0}")]
    Config(String),
}

fn fmt_wait(wait: &Option<Duration>) -> String {
    match wait {
        Some(w) => format!(" (it asked to wait {}s)", w.as_secs_f64()),
        None => String::new(),
    }
}

impl LlmError {
    /// Whether the provider refused the request because of its `response_format`: an endpoint
    /// or model without structured outputs (OpenAI: "'response_format' of type 'json_schema' is
    /// not supported with this model"; Azure: older api versions), or a schema it cannot compile.
    /// Some local servers fail such requests with a 5xx that names the field, so those count too.
    pub fn rejects_response_format(&self) -> bool {
        let message = match self {
            LlmError::BadRequest {
                status, message, ..
            } if *status != 404 => message,
            LlmError::ServerError { message, .. } => message,
            _ => return false,
        };
        let message = message.to_ascii_lowercase();
        [
            "response_format",
            "response format",
            "json_schema",
            "structured output",
        ]
        .iter()
        .any(|needle| message.contains(needle))
    }

    /// Whether the same call may succeed on a later run (layer 3 of the retry design).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::ServerError { .. }
                | LlmError::Timeout { .. }
                | LlmError::Transport { .. }
        )
    }
}
