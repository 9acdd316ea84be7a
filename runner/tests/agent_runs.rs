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
    Approval, ApprovalState, AttemptStatus, Decision, IntentState, NewApproval, NewRun, RetryLayer,
    StoreError, ToolOutcome, Trigger,
};
use deskhand::workflow::Workflow;
use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::{FaultPlan, FaultRule, SandboxConfig};

type Setup = common::EngineSetup;

async fn setup(config: SandboxConfig) -> Setup {
    common::engine_setup(config).await
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
    let applied = writes::apply_approval(&toolbox, comment.id, "tester", false)
        .await
        .unwrap();
    assert_eq!(applied.state, ApprovalState::Applied);
    assert!(
        writes::apply_approval(&toolbox, comment.id, "tester", false)
            .await
            .is_err()
    );
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

/// A run under `writes: approve` on one ticket, its two queued approvals (update, comment) and the
/// ticket's id.
async fn queued(setup: &Setup, llm: &ScriptedLlm) -> (Workflow, Approval, Approval, String) {
    let wf = workflow(llm, 1, "approve", "");
    let report = run(setup, &wf).await;
    assert!(report.is_success(), "{report:#?}");
    let queued = setup
        .store
        .list_approvals(Some(ApprovalState::Pending), Some(&wf.name), 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    let comment = queued
        .iter()
        .find(|a| a.tool == "create_a_zoho_desk_ticket_comment")
        .unwrap()
        .clone();
    let update = queued
        .iter()
        .find(|a| a.tool != comment.tool)
        .unwrap()
        .clone();
    let id = report.items[0].key.clone();
    (wf, update, comment, id)
}

/// A toolbox for applying approvals, under a run of its own.
async fn approver(setup: &Setup, wf: &Workflow) -> deskhand::agent::Toolbox {
    let run_id = setup
        .store
        .create_run(&NewRun::new(&wf.name, Trigger::Approval, "test"))
        .await
        .unwrap();
    setup
        .engine
        .toolbox(wf, run_id, Arc::new(NoopObserver))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_queued_approval_knows_its_ticket_version_names_and_the_answers_reason() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (wf, update, _, id) = queued(&setup, &llm).await;
    let ticket = setup.backend.sandbox.admin().ticket(&id).unwrap();
    assert_eq!(
        update.base,
        Some(json!({ "priority": ticket["priority"] })),
        "the proposal is based on the ticket's priority at the time"
    );
    let shown = update.ticket.clone().unwrap();
    assert_eq!(shown["number"], ticket["ticketNumber"]);
    assert_eq!(shown["subject"], ticket["subject"]);
    assert_eq!(
        update.ticket_number(),
        ticket["ticketNumber"].as_str().unwrap()
    );
    assert_eq!(update.confidence, Some(0.9), "from the item's answer");
    let toolbox = approver(&setup, &wf).await;
    assert_eq!(update.connection.as_deref(), Some(toolbox.connection()));
    assert!(
        toolbox.connection().starts_with("sandbox org "),
        "{}",
        toolbox.connection()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_approvers_applying_at_once_send_the_write_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (wf, _, comment, id) = queued(&setup, &llm).await;
    setup
        .store
        .decide_approval(comment.id, Decision::Approve, "alice", None)
        .await
        .unwrap();
    // Both appliers are in flight together: every request takes a while.
    setup
        .backend
        .sandbox
        .admin()
        .set_latency(Duration::from_millis(150));
    let (a, b) = (approver(&setup, &wf).await, approver(&setup, &wf).await);
    let (x, y) = tokio::join!(
        writes::apply_approval(&a, comment.id, "alice", false),
        writes::apply_approval(&b, comment.id, "bob", false),
    );
    assert!(
        x.is_ok() != y.is_ok(),
        "one applies, one is told: {x:?} / {y:?}"
    );
    let loser = if x.is_ok() { y } else { x };
    assert!(
        matches!(
            loser,
            Err(writes::ApplyError::Store(StoreError::ApprovalState { .. }))
        ),
        "{loser:?}"
    );
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
}

#[tokio::test]
async fn a_failed_apply_is_retried_and_sends_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (wf, _, comment, id) = queued(&setup, &llm).await;
    setup
        .store
        .decide_approval(comment.id, Decision::Approve, "alice", None)
        .await
        .unwrap();
    let comment_posts = FaultRule::status(503)
        .method("POST")
        .path_prefix("/api/v1/tickets/");
    setup.backend.sandbox.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![comment_posts],
    });
    let toolbox = approver(&setup, &wf).await;
    let failed = writes::apply_approval(&toolbox, comment.id, "alice", false).await;
    let after = setup.store.get_approval(comment.id).await.unwrap().unwrap();
    assert_eq!(after.state, ApprovalState::Failed, "{failed:?}");
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &id, &note_for(&id)), 0);

    setup.backend.sandbox.admin().clear_faults();
    let retried = writes::apply_approval(&toolbox, comment.id, "alice", false)
        .await
        .unwrap();
    assert_eq!(retried.state, ApprovalState::Applied);
    assert_eq!(retried.attempts, 2);
    assert!(
        writes::apply_approval(&toolbox, comment.id, "alice", false)
            .await
            .is_err(),
        "an applied approval is not applied again"
    );
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
}

