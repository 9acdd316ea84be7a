//! Tool results as the runner sees them: a value, a tool failure the server reported (with the
//! gateway's `{status, errorCode, message, errors?, ratelimit?}` when present), or a protocol
//! error.

use std::time::Duration;

use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

/// What one `tools/call` came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutcome {
    /// `structuredContent`, or the text content (parsed as JSON when it is JSON).
    Ok(Value),
    /// An `isError: true` result: the server ran the tool and it failed.
    ToolError(ToolFailure),
    /// A JSON-RPC error (unknown or filtered-out tool, malformed request): the call never ran.
    Protocol(ProtocolError),
}

impl ToolOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, ToolOutcome::Ok(_))
    }

    pub fn failure(&self) -> Option<&ToolFailure> {
        match self {
            ToolOutcome::ToolError(f) => Some(f),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: i32,
    pub message: String,
}

/// A failed tool call. Servers other than ours may send only text; then `status` is `None` and
/// the retry layer treats the failure as one for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolFailure {
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub message: String,
    pub ratelimit: Option<RateLimit>,
    /// The structured object as received (or the text, as a string), for the model and the store.
    pub raw: Value,
}

impl ToolFailure {
    pub fn is_rate_limited(&self) -> bool {
        self.status == Some(429)
    }

    pub fn is_server_error(&self) -> bool {
        self.status.is_some_and(|s| (500..=599).contains(&s))
    }

    /// Zoho answered 2xx but the body could not be read: the call ran upstream, its answer is
    /// lost. A read is repeated like a 5xx; a write may have landed and is reconciled.
    pub fn is_unreadable_success(&self) -> bool {
        self.status.is_some_and(|s| (200..=299).contains(&s))
    }

    /// Whether the call may have taken effect upstream although no success was read: no status
    /// at all (a server other than ours), a 5xx (Zoho may commit before failing), or a 2xx whose
    /// body was unreadable.
    pub fn may_have_landed(&self) -> bool {
        self.status.is_none() || self.is_server_error() || self.is_unreadable_success()
    }

    /// Zoho's concurrency 429: too many calls in flight, as opposed to an exhausted credit budget.
    pub fn is_concurrency_limit(&self) -> bool {
        self.is_rate_limited() && self.error_code.as_deref() == Some("TOO_MANY_REQUESTS")
    }
}

/// The IETF RateLimit fields as the gateway normalises them. `reset` and `retry_after` are
/// delay-seconds, never timestamps. Each field is read on its own and a malformed one is dropped
/// (the draft: malformed fields MUST be ignored), so one bad value never discards the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<u64>,
    pub retry_after: Option<u64>,
    /// Credits the call cost, when the server says (Zoho's request weight).
    pub weight: Option<u64>,
}

impl RateLimit {
    pub fn from_value(value: &Value) -> Option<RateLimit> {
        let obj = value.as_object()?;
        let field = |name: &str| obj.get(name).and_then(delta_seconds);
        let rl = RateLimit {
            limit: field("limit"),
            remaining: field("remaining"),
            reset: field("reset"),
            retry_after: field("retry_after").or_else(|| field("retryAfter")),
            weight: field("weight"),
        };
        (rl != RateLimit::default()).then_some(rl)
    }

    /// How long until calls may succeed again. `Retry-After` takes precedence over `reset`, as the
    /// draft requires when both are present.
    pub fn delay(&self) -> Option<Duration> {
        self.retry_after.or(self.reset).map(Duration::from_secs)
    }

    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// A non-negative integer, as a JSON number or a string of digits. Anything else (negative,
/// fractional, a date, a word) is malformed.
fn delta_seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        }
        _ => None,
    }
}

