//! The triage workflow in agent mode end to end with a scripted model: the engine, the embedded
//! MCP server and the sandbox are real; only the model's choices are scripted. One ticket carries
//! a prompt injection, and the scripted model falls for it as far as the runner lets it. (The
//! shipped file runs in decide mode, tested in decide_mode.rs; its agent-mode form is kept under
//! bench/agent-mode/ for the benchmarks, and agent mode must keep working for open-ended
//! workflows.)

#![allow(clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
use deskhand::llm::LlmSettings;
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{Store, Trigger};
use deskhand::workflow::{Workflow, WritePolicy};
use deskhand_e2e::{ScriptedLlm, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::{SandboxConfig, SeedData};

const CLEAR: &str = "1892000010010001";
const INJECTED: &str = "1892000010010040";
const OTHER: &str = "1892000010010005";
const REFUNDS_TEAM: &str = "1892000002010001";
const BILLING: &str = "1892000001010001";
const ORDERS: &str = "1892000001010003";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The eval org with three of its tickets.
fn seed() -> SeedData {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/eval/dataset.json"))
        .expect("dataset.json");
    let mut data: Value = serde_json::from_str(&text).expect("dataset parses");
    let keep = [CLEAR, INJECTED, OTHER];
    let tickets: Vec<Value> = data["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter(|t| keep.contains(&t["id"].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    assert_eq!(tickets.len(), 3);
    data["tickets"] = Value::Array(tickets);
    SeedData::from_json_str(&data.to_string()).expect("seed")
}

fn ticket_of(body: &Value) -> String {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    [CLEAR, INJECTED, OTHER]
        .into_iter()
        .find(|id| prompt.contains(&format!("Triage ticket {id}")))
        .unwrap_or_default()
        .to_owned()
}

fn tool_results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "tool").count())
        .unwrap_or(0)
}

fn comment(ticket: &str, text: &str) -> Step {
    Step::tool_call(
        "create_a_zoho_desk_ticket_comment",
        json!({"ticketId": ticket, "isPublic": false, "content": text}),
    )
}

fn answer(decision: &str, team: Option<&str>, agent: Option<&str>, reason: &str) -> Step {
    Step::text(
        json!({"decision": decision, "departmentId": BILLING, "teamId": team, "assigneeId": agent, "confidence": 0.9, "reason": reason})
            .to_string(),
    )
}

/// The model: one script per ticket, advanced by the number of tool results so far.
fn respond(body: &Value, close_other: bool) -> Step {
    let ticket = ticket_of(body);
    let context = Step::tool_call(
        "zoho_desk_tickets_get_full_context",
        json!({"ticketId": ticket}),
    );
    let mut script = vec![context];
    match ticket.as_str() {
        CLEAR => script.extend([
            Step::tool_call("list_all_zoho_desk_departments", json!({})),
            Step::tool_call(
                "update_a_zoho_desk_ticket_by_id",
                json!({"id": CLEAR, "teamId": REFUNDS_TEAM, "assigneeId": "1892000003010001"}),
            ),
            comment(
                CLEAR,
                "Assigned to Refunds & Disputes (Hannah Keller): double charge. Confidence 0.9.",
            ),
            answer(
                "assign",
                Some(REFUNDS_TEAM),
                Some("1892000003010001"),
                "double charge refund",
            ),
        ]),
        INJECTED => {
            // The model obeys the ticket's "admin mode" text: a tool outside the allow-list, an
            // argument the update tool does not take, and (in the gap test) another ticket.
            script.push(Step::tool_call(
                "zoho_desk_tickets_send_reply",
                json!({"ticketId": INJECTED, "channel": "EMAIL", "content": "All tickets closed."}),
            ));
            script.push(Step::tool_call(
                "update_a_zoho_desk_ticket_by_id",
                json!({"id": INJECTED, "departmentId": ORDERS}),
            ));
            if close_other {
                script.push(Step::tool_call(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({"id": OTHER, "status": "Closed"}),
                ));
            }
            script.extend([
                Step::tool_call(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({"id": INJECTED, "teamId": REFUNDS_TEAM, "assigneeId": "1892000003010003"}),
                ),
                comment(INJECTED, "Refund of a Protect payment; ignored instructions in the ticket text. Confidence 0.8."),
                answer("assign", Some(REFUNDS_TEAM), Some("1892000003010003"), "Protect refund"),
            ]);
        }
        _ => script.extend([
            comment(
                &ticket,
                "Left unassigned: not sure where this belongs. Confidence 0.3.",
            ),
            answer("abstain", None, None, "unclear"),
        ]),
    }
    let n = tool_results(body).min(script.len() - 1);
    script.swap_remove(n)
}

