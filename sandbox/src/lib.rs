//! An offline Zoho Desk API v1 (plus the Zoho Accounts token endpoint) for tests and demos.
//!
//! Everything else in deskhand is tested against this server, so it is written from the team's
//! reference (`zoho-desk-api.md` and the OAS-derived contract) independently of the Zoho client:
//! it shares no types with it, so a misreading cannot cancel itself out.
//!
//! # Faithful
//! * Auth: `Authorization: Zoho-oauthtoken <token>` on every `/api/v1` call (401 `UNAUTHORIZED`
//!   without it, 401 `INVALID_OAUTH` for unknown, expired or `Bearer` tokens); `orgId` as header
//!   or query parameter everywhere except `GET /organizations` (wrong org: `OAUTH_ORG_MISMATCH`).
//! * Accounts: refresh-token grant with parameters in the query or a form body; grant errors are
//!   HTTP 200 `{"error": ...}`; tokens expire after `token_ttl`; at most 10 tokens per refresh token
//!   in ten minutes (configurable), then 400 "Access Denied". The authorization-code grant takes
//!   single-use codes that expire after `grant_code_ttl` (from [`SandboxAdmin::grant_code`], like a
//!   Self Client code, or from the consent page of the browser flow at `/oauth/v2/auth`, which
//!   redirects with `code`, `state`, `location` and `accounts-server`); the exchange mints a new
//!   refresh token, which `/oauth/v2/token/revoke` revokes. Access tokens carry their grant's
//!   scopes and a route outside them is 401 `SCOPE_MISMATCH`.
//! * Conventions: `{"data":[...]}` lists and 204 with no body when empty, bare objects, the `teams`
//!   envelope, `{data,count}` searches, `{"count":"N"}` counts, string ids and counts, `...SSSZ`
//!   timestamps, every response's field set exactly as its OAS schema declares (list items omit
//!   `description`/`cf`/`modifiedTime`, thread lists omit `content`, article lists omit `answer`).
//! * Validation: unknown query parameters, out-of-range `limit`/`from`, malformed ids (422), unknown
//!   ids and routes (404 `URL_NOT_FOUND`), wrong methods (405, e.g. PUT on a ticket), non-JSON writes
//!   (415), empty bodies (422 `EMPTY_PAYLOAD`), unknown or invalid body fields (422 `INVALID_DATA`
//!   with `errors[{fieldName,errorType,errorMessage}]`). No answer is ever HTML or a panic,
//!   except the deliberate HTML 502 fault.
//! * Limits: a credit budget per window (429 `THRESHOLD_EXCEEDED` with `Retry-After`) and a cap on
//!   concurrent calls (429 `TOO_MANY_REQUESTS`); `X-Rate-Limit-Request-Weight-v3` and
//!   `X-Rate-Limit-Remaining-v3` on every `/api/v1` answer.
//!
//! # Simplified or chosen where the reference is unsure
//! * Credit costs are third-party estimates (see `limits`); the window is fixed, not the DC's day.
//! * `Retry-After` only on quota 429s, none on concurrency 429s; a missing orgId is answered 422.
//! * `from` is 0-based wherever the OAS says so (ticket, thread, comment, agent, department,
//!   contact lists and searches, default 0); KB lists require `from` ≥ 1.
//! * Malformed JSON bodies are 400 `BAD_REQUEST`.
//! * PATCH may change `departmentId` (like `/move`); a team or assignee that does not fit the new
//!   department is cleared.
//! * Article suggestion ranks with BM25 over the KB (Zoho's ranking is proprietary); without
//!   `departmentId` it searches the ticket's department, `0` searches all.
//! * Views, products, accounts, attachments, tags and custom `filters` are not modelled; `viewId` is
//!   accepted and ignored, `filters` is refused as an extra parameter.
//! * Generated data is laid out before a fixed epoch (2026-03-02T09:00:00Z), so it is the same for
//!   a seed; writes are stamped with the real time, as Zoho stamps them, so a client can compare
//!   a new entry's creation time with its own clock.
//! * The token's user is the org's first active agent; all writes are attributed to it.

