//! Reading and checking a POSTed JSON-RPC body before rmcp sees it.
//!
//! rmcp answers a body it cannot decode with HTTP 415 and a plain-text sentence, and decodes a
//! known method with malformed params as an unknown custom method (-32601). JSON-RPC clients
//! expect a JSON-RPC error object: -32700 for bytes that are not JSON, -32600 for JSON that is
//! not a request, -32602 for a known method with wrong params. The body is read here with a size
//! and a time bound, so a client trickling its body cannot hold a connection either.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde_json::{Value, json};

/// The largest request body accepted (rmcp's own default).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Time allowed to receive a whole request body once its head has arrived.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// JSON-RPC error codes (JSON-RPC 2.0, section 5.1).
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// MCP methods this server implements or that rmcp types; a request for one of these that rmcp
/// could only decode as a custom method had params of the wrong shape.
const TYPED_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
];

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    TimedOut,
    Broken(String),
}

/// Reads at most `limit` bytes within `timeout`.
pub async fn read_bounded(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    let read = async {
        let mut stream = body.into_data_stream();
        let mut collected = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
            if chunk.len() > limit.saturating_sub(collected.len()) {
                return Err(BodyError::TooLarge);
            }
            collected.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(collected))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}

/// Reads (and drops) what is left of a request body that is being refused, so the connection
/// can carry the next request; when the body is too large or too slow the answer says
/// `Connection: close` instead.
pub async fn drain(body: Body, mut response: Response) -> Response {
    if read_bounded(body, MAX_BODY_BYTES, BODY_READ_TIMEOUT)
        .await
        .is_err()
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A JSON-RPC error response with an HTTP status.
pub fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

/// The answer to a body that could not be read.
pub fn body_error(error: &BodyError) -> Response {
    let (status, message) = match error {
        BodyError::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        ),
        BodyError::TimedOut => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} seconds",
                BODY_READ_TIMEOUT.as_secs()
            ),
        ),
        BodyError::Broken(e) => (
            StatusCode::BAD_REQUEST,
            format!("the request body could not be read: {e}"),
        ),
    };
    let mut response = rpc_error(status, Value::Null, INVALID_REQUEST, &message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `Ok` when rmcp can take the body as it is; otherwise the JSON-RPC error to answer with.
pub fn check(bytes: &[u8]) -> Result<(), Response> {
    let message = match serde_json::from_slice::<ClientJsonRpcMessage>(bytes) {
        Ok(message) => message,
        Err(_) => return Err(diagnose(bytes)),
    };
    if let JsonRpcMessage::Request(request) = &message
        && let ClientRequest::CustomRequest(custom) = &request.request
        && TYPED_METHODS.contains(&custom.method.as_str())
    {
        let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
        let params = custom.params.clone().unwrap_or(Value::Null);
        return Err(rpc_error(
            StatusCode::OK,
            id,
            INVALID_PARAMS,
            &params_problem(&custom.method, &params),
        ));
    }
    Ok(())
}

/// Why rmcp could not decode the body, as a JSON-RPC error.
fn diagnose(bytes: &[u8]) -> Response {
    let value = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => value,
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                PARSE_ERROR,
                &format!("parse error: the request body is not JSON ({e})"),
            );
        }
    };
    let invalid = |message: &str| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            INVALID_REQUEST,
            message,
        )
    };
    let Value::Object(object) = &value else {
        return invalid(if value.is_array() {
            "invalid request: JSON-RPC batches are not supported; send one message per request"
        } else {
            "invalid request: the body must be a JSON-RPC 2.0 message object"
        });
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("invalid request: `jsonrpc` must be \"2.0\"");
    }
    let id = object.get("id").cloned();
    let Some(method) = object.get("method") else {
        return invalid("invalid request: the message has neither `method` nor `result`/`error`");
    };
    let Some(method) = method.as_str() else {
        return invalid("invalid request: `method` must be a string");
    };
    match id {
        Some(id @ (Value::String(_) | Value::Number(_))) => rpc_error(
            StatusCode::OK,
            id,
            INVALID_PARAMS,
            &params_problem(method, object.get("params").unwrap_or(&Value::Null)),
        ),
        Some(_) => invalid("invalid request: `id` must be a string or a number"),
        None => invalid(&format!(
            "invalid request: notification `{method}` has params of the wrong shape"
        )),
    }
}

fn params_problem(method: &str, params: &Value) -> String {
    if method == "tools/call" {
        match params {
            Value::Object(p) => {
                if !p.get("name").is_some_and(Value::is_string) {
                    return "invalid params: tools/call needs `name`, a string".into();
                }
                if let Some(arguments) = p.get("arguments")
                    && !arguments.is_object()
                    && !arguments.is_null()
                {
                    return format!(
                        "invalid params: tools/call `arguments` must be a JSON object, got {}",
                        kind(arguments)
                    );
                }
            }
            other => {
                return format!(
                    "invalid params: tools/call params must be an object, got {}",
                    kind(other)
                );
            }
        }
    }
    format!("invalid params: the params of `{method}` do not have the shape MCP defines")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// rmcp insists on `Accept` listing both `application/json` and `text/event-stream`. A client
/// that accepts anything (`*/*`, `application/*` with `text/*`, or no header) can take either, so
/// the header is completed for it.
pub fn complete_accept(headers: &mut HeaderMap) {
    let mut json = false;
    let mut sse = false;
    let mut any = headers.get_all(header::ACCEPT).iter().next().is_none();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for entry in text.split(',') {
            let essence = entry
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match essence.as_str() {
                "*/*" => any = true,
                "application/json" | "application/*" => json = true,
                "text/event-stream" | "text/*" => sse = true,
                _ => {}
            }
        }
    }
    if any || (json && sse) {
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
    }
}
