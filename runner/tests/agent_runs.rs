//! Whole runs through the engine: the scripted model (real async-openai HTTP) drives tools on
//! the embedded MCP server over the sandbox, and the sandbox's state and the run history are
//! checked afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::agent::{self, comments_containing, note_for, ticket_in_prompt, tool_results};
use deskhand::agent::writes;
use deskhand::engine::{Decider, Engine, Quiet, RunReport, RunRequest};
use deskhand::mcp::EmbeddedServer;
use deskhand::retry::NoopObserver;
use deskhand::store::{
    ApprovalState, AttemptStatus, Decision, IntentState, NewRun, RetryLayer, Store, ToolOutcome,
    Trigger,
};
use deskhand::workflow::Workflow;
use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::{FaultPlan, FaultRule, SandboxConfig};

struct Setup {
    backend: deskhand::embedded::SandboxBackend,
    engine: Engine,
    store: Store,
}

async fn setup(config: SandboxConfig) -> Setup {
    let backend = common::sandbox_with(config).await;
    let db = common::temp_path("runs", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        db.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let engine = Engine::new(store.clone(), "test")
        .with_embedded(EmbeddedServer::new(backend.gateway.clone()));
    Setup {
        backend,
        engine,
        store,
    }
}

fn workflow(llm: &ScriptedLlm, items: u32, writes: &str, extra: &str) -> Workflow {
    let name = common::unique_name("triage");
    agent::load(&agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        items,
        writes,
        extra,
    )))
}

