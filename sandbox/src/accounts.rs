//! Zoho Accounts: `POST /oauth/v2/token` with the refresh-token grant. Parameters may come in the
//! query string (Zoho's examples) or a form body. Grant errors are HTTP 200 with `{"error": ...}`,
//! as the real server answers; only the token-rate throttle uses 400.

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

/// Zoho Accounts counts access tokens per refresh token over a sliding ten minutes.
const ISSUE_WINDOW: Duration = Duration::from_secs(600);

pub(crate) const SCOPE: &str = "Desk.tickets.ALL,Desk.contacts.READ,Desk.basic.READ,Desk.search.READ,Desk.articles.READ,Desk.settings.READ";

pub(crate) struct TokenStore {
    tokens: HashMap<String, Instant>,
    issued: VecDeque<Instant>,
    rng: SplitMix64,
    pub ttl: Duration,
    pub max_per_window: u32,
}

pub(crate) enum TokenCheck {
    Valid,
    Invalid,
}

impl TokenStore {
    pub(crate) fn new(seed: u64, ttl: Duration, max_per_window: u32) -> Self {
        Self {
            tokens: HashMap::new(),
            issued: VecDeque::new(),
            rng: SplitMix64::new(seed ^ 0x0A07_0000_7043_0000),
            ttl,
            max_per_window,
        }
    }

    fn issue(&mut self) -> Option<String> {
        let now = Instant::now();
        while self
            .issued
            .front()
            .is_some_and(|t| now.duration_since(*t) >= ISSUE_WINDOW)
        {
            self.issued.pop_front();
        }
        if self.issued.len() >= self.max_per_window as usize {
            return None;
        }
        self.issued.push_back(now);
        let token = format!("1000.{}.{}", self.rng.hex(32), self.rng.hex(32));
        self.tokens.insert(token.clone(), now + self.ttl);
        Some(token)
    }

    pub(crate) fn check(&mut self, token: &str) -> TokenCheck {
        match self.tokens.get(token) {
            Some(exp) if Instant::now() < *exp => TokenCheck::Valid,
            Some(_) => {
                self.tokens.remove(token);
                TokenCheck::Invalid
            }
            None => TokenCheck::Invalid,
        }
    }

    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }

    pub(crate) fn clear_issue_counter(&mut self) {
        self.issued.clear();
    }
}

pub(crate) async fn token(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = parse_pairs(query.as_deref().unwrap_or("")).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(&body) {
        params.extend(parse_pairs(text.trim()).unwrap_or_default());
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let creds = &app.credentials;
    let error = |e: &str| (StatusCode::OK, axum::Json(json!({"error": e}))).into_response();
    match get("grant_type") {
        Some("refresh_token") => {}
        // The sandbox never hands out authorization codes, so every code is invalid.
        Some("authorization_code") => return error("invalid_code"),
        _ => return error("unsupported_grant_type"),
    }
    if get("client_id") != Some(creds.client_id.as_str()) {
        return error("invalid_client");
    }
    if get("client_secret") != Some(creds.client_secret.as_str()) {
        return error("invalid_client_secret");
    }
    if get("refresh_token") != Some(creds.refresh_token.as_str()) {
        return error("invalid_code");
    }
    let mut tokens = lock(&app.tokens);
    let ttl = tokens.ttl.as_secs();
    match tokens.issue() {
        Some(access_token) => axum::Json(json!({
            "access_token": access_token,
            "scope": SCOPE,
            "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer",
            "expires_in": ttl,
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error_description": "You have made too many requests continuously. Please try again after some time.",
                "error": "Access Denied",
            })),
        )
            .into_response(),
    }
}
