//! Zoho Accounts: `POST /oauth/v2/token` with the refresh-token and authorization-code grants, and
//! `POST /oauth/v2/token/revoke`. Parameters may come in the query string (Zoho's examples) or a
//! form body. Grant errors are HTTP 200 with `{"error": ...}`, as the real server answers; only the
//! token-rate throttle uses 400.
//!
//! Grant codes are single-use and expire after `code_ttl` (Self Client codes last 3 to 10 minutes,
//! chosen when they are generated); a code exchange mints a new refresh token with the code's
//! scopes. Every access token carries the scopes of its refresh token, and the gateway refuses a
//! route outside them with 401 `SCOPE_MISMATCH`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::Instant;

use crate::app::{App, lock};
use crate::prng::SplitMix64;
use crate::urlencoded::parse_pairs;
use crate::zoho_error::ApiError;

/// Zoho Accounts counts access tokens per refresh token over a sliding ten minutes.
const ISSUE_WINDOW: Duration = Duration::from_secs(600);

/// The scopes of the refresh token the sandbox is configured with.
pub(crate) const SCOPE: &str = "Desk.tickets.ALL,Desk.contacts.READ,Desk.basic.READ,Desk.search.READ,Desk.articles.READ,Desk.settings.READ";

/// The operations a Desk scope names (`Desk.<resource>.<OP>`).
const OPERATIONS: [&str; 5] = ["READ", "CREATE", "UPDATE", "DELETE", "ALL"];

/// A parsed scope list. Zoho refuses the whole request when one scope is invalid, so parsing is
/// all or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scopes(Vec<(String, String)>);