async fn run(setup: &Setup, workflow: &Workflow) -> RunReport {
    let decider = Decider::for_workflow(workflow, |_| None).unwrap();
    assert!(decider.uses_llm());
    setup
        .engine
        .run(workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap()
}

fn ticket_ids(report: &RunReport) -> Vec<String> {
    report.items.iter().map(|i| i.key.clone()).collect()
}

#[tokio::test]
async fn a_full_conversation_per_item_with_parallel_tool_calls_writes_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let wf = workflow(&llm, 2, "apply", "");
    let report = run(&setup, &wf).await;

    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.items.len(), 2);
    assert_eq!(llm.hits(), 6, "three model turns per ticket");
    let state = setup.backend.sandbox.admin().state_json();
    for id in ticket_ids(&report) {
        let ticket = setup.backend.sandbox.admin().ticket(&id).unwrap();
        assert_eq!(ticket["priority"], "High", "ticket {id} updated");
        assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
    }
    // The last turn of each item carried both parallel results back to the model.
    let finals: Vec<_> = llm
        .requests()
        .into_iter()
        .filter(|r| tool_results(&r.body) == 3)
        .collect();
    assert_eq!(finals.len(), 2);

    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    for attempt in &detail.attempts {
        assert_eq!(attempt.steps.len(), 3);
        assert_eq!(attempt.tool_calls.len(), 3);
        let writes: Vec<_> = attempt.tool_calls.iter().filter(|t| t.is_write).collect();
        assert_eq!(writes.len(), 2);
        assert!(
            writes
                .iter()
                .all(|t| t.step == 2 && t.outcome == ToolOutcome::Ok)
        );
        assert_eq!(
            attempt.attempt.output.as_ref().unwrap()["decision"],
            "assign"
        );
    }

    // Nothing changed in what the fingerprint covers: the next run leaves both tickets alone and
    // takes the next two of the queue instead.
    let again = run(&setup, &wf).await;
    let first = ticket_ids(&report);
    assert_eq!(again.items.len(), 2);
    assert!(
        ticket_ids(&again).iter().all(|id| !first.contains(id)),
        "{:?} after {first:?}",
        ticket_ids(&again)
    );
    let state = setup.backend.sandbox.admin().state_json();
    for id in &first {
        assert_eq!(
            comments_containing(&state, id, &note_for(id)),
            1,
            "ticket {id}"
        );
    }
    assert_eq!(llm.hits(), 12);
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_go_back_to_the_model() {
    let llm = ScriptedLlm::builder()
        .responder(|body: &Value| {
            let id = ticket_in_prompt(body);
            match tool_results(body) {
                0 => Step::tool_call(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({"id": id, "priorty": "High"}),
                ),
                1 => Step::tool_call("close_all_tickets", json!({})),
                2 => Step::tool_call(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({"id": id, "priority": "High"}),
                ),
                _ => Step::text(r#"{"decision":"assign"}"#),
            }
        })
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let report = run(&setup, &workflow(&llm, 1, "apply", "")).await;
    assert!(report.is_success(), "{report:#?}");

    let tool_texts: Vec<String> = llm
        .requests()
        .last()
        .unwrap()
        .messages()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(tool_texts[0].contains("priorty"), "{}", tool_texts[0]);
    assert!(tool_texts[1].contains("unknown tool"), "{}", tool_texts[1]);
    assert!(tool_texts[1].contains("update_a_zoho_desk_ticket_by_id"));
    let id = &report.items[0].key;
    assert_eq!(
        setup.backend.sandbox.admin().ticket(id).unwrap()["priority"],
        "High"
    );
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let codes: Vec<_> = detail.attempts[0]
        .tool_calls
        .iter()
        .map(|t| t.error_code.clone())
        .collect();
    assert_eq!(codes[0].as_deref(), Some("INVALID_CALL"));
    assert_eq!(codes[1].as_deref(), Some("INVALID_CALL"));
    assert_eq!(codes[2], None);
}

#[tokio::test]
async fn an_invalid_answer_gets_one_correction_then_the_item_fails_with_the_reason() {
    let corrected = ScriptedLlm::start([
        Step::text("I routed it."),
        Step::text(r#"{"decision":"assign"}"#),
    ])
    .await;
    let setup = setup(SandboxConfig::default()).await;
    let report = run(&setup, &workflow(&corrected, 1, "apply", "")).await;
    assert!(report.is_success(), "{report:#?}");
    let second = corrected.requests()[1].messages();
    assert!(
        second.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("not valid")
    );

    let stubborn = ScriptedLlm::builder()
        .responder(|_: &Value| Step::text(r#"{"decision":"maybe"}"#))
        .start()
        .await;
    let report = run(&setup, &workflow(&stubborn, 1, "apply", "")).await;
    assert!(!report.is_success());
    assert_eq!(stubborn.hits(), 2, "one answer and one correction");
    let item = &report.items[0];
    assert_eq!(item.status, AttemptStatus::Failed);
    assert!(
        item.error.as_deref().unwrap().contains("output schema"),
        "{item:?}"
    );
    let stored = setup
        .store
        .get_item(&report.run.workflow, &item.key)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.last_error.unwrap().contains("decision"));
}

#[tokio::test]
async fn max_steps_stops_a_model_that_never_answers() {
    let llm = ScriptedLlm::builder()
        .responder(|body: &Value| {
            Step::tool_call(
                "zoho_desk_tickets_get_full_context",
                json!({"ticketId": ticket_in_prompt(body)}),
            )
        })
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let report = run(
        &setup,
        &workflow(&llm, 1, "apply", "limits: { max_steps: 3 }\n"),
    )
    .await;
    assert_eq!(llm.hits(), 3);
    assert_eq!(report.items[0].status, AttemptStatus::Failed);
    assert!(
        report.items[0]
            .error
            .as_deref()
            .unwrap()
            .contains("max_steps")
    );
}

#[tokio::test]
async fn an_llm_429_with_retry_after_is_waited_out_and_recorded() {
    let llm = ScriptedLlm::builder()
        .step(Step::rate_limited().with_header("retry-after", "1"))
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let report = run(&setup, &workflow(&llm, 1, "apply", "")).await;
    assert!(report.is_success(), "{report:#?}");
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let retries = &detail.attempts[0].retries;
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0].layer, RetryLayer::Llm);
    assert!(retries[0].wait_ms >= 1000, "{retries:?}");
}

#[tokio::test]
async fn mcp_429s_under_concurrency_are_retried_by_the_runner_and_never_reach_the_model() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig {
        credits_per_window: 10,
        window: Duration::from_secs(1),
        max_concurrency: 2,
        ..SandboxConfig::default()
    })
    .await;
    let report = run(
        &setup,
        &workflow(&llm, 6, "apply", "limits: { concurrency: 4 }\n"),
    )
    .await;
    assert!(report.is_success(), "{report:#?}");
    let stats = setup.backend.sandbox.admin().stats();
    let served_429 = stats.rate_limited_threshold + stats.rate_limited_concurrency;
    assert!(
        served_429 > 0,
        "the limits were tight enough to bite: {stats:?}"
    );
    for request in llm.requests() {
        for m in request.messages().iter().filter(|m| m["role"] == "tool") {
            let text = m["content"].as_str().unwrap_or_default();
            assert!(
                !text.contains("THRESHOLD_EXCEEDED") && !text.contains("TOO_MANY_REQUESTS"),
                "a 429 reached the model: {text}"
            );
        }
    }
    // 429s were waited out and repeated, each repeat in history. The composite context tool makes
    // several upstream calls, so one repeated tool call may stand for more than one served 429.
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let recorded: usize = detail
        .attempts
        .iter()
        .flat_map(|a| &a.retries)
        .chain(&detail.retries)
        .filter(|r| r.layer == RetryLayer::Mcp && r.reason.starts_with("429"))
        .count();
    assert!(
        recorded > 0 && recorded as u64 <= served_429,
        "{recorded} retries for {served_429} 429s"
    );
    let state = setup.backend.sandbox.admin().state_json();
    for id in ticket_ids(&report) {
        assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
    }
}

