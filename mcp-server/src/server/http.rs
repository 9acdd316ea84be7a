//! Hosted MCP servers over Streamable HTTP: `/mcp/<token>`, one scoped server per token, plus
//! an admin API under `/admin` that requires an API token.
//!
//! The MCP endpoint is served statelessly with JSON responses: every POST carries everything
//! needed to answer it, so replicas behind a load balancer need no sticky sessions, and the HTTP
//! response is only written once the tool has finished. That last property is what lets a
//! `tools/call` that met an upstream 429 carry `ratelimit-*` and `retry-after` headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
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
use crate::registry::{Registry, RegistryError, ServerRecord, TokenLookup, ToolExposure};
use crate::server::gateways::{DEFAULT_CONNECTION, GatewayPool};
use crate::server::handler::{RateLimitSlot, Scope, ZohoDeskMcpServer};
use crate::server::hosted::{self, CreateServer, CreateServerError};
use crate::server::origin_guard::OriginGuard;
use crate::server::rpc_body;
use crate::zoho::RateLimitInfo;

type McpService = StreamableHttpService<ZohoDeskMcpServer, LocalSessionManager>;

/// Settings of the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `Host` header values accepted on every route (DNS-rebinding protection): `name` (any
    /// port) or `name:port`. Loopback names are always accepted, and so is the host of
    /// `public_url`; add the public host name when deploying.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://app.example.com`) whose requests are accepted. Requests without
    /// `Origin` always pass; loopback origins pass when `loopback_bound`.
    pub allowed_origins: Vec<String>,
    /// Whether the server listens on a loopback address only.
    pub loopback_bound: bool,
    /// The externally visible base URL, used to print server URLs.
    pub public_url: String,
}

struct Inner {
    registry: Registry,
    gateways: Arc<GatewayPool>,
    options: HttpOptions,
    guard: OriginGuard,
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
        let mut hosts = options.allowed_hosts.clone();
        if let Some(public) = url::Url::parse(&options.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            hosts.push(public);
        }
        let guard = OriginGuard::new(&hosts, &options.allowed_origins, options.loopback_bound);
        HttpState(Arc::new(Inner {
            registry,
            gateways,
            guard,
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
        // `Host` and `Origin` were checked for every route by [`guard`], with one set of lists.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .disable_allowed_hosts()
            .disable_allowed_origins()
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

/// The axum app: `/mcp/{token}`, `/admin/...`, `/healthz`, every route behind the `Host` and
/// `Origin` checks.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/mcp/{token}", any(mcp_endpoint))
        .route("/admin/servers", get(list_servers).post(create_server))
        .route("/admin/servers/{id}", delete(revoke_server))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Which kind of route a log line is about; the path itself may hold a URL token.
#[derive(Debug, Clone, Copy)]
enum PathKind {
    Mcp,
    Admin,
}

impl PathKind {
    fn as_str(self) -> &'static str {
        match self {
            PathKind::Mcp => "mcp",
            PathKind::Admin => "admin",
        }
    }
}

fn peer(request_extensions: &axum::http::Extensions) -> String {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// One line per refused credential, so brute force shows in the logs; it names the peer and the
/// kind of path, never the token presented.
fn log_auth_failure(peer: &str, kind: PathKind, reason: &str) {
    tracing::warn!(peer = %peer, path = %kind.as_str(), reason = %reason, "authentication failed");
}

async fn guard(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !state.0.guard.host_allowed(host) {
        tracing::warn!(
            peer = peer(request.extensions()),
            "refused a request for a Host that is not allowed"
        );
        return json_error(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this Host is not served here; add it with --allowed-hosts",
        );
    }
    let origin = match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => None,
        Some(Ok(origin)) => Some(origin),
        Some(Err(_)) => Some(""),
    };
    if !state.0.guard.origin_allowed(origin) {
        tracing::warn!(
            peer = peer(request.extensions()),
            "refused a request from an Origin that is not allowed"
        );
        return json_error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "requests from this Origin are not allowed; add it with --allowed-origins",
        );
    }
    next.run(request).await
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

/// The credential of `Authorization: Bearer <token>`; the scheme name is case-insensitive
/// (RFC 9110, section 11.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn require_api_token(
    state: &HttpState,
    headers: &HeaderMap,
    peer: &str,
    kind: PathKind,
) -> Result<(), Response> {
    let unauthorized = |message: &str| {
        let mut response = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"deskhand\""),
        );
        response
    };
    let Some(token) = bearer(headers) else {
        log_auth_failure(peer, kind, "no bearer API token");
        return Err(unauthorized(
            "this endpoint needs `Authorization: Bearer <api token>` (create one with `deskhand mcp tokens create`)",
        ));
    };
    match state.0.registry.verify_api_token(token).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            log_auth_failure(peer, kind, "unknown, revoked or expired API token");
            Err(unauthorized("the API token is unknown, revoked or expired"))
        }
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
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let peer = peer(&parts.extensions);
    let record = match state.0.registry.lookup_server_token(&token).await {
        Ok(TokenLookup::Active(record)) => record,
        Ok(TokenLookup::Expired(record)) => {
            state.forget(&record.id);
            log_auth_failure(&peer, PathKind::Mcp, "expired MCP server URL");
            let when = chrono::DateTime::from_timestamp_millis(record.expires_at.unwrap_or(0))
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            let response = json_error(
                StatusCode::UNAUTHORIZED,
                "mcp_server_expired",
                &format!(
                    "this MCP server URL expired at {when} and has been deleted; create a new one"
                ),
            );
            return rpc_body::drain(body, response).await;
        }
        Ok(TokenLookup::Unknown) => {
            log_auth_failure(&peer, PathKind::Mcp, "unknown MCP server URL token");
            let response = json_error(
                StatusCode::NOT_FOUND,
                "unknown_mcp_server",
                "no MCP server has this URL token; it may have been revoked",
            );
            return rpc_body::drain(body, response).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "MCP token lookup failed");
            let response = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                "the token registry is unavailable",
            );
            return rpc_body::drain(body, response).await;
        }
    };
    if let Err(response) = check_connection(&state, &record, &peer) {
        return rpc_body::drain(body, response).await;
    }
    if record.require_api_token_auth
        && let Err(response) = require_api_token(&state, &parts.headers, &peer, PathKind::Mcp).await
    {
        return rpc_body::drain(body, response).await;
    }
    let body = if parts.method == Method::POST {
        let bytes = match rpc_body::read_bounded(
            body,
            rpc_body::MAX_BODY_BYTES,
            rpc_body::BODY_READ_TIMEOUT,
        )
        .await
        {
            Ok(bytes) => bytes,
            Err(e) => return rpc_body::body_error(&e),
        };
        if let Err(response) = rpc_body::check(&bytes) {
            return response;
        }
        rpc_body::complete_accept(&mut parts.headers);
        Body::from(bytes)
    } else {
        body
    };
    let service = match state.service_for(&record) {
        Ok(s) => s,
        Err(response) => return response,
    };
    let mut request = Request::from_parts(parts, body);
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

