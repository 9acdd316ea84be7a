//! The Zoho Desk v1 routes the sandbox serves, and the response conventions they share.

mod articles;
mod conversation;
mod directory;
mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::App;
use crate::zoho_error::ApiError;

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/v1/organizations", get(directory::organizations))
        .route("/api/v1/tickets", get(tickets::list).post(tickets::create))
        .route("/api/v1/tickets/search", get(tickets::search))
        .route("/api/v1/ticketsCount", get(tickets::count))
        .route(
            "/api/v1/tickets/{ticketId}",
            get(tickets::get_one).patch(tickets::update),
        )
        .route(
            "/api/v1/tickets/{ticketId}/move",
            post(tickets::move_ticket),
        )
        .route(
            "/api/v1/tickets/{ticketId}/threads",
            get(conversation::threads),
        )
        .route(
            "/api/v1/tickets/{ticketId}/threads/{threadId}",
            get(conversation::thread),
        )
        .route(
            "/api/v1/tickets/{ticketId}/latestThread",
            get(conversation::latest_thread),
        )
        .route(
            "/api/v1/tickets/{ticketId}/sendReply",
            post(conversation::send_reply),
        )
        .route(
            "/api/v1/tickets/{ticketId}/draftReply",
            post(conversation::draft_reply),
        )
        .route(
            "/api/v1/tickets/{ticketId}/comments",
            get(conversation::comments).post(conversation::add_comment),
        )
        .route(
            "/api/v1/tickets/{ticketId}/comments/{commentId}",
            get(conversation::comment)
                .patch(conversation::update_comment)
                .delete(conversation::delete_comment),
        )
        .route(
            "/api/v1/tickets/{ticketId}/articleSuggestion",
            get(articles::suggest),
        )
        .route(
            "/api/v1/tickets/{ticketId}/notifyArticleUsage",
            post(articles::notify_usage),
        )
        .route("/api/v1/agents", get(directory::agents))
        .route("/api/v1/agents/{agentId}", get(directory::agent))
        .route("/api/v1/departments", get(directory::departments))
        .route(
            "/api/v1/departments/{departmentId}",
            get(directory::department),
        )
        .route(
            "/api/v1/departments/{departmentId}/teams",
            get(directory::department_teams),
        )
        .route("/api/v1/teams", get(directory::teams))
        .route(
            "/api/v1/mailReplyAddress",
            get(directory::mail_reply_addresses),
        )
        .route("/api/v1/contacts", get(directory::contacts))
        .route("/api/v1/contacts/search", get(directory::search_contacts))
        .route("/api/v1/contacts/{contactId}", get(directory::contact))
        .route("/api/v1/articles", get(articles::list))
        .route("/api/v1/articles/search", get(articles::search))
        .route("/api/v1/articles/{articleId}", get(articles::get_one))
        // Every route above is held to Zoho's contract before its handler runs.
        .route_layer(from_fn_with_state(app.clone(), crate::contract::enforce))
        .route("/oauth/v2/token", post(crate::accounts::token))
        .route("/oauth/v2/token/revoke", post(crate::accounts::revoke))
        .route(
            "/oauth/v2/auth",
            get(crate::consent::page).post(crate::consent::decide),
        )
        .merge(crate::admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), crate::gateway::gateway))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// `{"data":[...]}`, or 204 with no body when there is nothing to list.
pub(crate) fn data(items: Vec<Value>) -> Response {
    if items.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        axum::Json(json!({ "data": items })).into_response()
    }
}

/// Search envelope: `{"data":[...],"count":"N"}` (N = all matches), or 204.
pub(crate) fn search_result(items: Vec<Value>, total: usize) -> Response {
    if items.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        axum::Json(json!({ "data": items, "count": total.to_string() })).into_response()
    }
}

pub(crate) fn object(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Where a page starts on the lists whose OAS gives `from` no base (contacts, threads, reply
/// addresses). The reference's CONFLICT (2.1) is settled as it recommends: 0 and 1 both mean the
/// start, `from = n` starts at the n-th item (1-based), so a client paging with
/// `previous_from + page_len` from 1 sees no gaps. Lists the OAS gives a 0 minimum or default use
/// [`page0`].
pub(crate) fn page<T>(items: Vec<T>, from: i64, limit: i64) -> Vec<T> {
    let start = if from <= 1 { 0 } else { (from - 1) as usize };
    items
        .into_iter()
        .skip(start)
        .take(limit.max(0) as usize)
        .collect()
}

/// 0-based paging: searches, and the ticket, comment, agent and department lists.
pub(crate) fn page0<T>(items: Vec<T>, from: i64, limit: i64) -> Vec<T> {
    items
        .into_iter()
        .skip(from.max(0) as usize)
        .take(limit.max(0) as usize)
        .collect()
}

/// Parses `"iso,iso"` ranges.
pub(crate) fn time_range(
    p: &crate::input::Params,
    key: &str,
) -> Result<Option<(String, String)>, ApiError> {
    match p.str(key) {
        None => Ok(None),
        Some(v) => {
            let (a, b) = v
                .split_once(',')
                .ok_or_else(|| ApiError::invalid_param(key))?;
            let (a, b) = (a.trim(), b.trim());
            match (crate::clock::parse_iso(a), crate::clock::parse_iso(b)) {
                (Some(x), Some(y)) => Ok(Some((crate::clock::iso(x), crate::clock::iso(y)))),
                _ => Err(ApiError::invalid_param(key)),
            }
        }
    }
}