impl Scopes {
    /// `None` names the first scope that is not `Desk.<resource>.<OP>` (or Zoho's `profile.*`).
    pub(crate) fn parse(list: &str) -> Result<Scopes, String> {
        let mut out = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = raw.split('.').collect();
            match parts.as_slice() {
                ["Desk", resource, op]
                    if !resource.is_empty()
                        && resource.chars().all(|c| c.is_ascii_alphanumeric())
                        && OPERATIONS.contains(op) =>
                {
                    out.push(((*resource).to_owned(), (*op).to_owned()));
                }
                ["profile", _, _] => {}
                _ => return Err(raw.to_owned()),
            }
        }
        if out.is_empty() {
            return Err(list.to_owned());
        }
        Ok(Scopes(out))
    }

    fn text(&self) -> String {
        self.0
            .iter()
            .map(|(r, o)| format!("Desk.{r}.{o}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn grants(&self, resource: &str, op: &str) -> bool {
        self.0
            .iter()
            .any(|(r, o)| r == resource && (o == op || o == "ALL"))
    }

    /// Whether a Desk route may be called. Resources follow reference 1.5: tickets (threads,
    /// comments, replies and counts under them), contacts, articles, and `basic` for the org
    /// directory (agents, departments, teams, organizations); every search also needs
    /// `Desk.search.READ`.
    pub(crate) fn allows(&self, method: &str, template: &str) -> bool {
        let op = match method {
            "GET" | "HEAD" => "READ",
            "POST" => "CREATE",
            "PATCH" | "PUT" => "UPDATE",
            "DELETE" => "DELETE",
            _ => "READ",
        };
        let rest = template.trim_start_matches("/api/v1/");
        let first = rest.split('/').next().unwrap_or_default();
        let resource = match first {
            "tickets" | "ticketsCount" | "threads" | "comments" => "tickets",
            "contacts" => "contacts",
            "articles" => "articles",
            "organizations" | "agents" | "departments" | "teams" => "basic",
            _ => return true,
        };
        let searching = rest.ends_with("/search") || first == "ticketsCount";
        self.grants(resource, op) && (!searching || self.grants("search", "READ"))
    }
}

struct AccessToken {
    expires: Instant,
    refresh_token: String,
}

struct RefreshGrant {
    scopes: Scopes,
    /// When each access token minted from this refresh token was issued (the last ten minutes).
    issued: VecDeque<Instant>,
}

struct GrantCode {
    expires: Instant,
    scopes: Scopes,
    /// The browser flow binds a code to its redirect URI; Self Client codes have none.
    redirect_uri: Option<String>,
}

pub(crate) struct TokenStore {
    tokens: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshGrant>,
    codes: HashMap<String, GrantCode>,
    rng: SplitMix64,
    pub ttl: Duration,
    pub max_per_window: u32,
    pub code_ttl: Duration,
}

pub(crate) enum TokenCheck {
    Valid(Scopes),
    Invalid,
}

/// Why a token could not be issued.
enum IssueError {
    /// `{"error": code}` with HTTP 200.
    Grant(&'static str),
    /// Zoho's throttle: too many access tokens for one refresh token.
    Throttled,
}

impl TokenStore {
    pub(crate) fn new(
        seed: u64,
        ttl: Duration,
        max_per_window: u32,
        code_ttl: Duration,
        refresh_token: &str,
    ) -> Self {
        let mut refresh = HashMap::new();
        if let Ok(scopes) = Scopes::parse(SCOPE) {
            refresh.insert(
                refresh_token.to_owned(),
                RefreshGrant {
                    scopes,
                    issued: VecDeque::new(),
                },
            );
        }
        Self {
            tokens: HashMap::new(),
            refresh,
            codes: HashMap::new(),
            rng: SplitMix64::new(seed ^ 0x0A07_0000_7043_0000),
            ttl,
            max_per_window,
            code_ttl,
        }
    }

    fn issue(&mut self, refresh_token: &str) -> Result<String, IssueError> {
        let now = Instant::now();
        let Some(grant) = self.refresh.get_mut(refresh_token) else {
            return Err(IssueError::Grant("invalid_code"));
        };
        while grant
            .issued
            .front()
            .is_some_and(|t| now.duration_since(*t) >= ISSUE_WINDOW)
        {
            grant.issued.pop_front();
        }
        if grant.issued.len() >= self.max_per_window as usize {
            return Err(IssueError::Throttled);
        }
        grant.issued.push_back(now);
        let token = format!("1000.{}.{}", self.rng.hex(32), self.rng.hex(32));
        self.tokens.insert(
            token.clone(),
            AccessToken {
                expires: now + self.ttl,
                refresh_token: refresh_token.to_owned(),
            },
        );
        Ok(token)
    }

    pub(crate) fn check(&mut self, token: &str) -> TokenCheck {
        let Some(found) = self.tokens.get(token) else {
            return TokenCheck::Invalid;
        };
        if Instant::now() >= found.expires {
            self.tokens.remove(token);
            return TokenCheck::Invalid;
        }
        match self.refresh.get(&found.refresh_token) {
            Some(grant) => TokenCheck::Valid(grant.scopes.clone()),
            None => TokenCheck::Invalid,
        }
    }

    /// A fresh single-use grant code, as the API console's Self Client page (no redirect URI) or
    /// the consent page (bound to its redirect URI) hands out.
    pub(crate) fn new_code(&mut self, scopes: Scopes, redirect_uri: Option<String>) -> String {
        let now = Instant::now();
        self.codes.retain(|_, c| c.expires > now);
        let code = format!("1000.{}.{}", self.rng.hex(32), self.rng.hex(32));
        self.codes.insert(
            code.clone(),
            GrantCode {
                expires: now + self.code_ttl,
                scopes,
                redirect_uri,
            },
        );
        code
    }

    /// Spends a code: a used, unknown or expired code is `invalid_code`, and a browser-flow code
    /// presented with another redirect URI is `invalid_redirect_uri` (the code is spent either way,
    /// as Zoho does not let a code be tried twice).
    fn redeem(&mut self, code: &str, redirect_uri: Option<&str>) -> Result<String, IssueError> {
        let Some(grant) = self.codes.remove(code) else {
            return Err(IssueError::Grant("invalid_code"));
        };
        if Instant::now() >= grant.expires {
            return Err(IssueError::Grant("invalid_code"));
        }
        if let Some(bound) = &grant.redirect_uri
            && redirect_uri != Some(bound.as_str())
        {
            return Err(IssueError::Grant("invalid_redirect_uri"));
        }
        let refresh_token = format!("1000.{}.{}", self.rng.hex(32), self.rng.hex(32));
        self.refresh.insert(
            refresh_token.clone(),
            RefreshGrant {
                scopes: grant.scopes,
                issued: VecDeque::new(),
            },
        );
        Ok(refresh_token)
    }

    fn scope_text(&self, refresh_token: &str) -> String {
        self.refresh
            .get(refresh_token)
            .map(|g| g.scopes.text())
            .unwrap_or_default()
    }

    /// Revoking a refresh token also kills the access tokens minted from it.
    fn revoke(&mut self, refresh_token: &str) -> bool {
        if self.refresh.remove(refresh_token).is_none() {
            return false;
        }
        self.tokens.retain(|_, t| t.refresh_token != refresh_token);
        true
    }

    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }

    pub(crate) fn clear_issue_counter(&mut self) {
        for grant in self.refresh.values_mut() {
            grant.issued.clear();
        }
    }
}

/// The 401 for a route outside the token's scopes; the wording is what Zoho's MCP relays.
pub(crate) fn scope_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "SCOPE_MISMATCH",
        "Invalid oauth scope to access this URL",
    )
}

