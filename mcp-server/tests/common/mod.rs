//! A tiny Zoho Desk + Zoho Accounts stand-in for client and gateway tests: counted token grants,
//! programmable lists and objects, and the awkward answers (429 with headers, 401 INVALID_OAUTH,
//! 204, garbage bodies, a request that never completes).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use zoho_desk_mcp::{Secret, ZohoClient, ZohoConfig};

pub const ORG_ID: &str = "42";
pub const CLIENT_ID: &str = "mock-client";
pub const CLIENT_SECRET: &str = "mock-client-secret-value";
pub const REFRESH_TOKEN: &str = "mock-refresh-token-value";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum TokenMode {
    Ok { expires_in: u64 },
    GrantError(&'static str),
}

#[derive(Debug, Clone)]
pub struct MockList {
    pub items: Vec<Value>,
    /// 0 or 1: the first valid `from`.
    pub base: u64,
    pub max_limit: u64,
    pub envelope: &'static str,
    pub with_count: bool,
    /// Read `from` the 1-based way, with 0 and 1 both meaning the start (one of the two readings
    /// of Zoho's plain lists).
    pub one_based_clamp: bool,
}

#[derive(Default)]
pub struct MockState {
    pub token_requests: AtomicUsize,
    pub token_forms: Mutex<Vec<String>>,
    pub token_mode: Mutex<Option<TokenMode>>,
    pub valid_tokens: Mutex<HashSet<String>>,
    issued: AtomicUsize,
    pub requests: Mutex<Vec<Recorded>>,
    pub invalid_once_done: AtomicBool,
    pub lists: Mutex<HashMap<String, MockList>>,
    pub objects: Mutex<HashMap<String, Value>>,
}

impl MockState {
    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn api_request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Every issued token becomes invalid, as if Zoho had expired them early.
    pub fn revoke_tokens(&self) {
        self.valid_tokens.lock().unwrap().clear();
    }

    pub fn set_list(&self, path: &str, list: MockList) {
        self.lists.lock().unwrap().insert(path.to_string(), list);
    }

    pub fn set_object(&self, path: &str, value: Value) {
        self.objects.lock().unwrap().insert(path.to_string(), value);
    }
}

pub struct Mock {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
}

impl Mock {
    pub async fn start() -> Mock {
        let state = Arc::new(MockState::default());
        *state.token_mode.lock().unwrap() = Some(TokenMode::Ok { expires_in: 3600 });
        let app = Router::new()
            .route("/oauth/v2/token", post(token))
            .fallback(api)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> ZohoConfig {
        ZohoConfig {
            desk_base_url: self.url().parse().unwrap(),
            accounts_url: self.url().parse().unwrap(),
            org_id: ORG_ID.to_string(),
            client_id: CLIENT_ID.to_string(),
            client_secret: Secret::new(CLIENT_SECRET),
            refresh_token: Secret::new(REFRESH_TOKEN),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn client(&self) -> ZohoClient {
        ZohoClient::new(self.config()).unwrap()
    }
}

async fn token(State(state): State<Arc<MockState>>, body: String) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    state.token_forms.lock().unwrap().push(body.clone());
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let creds_ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        && form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN);
    let mode = state.token_mode.lock().unwrap().clone();
    match mode {
        Some(TokenMode::GrantError(code)) => axum::Json(json!({ "error": code })).into_response(),
        _ if !creds_ok => axum::Json(json!({ "error": "invalid_client" })).into_response(),
        Some(TokenMode::Ok { expires_in }) => {
            let n = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let tok = format!("tok-{n}");
            state.valid_tokens.lock().unwrap().insert(tok.clone());
            axum::Json(json!({
                "access_token": tok,
                "expires_in": expires_in,
                "api_domain": "https://www.zohoapis.com",
                "token_type": "Bearer"
            }))
            .into_response()
        }
        None => axum::Json(json!({ "error": "invalid_client" })).into_response(),
    }
}

fn zoho_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorCode": code, "message": message })),
    )
        .into_response()
}