#[tokio::test]
async fn dry_run_records_writes_and_sends_none() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let before = setup.backend.sandbox.admin().state_json();
    let report = run(&setup, &workflow(&llm, 2, "dry_run", "")).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(setup.backend.sandbox.admin().state_json(), before);
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let outcomes: Vec<_> = detail
        .attempts
        .iter()
        .flat_map(|a| &a.tool_calls)
        .filter(|t| t.is_write)
        .map(|t| t.outcome)
        .collect();
    assert_eq!(outcomes, vec![ToolOutcome::DryRun; 4]);
}

#[tokio::test]
async fn approvals_queue_writes_and_apply_each_exactly_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let before = setup.backend.sandbox.admin().state_json();
    let wf = workflow(&llm, 1, "approve", "");
    let report = run(&setup, &wf).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        setup.backend.sandbox.admin().state_json(),
        before,
        "nothing sent yet"
    );
    let queued = setup
        .store
        .list_approvals(Some(ApprovalState::Pending), Some(&wf.name), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    let comment = queued
        .iter()
        .find(|a| a.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap();
    let update = queued.iter().find(|a| a.tool != comment.tool).unwrap();
    let id = report.items[0].key.clone();

    let run_id = setup
        .store
        .create_run(&NewRun::new(&wf.name, Trigger::Approval, "test"))
        .await
        .unwrap();
    let toolbox = setup
        .engine
        .toolbox(&wf, run_id, Arc::new(NoopObserver))
        .await
        .unwrap();
    setup
        .store
        .decide_approval(comment.id, Decision::Approve, "tester", None)
        .await
        .unwrap();
    let applied = writes::apply_approval(&toolbox, comment.id).await.unwrap();
    assert_eq!(applied.state, ApprovalState::Applied);
    assert!(writes::apply_approval(&toolbox, comment.id).await.is_err());
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);

    let rejected = setup
        .store
        .decide_approval(update.id, Decision::Reject, "tester", Some("not high"))
        .await
        .unwrap();
    writes::reject_intent(&setup.store, &rejected)
        .await
        .unwrap();
    let intent = setup
        .store
        .get_intent_by_id(update.intent_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(intent.state, IntentState::Rejected);
    let ticket_before = before["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    let ticket_after = setup.backend.sandbox.admin().ticket(&id).unwrap();
    assert_eq!(
        ticket_after["priority"], ticket_before["priority"],
        "the rejected update was not sent"
    );
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_reconciled_not_sent_twice() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // Zoho stores the comment, then the connection drops before the answer arrives.
    setup.backend.sandbox.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![
            FaultRule::drop_connection()
                .method("POST")
                .path_prefix("/api/v1/tickets/")
                .next(1),
        ],
    });
    let report = run(&setup, &workflow(&llm, 1, "apply", "")).await;
    assert!(report.is_success(), "{report:#?}");
    let id = &report.items[0].key;
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, id, &note_for(id)), 1);
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let comment = detail.attempts[0]
        .tool_calls
        .iter()
        .find(|t| t.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap();
    assert_eq!(
        comment.error_code.as_deref(),
        Some("RECONCILED"),
        "{comment:?}"
    );
}