/// A server URL is honoured only where its connection reaches the org it was created for: a URL
/// made while serving the sandbox must not open a real org that later runs under the same
/// connection name with the same registry.
fn check_connection(state: &HttpState, record: &ServerRecord, peer: &str) -> Result<(), Response> {
    let current = state.0.gateways.identity(&record.connection).map_err(|e| {
        json_error(
            StatusCode::BAD_GATEWAY,
            "connection_unavailable",
            &e.to_string(),
        )
    })?;
    if record.connection_identity.as_deref() == Some(current.as_str()) {
        return Ok(());
    }
    log_auth_failure(
        peer,
        PathKind::Mcp,
        "MCP server URL made for another Zoho org",
    );
    let message = if record.connection_identity.is_none() {
        "this MCP server URL was created before URLs were bound to their Zoho org and is no longer valid; revoke it and create a new one"
    } else {
        "this MCP server URL was created for another Zoho org (for example the sandbox) than the one connection this server reaches, and is not valid here"
    };
    Err(json_error(
        StatusCode::FORBIDDEN,
        "connection_mismatch",
        message,
    ))
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

async fn list_servers(
    State(state): State<HttpState>,
    ConnectInfoOpt(peer): ConnectInfoOpt,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = require_api_token(&state, &headers, &peer, PathKind::Admin).await {
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
    ConnectInfoOpt(peer): ConnectInfoOpt,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(response) = require_api_token(&state, &headers, &peer, PathKind::Admin).await {
        return rpc_body::drain(body, response).await;
    }
    let body =
        match rpc_body::read_bounded(body, rpc_body::MAX_BODY_BYTES, rpc_body::BODY_READ_TIMEOUT)
            .await
        {
            Ok(bytes) => serde_json::from_slice::<CreateServerBody>(&bytes),
            Err(e) => return rpc_body::body_error(&e),
        };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the body is not a valid server definition: {e}"),
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
        Err(CreateServerError::Registry(e @ RegistryError::DuplicateName { .. })) => {
            json_error(StatusCode::CONFLICT, "duplicate_name", &e.to_string())
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
    ConnectInfoOpt(peer): ConnectInfoOpt,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = require_api_token(&state, &headers, &peer, PathKind::Admin).await {
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

/// The peer address when the server was started by [`crate::server::listener::serve`], else
/// `unknown` (a router served by plain `axum::serve` carries none).
struct ConnectInfoOpt(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ConnectInfoOpt(peer(&parts.extensions)))
    }
}