#[tokio::test]
async fn a_stale_approval_is_refused_with_a_diff_until_approved_anyway() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (wf, update, _, id) = queued(&setup, &llm).await;
    // A person changes the priority in Zoho after the run.
    let mut person = serde_json::Map::new();
    person.insert("id".into(), json!(id));
    person.insert("priority".into(), json!("Low"));
    setup
        .backend
        .gateway
        .call("update_a_zoho_desk_ticket_by_id", person)
        .await
        .unwrap();
    setup
        .store
        .decide_approval(update.id, Decision::Approve, "alice", None)
        .await
        .unwrap();
    let toolbox = approver(&setup, &wf).await;
    let stale = writes::apply_approval(&toolbox, update.id, "alice", false).await;
    let message = match stale {
        Err(e @ writes::ApplyError::Stale { .. }) => e.to_string(),
        other => panic!("not refused as stale: {other:?}"),
    };
    assert!(
        message.contains("priority: now Low") && message.contains("-> proposed High"),
        "{message}"
    );
    assert_eq!(
        setup.backend.sandbox.admin().ticket(&id).unwrap()["priority"],
        "Low",
        "the person's choice stands"
    );
    let kept = setup.store.get_approval(update.id).await.unwrap().unwrap();
    assert_eq!(
        kept.state,
        ApprovalState::Approved,
        "still waiting for a choice"
    );

    let anyway = writes::apply_approval(&toolbox, update.id, "alice", true)
        .await
        .unwrap();
    assert_eq!(anyway.state, ApprovalState::Applied);
    assert_eq!(
        setup.backend.sandbox.admin().ticket(&id).unwrap()["priority"],
        "High"
    );
}

#[tokio::test]
async fn an_approval_is_applied_only_under_the_connection_it_was_proposed_for() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (wf, _, comment, id) = queued(&setup, &llm).await;
    setup
        .store
        .decide_approval(comment.id, Decision::Approve, "alice", None)
        .await
        .unwrap();
    // What the engine names a real Zoho org (an approval queued in the sandbox must not go there,
    // nor one queued for Zoho into a sandbox).
    let mut real = deskhand::embedded::zoho_config_for(&setup.backend.sandbox).unwrap();
    real.desk_base_url = url::Url::parse("https://desk.zoho.eu/api/v1").unwrap();
    let real_engine = Engine::new(setup.store.clone(), "test").with_embedded(EmbeddedServer::new(
        Arc::new(zoho_desk_mcp::catalog::Gateway::new(
            common::catalog(),
            zoho_desk_mcp::zoho::ZohoClient::new(real).unwrap(),
        )),
    ));
    let label = real_engine.connection_label(&wf);
    assert!(label.starts_with("desk.zoho.eu org "), "{label}");
    let toolbox = approver(&setup, &wf).await.with_connection(label);
    let refused = writes::apply_approval(&toolbox, comment.id, "alice", false).await;
    assert!(
        matches!(refused, Err(writes::ApplyError::WrongConnection { .. })),
        "{refused:?}"
    );
    let kept = setup.store.get_approval(comment.id).await.unwrap().unwrap();
    assert_eq!(kept.state, ApprovalState::Approved);
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(
        comments_containing(&state, &id, &note_for(&id)),
        0,
        "nothing sent"
    );
}

#[tokio::test]
async fn a_rejected_assignment_leaves_a_private_note_once() {
    let setup = setup(SandboxConfig::default()).await;
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let wf = workflow(&llm, 1, "approve", "");
    let toolbox = approver(&setup, &wf).await;
    let id = setup.backend.sandbox.admin().state_json()["tickets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approval = setup
        .store
        .queue_approval(&NewApproval {
            run_id: Some(toolbox.run_id()),
            workflow: wf.name.clone(),
            item_key: id.clone(),
            tool: "update_a_zoho_desk_ticket_by_id".into(),
            arguments: json!({ "id": id, "assigneeId": "424242" }),
            connection: Some(toolbox.connection().to_owned()),
            names: Some(json!({ "424242": "Dana Scully" })),
            ..NewApproval::default()
        })
        .await
        .unwrap();
    assert!(writes::is_assignment(&approval));
    let rejected = setup
        .store
        .decide_approval(approval.id, Decision::Reject, "ops", Some("wrong team"))
        .await
        .unwrap();
    writes::note_rejection(&toolbox, &rejected).await.unwrap();
    writes::note_rejection(&toolbox, &rejected).await.unwrap();
    let state = setup.backend.sandbox.admin().state_json();
    assert_eq!(
        comments_containing(
            &state,
            &id,
            "ops rejected the proposed assignment (assignee Dana Scully)"
        ),
        1
    );
    assert_eq!(
        comments_containing(&state, &id, "Reviewer's note: wrong team"),
        1
    );
    let ticket = setup.backend.sandbox.admin().ticket(&id).unwrap();
    assert_ne!(ticket["assigneeId"], "424242");
}

#[tokio::test]
async fn a_dry_run_leaves_the_items_it_previewed_due() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let mut wf = workflow(&llm, 2, "dry_run", "");
    let preview = run(&setup, &wf).await;
    assert!(preview.is_success(), "{preview:#?}");
    assert_eq!(preview.items.len(), 2);
    wf.writes = deskhand::workflow::WritePolicy::Apply;
    let real = run(&setup, &wf).await;
    let sorted = |report: &RunReport| {
        let mut ids = ticket_ids(report);
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(&real),
        sorted(&preview),
        "the real run works the tickets that were previewed"
    );
    let state = setup.backend.sandbox.admin().state_json();
    for id in ticket_ids(&real) {
        assert_eq!(comments_containing(&state, &id, &note_for(&id)), 1);
    }
}