/// The system message of a recorded request.
fn system_text(body: &Value) -> String {
    agent::messages(body)[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Triages like [`agent::triage`], but answers the way a strict structured output does: every
/// property present, the optional ones it has nothing for as `null`. Each turn reports a prompt
/// cache hit for the static prefix.
fn strict_triage(body: &Value) -> Step {
    match agent::triage(body) {
        Step::Text { .. } => Step::text(r#"{"decision": "assign", "confidence": null}"#),
        other => other,
    }
    .with_usage(1200, 40)
    .with_cached_tokens(1024)
}

#[tokio::test]
async fn structured_outputs_are_sent_on_every_turn_and_the_strict_answer_is_accepted() {
    let llm = ScriptedLlm::builder()
        .responder(strict_triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let report = run(&setup, &workflow(&llm, 2, "apply", "")).await;
    assert!(report.is_success(), "{report:#?}");

    let requests = llm.requests();
    assert_eq!(requests.len(), 6);
    let strict = json!({
        "type": "json_schema",
        "json_schema": {
            "name": "final_answer",
            "strict": true,
            "schema": {
                "type": "object",
                "required": ["decision", "confidence"],
                "additionalProperties": false,
                "properties": {
                    "decision": {"type": "string", "enum": ["assign", "abstain"]},
                    "confidence": {"type": ["number", "null"]},
                }
            }
        }
    });
    for r in &requests {
        assert_eq!(r.response_format(), Some(&strict));
        assert!(!r.tools().is_empty(), "the tools stay offered beside it");
        assert!(
            !system_text(&r.body).contains("satisfies this JSON Schema"),
            "the provider holds the schema; the prompt does not repeat it"
        );
    }
    // The static part comes first and is the same for every item; the item comes last.
    let first_turns: Vec<_> = requests
        .iter()
        .filter(|r| tool_results(&r.body) == 0)
        .collect();
    assert_eq!(first_turns.len(), 2);
    let (a, b) = (
        agent::messages(&first_turns[0].body),
        agent::messages(&first_turns[1].body),
    );
    assert_eq!(a[0], b[0], "one system message for every item");
    assert_eq!(first_turns[0].tools(), first_turns[1].tools());
    assert_ne!(a[1], b[1]);
    assert_eq!(a.last().unwrap()["role"], "user");

    // The null strict mode put for the optional confidence is not part of the answer.
    for item in &report.items {
        assert_eq!(item.output, Some(json!({"decision": "assign"})), "{item:?}");
        assert_eq!(item.prompt_tokens, 3 * 1200);
        assert_eq!(item.cached_tokens, 3 * 1024);
    }
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        detail
            .attempts
            .iter()
            .flat_map(|a| &a.steps)
            .all(|s| s.cached_tokens == 1024)
    );
    assert_eq!(detail.cached_tokens(), 6 * 1024);
    assert!(detail.attempts.iter().all(|a| a.retries.is_empty()));
}

#[tokio::test]
async fn a_server_that_refuses_response_format_makes_the_run_fall_back_and_finish() {
    let llm = ScriptedLlm::builder()
        .rejecting_response_format()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // One item at a time, so the first item meets the refusal and the second never asks.
    let report = run(
        &setup,
        &workflow(&llm, 2, "apply", "limits: { concurrency: 1 }\n"),
    )
    .await;
    assert!(report.is_success(), "{report:#?}");
    let requests = llm.requests();
    assert_eq!(
        requests.len(),
        1 + 6,
        "one refusal, then three turns per item"
    );
    assert!(requests[0].response_format().is_some());
    for r in &requests[1..] {
        assert_eq!(
            r.response_format(),
            None,
            "remembered for the rest of the run"
        );
        let system = system_text(&r.body);
        assert!(system.contains("satisfies this JSON Schema"), "{system}");
        assert!(
            system.contains(r#""enum":["assign","abstain"]"#),
            "{system}"
        );
    }
    // The refused request is repeated as it was, with the schema in the prompt instead.
    assert_eq!(
        agent::messages(&requests[0].body)[1],
        agent::messages(&requests[1].body)[1]
    );
    for id in ticket_ids(&report) {
        let state = setup.backend.sandbox.admin().state_json();
        assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
    }

    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let retries: Vec<_> = detail
        .attempts
        .iter()
        .flat_map(|a| &a.retries)
        .chain(&detail.retries)
        .collect();
    assert_eq!(retries.len(), 1, "recorded once: {retries:?}");
    assert_eq!(retries[0].layer, RetryLayer::Llm);
    assert!(retries[0].reason.contains("response_format"), "{retries:?}");
    assert_eq!(
        retries[0].item_key.as_deref(),
        Some(report.items[0].key.as_str())
    );
}

#[tokio::test]
async fn structured_output_false_sends_no_response_format() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let name = common::unique_name("triage");
    let yaml = agent::workflow_yaml(&name, &llm.base_url(), 1, "apply", "").replace(
        "name: scripted }",
        "name: scripted, structured_output: false }",
    );
    assert!(yaml.contains("structured_output: false"));
    let wf = agent::load(&agent::write_workflow(&yaml));
    let report = run(&setup, &wf).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(llm.hits(), 3);
    for r in llm.requests() {
        assert_eq!(r.response_format(), None);
        assert!(system_text(&r.body).contains("satisfies this JSON Schema"));
    }
}
