//! Telling people that writes wait for them: when a run under `writes: approve` leaves approvals
//! pending and its workflow has `notify: { webhook_url_env: VAR }`, one JSON summary goes to the
//! webhook in `$VAR`, in the shape Slack's incoming webhooks (and Mattermost, Rocket.Chat, Teams
//! workflows) accept: `{"text": ...}`, with a link to the console's approvals page.
//!
//! Sending never holds up the run: it happens on a task of its own, retried with backoff on a
//! failure that may pass (a 5xx, a 429, no answer), given up on after a few tries with a warning.
//! The URL is never logged: it is the webhook's only credential.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::{Value, json};

use crate::store::{ApprovalFilter, ApprovalState, RunId, Store, StoreError};
use crate::workflow::Workflow;

/// Reads a variable of the environment; tests hand in their own.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where the summary points reviewers when `DESKHAND_CONSOLE_URL` does not say.
pub const DEFAULT_CONSOLE_URL: &str = "http://127.0.0.1:8470";

/// How many times a summary is tried at most.
const TRIES: usize = 5;

/// Sends the summary of `run_id` if its workflow asks for one and approvals are pending; returns
/// the task sending it (already running), or `None` when there is nothing to send.
pub async fn after_run(
    workflow: &Workflow,
    store: &Store,
    run_id: RunId,
    env: &EnvLookup,
) -> Result<Option<tokio::task::JoinHandle<()>>, StoreError> {
    let Some(notify) = &workflow.notify else {
        return Ok(None);
    };
    let pending = store
        .find_approvals(&ApprovalFilter {
            state: Some(ApprovalState::Pending),
            run_id: Some(run_id),
            limit: 10_000,
            ..ApprovalFilter::default()
        })
        .await?;
    if pending.is_empty() {
        return Ok(None);
    }
    let Some(url) = env(&notify.webhook_url_env).filter(|u| !u.trim().is_empty()) else {
        tracing::warn!(
            workflow = %workflow.name,
            variable = %notify.webhook_url_env,
            "approvals are pending, but the notify webhook's variable is not set; nobody was told"
        );
        return Ok(None);
    };
    let console = env("DESKHAND_CONSOLE_URL")
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_CONSOLE_URL.to_owned());
    let mut tickets: Vec<String> = pending.iter().map(|a| a.ticket_number()).collect();
    tickets.sort();
    tickets.dedup();
    let shown: Vec<String> = tickets.iter().take(10).map(|t| format!("#{t}")).collect();
    let more = tickets.len().saturating_sub(shown.len());
    let text = format!(
        "deskhand: run {run_id} of {} left {} write(s) on {} ticket(s) waiting for approval ({}{}). Review them: {}/approvals",
        workflow.name,
        pending.len(),
        tickets.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        console.trim_end_matches('/'),
    );
    let body = json!({ "text": text });
    let workflow = workflow.name.clone();
    Ok(Some(tokio::spawn(async move {
        match send(&url, &body).await {
            Ok(()) => tracing::info!(workflow = %workflow, run = run_id, "approvals summary sent"),
            Err(reason) => tracing::warn!(
                workflow = %workflow,
                run = run_id,
                %reason,
                "the approvals summary could not be sent"
            ),
        }
    })))
}

/// Why one try failed, and whether another may succeed.
struct Failure {
    reason: String,
    again: bool,
}

async fn send(url: &str, body: &Value) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let attempt = || async {
        match http.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                Err(Failure {
                    reason: format!("the webhook answered {status}"),
                    again: status.is_server_error() || status.as_u16() == 429,
                })
            }
            // Without the URL: reqwest's error text names it.
            Err(e) => Err(Failure {
                reason: if e.is_timeout() {
                    "the webhook did not answer in time".to_owned()
                } else {
                    "the webhook could not be reached".to_owned()
                },
                again: true,
            }),
        }
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(30))
                .with_max_times(TRIES - 1)
                .with_jitter(),
        )
        .when(|f: &Failure| f.again)
        .await
        .map_err(|f| f.reason)
}