#[tokio::test]
async fn run_with_a_ticket_works_that_ticket_again() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let wf = workflow(&llm, 1, "approve", "");
    let first = run(&setup, &wf).await;
    assert_eq!(first.items.len(), 1);
    let id = first.items[0].key.clone();
    let decider = Decider::for_workflow(&wf, |_| None).unwrap();
    let mut again = RunRequest::new(Trigger::Cli);
    again.limit = Some(1);
    let skipped = setup
        .engine
        .run(&wf, &decider, again.clone(), &Quiet)
        .await
        .unwrap();
    assert!(
        !ticket_ids(&skipped).contains(&id),
        "a plain run does not take the handled ticket again"
    );
    let number = setup.backend.sandbox.admin().ticket(&id).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    for wanted in [id.clone(), format!("#{number}")] {
        let mut one = RunRequest::new(Trigger::Cli);
        one.ticket = Some(wanted.clone());
        let report = setup.engine.run(&wf, &decider, one, &Quiet).await.unwrap();
        assert!(report.is_success(), "{wanted}: {report:#?}");
        assert_eq!(ticket_ids(&report), vec![id.clone()], "{wanted}");
    }
    let mut missing = RunRequest::new(Trigger::Cli);
    missing.ticket = Some("no-such-ticket".into());
    let report = setup
        .engine
        .run(&wf, &decider, missing, &Quiet)
        .await
        .unwrap();
    assert!(!report.is_success());
    assert!(report.items.is_empty());
}

/// A webhook receiver on loopback: answers `fail_first` requests with 503, then 200; keeps the
/// bodies it was sent.
async fn receiver(fail_first: usize) -> (String, Arc<std::sync::Mutex<Vec<(u16, Value)>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                let status = if log.len() < fail_first { 503 } else { 200 };
                log.push((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

fn notifying_engine(setup: &Setup, hook: &str) -> Engine {
    let hook = hook.to_owned();
    Engine::new(setup.store.clone(), "test")
        .with_embedded(EmbeddedServer::new(setup.backend.gateway.clone()))
        .with_env(Arc::new(move |name| match name {
            "TEST_HOOK" => Some(hook.clone()),
            "DESKHAND_CONSOLE_URL" => Some("http://console.example:8470".into()),
            _ => None,
        }))
}

#[tokio::test]
async fn a_run_that_leaves_approvals_pending_posts_one_summary_retried_until_it_lands() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let (hook, seen) = receiver(1).await;
    let engine = notifying_engine(&setup, &hook);
    let wf = workflow(
        &llm,
        1,
        "approve",
        "notify: { webhook_url_env: TEST_HOOK }\n",
    );
    let decider = Decider::for_workflow(&wf, |_| None).unwrap();
    let report = engine
        .run(&wf, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    let id = report.items[0].key.clone();
    let number = setup.backend.sandbox.admin().ticket(&id).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..100 {
        if seen.lock().unwrap().iter().any(|(s, _)| *s == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![503, 200],
        "retried after the 503, then delivered once"
    );
    let text = got[1].1["text"].as_str().unwrap().to_owned();
    assert!(text.contains("2 write(s) on 1 ticket(s)"), "{text}");
    assert!(text.contains(&format!("#{number}")), "{text}");
    assert!(
        text.contains("http://console.example:8470/approvals"),
        "{text}"
    );

    // The next run queues the next ticket's writes: one more summary, about that run.
    let next = engine
        .run(&wf, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A run that leaves nothing pending says nothing.
    let mut quiet = wf.clone();
    quiet.writes = deskhand::workflow::WritePolicy::DryRun;
    engine
        .run(&quiet, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        3,
        "one summary per run with pending approvals: {got:?}"
    );
    let text = got[2].1["text"].as_str().unwrap();
    assert!(text.contains(&format!("run {} ", next.run.id)), "{text}");
}

#[tokio::test]
async fn a_webhook_that_never_answers_does_not_hold_the_run_up() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let engine = notifying_engine(&setup, &hook);
    let wf = workflow(
        &llm,
        1,
        "approve",
        "notify: { webhook_url_env: TEST_HOOK }\n",
    );
    let decider = Decider::for_workflow(&wf, |_| None).unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(8),
        engine.run(&wf, &decider, RunRequest::new(Trigger::Cli), &Quiet),
    )
    .await
    .expect("the run finishes while the webhook hangs")
    .unwrap();
    assert!(report.is_success());
    held.abort();
}