impl From<CallToolResult> for ToolOutcome {
    fn from(result: CallToolResult) -> Self {
        let text = text_of(&result);
        if result.is_error == Some(true) {
            return ToolOutcome::ToolError(failure_from(result.structured_content, &text));
        }
        let value = match result.structured_content {
            Some(v) => v,
            None => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
        ToolOutcome::Ok(value)
    }
}

/// The rate-limit fields a successful result carries in `_meta.ratelimit` (our gateway sends
/// them so the client can pace before the budget is gone).
pub fn meta_ratelimit(result: &CallToolResult) -> Option<RateLimit> {
    result
        .meta
        .as_ref()
        .and_then(|m| m.0.get("ratelimit"))
        .and_then(RateLimit::from_value)
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn failure_from(structured: Option<Value>, text: &str) -> ToolFailure {
    let object = structured
        .filter(Value::is_object)
        .or_else(|| json_in_text(text));
    let Some(raw) = object else {
        return ToolFailure {
            status: None,
            error_code: None,
            message: if text.is_empty() {
                "the tool failed without a message".to_owned()
            } else {
                text.to_owned()
            },
            ratelimit: None,
            raw: Value::String(text.to_owned()),
        };
    };
    let obj = raw.as_object().cloned().unwrap_or_default();
    ToolFailure {
        status: status_of(&obj),
        error_code: str_field(&obj, &["errorCode", "error_code", "code"]),
        message: str_field(&obj, &["message", "error"]).unwrap_or_else(|| text.to_owned()),
        ratelimit: obj.get("ratelimit").and_then(RateLimit::from_value),
        raw,
    }
}

/// The whole text as a JSON object, else its last line that is one: our gateway writes a sentence
/// for the model followed by the structured object.
fn json_in_text(text: &str) -> Option<Value> {
    let parse = |s: &str| {
        serde_json::from_str::<Value>(s.trim())
            .ok()
            .filter(Value::is_object)
    };
    parse(text).or_else(|| text.lines().rev().find_map(parse))
}

fn status_of(obj: &Map<String, Value>) -> Option<u16> {
    obj.get("status")
        .and_then(delta_seconds)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
}

fn str_field(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| obj.get(*n).and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;
    use serde_json::json;

    #[test]
    fn structured_errors_decode_and_malformed_ratelimit_fields_are_dropped_one_by_one() {
        let result = CallToolResult::structured_error(json!({
            "status": 429, "errorCode": "THRESHOLD_EXCEEDED", "message": "quota",
            "ratelimit": {"limit": "many", "remaining": 0, "reset": -5, "retry_after": "7"}
        }));
        let ToolOutcome::ToolError(f) = ToolOutcome::from(result) else {
            panic!("not a tool error")
        };
        assert_eq!(f.status, Some(429));
        assert_eq!(f.error_code.as_deref(), Some("THRESHOLD_EXCEEDED"));
        assert_eq!(
            f.ratelimit,
            Some(RateLimit {
                limit: None,
                remaining: Some(0),
                reset: None,
                retry_after: Some(7),
                weight: None,
            })
        );
        assert_eq!(f.ratelimit.unwrap().delay(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_wins_over_reset() {
        let rl = RateLimit::from_value(&json!({"reset": 30, "retry_after": 2})).unwrap();
        assert_eq!(rl.delay(), Some(Duration::from_secs(2)));
        let rl = RateLimit::from_value(&json!({"reset": 30, "retry_after": 1.5})).unwrap();
        assert_eq!(rl.delay(), Some(Duration::from_secs(30)));
        assert_eq!(RateLimit::from_value(&json!({"reset": "soon"})), None);
    }

    #[test]
    fn text_only_errors_are_parsed_when_json_and_kept_as_text_otherwise() {
        let mut r = CallToolResult::error(vec![ContentBlock::text(
            "Zoho said no\n{\"status\": 503, \"errorCode\": \"X\", \"message\": \"down\"}",
        )]);
        r.is_error = Some(true);
        let f = ToolOutcome::from(r).failure().cloned().unwrap();
        assert_eq!(f.status, Some(503));
        assert_eq!(f.message, "down");

        let r = CallToolResult::error(vec![ContentBlock::text("it broke")]);
        let f = ToolOutcome::from(r).failure().cloned().unwrap();
        assert_eq!(f.status, None);
        assert_eq!(f.message, "it broke");
    }
}
