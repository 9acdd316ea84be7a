//! Tool-call failures, and their structured form for MCP results with `isError: true`.

use serde_json::{Map, Value, json};

use crate::zoho::{UpstreamError, ZohoError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool `{name}`")]
    UnknownTool { name: String },
    /// Refused before anything went upstream. `allowed_keys` are the tool's top-level arguments,
    /// so a model that guessed a key can correct itself in one step.
    #[error("{message}")]
    InvalidArguments {
        message: String,
        allowed_keys: Vec<String>,
    },
    #[error("{0}")]
    Upstream(UpstreamError),
    #[error("{message}")]
    Timeout { message: String },
    #[error("{message}")]
    Transport { message: String },
}

impl ToolError {
    /// `{status, errorCode, message, errors?, ratelimit?}`; the same shape for upstream errors and
    /// the gateway's own, so a caller needs one decoder. `ratelimit` carries only the fields known.
    pub fn to_structured(&self) -> Value {
        match self {
            ToolError::UnknownTool { name } => json!({
                "status": 404,
                "errorCode": "UNKNOWN_TOOL",
                "message": format!("unknown tool `{name}`"),
            }),
            ToolError::InvalidArguments {
                message,
                allowed_keys,
            } => json!({
                "status": 400,
                "errorCode": "INVALID_ARGUMENTS",
                "message": message,
                "allowed_keys": allowed_keys,
            }),
            ToolError::Upstream(e) => {
                let mut out = Map::new();
                out.insert("status".into(), json!(e.status));
                out.insert("errorCode".into(), json!(e.error_code));
                out.insert("message".into(), json!(e.message));
                if let Some(errors) = &e.errors {
                    out.insert("errors".into(), errors.clone());
                }
                if let Some(rl) = &e.ratelimit {
                    let mut r = Map::new();
                    for (k, v) in [
                        ("limit", rl.limit),
                        ("remaining", rl.remaining),
                        ("reset", rl.reset),
                        ("retry_after", rl.retry_after),
                    ] {
                        if let Some(v) = v {
                            r.insert(k.into(), json!(v));
                        }
                    }
                    if !r.is_empty() {
                        out.insert("ratelimit".into(), Value::Object(r));
                    }
                }
                Value::Object(out)
            }
            ToolError::Timeout { message } => json!({
                "status": 504,
                "errorCode": "UPSTREAM_TIMEOUT",
                "message": message,
            }),
            ToolError::Transport { message } => json!({
                "status": 502,
                "errorCode": "UPSTREAM_UNAVAILABLE",
                "message": message,
            }),
        }
    }

    /// The HTTP-ish status of the failure (429 for rate limits, 400 for bad arguments, ...).
    pub fn status(&self) -> u16 {
        match self {
            ToolError::UnknownTool { .. } => 404,
            ToolError::InvalidArguments { .. } => 400,
            ToolError::Upstream(e) => e.status,
            ToolError::Timeout { .. } => 504,
            ToolError::Transport { .. } => 502,
        }
    }
}

impl From<ZohoError> for ToolError {
    fn from(e: ZohoError) -> Self {
        match e {
            ZohoError::Upstream(u) => ToolError::Upstream(u),
            ZohoError::Auth { code, message } => ToolError::Upstream(UpstreamError {
                status: 401,
                error_code: Some(code),
                message,
                errors: None,
                ratelimit: None,
            }),
            ZohoError::Timeout { .. } => ToolError::Timeout {
                message: e.to_string(),
            },
            ZohoError::Decode { status, snippet } => ToolError::Upstream(UpstreamError {
                status,
                // A 2xx whose body cannot be read ran upstream: callers must not take it for a
                // refusal (a write may have landed), so it gets a code of its own.
                error_code: (200..300)
                    .contains(&status)
                    .then(|| "UNREADABLE_RESPONSE".to_owned()),
                message: format!("upstream returned HTTP {status} with a non-JSON body: {snippet}"),
                errors: None,
                ratelimit: None,
            }),
            // Refused before sending (a URL too long, a path that is not one): the same call
            // fails the same way every time, so it is an argument error, not a 502 to retry.
            ZohoError::InvalidRequest(message) => ToolError::InvalidArguments {
                message,
                allowed_keys: Vec::new(),
            },
            ZohoError::Transport(_) => ToolError::Transport {
                message: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::zoho::RateLimitInfo;

    #[test]
    fn upstream_429_carries_known_ratelimit_fields_only() {
        let e = ToolError::Upstream(UpstreamError {
            status: 429,
            error_code: Some("THRESHOLD_EXCEEDED".into()),
            message: "quota".into(),
            errors: None,
            ratelimit: Some(RateLimitInfo {
                limit: None,
                remaining: Some(0),
                reset: Some(30),
                retry_after: Some(30),
                weight: None,
            }),
        });
        assert_eq!(
            e.to_structured(),
            json!({"status": 429, "errorCode": "THRESHOLD_EXCEEDED", "message": "quota",
                   "ratelimit": {"remaining": 0, "reset": 30, "retry_after": 30}})
        );
    }

    #[test]
    fn validation_errors_are_400() {
        let e = ToolError::InvalidArguments {
            message: "argument `x`: bad".into(),
            allowed_keys: vec!["a".into()],
        };
        let s = e.to_structured();
        assert_eq!(s["status"], 400);
        assert_eq!(s["errorCode"], "INVALID_ARGUMENTS");
        assert_eq!(s["allowed_keys"], json!(["a"]));
    }

    #[test]
    fn auth_errors_never_carry_secrets() {
        let e: ToolError = ZohoError::Auth {
            code: "invalid_client".into(),
            message: "refused (invalid_client)".into(),
        }
        .into();
        let s = e.to_structured();
        assert_eq!(s["status"], 401);
        assert_eq!(s["errorCode"], "invalid_client");
    }
}
