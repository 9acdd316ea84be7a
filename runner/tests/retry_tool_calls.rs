//! Layer-2 retry against the real sandbox through real MCP: the shared rate gate, 429 waits,
//! 5xx backoff, give-ups, and what the observer sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskhand::embedded::SandboxBackend;
use deskhand::mcp::{EmbeddedServer, McpSession, ToolOutcome};
use deskhand::retry::backoff::ServerErrorBackoff;
use deskhand::retry::{
    CallOutcome, GateConfig, RateGate, RetryObserver, RetryPolicy, call_with_retry,
};
use deskhand::workflow::McpConnection;
use serde_json::{Map, Value, json};
use zoho_desk_sandbox::{FaultPlan, FaultRule};

#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, u32, Duration, String)>>);

impl RetryObserver for Recorder {
    fn on_retry(&self, layer: &'static str, attempt: u32, wait: Duration, reason: &str) {
        self.0
            .lock()
            .unwrap()
            .push((layer, attempt, wait, reason.to_owned()));
    }
}

impl Recorder {
    fn seen(&self) -> Vec<(&'static str, u32, Duration, String)> {
        self.0.lock().unwrap().clone()
    }
}

async fn session(backend: &SandboxBackend) -> Arc<McpSession> {
    Arc::new(
        McpSession::connect(
            &McpConnection::Embedded,
            Some(EmbeddedServer::new(backend.gateway.clone())),
        )
        .await
        .unwrap(),
    )
}

fn department_args(backend: &SandboxBackend) -> Map<String, Value> {
    let id = backend.sandbox.admin().state_json()["departments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    json!({"id": id}).as_object().cloned().unwrap()
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_wait: Duration::from_secs(10),
        max_total_wait: Duration::from_secs(30),
        rate_limit_jitter: Duration::from_millis(100),
        server_errors: ServerErrorBackoff {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_retries: 4,
        },
        ..RetryPolicy::default()
    }
}

/// One call so the gateway holds an access token and later request counts are API calls only.
async fn warm_up(session: &McpSession) {
    let out = session
        .call_tool("list_all_zoho_desk_departments", Map::new())
        .await
        .unwrap();
    assert!(out.is_ok(), "{out:?}");
}

/// (credit-budget 429s, concurrency 429s) so far.
fn four_twenty_nines(backend: &SandboxBackend) -> (u64, u64) {
    let s = backend.sandbox.admin().stats();
    (s.rate_limited_threshold, s.rate_limited_concurrency)
}

