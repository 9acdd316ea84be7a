//! Layer 1 of the retry design over real HTTP: what is retried, how long it waits, that waits
//! are capped, that every retry is reported, and that async-openai's own retry is really off.
//! Waits are kept tiny through reset headers and a small cap; assertions are on hit counts and
//! reported values, never on wall time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use deskhand::llm::{
    ChatMessage, ChatRequest, LlmClient, LlmError, LlmSettings, RetryEvent, RetryLog, RetryPolicy,
};
use deskhand_e2e::{ScriptedLlm, Step};
use serde_json::json;

fn client(llm: &ScriptedLlm, policy: RetryPolicy) -> (LlmClient, Arc<RetryLog>) {
    let log = Arc::new(RetryLog::default());
    let client = LlmClient::new(LlmSettings {
        retry: policy,
        request_timeout: Duration::from_secs(10),
        ..LlmSettings::openai_compatible(llm.base_url(), "test-model")
    })
    .unwrap()
    .with_observer(log.clone());
    (client, log)
}

fn policy(max_attempts: u32, max_wait_ms: u64) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        max_wait: Duration::from_millis(max_wait_ms),
        min_backoff: Duration::from_millis(1),
    }
}

fn ask() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("hello")])
}

#[tokio::test]
async fn retry_after_one_second_is_honoured_once() {
    let llm = ScriptedLlm::start([
        Step::rate_limited().with_header("retry-after", "1"),
        Step::text("ok"),
    ])
    .await;
    let (client, log) = client(&llm, policy(5, 60_000));
    let response = client.chat(ask()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("ok"));
    assert_eq!(response.retries, 1);
    assert_eq!(llm.hits(), 2);
    assert_eq!(
        log.events(),
        vec![RetryEvent {
            layer: "llm".into(),
            attempt: 1,
            wait: Duration::from_secs(1),
            reason: "HTTP 429 rate limited".into(),
        }]
    );
}

#[tokio::test]
async fn openai_reset_headers_are_honoured() {
    let llm = ScriptedLlm::start([
        Step::rate_limited()
            .with_header("x-ratelimit-remaining-requests", "0")
            .with_header("x-ratelimit-reset-requests", "10ms")
            .with_header("x-ratelimit-remaining-tokens", "9000")
            .with_header("x-ratelimit-reset-tokens", "6m0s"),
        Step::rate_limited().with_header("x-ratelimit-reset-tokens", "15ms"),
        Step::text("ok"),
    ])
    .await;
    let (client, log) = client(&llm, policy(5, 60_000));
    let response = client.chat(ask()).await.unwrap();
    assert_eq!(response.retries, 2);
    assert_eq!(llm.hits(), 3);
    let waits: Vec<Duration> = log.events().iter().map(|e| e.wait).collect();
    assert_eq!(
        waits,
        [Duration::from_millis(10), Duration::from_millis(15)]
    );
}

