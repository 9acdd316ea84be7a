//! kb-grounded-reply in decide mode, end to end on the labelled eval org: the runner prefetches
//! the ticket, the suggested articles and their text, the scripted model (real async-openai HTTP)
//! answers one decision, and the workflow's actions write the draft, reply or note. What is
//! checked is what lands in the sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use deskhand::engine::{Decider, Quiet, RunReport, RunRequest};
use deskhand::store::Trigger;
use deskhand::workflow::{Mode, Workflow, WritePolicy};
use deskhand_e2e::agents::{articles_in_prompt, kb_reply_decision};
use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::{SandboxConfig, SeedData};

/// Two e-mail tickets of Billing (one with two threads), one e-mail ticket of Support, a chat
/// and a web ticket.
const TICKETS: [&str; 5] = [
    "1892000010010001",
    "1892000010010002",
    "1892000010010003",
    "1892000010010014",
    "1892000010010019",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn setup() -> common::EngineSetup {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/eval/dataset.json")).unwrap();
    let mut data: Value = serde_json::from_str(&text).unwrap();
    let kept: Vec<Value> = data["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| TICKETS.contains(&t["id"].as_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(kept.len(), TICKETS.len());
    data["tickets"] = Value::Array(kept);
    common::engine_setup(SandboxConfig {
        seed_data: Some(SeedData::from_json_str(&data.to_string()).unwrap()),
        ..Default::default()
    })
    .await
}

fn workflow(reply_mode: &str) -> Workflow {
    let path = repo().join("workflows/kb-grounded-reply.yaml");
    let mut workflow = Workflow::load(&path, &*common::catalog()).expect("the shipped workflow");
    assert_eq!(workflow.mode, Mode::Decide, "the shipped KB reply decides");
    workflow.name = common::unique_name("kb");
    workflow.writes = WritePolicy::Apply;
    workflow.limits.concurrency = 1;
    workflow
        .apply_overrides(&[("reply_mode", reply_mode)])
        .unwrap();
    workflow
}

async fn run(setup: &common::EngineSetup, workflow: &Workflow, llm: &ScriptedLlm) -> RunReport {
    let url = llm.base_url();
    let decider = Decider::for_workflow(workflow, |key| match key {
        "OPENAI_BASE_URL" => Some(url.clone()),
        "OPENAI_API_KEY" => Some("test-key".into()),
        "DESKHAND_LLM_MODEL" => Some("scripted".into()),
        _ => None,
    })
    .unwrap();
    let report = setup
        .engine
        .run(workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.items.len(), TICKETS.len());
    report
}

fn ticket(setup: &common::EngineSetup, id: &str) -> Value {
    setup.backend.sandbox.admin().ticket(id).unwrap()
}

/// The ticket's threads and comments as the sandbox holds them.
fn written(setup: &common::EngineSetup, id: &str) -> (Vec<Value>, Vec<Value>) {
    let state = setup.backend.sandbox.admin().state_json();
    let t = state["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    let list = |k: &str| t[k].as_array().cloned().unwrap_or_default();
    (list("threads"), list("comments"))
}

/// The seed's reply address of `department`.
fn reply_address(setup: &common::EngineSetup, department: &str) -> String {
    setup.backend.sandbox.admin().state_json()["supportEmailAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["departmentId"] == department)
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn requests_to(setup: &common::EngineSetup, suffix: &str) -> u64 {
    let stats = setup.backend.sandbox.admin().stats();
    stats
        .by_path
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") && route.ends_with(suffix))
        .map(|(_, n)| *n)
        .sum()
}

fn corrected(body: &Value) -> bool {
    body["messages"].as_array().unwrap().iter().any(|m| {
        m["role"] == "user"
            && m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Your decision is not valid"))
    })
}

/// Draft mode: even a model that says it replied gets only drafts and private comments; an
/// e-mail ticket's draft comes from its department's reply address, read once per department.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_mode_drafts_from_the_departments_address_and_never_sends() {
    let llm = ScriptedLlm::builder()
        .responder(|body| match kb_reply_decision(body) {
            Step::Text { text, .. } => {
                let mut decision: Value = serde_json::from_str(&text).unwrap();
                if decision["action"] == "drafted" {
                    decision["action"] = json!("replied");
                }
                Step::text(decision.to_string())
            }
            other => other,
        })
        .start()
        .await;
    let setup = setup().await;
    let before: std::collections::HashMap<&str, Value> =
        TICKETS.iter().map(|id| (*id, ticket(&setup, id))).collect();
    let report = run(&setup, &workflow("draft_comment"), &llm).await;
    assert_eq!(llm.hits(), TICKETS.len(), "one decision per ticket");
    let bpe = tiktoken_rs::o200k_base().unwrap();
    for request in llm.requests() {
        assert!(request.tools().is_empty(), "the model holds no tool");
        let text: String = request.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        let tokens = bpe.encode_with_special_tokens(&text).len();
        assert!(tokens <= 6000, "a prompt of {tokens} tokens");
        assert!(
            !articles_in_prompt(&request.body).is_empty(),
            "the articles' text is in the prompt"
        );
    }
    for item in &report.items {
        let id = item.key.as_str();
        let before = &before[id];
        let t = ticket(&setup, id);
        assert_eq!(
            t["threadCount"], before["threadCount"],
            "{id}: nothing sent"
        );
        let (threads, comments) = written(&setup, id);
        let cited = item.output.as_ref().unwrap()["articleIds"][0]
            .as_str()
            .unwrap()
            .to_owned();
        if t["channel"] == "Email" {
            let drafts: Vec<&Value> = threads.iter().filter(|t| t["status"] == "DRAFT").collect();
            assert_eq!(drafts.len(), 1, "{id}: {threads:?}");
            assert_eq!(drafts[0]["channel"], "EMAIL");
            assert_eq!(
                drafts[0]["fromEmailAddress"].as_str().unwrap(),
                reply_address(&setup, t["departmentId"].as_str().unwrap()),
                "{id}"
            );
            assert!(
                drafts[0]["content"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("article {cited}"))
            );
            assert!(comments.is_empty(), "{id}: {comments:?}");
        } else {
            assert!(
                threads.iter().all(|t| t["status"] != "DRAFT"),
                "{id}: no draft on a chat or web ticket"
            );
            assert_eq!(comments.len(), 1, "{id}: {comments:?}");
            assert_eq!(comments[0]["isPublic"], false);
            let content = comments[0]["content"].as_str().unwrap();
            assert!(
                content.starts_with("Draft reply for an agent to review"),
                "{content}"
            );
            assert!(content.contains(&cited), "{content}");
        }
    }
    // Billing and Support: one read of the reply addresses each, whatever the number of tickets.
    assert_eq!(requests_to(&setup, "/mailReplyAddress"), 2);
    assert!(
        requests_to(&setup, "/articles/{id}") <= 3 * TICKETS.len() as u64,
        "the first three suggestions at most"
    );
    // One thread list: only the ticket with two threads needs it.
    assert_eq!(requests_to(&setup, "/threads"), 1);
}

/// public_reply: e-mail tickets are answered from the department's address; chat and web
/// tickets, which Zoho takes no reply on, get the answer as a private comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_mode_sends_on_reply_channels_and_comments_elsewhere() {
    let llm = ScriptedLlm::builder()
        .responder(kb_reply_decision)
        .start()
        .await;
    let setup = setup().await;
    let before: std::collections::HashMap<&str, Value> =
        TICKETS.iter().map(|id| (*id, ticket(&setup, id))).collect();
    let report = run(&setup, &workflow("public_reply"), &llm).await;
    for item in &report.items {
        let id = item.key.as_str();
        let before = &before[id];
        let t = ticket(&setup, id);
        let (threads, comments) = written(&setup, id);
        assert!(threads.iter().all(|t| t["status"] != "DRAFT"), "{id}");
        let old = before["threads"].as_array().map_or(0, Vec::len);
        if t["channel"] == "Email" {
            let sent = &threads[old..];
            assert_eq!(sent.len(), 1, "{id}: {threads:?}");
            assert_eq!(sent[0]["channel"], "EMAIL");
            assert_eq!(
                sent[0]["fromEmailAddress"].as_str().unwrap(),
                reply_address(&setup, t["departmentId"].as_str().unwrap())
            );
            assert!(comments.is_empty(), "{id}");
        } else {
            assert_eq!(threads.len(), old, "{id}: nothing sent on chat or web");
            assert_eq!(comments.len(), 1, "{id}");
            assert_eq!(comments[0]["isPublic"], false);
        }
    }
}

/// An article id the runner did not read for the ticket gets one correction; cited again, the
/// runner decides no_article itself and leaves a note, and nothing is drafted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_not_given_is_corrected_once_then_the_runner_notes_no_article() {
    const MADE_UP: &str = "1892000005099999";
    let stubborn = TICKETS[1];
    let llm = ScriptedLlm::builder()
        .responder(move |body| {
            let user = body["messages"][1]["content"].as_str().unwrap_or_default();
            if !corrected(body) || user.contains(stubborn) {
                return Step::text(
                    json!({"action": "drafted", "articleIds": [MADE_UP],
                           "reply": "Refunded (article 1892000005099999).", "confidence": 0.9,
                           "reason": "the customer asked"})
                    .to_string(),
                );
            }
            kb_reply_decision(body)
        })
        .start()
        .await;
    let setup = setup().await;
    let report = run(&setup, &workflow("draft_comment"), &llm).await;
    assert_eq!(
        llm.hits(),
        2 * TICKETS.len(),
        "a decision and its correction each"
    );
    let correction = llm.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .clone();
    assert!(
        correction
            .as_str()
            .unwrap()
            .contains(&format!("\"{MADE_UP}\" not among the ids you were given")),
        "{correction}"
    );
    for item in &report.items {
        let output = item.output.as_ref().unwrap();
        let (threads, comments) = written(&setup, &item.key);
        let drafts = threads.iter().filter(|t| t["status"] == "DRAFT").count();
        if item.key == stubborn {
            assert_eq!(output["action"], "no_article", "{output}");
            assert!(output["reason"].as_str().unwrap().contains(MADE_UP));
            assert_eq!(drafts, 0);
            assert_eq!(comments.len(), 1, "{comments:?}");
            let note = comments[0]["content"].as_str().unwrap();
            assert!(
                note.starts_with("[deskhand] No knowledge-base article answers this ticket"),
                "{note}"
            );
        } else {
            assert_ne!(output["action"], "no_article", "{}: {output}", item.key);
            assert_ne!(output["articleIds"][0], MADE_UP);
            assert_eq!(drafts + comments.len(), 1, "{}", item.key);
        }
    }
}

/// An answer must carry its text and cite an article: a decision without `reply` is corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_reply_text_is_corrected() {
    let llm = ScriptedLlm::builder()
        .responder(|body| {
            if corrected(body) {
                return kb_reply_decision(body);
            }
            let id = articles_in_prompt(body)[0]["id"].clone();
            Step::text(
                json!({"action": "drafted", "articleIds": [id], "reply": null,
                       "confidence": 0.9, "reason": "r"})
                .to_string(),
            )
        })
        .start()
        .await;
    let setup = setup().await;
    let report = run(&setup, &workflow("draft_comment"), &llm).await;
    assert_eq!(llm.hits(), 2 * TICKETS.len());
    let correction = llm.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        correction.contains("reply is required to act"),
        "{correction}"
    );
    assert!(
        report
            .items
            .iter()
            .all(|i| i.output.as_ref().unwrap()["action"] == "drafted")
    );
}
