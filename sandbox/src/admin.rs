//! Run-time control of a sandbox: in process through [`SandboxAdmin`], over HTTP under
//! `/_sandbox/` (no auth; the sandbox binds to loopback). Both do the same things.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::Value;

use crate::app::{App, lock};
use crate::faults::FaultPlan;
use crate::stats::Stats;
use crate::store::Store;
use crate::zoho_error::ApiError;

/// A cheap, cloneable handle on a running sandbox.
#[derive(Clone)]
pub struct SandboxAdmin {
    pub(crate) app: Arc<App>,
}

impl SandboxAdmin {
    /// Installs a fault plan; its PRNG restarts, so the same plan replays the same faults.
    pub fn set_faults(&self, plan: FaultPlan) {
        lock(&self.app.faults).set(plan);
    }

    pub fn clear_faults(&self) {
        lock(&self.app.faults).set(FaultPlan::default());
    }

    pub fn faults(&self) -> FaultPlan {
        lock(&self.app.faults).plan()
    }

    /// New limits start a fresh credit window.
    pub fn set_limits(&self, credits_per_window: u64, window: Duration, max_concurrency: usize) {
        lock(&self.app.limits).set(credits_per_window, window, max_concurrency);
    }

    /// The fixed delay added inside every `/api/v1` request (while it holds a concurrency slot).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.app.limits).latency = latency;
    }

    /// A fresh single-use grant code for `scope` (a comma list of `Desk.<resource>.<OP>`), as the
    /// API console's Self Client page generates; it expires after the configured
    /// `grant_code_ttl`. An invalid scope is refused with its name.
    pub fn grant_code(&self, scope: &str) -> Result<String, String> {
        let scopes = crate::accounts::Scopes::parse(scope)
            .map_err(|bad| format!("invalid OAuth scope `{bad}`"))?;
        Ok(lock(&self.app.tokens).new_code(scopes, None))
    }

    /// Invalidates every access token issued so far; the next API call gets `INVALID_OAUTH`.
    pub fn expire_tokens(&self) {
        lock(&self.app.tokens).expire_all();
    }

    /// Back to the initial seed state with counters cleared: data, statistics, the credit window,
    /// the token-issue counter and the fault plan. Issued access tokens stay valid, so a client
    /// does not need to re-authenticate after a reset.
    pub fn reset(&self) {
        *lock(&self.app.store) = Store::new(self.app.initial.clone());
        *lock(&self.app.stats) = Stats::default();
        lock(&self.app.limits).reset_window();
        lock(&self.app.tokens).clear_issue_counter();
        lock(&self.app.faults).set(FaultPlan::default());
    }

    pub fn stats(&self) -> Stats {
        lock(&self.app.stats).clone()
    }

    /// Requests currently inside `/api/v1` handlers.
    pub fn in_flight(&self) -> usize {
        self.app.in_flight.load(Ordering::SeqCst)
    }

    /// The whole current state in seed-file shape (feed it back to `SeedData::from_json_str`).
    pub fn state_json(&self) -> Value {
        lock(&self.app.store).data.to_json()
    }

    /// One ticket in seed-file shape (full record with `threads` and `comments`).
    pub fn ticket(&self, id: &str) -> Option<Value> {
        let store = lock(&self.app.store);
        let t = store.ticket(id)?;
        let mut rec = t.ticket.clone();
        rec.insert(
            "threads".into(),
            Value::Array(t.threads.iter().cloned().map(Value::Object).collect()),
        );
        rec.insert(
            "comments".into(),
            Value::Array(t.comments.iter().cloned().map(Value::Object).collect()),
        );
        Some(Value::Object(rec))
    }
}

pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/stats", get(stats))
        .route(
            "/_sandbox/faults",
            put(set_faults).delete(clear_faults).get(get_faults),
        )
        .route("/_sandbox/limits", put(set_limits))
        .route("/_sandbox/tokens/expire", post(expire))
        .route("/_sandbox/tickets/{id}", get(ticket))
}

fn admin(app: Arc<App>) -> SandboxAdmin {
    SandboxAdmin { app }
}

fn bad(message: String) -> Response {
    ApiError::unprocessable(message).into_response()
}

async fn state(State(app): State<Arc<App>>) -> Response {
    axum::Json(admin(app).state_json()).into_response()
}

async fn reset(State(app): State<Arc<App>>) -> Response {
    admin(app).reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    axum::Json(admin(app).stats()).into_response()
}

async fn get_faults(State(app): State<Arc<App>>) -> Response {
    axum::Json(admin(app).faults()).into_response()
}

async fn set_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultPlan>(&body) {
        Ok(plan) => {
            admin(app).set_faults(plan);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(format!("invalid fault plan: {e}")),
    }
}

async fn clear_faults(State(app): State<Arc<App>>) -> Response {
    admin(app).clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    credits_per_window: u64,
    window_secs: f64,
    max_concurrency: usize,
    #[serde(default)]
    latency_ms: Option<u64>,
}

/// Bounds of the test knobs: a day-long window and a minute of latency are beyond any test, and
/// keep every deadline computed from them far from `Instant` overflow.
const MAX_WINDOW_SECS: f64 = 86_400.0;
const MAX_LATENCY_MS: u64 = 60_000;

async fn set_limits(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let l = match serde_json::from_slice::<LimitsBody>(&body) {
        Ok(l) => l,
        Err(e) => return bad(format!("invalid limits: {e}")),
    };
    if !(l.window_secs > 0.0 && l.window_secs <= MAX_WINDOW_SECS) {
        return bad(format!(
            "window_secs must be a positive number of at most {MAX_WINDOW_SECS} seconds"
        ));
    }
    if l.latency_ms.is_some_and(|ms| ms > MAX_LATENCY_MS) {
        return bad(format!("latency_ms must be at most {MAX_LATENCY_MS}"));
    }
    let a = admin(app);
    a.set_limits(
        l.credits_per_window,
        Duration::from_secs_f64(l.window_secs),
        l.max_concurrency,
    );
    if let Some(ms) = l.latency_ms {
        a.set_latency(Duration::from_millis(ms));
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn expire(State(app): State<Arc<App>>) -> Response {
    admin(app).expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

async fn ticket(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match admin(app).ticket(&id) {
        Some(t) => axum::Json(t).into_response(),
        None => ApiError::not_found().into_response(),
    }
}
