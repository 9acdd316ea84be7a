//! The browser flow of Zoho Accounts: `GET /oauth/v2/auth` shows a consent page for a
//! server-based client, and accepting it (`POST`, the page's form) redirects the browser to the
//! client's `redirect_uri` with a single-use `code`, the client's `state`, and Zoho's multi-DC
//! fields `location` and `accounts-server`. Refusing redirects with `error=access_denied`.
//! Invalid requests get an error page and no redirect, as Zoho never redirects to an unverified
//! URI. The sandbox has no sign-in: the token's user is the org's first agent.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::accounts::Scopes;
use crate::app::{App, lock};
use crate::urlencoded::{encode, parse_pairs};

/// The parameters of an authorization request, checked.
struct AuthRequest {
    scopes: Scopes,
    scope: String,
    redirect_uri: String,
    state: Option<String>,
    pairs: Vec<(String, String)>,
}

fn check(app: &App, pairs: Vec<(String, String)>) -> Result<AuthRequest, Response> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if get("client_id").as_deref() != Some(app.credentials.client_id.as_str()) {
        return Err(error_page(
            "Invalid Client ID: no client with this id is registered.",
        ));
    }
    if get("response_type").as_deref() != Some("code") {
        return Err(error_page(
            "Invalid response_type: only `code` is supported.",
        ));
    }
    let Some(redirect_uri) = get("redirect_uri")
        .filter(|u| (u.starts_with("http://") || u.starts_with("https://")) && !u.contains('#'))
    else {
        return Err(error_page(
            "Invalid Redirect Uri: give an absolute http(s) URI.",
        ));
    };
    let scope = get("scope").unwrap_or_default();
    let scopes = Scopes::parse(&scope)
        .map_err(|bad| error_page(&format!("Invalid OAuth Scope: `{bad}`.")))?;
    Ok(AuthRequest {
        scopes,
        scope,
        redirect_uri,
        state: get("state"),
        pairs,
    })
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!DOCTYPE html><html><head><title>Zoho Accounts</title></head><body><h1>Error</h1><p>{}</p></body></html>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) async fn page(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let pairs = parse_pairs(query.as_deref().unwrap_or("")).unwrap_or_default();
    let req = match check(&app, pairs) {
        Ok(r) => r,
        Err(page) => return page,
    };
    let hidden: String = req
        .pairs
        .iter()
        .filter(|(k, _)| k != "decision")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let org = lock(&app.store)
        .data
        .organization
        .get("companyName")
        .and_then(|v| v.as_str())
        .unwrap_or("Sandbox Support")
        .to_owned();
    Html(format!(
        "<!DOCTYPE html><html><head><title>Zoho Accounts: consent</title></head><body>\
         <h1>Allow access to {org}?</h1><p>The application asks for: {scope}</p>\
         <form method=\"post\" action=\"/oauth/v2/auth\">{hidden}\
         <button name=\"decision\" value=\"accept\">Accept</button>\
         <button name=\"decision\" value=\"deny\">Reject</button></form></body></html>",
        org = escape(&org),
        scope = escape(&req.scope),
    ))
    .into_response()
}

pub(crate) async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut pairs = parse_pairs(query.as_deref().unwrap_or("")).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(&body) {
        pairs.extend(parse_pairs(text.trim()).unwrap_or_default());
    }
    let accepted = pairs.iter().any(|(k, v)| k == "decision" && v == "accept");
    let req = match check(&app, pairs) {
        Ok(r) => r,
        Err(page) => return page,
    };
    let mut fields = Vec::new();
    if let Some(state) = &req.state {
        fields.push(("state".to_owned(), state.clone()));
    }
    if accepted {
        let code = lock(&app.tokens).new_code(req.scopes, Some(req.redirect_uri.clone()));
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        fields.push(("code".to_owned(), code));
        fields.push(("location".to_owned(), "us".to_owned()));
        fields.push(("accounts-server".to_owned(), format!("http://{host}")));
    } else {
        fields.push(("error".to_owned(), "access_denied".to_owned()));
    }
    let query: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let separator = if req.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{}", req.redirect_uri, query.join("&"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