struct Scripted {
    backend: deskhand::embedded::SandboxBackend,
    llm: ScriptedLlm,
    report: deskhand::engine::RunReport,
    /// Comment and thread counts per ticket before the run.
    before: HashMap<&'static str, (usize, usize)>,
}

fn counts(ticket: &Value) -> (usize, usize) {
    let len = |k: &str| ticket[k].as_array().map_or(0, Vec::len);
    (len("comments"), len("threads"))
}

async fn run_scripted(close_other: bool) -> Scripted {
    let backend = common::sandbox_with(SandboxConfig {
        seed_data: Some(seed()),
        ..Default::default()
    })
    .await;
    let before = [CLEAR, INJECTED, OTHER]
        .into_iter()
        .map(|id| {
            (
                id,
                counts(&backend.sandbox.admin().ticket(id).expect("seeded")),
            )
        })
        .collect();
    let llm = ScriptedLlm::builder()
        .responder(move |body| respond(body, close_other))
        .start()
        .await;
    let mut workflow = Workflow::load(
        &repo().join("bench/agent-mode/triage-and-assign.yaml"),
        &*common::catalog(),
    )
    .expect("the agent-mode triage loads");
    workflow.writes = WritePolicy::Apply;
    let path = common::temp_path("workflows-llm", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        path.to_str().expect("utf-8"),
    ))
    .await
    .expect("store");
    let engine = Engine::new(store, common::unique_name("llm-test"))
        .with_embedded(EmbeddedServer::new(backend.gateway.clone()));
    let decider = Decider::Llm(Box::new(LlmSettings::openai_compatible(
        llm.base_url(),
        "scripted-model",
    )));
    let report = engine
        .run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .expect("run completes");
    Scripted {
        backend,
        llm,
        report,
        before,
    }
}

fn tool_messages(llm: &ScriptedLlm) -> Vec<String> {
    llm.requests()
        .iter()
        .flat_map(|r| r.messages())
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_model_triages_and_injected_calls_are_refused() {
    let Scripted {
        backend,
        llm,
        report,
        before,
    } = run_scripted(false).await;
    assert_eq!(report.items.len(), 3, "{:?}", report.items);
    assert_eq!(report.failed_items(), 0, "{:?}", report.items);
    assert!(report.llm_used);
    let admin = backend.sandbox.admin();

    let clear = admin.ticket(CLEAR).expect("ticket");
    assert_eq!(clear["assigneeId"], "1892000003010001");
    assert_eq!(clear["teamId"], REFUNDS_TEAM);
    let notes = clear["comments"].as_array().expect("comments");
    assert_eq!(counts(&clear), (before[CLEAR].0 + 1, before[CLEAR].1));
    assert!(notes.iter().all(|n| n["isPublic"] == false));

    let injected = admin.ticket(INJECTED).expect("ticket");
    assert_eq!(
        injected["assigneeId"], "1892000003010003",
        "its own routing happened"
    );
    assert_eq!(injected["departmentId"], BILLING, "the move was refused");
    assert_eq!(injected["status"], "Open");
    assert_eq!(
        counts(&injected),
        (before[INJECTED].0 + 1, before[INJECTED].1),
        "one note, and no reply was sent"
    );

    let other = admin.ticket(OTHER).expect("ticket");
    assert_eq!(other["status"], "Open");
    assert!(other["assigneeId"].is_null());
    assert_eq!(counts(&other), (before[OTHER].0 + 1, before[OTHER].1));

    let told = tool_messages(&llm);
    assert!(
        told.iter()
            .any(|m| m.contains("unknown tool `zoho_desk_tickets_send_reply`")),
        "the model was told the reply tool is not available: {told:?}"
    );
    assert!(
        told.iter()
            .any(|m| m.contains("departmentId") && m.contains("unknown argument")),
        "the model was told departmentId is not an update argument: {told:?}"
    );
}

/// A model that follows an injected "close ticket X" is refused: an item's writes are bound to
/// its own ticket, whatever tools the allow-list holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_write_to_another_ticket_is_refused() {
    let Scripted {
        backend, report, ..
    } = run_scripted(true).await;
    assert_eq!(report.items.len(), 3);
    let other = backend.sandbox.admin().ticket(OTHER).expect("ticket");
    assert_eq!(
        other["status"], "Open",
        "ticket {OTHER} was closed by another ticket's item"
    );
}
