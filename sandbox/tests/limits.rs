#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use zoho_desk_sandbox::SandboxConfig;

#[tokio::test]
async fn every_api_answer_carries_weight_and_remaining() {
    let env = small().await;
    let r = env.get("/tickets/5000000001001").await;
    assert_eq!(
        r.header("x-rate-limit-request-weight-v3").as_deref(),
        Some("1")
    );
    assert_eq!(
        r.header("x-rate-limit-remaining-v3").as_deref(),
        Some("99999")
    );
    let r = env.get("/tickets").await;
    assert_eq!(
        r.header("x-rate-limit-request-weight-v3").as_deref(),
        Some("3")
    );
    assert_eq!(
        r.header("x-rate-limit-remaining-v3").as_deref(),
        Some("99996")
    );
    let r = env.get("/tickets?from=2500").await;
    assert_eq!(
        r.header("x-rate-limit-request-weight-v3").as_deref(),
        Some("5")
    );
    let r = env
        .patch(
            "/tickets/5000000001001",
            serde_json::json!({"priority": "Low"}),
        )
        .await;
    assert_eq!(
        r.header("x-rate-limit-request-weight-v3").as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn credit_budget_runs_out_with_threshold_exceeded_and_retry_after() {
    let env = start(SandboxConfig {
        credits_per_window: 7,
        window: Duration::from_secs(120),
        ..small_config()
    })
    .await;
    assert_eq!(env.get("/tickets").await.status, 200); // 3
    assert_eq!(env.get("/tickets").await.status, 200); // 6
    let r = env.get("/tickets").await; // would need 9
    assert_eq!((r.status, r.code()), (429, "THRESHOLD_EXCEEDED"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(r.header("x-rate-limit-remaining-v3").as_deref(), Some("0"));
    // One credit left: a GET by id still fits.
    assert_eq!(env.get("/tickets/5000000001001").await.status, 200);
    assert_eq!(env.get("/tickets/5000000001001").await.status, 429);
    assert_eq!(env.sb.admin().stats().rate_limited_threshold, 2);
    assert_eq!(
        env.sb.admin().stats().credits_charged,
        7,
        "refused requests cost nothing"
    );
    // New limits open a fresh window.
    env.sb.admin().set_limits(1000, Duration::from_secs(60), 25);
    assert_eq!(env.get("/tickets").await.status, 200);
}

#[tokio::test]
async fn concurrency_cap_answers_too_many_requests() {
    let env = start(SandboxConfig {
        max_concurrency: 2,
        latency: Duration::from_millis(300),
        ..small_config()
    })
    .await;
    let futures: Vec<_> = (0..6).map(|_| env.get("/tickets/5000000001001")).collect();
    let results = futures::future::join_all(futures).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok, 2, "only two fit in flight");
    assert_eq!(limited.len(), 4);
    for r in limited {
        assert_eq!(r.code(), "TOO_MANY_REQUESTS");
        assert_eq!(
            r.body["message"],
            "The maximum number of Concurrent API Calls that can be made has been exceeded."
        );
        // Zoho sends Retry-After only with the quota 429 (THRESHOLD_EXCEEDED).
        assert_eq!(r.header("retry-after"), None);
    }
    let stats = env.sb.admin().stats();
    assert_eq!(stats.rate_limited_concurrency, 4);
    assert_eq!(stats.by_status.get(&429), Some(&4));
    assert_eq!(env.sb.admin().in_flight(), 0);
    assert_eq!(env.get("/tickets/5000000001001").await.status, 200);
}

#[tokio::test]
async fn limits_can_be_set_over_http() {
    let env = small().await;
    let r = env
        .client
        .put(format!("{}/_sandbox/limits", env.sb.base_url()))
        .json(
            &serde_json::json!({"credits_per_window": 1, "window_secs": 30, "max_concurrency": 5}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get("/tickets/5000000001001").await.status, 200);
    assert_eq!(
        env.get("/tickets/5000000001001").await.code(),
        "THRESHOLD_EXCEEDED"
    );
    let r = env
        .client
        .put(format!("{}/_sandbox/limits", env.sb.base_url()))
        .json(&serde_json::json!({"credits": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn absurd_limits_are_refused_with_a_sentence_not_a_panic() {
    let env = small().await;
    for body in [
        serde_json::json!({"credits_per_window": 1, "window_secs": 1e300, "max_concurrency": 5}),
        serde_json::json!({"credits_per_window": 1, "window_secs": 0, "max_concurrency": 5}),
        serde_json::json!({"credits_per_window": 1, "window_secs": 30, "max_concurrency": 5,
                           "latency_ms": u64::MAX}),
    ] {
        let r = env
            .client
            .put(format!("{}/_sandbox/limits", env.sb.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("at most") || text.contains("positive"),
            "{text}"
        );
    }
    // The sandbox still answers: nothing panicked behind the refusals.
    assert_eq!(env.get("/tickets/5000000001001").await.status, 200);
}
