//! Hosted MCP servers over Streamable HTTP: `/mcp/<token>`, one scoped server per token, plus
//! an admin API under `/admin` that requires an API token.
//!
//! The MCP endpoint is served statelessly with JSON responses: every POST carries everything
//! needed to answer it, so replicas behind a load balancer need no sticky sessions, and the HTTP
//! response is only written once the tool has finished. That last property is what lets a
//! `tools/call` that met an upstream 429 carry `ratelimit-*` and `retry-after` headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get};
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::catalog::ToolFilter;
use crate::registry::{Registry, ServerRecord, TokenLookup, ToolExposure};
use crate::server::gateways::{DEFAULT_CONNECTION, GatewayPool};
use crate::server::handler::{RateLimitSlot, Scope, ZohoDeskMcpServer};
use crate::server::hosted::{self, CreateServer, CreateServerError};
use crate::zoho::RateLimitInfo;

type McpService = StreamableHttpService<ZohoDeskMcpServer, LocalSessionManager>;

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Host` header values accepted on the MCP endpoint (DNS-rebinding protection). Loopback
    /// names are always accepted; add the public host name when deploying.
    pub allowed_hosts: Vec<String>,
    /// The externally visible base URL, used to print server URLs.
    pub public_url: String,
}

struct Inner {
    registry: Registry,
    gateways: Arc<GatewayPool>,
    options: HttpOptions,
    services: Mutex<HashMap<String, McpService>>,
    cancel: CancellationToken,
}

/// Shared state of the HTTP app.
#[derive(Clone)]
pub struct HttpState(Arc<Inner>);

impl HttpState {
    pub fn new(
        registry: Registry,
        gateways: Arc<GatewayPool>,
        options: HttpOptions,
        cancel: CancellationToken,
    ) -> Self {
        HttpState(Arc::new(Inner {
            registry,
            gateways,
            options,
            services: Mutex::new(HashMap::new()),
            cancel,
        }))
    }

    fn service_for(&self, record: &ServerRecord) -> Result<McpService, Response> {
        if let Some(svc) = self
            .0
            .services
            .lock()
            .ok()
            .and_then(|s| s.get(&record.id).cloned())
        {
            return Ok(svc);
        }
        let filter = ToolFilter::parse(&record.methods, &record.tags)
            .map_err(|e| {
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_misconfigured",
                    &format!("stored filters are invalid: {e}"),
                )
            })?
            .with_toolset(self.0.gateways.toolset());
        let gateway = self.0.gateways.get(&record.connection).map_err(|e| {
            json_error(
                StatusCode::BAD_GATEWAY,
                "connection_unavailable",
                &e.to_string(),
            )
        })?;
        let server = ZohoDeskMcpServer::new(
            gateway,
            Scope {
                filter,
                exposure: record.exposure,
            },
        );
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "[::1]".to_owned(),
        ];
        hosts.extend(self.0.options.allowed_hosts.iter().cloned());
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(hosts)
            .with_cancellation_token(self.0.cancel.child_token());
        let svc = StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        if let Ok(mut services) = self.0.services.lock() {
            services.insert(record.id.clone(), svc.clone());
        }
        Ok(svc)
    }

    fn forget(&self, server_id: &str) {
        if let Ok(mut services) = self.0.services.lock() {
            services.remove(server_id);
        }
    }
}

/// The axum app: `/mcp/{token}`, `/admin/...`, `/healthz`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/mcp/{token}", any(mcp_endpoint))
        .route("/admin/servers", get(list_servers).post(create_server))
        .route("/admin/servers/{id}", delete(revoke_server))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn require_api_token(state: &HttpState, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = |message: &str| {
        let mut response = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"deskhand\""),
        );
        response
    };
    let Some(token) = bearer(headers) else {
        return Err(unauthorized(
            "this endpoint needs `Authorization: Bearer <api token>` (create one with `deskhand mcp tokens create`)",
        ));
    };
    match state.0.registry.verify_api_token(token).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(unauthorized("the API token is unknown, revoked or expired")),
        Err(e) => {
            tracing::error!(error = %e, "API token check failed");
            Err(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                "the token registry is unavailable",
            ))
        }
    }
}

async fn mcp_endpoint(
    State(state): State<HttpState>,
    Path(token): Path<String>,
    mut request: Request,
) -> Response {
    let record = match state.0.registry.lookup_server_token(&token).await {
        Ok(TokenLookup::Active(record)) => record,
        Ok(TokenLookup::Expired(record)) => {
            state.forget(&record.id);
            let when = chrono::DateTime::from_timestamp_millis(record.expires_at.unwrap_or(0))
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            return json_error(
                StatusCode::UNAUTHORIZED,
                "mcp_server_expired",
                &format!(
                    "this MCP server URL expired at {when} and has been deleted; create a new one"
                ),
            );
        }
        Ok(TokenLookup::Unknown) => {
            return json_error(
                StatusCode::NOT_FOUND,
                "unknown_mcp_server",
                "no MCP server has this URL token; it may have been revoked",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "MCP token lookup failed");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                "the token registry is unavailable",
            );
        }
    };
    if record.require_api_token_auth
        && let Err(response) = require_api_token(&state, request.headers()).await
    {
        return response;
    }
    let service = match state.service_for(&record) {
        Ok(s) => s,
        Err(response) => return response,
    };
    let slot = RateLimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    let Ok(response) = service.oneshot(request).await;
    let mut response = response.map(Body::new);
    if let Some((info, limited)) = slot.take() {
        if limited {
            add_ratelimit_headers(response.headers_mut(), &info);
        } else {
            add_budget_headers(response.headers_mut(), &info);
        }
    }
    response
}

/// Repeats an upstream 429's limit as IETF draft fields (`ratelimit-reset` in delta seconds) and
/// `retry-after`, which HTTP-level clients and proxies understand without parsing JSON-RPC.
pub fn add_ratelimit_headers(headers: &mut HeaderMap, info: &RateLimitInfo) {
    let mut set = |name: &'static str, value: Option<u64>| {
        if let Some(v) = value
            && let Ok(v) = HeaderValue::from_str(&v.to_string())
        {
            headers.insert(name, v);
        }
    };
    set("ratelimit-limit", info.limit);
    set("ratelimit-remaining", info.remaining);
    set("ratelimit-reset", info.reset.or(info.retry_after));
    set("retry-after", info.retry_after.or(info.reset));
}

/// A successful call's budget as IETF fields: `ratelimit-remaining` (and limit and reset when
/// known), never `retry-after`, which would tell HTTP clients to back off from a success.
pub fn add_budget_headers(headers: &mut HeaderMap, info: &RateLimitInfo) {
    for (name, value) in [
        ("ratelimit-limit", info.limit),
        ("ratelimit-remaining", info.remaining),
        ("ratelimit-reset", info.reset),
    ] {
        if let Some(v) = value
            && let Ok(v) = HeaderValue::from_str(&v.to_string())
        {
            headers.insert(name, v);
        }
    }
}

async fn list_servers(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Err(response) = require_api_token(&state, &headers).await {
        return response;
    }
    match state.0.registry.list_servers().await {
        Ok(records) => Json(json!({ "result": records })).into_response(),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registry_error",
            &e.to_string(),
        ),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServerBody {
    name: String,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    tool_exposure: ToolExposure,
    #[serde(default)]
    require_api_token_auth: bool,
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

async fn create_server(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<CreateServerBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(response) = require_api_token(&state, &headers).await {
        return response;
    }
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &rejection.body_text(),
            );
        }
    };
    let expires_at = match body.expires_at.as_deref().map(parse_expiry) {
        None => None,
        Some(Ok(ms)) => Some(ms),
        Some(Err(message)) => {
            return json_error(StatusCode::BAD_REQUEST, "invalid_request", &message);
        }
    };
    let request = CreateServer {
        name: body.name,
        connection: body
            .connection
            .unwrap_or_else(|| DEFAULT_CONNECTION.to_owned()),
        methods: body.methods,
        tags: body.tags,
        exposure: body.tool_exposure,
        require_api_token_auth: body.require_api_token_auth,
        expires_at,
    };
    match hosted::create(
        &state.0.registry,
        &state.0.gateways,
        request,
        &state.0.options.public_url,
    )
    .await
    {
        Ok(hosted) => {
            let mut value = serde_json::to_value(&hosted.created.record).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("token".into(), hosted.created.token.into());
                obj.insert("url".into(), hosted.url.into());
            }
            (StatusCode::CREATED, Json(value)).into_response()
        }
        Err(CreateServerError::Registry(e)) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registry_error",
            &e.to_string(),
        ),
        Err(e) => json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
    }
}

/// Parses an RFC 3339 instant into epoch milliseconds.
pub fn parse_expiry(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("expires_at {text:?} is not an ISO 8601 / RFC 3339 instant: {e}"))
}

async fn revoke_server(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = require_api_token(&state, &headers).await {
        return response;
    }
    match state.0.registry.revoke_server(&id).await {
        Ok(true) => {
            state.forget(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no MCP server with this id",
        ),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "registry_error",
            &e.to_string(),
        ),
    }
}