async fn api(State(state): State<Arc<MockState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        body,
    });

    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token_ok = auth
        .strip_prefix("Zoho-oauthtoken ")
        .is_some_and(|t| state.valid_tokens.lock().unwrap().contains(t));
    if !token_ok {
        return zoho_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_OAUTH",
            "The OAuth Token you provided is invalid.",
        );
    }
    if parts.headers.get("orgId").and_then(|v| v.to_str().ok()) != Some(ORG_ID) {
        return zoho_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "orgId header missing",
        );
    }

    let Some(rest) = path.strip_prefix("/api/v1") else {
        return zoho_error(StatusCode::NOT_FOUND, "URL_NOT_FOUND", "not found");
    };
    // A query value `forbidden` answers 403, for lookups the connection may lack the scope for.
    if query.iter().any(|(_, v)| v == "forbidden") {
        return zoho_error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "You are not authorized to access this resource.",
        );
    }
    // Special answers are keyed by the last path segment, so any tool's path can reach them
    // (e.g. GET /tickets/quota).
    match rest.rsplit('/').next().unwrap_or("") {
        "quota" => {
            return Response::builder()
                .status(429)
                .header("content-type", "application/json")
                .header("X-Rate-Limit-Remaining-v3", "0")
                .header("Retry-After", "120")
                .body(Body::from(
                    json!({"errorCode": "THRESHOLD_EXCEEDED", "message": "API credits exhausted"})
                        .to_string(),
                ))
                .unwrap();
        }
        "concurrency" => {
            return Response::builder()
                .status(429)
                .header("content-type", "application/json")
                .header("RateLimit-Policy", "\"concurrency\";q=5;w=1")
                .header("RateLimit", "\"concurrency\";r=0;t=1")
                .body(Body::from(
                    json!({"errorCode": "TOO_MANY_REQUESTS", "message": "The maximum number of Concurrent API Calls that can be made has been exceeded."})
                        .to_string(),
                ))
                .unwrap();
        }
        "invalid-once" => {
            if !state.invalid_once_done.swap(true, Ordering::SeqCst) {
                return zoho_error(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_OAUTH",
                    "The OAuth Token you provided is invalid.",
                );
            }
            return axum::Json(json!({"ok": true})).into_response();
        }
        "always-401" => {
            return zoho_error(StatusCode::UNAUTHORIZED, "INVALID_OAUTH", "nope");
        }
        "empty" => return StatusCode::NO_CONTENT.into_response(),
        "garbage" => return (StatusCode::OK, "<html>definitely not json").into_response(),
        "bad-gateway" => {
            return (
                StatusCode::BAD_GATEWAY,
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        "server-error" => {
            return zoho_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "boom",
            );
        }
        "hang" => {
            std::future::pending::<()>().await;
        }
        _ => {}
    }

    let list = state.lists.lock().unwrap().get(rest).cloned();
    if let Some(list) = list {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
        let from: u64 = get("from")
            .and_then(|v| v.parse().ok())
            .unwrap_or(list.base);
        let limit: u64 = get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
        if limit < 1 || limit > list.max_limit {
            return zoho_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNPROCESSABLE_ENTITY",
                &format!(
                    "The value passed for field 'limit' exceeds the range of '1-{}'.",
                    list.max_limit
                ),
            );
        }
        if from < list.base {
            return zoho_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNPROCESSABLE_ENTITY",
                "from is below the minimum",
            );
        }
        let start = if list.one_based_clamp {
            from.saturating_sub(1) as usize
        } else {
            (from - list.base) as usize
        };
        let page: Vec<Value> = list
            .items
            .iter()
            .skip(start)
            .take(limit as usize)
            .cloned()
            .collect();
        if page.is_empty() {
            return StatusCode::NO_CONTENT.into_response();
        }
        let mut out = json!({ list.envelope: page });
        if list.with_count {
            out["count"] = json!(list.items.len().to_string());
        }
        return axum::Json(out).into_response();
    }
    if let Some(obj) = state.objects.lock().unwrap().get(rest).cloned() {
        return axum::Json(obj).into_response();
    }
    zoho_error(
        StatusCode::NOT_FOUND,
        "URL_NOT_FOUND",
        "The URL you requested could not be found.",
    )
}
