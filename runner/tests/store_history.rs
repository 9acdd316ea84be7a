//! Item attempts, their LLM steps, tool calls and retries, and the history view of a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{store_backends, unique_name};
use deskhand::store::{
    AttemptFinish, AttemptStatus, NewLlmStep, NewRetry, NewRun, NewToolCall, REDACTED, RetryLayer,
    StoreError, ToolOutcome, Trigger, redact, truncate_summary,
};
use serde_json::json;

fn step(step: i64, prompt: i64, completion: i64) -> NewLlmStep {
    NewLlmStep {
        step,
        model: "gpt-4.1-mini".into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: 0,
        latency_ms: 420,
        finish_reason: Some("tool_calls".into()),
    }
}

#[tokio::test]
async fn a_run_detail_holds_attempts_steps_tool_calls_and_retries() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("history");
        let run = store
            .create_run(&NewRun::new(&wf, Trigger::Cli, "cli").model("openai/gpt-4.1-mini", true))
            .await
            .unwrap();

        let first = store.start_attempt(run, "101", 1).await.unwrap();
        let second = store.start_attempt(run, "102", 2).await.unwrap();
        store.record_step(first, &step(1, 1000, 50)).await.unwrap();
        let cached = NewLlmStep {
            cached_tokens: 1024,
            ..step(2, 1400, 80)
        };
        store.record_step(first, &cached).await.unwrap();
        let long = "x".repeat(10_000);
        store
            .record_tool_call(
                first,
                &NewToolCall {
                    step: 1,
                    tool: "get_single_zoho_desk_ticket_by_id".into(),
                    arguments: json!({"ticketId": "101", "access_token": "abc"}),
                    is_write: false,
                    outcome: ToolOutcome::Ok,
                    http_status: Some(200),
                    error_code: None,
                    result_summary: Some(long.clone()),
                    duration_ms: 35,
                },
            )
            .await
            .unwrap();
        store
            .record_tool_call(
                first,
                &NewToolCall {
                    step: 2,
                    tool: "update_a_zoho_desk_ticket_by_id".into(),
                    arguments: json!({"ticketId": "101", "assigneeId": "7"}),
                    is_write: true,
                    outcome: ToolOutcome::Error,
                    http_status: Some(429),
                    error_code: Some("THRESHOLD_EXCEEDED".into()),
                    result_summary: Some("rate limited".into()),
                    duration_ms: 12,
                },
            )
            .await
            .unwrap();
        store
            .record_retry(
                run,
                &NewRetry {
                    attempt_id: Some(first),
                    item_key: Some("101".into()),
                    layer: RetryLayer::Mcp,
                    reason: "429 THRESHOLD_EXCEEDED".into(),
                    wait_ms: 3000,
                    attempt: 1,
                },
            )
            .await
            .unwrap();
        store
            .record_retry(
                run,
                &NewRetry {
                    attempt_id: None,
                    item_key: None,
                    layer: RetryLayer::Llm,
                    reason: "HTTP 503".into(),
                    wait_ms: 500,
                    attempt: 2,
                },
            )
            .await
            .unwrap();

        let finished = store
            .finish_attempt(
                first,
                &AttemptFinish {
                    status: AttemptStatus::Succeeded,
                    error: None,
                    output: Some(json!({"assigneeId": "7"})),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (
                finished.steps,
                finished.tool_calls,
                finished.prompt_tokens,
                finished.completion_tokens,
                finished.cached_tokens
            ),
            (2, 2, 2400, 130, 1024),
            "{name}: totals come from the detail"
        );
        assert!(finished.duration_ms().is_some(), "{name}");
        let again = store
            .finish_attempt(
                first,
                &AttemptFinish {
                    status: AttemptStatus::Failed,
                    error: None,
                    output: None,
                },
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::Invalid(_))),
            "{name}: {again:?}"
        );
        let failed = store
            .finish_attempt(
                second,
                &AttemptFinish {
                    status: AttemptStatus::Failed,
                    error: Some("output did not match the schema".into()),
                    output: None,
                },
            )
            .await
            .unwrap();
        assert_eq!((failed.steps, failed.prompt_tokens), (0, 0), "{name}");

        let detail = store.run_detail(run).await.unwrap().expect("run exists");
        assert_eq!(detail.run.id, run, "{name}");
        assert_eq!(detail.attempts.len(), 2, "{name}");
        assert_eq!(detail.prompt_tokens(), 2400, "{name}");
        assert_eq!(detail.completion_tokens(), 130, "{name}");
        assert_eq!(detail.cached_tokens(), 1024, "{name}");
        let totals = store.run_tokens(&[run, run + 1_000_000]).await.unwrap();
        assert_eq!(
            totals.get(&run),
            Some(&deskhand::store::RunTokens {
                items: 2,
                prompt_tokens: 2400,
                completion_tokens: 130,
                cached_tokens: 1024,
            }),
            "{name}"
        );
        assert_eq!(
            totals.len(),
            1,
            "{name}: a run without attempts has no entry"
        );
        assert_eq!(totals[&run].per_item(), 1265, "{name}");
        let a = &detail.attempts[0];
        assert_eq!(
            (a.attempt.item_key.as_str(), a.attempt.attempt),
            ("101", 1),
            "{name}"
        );
        assert_eq!(a.attempt.workflow, wf, "{name}");
        assert_eq!(a.attempt.output, Some(json!({"assigneeId": "7"})), "{name}");
        assert_eq!(
            a.steps
                .iter()
                .map(|s| (s.step, s.cached_tokens))
                .collect::<Vec<_>>(),
            vec![(1, 0), (2, 1024)],
            "{name}"
        );
        assert_eq!(
            a.steps[0].finish_reason.as_deref(),
            Some("tool_calls"),
            "{name}"
        );
        assert_eq!(a.tool_calls.len(), 2, "{name}");
        let read = &a.tool_calls[0];
        assert_eq!(
            read.arguments,
            json!({"ticketId": "101", "access_token": REDACTED}),
            "{name}"
        );
        let summary = read.result_summary.as_deref().unwrap();
        assert!(
            summary.len() < 3000 && summary.contains("truncated"),
            "{name}: {}",
            summary.len()
        );
        let write = &a.tool_calls[1];
        assert!(write.is_write, "{name}");
        assert_eq!(write.outcome, ToolOutcome::Error, "{name}");
        assert_eq!(write.http_status, Some(429), "{name}");
        assert_eq!(
            write.error_code.as_deref(),
            Some("THRESHOLD_EXCEEDED"),
            "{name}"
        );
        assert_eq!(a.retries.len(), 1, "{name}");
        assert_eq!(
            (a.retries[0].layer, a.retries[0].wait_ms),
            (RetryLayer::Mcp, 3000),
            "{name}"
        );
        let b = &detail.attempts[1];
        assert_eq!(b.attempt.status, AttemptStatus::Failed, "{name}");
        assert!(
            b.steps.is_empty() && b.tool_calls.is_empty() && b.retries.is_empty(),
            "{name}"
        );
        assert_eq!(detail.retries.len(), 1, "{name}: the run-level retry");
        assert_eq!(detail.retries[0].layer, RetryLayer::Llm, "{name}");

        assert_eq!(store.run_detail(i64::MAX).await.unwrap(), None, "{name}");
        let orphan = store.start_attempt(i64::MAX, "1", 1).await;
        assert!(
            matches!(orphan, Err(StoreError::RunNotFound(_))),
            "{name}: {orphan:?}"
        );
    }
}