/// Eight workers run `calls` department reads each, with a pause between calls standing in for
/// the model's turn; `shared` decides whether they share one gate or each call gets its own (a
/// plain per-call retry that honours `Retry-After`).
async fn drain(
    backend: &SandboxBackend,
    session: &Arc<McpSession>,
    shared: bool,
    calls: usize,
) -> (u64, u64) {
    const WORKERS: usize = 8;
    const MODEL_TURN: Duration = Duration::from_millis(40);
    let before = four_twenty_nines(backend);
    let gate = RateGate::default();
    let args = department_args(backend);
    let observer = Arc::new(Recorder::default());
    let workers = (0..WORKERS).map(|_| {
        let (session, gate, args, observer) = (
            session.clone(),
            gate.clone(),
            args.clone(),
            observer.clone(),
        );
        tokio::spawn(async move {
            for _ in 0..calls {
                tokio::time::sleep(MODEL_TURN).await;
                let gate = if shared {
                    gate.clone()
                } else {
                    RateGate::default()
                };
                let out = call_with_retry(
                    &session,
                    &gate,
                    "get_single_zoho_desk_department_by_id",
                    args.clone(),
                    &fast_policy(),
                    observer.as_ref(),
                )
                .await;
                assert!(
                    matches!(out, CallOutcome::Answered(ToolOutcome::Ok(_))),
                    "{out:?}"
                );
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        w.unwrap();
    }
    let after = four_twenty_nines(backend);
    let limited = (after.0 - before.0, after.1 - before.1);
    assert_eq!(
        observer.seen().len() as u64,
        limited.0 + limited.1,
        "every 429 was retried and reported"
    );
    limited
}

#[tokio::test]
async fn a_shared_gate_meets_far_fewer_429s_than_per_call_retries() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    // 10 credits per 1 s window (a department read costs 1), four calls in flight, 10 ms each:
    // 48 calls need five windows.
    let limits = || admin.set_limits(10, Duration::from_secs(1), 4);
    admin.set_latency(Duration::from_millis(10));

    limits();
    let gated = drain(&backend, &session, true, 6).await;
    limits();
    let naive = drain(&backend, &session, false, 6).await;

    eprintln!("429s (budget, concurrency): shared gate {gated:?}, per-call retry {naive:?}");
    let (gated_total, naive_total) = (gated.0 + gated.1, naive.0 + naive.1);
    assert!(
        naive.0 > 0,
        "the budget must bite for the comparison to mean anything"
    );
    assert!(
        gated_total * 2 < naive_total,
        "shared gate {gated:?} vs per-call retry {naive:?}"
    );
    // Once the first budget 429 has closed the gate, only calls already in flight meet one.
    assert!(gated.0 <= 8, "{gated:?}");
}

#[tokio::test]
async fn successful_results_carry_the_budget_left_and_what_the_call_cost() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    warm_up(&session).await;
    let (first, budget) = session
        .call_tool_metered(
            "get_single_zoho_desk_department_by_id",
            department_args(&backend),
        )
        .await
        .unwrap();
    assert!(first.is_ok(), "{first:?}");
    let budget = budget.expect("a success carries the budget in _meta");
    let before = budget.remaining.expect("remaining");
    assert_eq!(budget.weight, Some(1), "a single read costs one credit");
    let (_, after) = session
        .call_tool_metered(
            "get_single_zoho_desk_department_by_id",
            department_args(&backend),
        )
        .await
        .unwrap();
    assert_eq!(after.and_then(|b| b.remaining), Some(before - 1));
}

#[tokio::test]
async fn concurrency_429s_are_retried_until_every_call_succeeds() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    admin.set_limits(100_000, Duration::from_secs(3600), 1);
    admin.set_latency(Duration::from_millis(50));
    let gate = RateGate::new(GateConfig {
        max_in_flight: 4,
        ..GateConfig::default()
    });
    let observer = Recorder::default();
    let args = department_args(&backend);
    let policy = fast_policy();
    let calls = (0..4).map(|_| {
        call_with_retry(
            &session,
            &gate,
            "get_single_zoho_desk_department_by_id",
            args.clone(),
            &policy,
            &observer,
        )
    });
    for out in futures::future::join_all(calls).await {
        assert!(
            matches!(out, CallOutcome::Answered(ToolOutcome::Ok(_))),
            "{out:?}"
        );
    }
    let stats = admin.stats();
    assert!(stats.rate_limited_concurrency >= 1, "{stats:?}");
    let seen = observer.seen();
    assert_eq!(seen.len() as u64, stats.rate_limited_concurrency);
    assert!(
        seen.iter()
            .all(|(layer, attempt, wait, reason)| *layer == "mcp"
                && *attempt >= 1
                && *wait >= Duration::from_secs(1)
                && reason == "429 TOO_MANY_REQUESTS")
    );
    assert!(gate.in_flight_limit() < 4, "the gate learned the cap");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    warm_up(&session).await;
    admin.set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::status(503).next(2).path_prefix("/api/v1")],
    });
    let observer = Recorder::default();
    let before = admin.stats().total;
    let out = call_with_retry(
        &session,
        &RateGate::default(),
        "list_all_zoho_desk_departments",
        Map::new(),
        &fast_policy(),
        &observer,
    )
    .await;
    assert!(
        matches!(out, CallOutcome::Answered(ToolOutcome::Ok(_))),
        "{out:?}"
    );
    assert_eq!(admin.stats().by_status.get(&503).copied(), Some(2));
    assert_eq!(admin.stats().total - before, 3, "two failures, one success");
    let seen = observer.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, 1);
    assert_eq!(seen[1].1, 2);
    assert!(seen.iter().all(|s| s.3.starts_with("503")), "{seen:?}");
}

