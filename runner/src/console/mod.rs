//! `deskhand console`: server-rendered pages over the run store, for the person who reviews what
//! the agents propose. Runs and their items, a ticket's history across runs, and the approvals
//! queue (approve, reject, in bulk). Pages are HTML rendered on the server (maud), the stylesheet
//! is compiled into the binary, and no page needs JavaScript.
//!
//! Approving from the console goes through exactly the path `deskhand approvals approve` takes
//! (claim, connection and staleness checks, one send), under the console's own connection
//! settings.

mod admin;
mod auth;
mod pages;
mod schedules;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::Registry;

use crate::cli::approvals::{Decide, Verb, decide};
use crate::cli::backend::BackendArgs;
use crate::store::{ApprovalFilter, ApprovalState, RunFilter, Store};

pub use auth::{COOKIE_NAME, host_allowed};
use auth::{Session, Sessions, same_secret};

/// Where `deskhand mcp serve --http` listens by default.
pub const DEFAULT_MCP_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// What the console serves from.
pub struct Console {
    pub store: Store,
    pub registry: Registry,
    /// How approvals are applied: the workflows directory, the store, `--sandbox` or Zoho.
    pub backend: BackendArgs,
    /// Host names besides loopback the console answers to.
    pub allowed_hosts: Vec<String>,
    /// The gateway embedded workflows are applied through (with `--sandbox`, the console's one
    /// sandbox); `None`: Zoho from the environment, per decision.
    pub embedded: Option<crate::mcp::EmbeddedServer>,
    /// The base URL printed in front of `/mcp/<token>` for servers created here (where `deskhand
    /// mcp serve --http` is reached).
    pub mcp_public_url: String,
    sessions: Sessions,
}

impl Console {
    pub fn new(
        store: Store,
        registry: Registry,
        backend: BackendArgs,
        allowed_hosts: Vec<String>,
    ) -> Self {
        Console {
            store,
            registry,
            backend,
            allowed_hosts,
            embedded: None,
            mcp_public_url: DEFAULT_MCP_PUBLIC_URL.to_owned(),
            sessions: Sessions::default(),
        }
    }

    pub fn with_mcp_public_url(mut self, url: impl Into<String>) -> Self {
        self.mcp_public_url = url.into();
        self
    }

    pub fn with_embedded(mut self, embedded: crate::mcp::EmbeddedServer) -> Self {
        self.embedded = Some(embedded);
        self
    }
}

/// Binds `addr` and serves until `stop` is cancelled; returns the bound address at once.
pub async fn serve(
    console: Console,
    addr: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(Arc::new(console));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the console stopped");
        }
    });
    Ok((bound, task))
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(runs))
        .route("/runs/{id}", get(run))
        .route("/tickets/{ticket}", get(ticket))
        .route("/approvals", get(approvals).post(decide_approvals))
        .route("/schedules", get(schedules::schedules))
        .route(
            "/mcp-servers",
            get(admin::servers).post(admin::create_server),
        )
        .route("/mcp-servers/revoke", post(admin::revoke_server))
        .route("/api-tokens", get(admin::tokens).post(admin::create_token))
        .route("/api-tokens/revoke", post(admin::revoke_token))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets/console.css", get(stylesheet))
        .layer(middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Every request: the host must be ours; every page but sign-in needs a session; every POST but
/// sign-in needs the session's CSRF token (checked by the handler, which reads the form).
async fn guard(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    if !host_allowed(request.headers(), &console.allowed_hosts) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this console does not answer to that host name (see --allowed-hosts)",
        )
            .into_response();
    }
    let path = request.uri().path();
    let open = path == "/login" || path.starts_with("/assets/");
    if !open {
        let live = match console.sessions.get(request.headers()) {
            None => false,
            Some((key, session)) => {
                let live = console
                    .registry
                    .api_token_live(&session.token_hash)
                    .await
                    .unwrap_or(false);
                if !live {
                    console.sessions.close(&key);
                }
                live
            }
        };
        if !live {
            return if request.method() == Method::GET {
                redirect("/login")
            } else {
                (StatusCode::FORBIDDEN, "sign in first").into_response()
            };
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

fn html(markup: maud::Markup) -> Response {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn page_error(status: StatusCode, message: &str) -> Response {
    (status, html(pages::message("deskhand", message))).into_response()
}

/// The signed-in session (the guard let the request through, so there is one).
fn session(console: &Console, headers: &HeaderMap) -> Option<(String, Session)> {
    console.sessions.get(headers)
}

/// Decoded `application/x-www-form-urlencoded` pairs.
fn form(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a POST carries its session's CSRF token.
fn csrf_ok(session: &Session, pairs: &[(String, String)]) -> bool {
    field(pairs, "csrf").is_some_and(|t| same_secret(t, &session.csrf))
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

async fn login_form() -> Response {
    html(pages::login(None))
}

async fn login(State(console): State<Arc<Console>>, body: Bytes) -> Response {
    let pairs = form(&body);
    let token = field(&pairs, "token").unwrap_or_default().trim().to_owned();
    let valid = !token.is_empty()
        && console
            .registry
            .verify_api_token(&token)
            .await
            .unwrap_or(false);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            html(pages::login(Some(
                "That is not a live admin API token (`deskhand mcp tokens create` makes one).",
            ))),
        )
            .into_response();
    }
    let Some(id) = console.sessions.open(&token) else {
        return page_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a session",
        );
    };
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, "/approvals".to_owned()),
            (SET_COOKIE, auth::session_cookie(&id)),
        ],
    )
        .into_response()
}

