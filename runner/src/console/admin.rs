//! The console's MCP servers and API tokens pages: what `deskhand mcp servers` and `mcp tokens`
//! do ([`crate::cli::mcp`]), from a browser. A created server's URL and a created token are
//! shown once, on the response to the POST that made them (never cached, never in a redirect or
//! a flash message), and no listing shows either again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use zoho_desk_mcp::server::GatewayPool;
use zoho_desk_mcp::zoho::Connections;

use super::{Console, csrf_ok, field, form, html, page_error, redirect, session};
use crate::cli::mcp::{self, ServerRequest};

/// Comma-separated form text as a list.
fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The connections a server may be created for: the console's sandbox, or the Zoho connections
/// the CLI would use.
fn gateways(console: &Console) -> anyhow::Result<GatewayPool> {
    match &console.embedded {
        Some(embedded) => Ok(GatewayPool::with_gateway(embedded.gateway.clone())
            .with_toolset(zoho_desk_mcp::catalog::Toolset::All)),
        None => mcp::server_pool(Connections::load_or_default(
            console.backend.zoho.connections.as_deref(),
        )?),
    }
}

async fn servers_page(console: &Console, csrf: &str, key: &str, error: Option<String>) -> Response {
    let mut flash = console.sessions.take_flash(key);
    let failed = error.is_some();
    flash.extend(error);
    match console.registry.list_servers().await {
        Ok(servers) => {
            let page = html(super::pages::servers(csrf, &servers, &flash));
            if failed {
                (StatusCode::BAD_REQUEST, page).into_response()
            } else {
                page
            }
        }
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub(super) async fn servers(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    servers_page(&console, &session.csrf, &key, None).await
}

pub(super) async fn create_server(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return (StatusCode::FORBIDDEN, "sign in first").into_response();
    };
    let pairs = form(&body);
    if !csrf_ok(&session, &pairs) {
        return page_error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        );
    }
    let request = ServerRequest {
        name: field(&pairs, "name").unwrap_or_default().trim().to_owned(),
        connection: field(&pairs, "connection")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or(zoho_desk_mcp::server::DEFAULT_CONNECTION)
            .to_owned(),
        methods: list(field(&pairs, "methods")),
        tags: list(field(&pairs, "tags")),
        expires_at: field(&pairs, "expires_at").map(str::to_owned),
        require_api_token_auth: field(&pairs, "require_api_token_auth").is_some(),
        discovery: field(&pairs, "discovery").is_some(),
    };
    let created = match gateways(&console) {
        Ok(pool) => {
            mcp::create_server(&console.registry, &pool, request, &console.mcp_public_url).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(hosted) => html(super::pages::server_created(
            &session.csrf,
            &hosted.created.record,
            &hosted.url,
        )),
        Err(e) => servers_page(&console, &session.csrf, &key, Some(format!("{e:#}"))).await,
    }
}

pub(super) async fn revoke_server(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return (StatusCode::FORBIDDEN, "sign in first").into_response();
    };
    let pairs = form(&body);
    if !csrf_ok(&session, &pairs) {
        return page_error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        );
    }
    let id = field(&pairs, "id").unwrap_or_default();
    let message = match mcp::revoke_server(&console.registry, id).await {
        Ok(()) => format!("Revoked {id}; its URL stops working at once."),
        Err(e) => format!("{e:#}"),
    };
    console.sessions.flash(&key, vec![message]);
    redirect("/mcp-servers")
}

async fn tokens_page(console: &Console, csrf: &str, key: &str, error: Option<String>) -> Response {
    let mut flash = console.sessions.take_flash(key);
    let failed = error.is_some();
    flash.extend(error);
    match console.registry.list_api_tokens().await {
        Ok(tokens) => {
            let page = html(super::pages::tokens(csrf, &tokens, &flash));
            if failed {
                (StatusCode::BAD_REQUEST, page).into_response()
            } else {
                page
            }
        }
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

pub(super) async fn tokens(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    tokens_page(&console, &session.csrf, &key, None).await
}

pub(super) async fn create_token(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return (StatusCode::FORBIDDEN, "sign in first").into_response();
    };
    let pairs = form(&body);
    if !csrf_ok(&session, &pairs) {
        return page_error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        );
    }
    let name = field(&pairs, "name").unwrap_or_default().trim().to_owned();
    if name.is_empty() {
        return tokens_page(
            &console,
            &session.csrf,
            &key,
            Some("The token needs a name.".to_owned()),
        )
        .await;
    }
    match mcp::create_token(&console.registry, &name, field(&pairs, "expires_at")).await {
        Ok((record, token)) => html(super::pages::token_created(&session.csrf, &record, &token)),
        Err(e) => tokens_page(&console, &session.csrf, &key, Some(format!("{e:#}"))).await,
    }
}

pub(super) async fn revoke_token(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return (StatusCode::FORBIDDEN, "sign in first").into_response();
    };
    let pairs = form(&body);
    if !csrf_ok(&session, &pairs) {
        return page_error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        );
    }
    let id = field(&pairs, "id").unwrap_or_default();
    let message = match mcp::revoke_token(&console.registry, id).await {
        Ok(()) => format!("Revoked {id}; it no longer signs in or authorises a server."),
        Err(e) => format!("{e:#}"),
    };
    console.sessions.flash(&key, vec![message]);
    redirect("/api-tokens")
}