#[tokio::test]
async fn server_errors_on_writes_and_exhausted_backoff_go_back_to_the_caller() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    let observer = Recorder::default();
    warm_up(&session).await;

    // A comment is not idempotent: a 503 is not repeated by this layer.
    let ticket = admin.state_json()["tickets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::status(503).next(1).path_prefix("/api/v1")],
    });
    let before = admin.stats().total;
    let out = call_with_retry(
        &session,
        &RateGate::default(),
        "create_a_zoho_desk_ticket_comment",
        json!({"ticketId": ticket, "content": "hello"})
            .as_object()
            .cloned()
            .unwrap(),
        &fast_policy(),
        &observer,
    )
    .await;
    let CallOutcome::Answered(ToolOutcome::ToolError(f)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(f.status, Some(503));
    assert_eq!(admin.stats().total - before, 1);

    // Reads give up after the configured number of retries.
    admin.set_faults(FaultPlan {
        seed: None,
        rules: vec![FaultRule::status(502).path_prefix("/api/v1")],
    });
    let before = admin.stats().total;
    let out = call_with_retry(
        &session,
        &RateGate::default(),
        "list_all_zoho_desk_departments",
        Map::new(),
        &fast_policy(),
        &observer,
    )
    .await;
    let CallOutcome::Answered(ToolOutcome::ToolError(f)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(f.status, Some(502));
    assert_eq!(admin.stats().total - before, 5, "1 + max_retries");
    assert_eq!(observer.seen().len(), 4);
}

#[tokio::test]
async fn a_404_is_returned_at_once() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let observer = Recorder::default();
    warm_up(&session).await;
    let before = backend.sandbox.admin().stats().total;
    let out = call_with_retry(
        &session,
        &RateGate::default(),
        "get_single_zoho_desk_ticket_by_id",
        json!({"id": "1892000099999999"})
            .as_object()
            .cloned()
            .unwrap(),
        &fast_policy(),
        &observer,
    )
    .await;
    let CallOutcome::Answered(ToolOutcome::ToolError(f)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(f.status, Some(404));
    assert_eq!(backend.sandbox.admin().stats().total - before, 1);
    assert!(observer.seen().is_empty());
}

#[tokio::test]
async fn a_reset_beyond_max_wait_gives_up_with_the_time_to_come_back() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    // A daily-style budget: 3 credits per hour, and a list costs 3.
    admin.set_limits(3, Duration::from_secs(3600), 25);
    let gate = RateGate::default();
    let observer = Recorder::default();
    let first = call_with_retry(
        &session,
        &gate,
        "list_all_zoho_desk_departments",
        Map::new(),
        &fast_policy(),
        &observer,
    )
    .await;
    assert!(matches!(first, CallOutcome::Answered(ToolOutcome::Ok(_))));

    let started = chrono::Utc::now();
    let limited = call_with_retry(
        &session,
        &gate,
        "list_all_zoho_desk_departments",
        Map::new(),
        &fast_policy(),
        &observer,
    )
    .await;
    let CallOutcome::RateLimited { until, failure } = limited else {
        panic!("{limited:?}")
    };
    let ahead = until - started;
    assert!(ahead > chrono::Duration::minutes(50), "{ahead}");
    assert!(ahead <= chrono::Duration::minutes(61), "{ahead}");
    assert_eq!(
        failure.unwrap().error_code.as_deref(),
        Some("THRESHOLD_EXCEEDED")
    );
    assert!(observer.seen().is_empty(), "nothing was waited for");

    // Every other item on the connection now gives up at the gate, without a call.
    let total = admin.stats().total;
    let other = call_with_retry(
        &session,
        &gate,
        "list_all_zoho_desk_agents",
        Map::new(),
        &fast_policy(),
        &observer,
    )
    .await;
    assert!(
        matches!(other, CallOutcome::RateLimited { failure: None, .. }),
        "{other:?}"
    );
    assert_eq!(admin.stats().total, total);
}

#[tokio::test]
async fn a_short_reset_is_waited_out_and_the_same_call_repeated() {
    let backend = common::sandbox().await;
    let session = session(&backend).await;
    let admin = backend.sandbox.admin();
    admin.set_limits(3, Duration::from_secs(1), 25);
    let gate = RateGate::default();
    let observer = Recorder::default();
    for _ in 0..2 {
        let out = call_with_retry(
            &session,
            &gate,
            "list_all_zoho_desk_departments",
            Map::new(),
            &fast_policy(),
            &observer,
        )
        .await;
        assert!(
            matches!(out, CallOutcome::Answered(ToolOutcome::Ok(_))),
            "{out:?}"
        );
    }
    let seen = observer.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].3, "429 THRESHOLD_EXCEEDED");
    assert!(seen[0].2 <= Duration::from_millis(1250) + Duration::from_millis(100));
    assert_eq!(admin.stats().rate_limited_threshold, 1);
    assert_eq!(gate.closures(), 1);
}