#[tokio::test]
async fn waits_are_capped_and_attempts_bounded() {
    let llm =
        ScriptedLlm::start((0..5).map(|_| Step::rate_limited().with_header("retry-after", "3600")))
            .await;
    let (client, log) = client(&llm, policy(3, 20));
    let err = client.chat(ask()).await.unwrap_err();
    match &err {
        LlmError::RateLimited {
            attempts,
            last_wait,
            ..
        } => {
            assert_eq!(*attempts, 3);
            // The provider's own wish is kept for scheduling a later run.
            assert_eq!(*last_wait, Some(Duration::from_secs(3600)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(llm.hits(), 3);
    let events = log.events();
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().all(|e| e.wait == Duration::from_millis(20)),
        "{events:?}"
    );
    assert_eq!(events.iter().map(|e| e.attempt).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn server_error_then_success() {
    let llm = ScriptedLlm::start([Step::server_error(), Step::text("recovered")]).await;
    let (client, log) = client(&llm, policy(5, 50));
    let response = client.chat(ask()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("recovered"));
    assert_eq!(llm.hits(), 2);
    let events = log.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "HTTP 500");
    // No hint: exponential backoff with jitter, never beyond the cap.
    assert!(events[0].wait <= Duration::from_millis(50), "{events:?}");
}

#[tokio::test]
async fn server_errors_until_exhausted() {
    let llm = ScriptedLlm::start(
        (0..4).map(|_| Step::error(503, json!({"error": {"message": "overloaded"}}))),
    )
    .await;
    let (client, log) = client(&llm, policy(4, 5));
    let err = client.chat(ask()).await.unwrap_err();
    match err {
        LlmError::ServerError {
            status,
            attempts,
            message,
            ..
        } => {
            assert_eq!((status, attempts), (503, 4));
            assert_eq!(message, "overloaded");
        }
        other => panic!("expected ServerError, got {other:?}"),
    }
    assert_eq!(llm.hits(), 4);
    assert_eq!(log.events().len(), 3);
}

#[tokio::test]
async fn dropped_connection_then_success() {
    let llm = ScriptedLlm::start([Step::drop_connection(), Step::text("ok")]).await;
    let (client, log) = client(&llm, policy(5, 20));
    let response = client.chat(ask()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("ok"));
    assert_eq!(llm.hits(), 2);
    let events = log.events();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].reason.starts_with("connection dropped"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_slow_attempt_times_out_and_is_retried() {
    let llm = ScriptedLlm::start([
        Step::delay(Duration::from_secs(30), Step::text("too late")),
        Step::text("in time"),
    ])
    .await;
    let log = Arc::new(RetryLog::default());
    let client = LlmClient::new(LlmSettings {
        retry: policy(3, 10),
        request_timeout: Duration::from_millis(200),
        ..LlmSettings::openai_compatible(llm.base_url(), "m")
    })
    .unwrap()
    .with_observer(log.clone());
    let response = client.chat(ask()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("in time"));
    assert_eq!(llm.hits(), 2);
    assert_eq!(log.events()[0].reason, "timeout");
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error_after_the_attempts() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let log = Arc::new(RetryLog::default());
    let client = LlmClient::new(LlmSettings {
        retry: policy(2, 5),
        ..LlmSettings::openai_compatible(format!("http://{addr}/v1"), "m")
    })
    .unwrap()
    .with_observer(log.clone());
    let err = client.chat(ask()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(log.events()[0].reason.starts_with("connection failed"));
}

#[tokio::test]
async fn insufficient_quota_is_never_retried() {
    let llm = ScriptedLlm::start([
        Step::insufficient_quota().with_header("retry-after", "1"),
        Step::text("never reached"),
    ])
    .await;
    let (client, log) = client(&llm, policy(5, 20));
    let err = client.chat(ask()).await.unwrap_err();
    assert!(matches!(err, LlmError::QuotaExhausted { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("exceeded your current quota"),
        "{err}"
    );
    assert_eq!(llm.hits(), 1);
    assert!(log.events().is_empty());
}

#[tokio::test]
async fn built_in_async_openai_retry_is_off() {
    // With async-openai's default layer, this 429 would be retried (3 times, honouring
    // Retry-After) and the queued success returned. With ours at one attempt: exactly one hit.
    let llm = ScriptedLlm::start([
        Step::rate_limited().with_header("retry-after", "0"),
        Step::text("would be reached by a hidden retry"),
    ])
    .await;
    let (first, log) = client(&llm, policy(1, 20));
    let err = first.chat(ask()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::RateLimited { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(llm.hits(), 1);
    assert_eq!(llm.remaining_steps(), 1);
    assert!(log.events().is_empty());

    // Same for a 500: one attempt, one hit.
    let llm = ScriptedLlm::start([Step::server_error(), Step::text("hidden")]).await;
    let (second, _) = client(&llm, policy(1, 20));
    assert!(matches!(
        second.chat(ask()).await.unwrap_err(),
        LlmError::ServerError { attempts: 1, .. }
    ));
    assert_eq!(llm.hits(), 1);
}

#[tokio::test]
async fn retries_are_counted_per_call() {
    let llm = ScriptedLlm::start([
        Step::rate_limited().with_header("retry-after-ms", "5"),
        Step::text("first"),
        Step::text("second"),
    ])
    .await;
    let (client, _) = client(&llm, policy(5, 20));
    let (a, b) = (
        client.chat(ask()).await.unwrap(),
        client.chat(ask()).await.unwrap(),
    );
    assert_eq!((a.retries, b.retries), (1, 0));
}
