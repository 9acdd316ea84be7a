//! Connection and transport failures. Messages name the connection kind and target but never a
//! credential: hosted-server URLs carry their token in the path, so they are redacted.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
    #[error("could not build the embedded MCP server: {0}")]
    Embedded(String),
    #[error(
        "the workflow names the environment variable {name} for the bearer token of {url}, but it is not set"
    )]
    MissingToken { name: String, url: String },
    #[error("the MCP server URL {url} is not a valid http(s) URL")]
    InvalidUrl { url: String },
    #[error("the workflow's MCP command is empty")]
    EmptyCommand,
    #[error("could not start the MCP server command `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("MCP handshake with {target} failed: {reason}")]
    Handshake { target: String, reason: String },
    /// The session broke while a request was in flight; whether the server acted on it is unknown.
    #[error("MCP connection to {target} failed: {reason}")]
    Transport { target: String, reason: String },
    #[error("MCP request to {target} got no answer within {}s", timeout.as_secs())]
    Timeout { target: String, timeout: Duration },
    /// The workflow allows tools the server does not list (a scoped URL, an older server).
    #[error("{target} does not offer the tool(s) {}", tools.join(", "))]
    UnknownTools { target: String, tools: Vec<String> },
}

impl McpError {
    /// Whether the failure is about the connection rather than the request, so repeating the
    /// same request may succeed.
    pub fn is_transport(&self) -> bool {
        matches!(self, McpError::Transport { .. } | McpError::Timeout { .. })
    }
}

/// A URL fit for logs and error messages: hosted-server tokens (`dhm_…` path segments), any
/// userinfo and the query string are replaced.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparseable URL>".to_owned();
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        url.set_query(Some("…"));
    }
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| {
            s.map(|seg| {
                if looks_like_secret(seg) {
                    format!("{}…", &seg[..seg.find('_').map_or(0, |i| i + 1)])
                } else {
                    seg.to_owned()
                }
            })
            .collect()
        })
        .unwrap_or_default();
    if !segments.is_empty() {
        url.set_path(&segments.join("/"));
    }
    // The URL type percent-encodes the ellipsis; people read `dhm_…`, not `dhm_%E2%80%A6`.
    url.to_string().replace("%E2%80%A6", "…")
}

/// A transport library's error with its causes (reqwest's "error sending request" says why only
/// in its source), each once and without Rust type names.
pub(crate) fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error_text::one_line(e)
}

/// Hosted-server tokens are `dhm_` plus 43+ characters; other servers put long random tokens in
/// the path too, so anything long and unbroken is treated as one.
fn looks_like_secret(segment: &str) -> bool {
    segment.starts_with("dhm_")
        || (segment.len() >= 32
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosted_tokens_and_queries_never_reach_messages() {
        let shown = redact_url("http://127.0.0.1:8080/mcp/dhm_abcdefSECRET?key=SECRET2");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.starts_with("http://127.0.0.1:8080/mcp/dhm_"),
            "{shown}"
        );
        assert!(shown.ends_with("/mcp/dhm_…?…"), "{shown}");
        assert_eq!(redact_url("https://x.example/mcp"), "https://x.example/mcp");
        assert!(!redact_url("https://u:pw@x.example/mcp").contains("pw"));
    }
}