fn params(query: Option<&str>, body: &Bytes) -> Vec<(String, String)> {
    let mut params = parse_pairs(query.unwrap_or("")).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(body) {
        params.extend(parse_pairs(text.trim()).unwrap_or_default());
    }
    params
}

fn grant_error(e: &str) -> Response {
    (StatusCode::OK, axum::Json(json!({"error": e}))).into_response()
}

fn access_denied() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "error_description": "You have made too many requests continuously. Please try again after some time.",
            "error": "Access Denied",
        })),
    )
        .into_response()
}

pub(crate) async fn token(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = params(query.as_deref(), &body);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let creds = &app.credentials;
    let grant = match get("grant_type") {
        Some(g @ ("refresh_token" | "authorization_code")) => g,
        _ => return grant_error("unsupported_grant_type"),
    };
    if get("client_id") != Some(creds.client_id.as_str()) {
        return grant_error("invalid_client");
    }
    if get("client_secret") != Some(creds.client_secret.as_str()) {
        return grant_error("invalid_client_secret");
    }
    let mut tokens = lock(&app.tokens);
    let ttl = tokens.ttl.as_secs();
    let (refresh_token, fresh) = if grant == "authorization_code" {
        match tokens.redeem(get("code").unwrap_or_default(), get("redirect_uri")) {
            Ok(rt) => (rt, true),
            Err(IssueError::Grant(e)) => return grant_error(e),
            Err(IssueError::Throttled) => return access_denied(),
        }
    } else {
        (get("refresh_token").unwrap_or_default().to_owned(), false)
    };
    match tokens.issue(&refresh_token) {
        Ok(access_token) => {
            let mut body = json!({
                "access_token": access_token,
                "scope": tokens.scope_text(&refresh_token),
                "api_domain": "https://www.zohoapis.com",
                "token_type": "Bearer",
                "expires_in": ttl,
            });
            // Only the code exchange returns a refresh token; a refresh never does.
            if fresh {
                body["refresh_token"] = json!(refresh_token);
            }
            axum::Json(body).into_response()
        }
        Err(IssueError::Grant(e)) => grant_error(e),
        Err(IssueError::Throttled) => access_denied(),
    }
}

/// `POST /oauth/v2/token/revoke?token=<refresh token>`. The reference calls this form standard
/// but unconfirmed, and quotes no answer body: the sandbox answers `{"status":"success"}`, and
/// `{"error":"invalid_token"}` (HTTP 200, like the grant errors) for a token it does not know.
pub(crate) async fn revoke(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = params(query.as_deref(), &body);
    let token = params
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if lock(&app.tokens).revoke(token) {
        axum::Json(json!({"status": "success"})).into_response()
    } else {
        grant_error("invalid_token")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_all_or_nothing() {
        assert!(Scopes::parse(SCOPE).is_ok());
        assert_eq!(
            Scopes::parse("Desk.tickets.READ,Desk.tickets.EVERYTHING").unwrap_err(),
            "Desk.tickets.EVERYTHING"
        );
        assert!(Scopes::parse("").is_err());
    }

    #[test]
    fn scopes_cover_routes_by_resource_and_operation() {
        let s = Scopes::parse("Desk.tickets.READ,Desk.basic.READ").unwrap();
        assert!(s.allows("GET", "/api/v1/tickets/{ticketId}"));
        assert!(!s.allows("PATCH", "/api/v1/tickets/{ticketId}"));
        assert!(!s.allows("GET", "/api/v1/tickets/search"));
        assert!(s.allows("GET", "/api/v1/departments"));
        assert!(!s.allows("GET", "/api/v1/articles"));
        let all = Scopes::parse(SCOPE).unwrap();
        assert!(all.allows("POST", "/api/v1/tickets/{ticketId}/comments"));
        assert!(all.allows("GET", "/api/v1/tickets/search"));
        assert!(!all.allows("POST", "/api/v1/contacts"));
    }
}