mod accounts;
mod admin;
mod app;
mod clock;
mod consent;
mod contract;
mod error;
mod faults;
mod gateway;
mod generated;
mod ids;
mod input;
mod limits;
mod prng;
mod record;
mod routes;
mod seed;
mod shapes;
mod stats;
mod store;
mod suggest;
mod text;
mod urlencoded;
mod zoho_error;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::SandboxAdmin;
pub use contract::OPERATION_HEADER;
pub use error::SandboxError;
pub use faults::{FaultKind, FaultPlan, FaultRule};
pub use seed::SeedData;
pub use stats::Stats;

/// How a sandbox starts. Every limit can be changed later through [`SandboxAdmin`].
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Drives the generated org, token strings and the fault PRNG.
    pub seed: u64,
    /// The org to serve; `None` generates one from `seed`.
    pub seed_data: Option<SeedData>,
    pub credits_per_window: u64,
    pub window: Duration,
    pub max_concurrency: usize,
    pub token_ttl: Duration,
    /// Added inside every `/api/v1` request, while it holds a concurrency slot.
    pub latency: Duration,
    pub credentials: Credentials,
    /// Access tokens per refresh token per ten minutes (Zoho: 10). Raise it for heavy tests.
    pub max_tokens_per_window: u32,
    /// How long a grant code (Self Client or browser flow) can be exchanged; Zoho lets the user
    /// choose 3 to 10 minutes for Self Client codes.
    pub grant_code_ttl: Duration,
}

impl Default for SandboxConfig {
    /// Zoho's Enterprise edition: 100,000 credits a day and 25 concurrent calls.
    fn default() -> Self {
        Self {
            seed: 42,
            seed_data: None,
            credits_per_window: 100_000,
            window: Duration::from_secs(24 * 3600),
            max_concurrency: 25,
            token_ttl: Duration::from_secs(3600),
            latency: Duration::ZERO,
            credentials: Credentials::default(),
            max_tokens_per_window: 10,
            grant_code_ttl: Duration::from_secs(180),
        }
    }
}

/// The OAuth client and organisation the sandbox accepts, in Zoho's formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub org_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            org_id: "20091234567".into(),
            client_id: "1000.SANDBOX7QK2M4XJ9W3ZP8R5T1LN6VB0".into(),
            client_secret: "5d2c8e0f4a7b9c1d3e6f8a0b2c4d6e8f0a1b3c5d7e".into(),
            refresh_token: "1000.5a7c9e1f3b5d7f9a1c3e5b7d9f1a3c5e.7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a"
                .into(),
        }
    }
}

/// A running sandbox on a local port.
pub struct Sandbox {
    addr: SocketAddr,
    credentials: Credentials,
    app: Arc<app::App>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> Result<Sandbox, SandboxError> {
        let seed_data = match config.seed_data {
            Some(s) => s,
            None => SeedData::generated(config.seed),
        };
        let app = Arc::new(app::App {
            store: Mutex::new(store::Store::new(seed_data.clone())),
            initial: seed_data,
            credentials: config.credentials.clone(),
            clock: clock::Clock::new(),
            tokens: Mutex::new(accounts::TokenStore::new(
                config.seed,
                config.token_ttl,
                config.max_tokens_per_window,
                config.grant_code_ttl,
                &config.credentials.refresh_token,
            )),
            limits: Mutex::new(limits::Limits::new(
                config.credits_per_window,
                config.window,
                config.max_concurrency,
                config.latency,
            )),
            in_flight: AtomicUsize::new(0),
            faults: Mutex::new(faults::FaultState::new(config.seed)),
            stats: Mutex::new(Stats::default()),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let router = routes::router(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(Sandbox {
            addr,
            credentials: config.credentials,
            app,
            shutdown: Some(tx),
            task,
        })
    }

    /// The Desk host root, e.g. `http://127.0.0.1:41234`; the API is under `{base}/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Accounts host root (same listener); the token endpoint is `{accounts}/oauth/v2/token`.
    pub fn accounts_url(&self) -> String {
        self.base_url()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn admin(&self) -> SandboxAdmin {
        SandboxAdmin {
            app: self.app.clone(),
        }
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}