async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    if !csrf_ok(&session, &form(&body)) {
        return page_error(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        );
    }
    console.sessions.close(&key);
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, "/login".to_owned()),
            (SET_COOKIE, auth::expired_cookie()),
        ],
    )
        .into_response()
}

async fn runs(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    match console
        .store
        .list_runs(&RunFilter {
            workflow: None,
            limit: 50,
        })
        .await
    {
        Ok(runs) => html(pages::runs(&session.csrf, &runs)),
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn run(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some((_, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    let Ok(id) = id.parse::<i64>() else {
        return page_error(StatusCode::NOT_FOUND, "a run is named by its number");
    };
    match console.store.run_detail(id).await {
        Ok(Some(detail)) => html(pages::run(&session.csrf, &detail)),
        Ok(None) => page_error(StatusCode::NOT_FOUND, &format!("there is no run {id}")),
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn ticket(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(ticket): Path<String>,
) -> Response {
    let Some((_, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    match ticket_view(&console.store, ticket.trim_start_matches('#')).await {
        Ok(view) => html(pages::ticket(&session.csrf, &view)),
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Everything the store knows about one ticket.
#[derive(serde::Serialize)]
pub(crate) struct TicketView {
    pub wanted: String,
    pub keys: Vec<String>,
    pub subject: Option<String>,
    pub url: Option<String>,
    pub runs: Vec<crate::store::RunDetail>,
    pub approvals: Vec<crate::store::Approval>,
}

/// The runs that worked a ticket (by its number or id) and its proposed writes: the console's
/// ticket page and `deskhand history --ticket`.
pub(crate) async fn ticket_view(
    store: &Store,
    wanted: &str,
) -> Result<TicketView, crate::store::StoreError> {
    let keys = store.item_keys_for_ticket(wanted).await?;
    let mut runs = Vec::new();
    let mut approvals = Vec::new();
    let mut subject = None;
    let mut url = None;
    for key in &keys {
        for run_id in store.runs_of_item(key, 50).await? {
            if let Some(mut detail) = store.run_detail(run_id).await? {
                detail.attempts.retain(|a| &a.attempt.item_key == key);
                if subject.is_none()
                    && let Ok(Some(payload)) = store.item_payload(&detail.run.workflow, key).await
                {
                    subject = payload
                        .get("subject")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    url = payload
                        .get("webUrl")
                        .and_then(|v| v.as_str())
                        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                        .map(str::to_owned);
                }
                runs.push(detail);
            }
        }
        approvals.extend(
            store
                .find_approvals(&ApprovalFilter {
                    item_key: Some(key.clone()),
                    limit: 200,
                    ..ApprovalFilter::default()
                })
                .await?,
        );
    }
    runs.sort_by_key(|d| std::cmp::Reverse(d.run.id));
    Ok(TicketView {
        wanted: wanted.to_owned(),
        keys,
        subject,
        url,
        runs,
        approvals,
    })
}

async fn approvals(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((key, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    let flash = console.sessions.take_flash(&key);
    match console
        .store
        .find_approvals(&ApprovalFilter {
            state: None,
            limit: 1000,
            ..ApprovalFilter::default()
        })
        .await
    {
        Ok(all) => {
            let open: Vec<_> = all
                .into_iter()
                .filter(|a| {
                    matches!(
                        a.state,
                        ApprovalState::Pending | ApprovalState::Approved | ApprovalState::Failed
                    )
                })
                .collect();
            html(pages::approvals(&session.csrf, &open, &flash))
        }
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The form field holding the edit of one argument of one approval.
pub(crate) fn edit_field(id: i64, argument: &str) -> String {
    format!("edit-{id}-{argument}")
}

/// Whether the console offers an argument for editing: plain values, not the ticket's id.
pub(crate) fn editable(argument: &str, value: &serde_json::Value) -> bool {
    !matches!(argument, "id" | "ticketId")
        && matches!(
            value,
            serde_json::Value::String(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Null
        )
}

/// The approval's arguments with the form's edits, each read as the proposed value's type.
fn edited_arguments(
    approval: &crate::store::Approval,
    pairs: &[(String, String)],
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let mut args = approval.arguments.as_object().cloned().unwrap_or_default();
    for (name, proposed) in args.iter_mut() {
        if !editable(name, proposed) {
            continue;
        }
        let Some(text) = field(pairs, &edit_field(approval.id, name)) else {
            continue;
        };
        *proposed = match &*proposed {
            Value::Number(_) => match serde_json::from_str::<serde_json::Number>(text.trim()) {
                Ok(n) => Value::Number(n),
                Err(_) => {
                    return Err(format!(
                        "approval {}: {name} must be a number; nothing was changed",
                        approval.id
                    ));
                }
            },
            Value::Bool(_) => match text.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(format!(
                        "approval {}: {name} must be true or false; nothing was changed",
                        approval.id
                    ));
                }
            },
            Value::Null if text.trim().is_empty() => Value::Null,
            // Browsers send textarea line breaks as CRLF; the proposal's text has LF.
            _ => Value::String(text.replace("\r\n", "\n")),
        };
    }
    Ok(Value::Object(args))
}

/// Approve or reject: one approval (`one=approve:ID`), or the checked ones (`action` + `id`...).
async fn decide_approvals(
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
    let (action, ids): (String, Vec<i64>) = match field(&pairs, "one") {
        Some(one) => match one.split_once(':') {
            Some((action, id)) => (action.to_owned(), id.parse().into_iter().collect()),
            None => (String::new(), Vec::new()),
        },
        None => (
            field(&pairs, "action").unwrap_or_default().to_owned(),
            pairs
                .iter()
                .filter(|(k, _)| k == "id")
                .filter_map(|(_, v)| v.parse().ok())
                .collect(),
        ),
    };
    let verb = match action.as_str() {
        "approve" | "edit" => Verb::Approve,
        "reject" => Verb::Reject,
        "retry" => Verb::Retry,
        _ => return page_error(StatusCode::BAD_REQUEST, "approve, reject or retry what?"),
    };
    if ids.is_empty() {
        console
            .sessions
            .flash(&key, vec!["Nothing was selected.".to_owned()]);
        return redirect("/approvals");
    }
    let mut chosen = Vec::new();
    for id in ids {
        if let Ok(Some(a)) = console.store.get_approval(id).await {
            chosen.push(a);
        }
    }
    let mut arguments = None;
    if action == "edit" {
        let [approval] = chosen.as_slice() else {
            return page_error(
                StatusCode::BAD_REQUEST,
                "edit and approve one write at a time",
            );
        };
        match edited_arguments(approval, &pairs) {
            Ok(edited) => arguments = Some(edited),
            Err(message) => {
                console.sessions.flash(&key, vec![message]);
                return redirect("/approvals");
            }
        }
    }
    let decision = Decide {
        arguments,
        by: field(&pairs, "by")
            .filter(|b| !b.trim().is_empty())
            .map_or_else(|| "console".to_owned(), str::to_owned),
        note: field(&pairs, "note")
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned),
        anyway: field(&pairs, "anyway").is_some(),
    };
    let messages = match decide(
        &console.store,
        &console.backend,
        console.embedded.as_ref(),
        chosen,
        verb,
        &decision,
    )
    .await
    {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|o| match o {
                Ok(line) | Err(line) => line,
            })
            .collect(),
        Err(e) => vec![format!("{e:#}")],
    };
    console.sessions.flash(&key, messages);
    redirect("/approvals")
}