#[test]
fn redaction_masks_secret_keys_at_any_depth_and_case() {
    let value = json!({
        "ticketId": "101",
        "Authorization": "Zoho-oauthtoken 1000.abc",
        "nested": {
            "refresh_token": "r",
            "clientSecret": "s",
            "PASSWORD": "p",
            "X-Api-Key": "k",
            "apiKey": "k2",
            "list": [{"api_key": "k3", "keep": "v"}],
        },
        "headers": ["Bearer abc", "text/plain"],
        "content": "Your token expired? Reset your password from the portal.",
        "count": 3,
    });
    let redacted = redact(&value);
    assert_eq!(
        redacted,
        json!({
            "ticketId": "101",
            "Authorization": REDACTED,
            "nested": {
                "refresh_token": REDACTED,
                "clientSecret": REDACTED,
                "PASSWORD": REDACTED,
                "X-Api-Key": REDACTED,
                "apiKey": REDACTED,
                "list": [{"api_key": REDACTED, "keep": "v"}],
            },
            "headers": [REDACTED, "text/plain"],
            "content": "Your token expired? Reset your password from the portal.",
            "count": 3,
        })
    );
    // The input is untouched.
    assert_eq!(value["nested"]["refresh_token"], "r");
}

#[test]
fn summaries_are_truncated_on_a_character_boundary() {
    assert_eq!(truncate_summary("short"), "short");
    let long = "é".repeat(5000);
    let cut = truncate_summary(&long);
    assert!(
        cut.starts_with(&"é".repeat(2000)),
        "kept the first 2000 characters"
    );
    assert!(!cut.starts_with(&"é".repeat(2001)));
    assert!(cut.ends_with("[truncated, 10000 bytes in all]"), "{cut}");
}
