//! Errors from talking to Zoho. None of them ever carries a credential.

use serde_json::Value;

use super::ratelimit::RateLimitInfo;

/// A non-2xx answer from Zoho Desk, decoded as far as the body allows.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    pub status: u16,
    pub error_code: Option<String>,
    pub message: String,
    pub errors: Option<Value>,
    pub ratelimit: Option<RateLimitInfo>,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_code {
            Some(code) => write!(f, "HTTP {} {}: {}", self.status, code, self.message),
            None => write!(f, "HTTP {}: {}", self.status, self.message),
        }
    }
}

impl UpstreamError {
    /// Reads Zoho's `{errorCode, message, errors}`; anything else (an HTML 502 page from a proxy,
    /// an empty body) still yields an error that says what happened.
    pub fn from_response(status: u16, body: &[u8], ratelimit: RateLimitInfo) -> Self {
        let ratelimit = (!ratelimit.is_empty()).then_some(ratelimit);
        let parsed = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object);
        match parsed {
            Some(obj) => {
                let error_code = obj
                    .get("errorCode")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let message = obj
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
                let errors = obj.get("errors").filter(|e| !e.is_null()).cloned();
                UpstreamError {
                    status,
                    error_code,
                    message,
                    errors,
                    ratelimit,
                }
            }
            None if body.iter().all(u8::is_ascii_whitespace) => UpstreamError {
                status,
                error_code: None,
                message: format!("upstream returned HTTP {status} with an empty body"),
                errors: None,
                ratelimit,
            },
            None => UpstreamError {
                status,
                error_code: None,
                message: format!("upstream returned HTTP {status} with a non-JSON body"),
                errors: None,
                ratelimit,
            },
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ZohoError {
    /// Zoho Desk answered with a non-2xx status.
    #[error("Zoho Desk error: {0}")]
    Upstream(UpstreamError),
    /// The accounts server refused the refresh-token grant (it does so with HTTP 200 and
    /// `{"error": "invalid_client"}`), or a repeated request after a refresh was still 401.
    #[error("Zoho OAuth error {code}: {message}")]
    Auth { code: String, message: String },
    #[error("request to Zoho timed out after {seconds}s")]
    Timeout { seconds: u64 },
    #[error("could not reach Zoho: {0}")]
    Transport(String),
    /// A 2xx answer whose body is not JSON.
    #[error("Zoho returned HTTP {status} with an undecodable body: {snippet}")]
    Decode { status: u16, snippet: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// A short, printable prefix of a body for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    if text.chars().count() > 120 {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zoho_error_body() {
        let body =
            json!({"errorCode":"INVALID_DATA","message":"bad","errors":[{"fieldName":"/x"}]});
        let e = UpstreamError::from_response(
            422,
            body.to_string().as_bytes(),
            RateLimitInfo::default(),
        );
        assert_eq!(e.error_code.as_deref(), Some("INVALID_DATA"));
        assert_eq!(e.message, "bad");
        assert!(e.errors.is_some());
        assert!(e.ratelimit.is_none());
    }

    #[test]
    fn html_502() {
        let e = UpstreamError::from_response(
            502,
            b"<html>Bad Gateway</html>",
            RateLimitInfo::default(),
        );
        assert_eq!(e.error_code, None);
        assert_eq!(e.message, "upstream returned HTTP 502 with a non-JSON body");
    }

    #[test]
    fn snippet_is_short() {
        let s = snippet(&[b'x'; 500]);
        assert!(s.chars().count() <= 121);
    }
}
