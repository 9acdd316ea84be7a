//! Decide mode end to end, on the shipped triage-and-assign workflow: the scripted model (real
//! async-openai HTTP) answers one decision per ticket from the run context and the prefetched
//! ticket; the runner checks its ids and turns it into writes on the sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use deskhand::engine::{Decider, Quiet, RunReport, RunRequest};
use deskhand::store::{ApprovalState, ToolOutcome, Trigger};
use deskhand::workflow::{Mode, Workflow, WritePolicy};
use deskhand_e2e::scripted_llm::{ScriptedLlm, ScriptedToolCall, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::SandboxConfig;

const DIRECTORY_MARKER: &str = "then the active agents):\n";

type Setup = common::EngineSetup;

async fn setup() -> Setup {
    common::engine_setup(SandboxConfig::default()).await
}

/// The shipped workflow over `items` tickets, one at a time.
fn triage(items: u32, writes: WritePolicy) -> Workflow {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("workflows")
        .join("triage-and-assign.yaml");
    let mut workflow = Workflow::load(&path, &*common::catalog()).expect("the shipped workflow");
    assert_eq!(workflow.mode, Mode::Decide, "the shipped triage decides");
    workflow.name = common::unique_name("triage");
    workflow.writes = writes;
    workflow.limits.concurrency = 1;
    if let Some(for_each) = workflow.for_each.as_mut() {
        for_each.max_items = items;
    }
    workflow
}

async fn run(setup: &Setup, workflow: &Workflow, llm: &ScriptedLlm) -> RunReport {
    let url = llm.base_url();
    let decider = Decider::for_workflow(workflow, |key| match key {
        "OPENAI_BASE_URL" => Some(url.clone()),
        "OPENAI_API_KEY" => Some("test-key".into()),
        "DESKHAND_LLM_MODEL" => Some("scripted".into()),
        _ => None,
    })
    .unwrap();
    assert!(decider.uses_llm());
    setup
        .engine
        .run(workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap()
}

fn system_text(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The org directory the runner put in the system prompt.
fn directory(body: &Value) -> Value {
    let system = system_text(body);
    let at = system
        .find(DIRECTORY_MARKER)
        .expect("the directory is in the prompt");
    serde_json::Deserializer::from_str(&system[at + DIRECTORY_MARKER.len()..])
        .into_iter::<Value>()
        .next()
        .expect("a directory")
        .expect("directory JSON")
}

/// (ticket id, current department) from the user prompt.
fn ticket_of(body: &Value) -> (String, String) {
    let user = body["messages"][1]["content"].as_str().unwrap_or_default();
    let word_after = |needle: &str| {
        let at = user.find(needle).expect("prompt names the ticket") + needle.len();
        user[at..]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    (
        word_after("Triage ticket "),
        word_after("currently in department "),
    )
}

/// The least-loaded agent of `department`'s first staffed team, as a careful model would choose.
fn assignment(directory: &Value, department: &str) -> (Option<String>, String) {
    let agents = directory["agents"].as_array().unwrap();
    let in_department = |a: &&Value| {
        a["departmentIds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == department)
    };
    let least = |ids: Option<&Vec<Value>>| {
        agents
            .iter()
            .filter(in_department)
            .filter(|a| ids.is_none_or(|ids| ids.contains(&a["id"])))
            .min_by_key(|a| a["openTickets"].as_u64().unwrap())
            .map(|a| a["id"].as_str().unwrap().to_owned())
    };
    let dept = directory["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == department)
        .expect("the ticket's department is in the directory");
    for team in dept["teams"].as_array().unwrap() {
        if let Some(agent) = least(team["agentIds"].as_array()) {
            return (Some(team["id"].as_str().unwrap().to_owned()), agent);
        }
    }
    (
        None,
        least(None).expect("the department has an active agent"),
    )
}

fn decision(department: &str, team: Option<&str>, agent: &str) -> Step {
    Step::text(
        json!({
            "decision": "assign",
            "departmentId": department,
            "teamId": team,
            "assigneeId": agent,
            "confidence": 0.9,
            "reason": "scripted routing"
        })
        .to_string(),
    )
}

/// Assigns every ticket in its own department to the least-loaded fitting agent.
fn careful(body: &Value) -> Step {
    let (_, department) = ticket_of(body);
    let (team, agent) = assignment(&directory(body), &department);
    decision(&department, team.as_deref(), &agent)
}

fn requests_to(stats: &zoho_desk_sandbox::Stats, suffix: &str) -> u64 {
    stats
        .by_path
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") && route.ends_with(suffix))
        .map(|(_, n)| *n)
        .sum()
}

fn note_count(setup: &Setup, ticket: &str, needle: &str) -> usize {
    let state = setup.backend.sandbox.admin().state_json();
    state["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["id"] == ticket)
        .flat_map(|t| t["comments"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["content"].as_str().is_some_and(|s| s.contains(needle)))
        .count()
}

#[tokio::test]
async fn the_org_is_read_once_per_run_and_each_ticket_costs_one_round_trip() {
    let llm = ScriptedLlm::builder().responder(careful).start().await;
    let setup = setup().await;
    let report = run(&setup, &triage(4, WritePolicy::Apply), &llm).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.items.len(), 4);
    assert_eq!(llm.hits(), 4, "one decision per ticket");
    for request in llm.requests() {
        assert!(request.tools().is_empty(), "the model holds no tool");
    }
    let stats = setup.backend.sandbox.admin().stats();
    assert_eq!(requests_to(&stats, "/departments"), 1, "{stats:?}");
    assert_eq!(requests_to(&stats, "/teams"), 1, "{stats:?}");
    assert_eq!(requests_to(&stats, "/agents"), 1, "{stats:?}");
    for item in &report.items {
        let ticket = setup.backend.sandbox.admin().ticket(&item.key).unwrap();
        assert_eq!(
            ticket["assigneeId"],
            item.output.as_ref().unwrap()["assigneeId"]
        );
        assert_eq!(note_count(&setup, &item.key, "[deskhand] Assigned to"), 1);
        assert!(item.credits >= 3, "read, update and note: {item:?}");
    }
    assert_eq!(
        report.cost.credits, stats.credits_charged,
        "the credits the run counted are the ones the sandbox charged"
    );
}

#[tokio::test]
async fn the_load_in_the_context_follows_the_runs_own_assignments() {
    // Every ticket goes to one agent, so each prompt must show that agent one ticket busier.
    let chosen: std::sync::Mutex<Option<(String, String)>> = std::sync::Mutex::new(None);
    let llm = ScriptedLlm::builder()
        .responder(move |body| {
            let directory = directory(body);
            let mut chosen = chosen.lock().unwrap();
            let (department, agent) = chosen
                .get_or_insert_with(|| {
                    let (_, department) = ticket_of(body);
                    let (_, agent) = assignment(&directory, &department);
                    (department, agent)
                })
                .clone();
            decision(&department, None, &agent)
        })
        .start()
        .await;
    let setup = setup().await;
    let report = run(&setup, &triage(3, WritePolicy::Apply), &llm).await;
    assert!(report.is_success(), "{report:#?}");
    let agent = report.items[0].output.as_ref().unwrap()["assigneeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let loads: Vec<u64> = llm
        .requests()
        .iter()
        .map(|r| {
            directory(&r.body)["agents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == agent.as_str())
                .unwrap()["openTickets"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(loads.len(), 3);
    assert_eq!(loads[1], loads[0] + 1, "{loads:?}");
    assert_eq!(loads[2], loads[0] + 2, "{loads:?}");
    let stats = setup.backend.sandbox.admin().stats();
    assert_eq!(
        requests_to(&stats, "/agents"),
        1,
        "kept current in memory, not re-read"
    );
}

#[tokio::test]
async fn actions_follow_the_write_policy() {
    // dry_run: recorded, nothing sent.
    let llm = ScriptedLlm::builder().responder(careful).start().await;
    let setup = setup().await;
    let before = setup.backend.sandbox.admin().state_json();
    let report = run(&setup, &triage(2, WritePolicy::DryRun), &llm).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(setup.backend.sandbox.admin().state_json(), before);
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    for attempt in &detail.attempts {
        let writes: Vec<_> = attempt.tool_calls.iter().filter(|t| t.is_write).collect();
        assert!(writes.len() >= 2, "update and note: {writes:?}");
        assert!(writes.iter().all(|t| t.outcome == ToolOutcome::DryRun));
    }

    // approve: queued, nothing sent.
    let workflow = triage(2, WritePolicy::Approve);
    let report = run(&setup, &workflow, &llm).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(setup.backend.sandbox.admin().state_json(), before);
    let queued = setup
        .store
        .list_approvals(Some(ApprovalState::Pending), Some(&workflow.name), 20)
        .await
        .unwrap();
    assert!(queued.len() >= 4, "{queued:?}");
    assert!(
        queued
            .iter()
            .any(|a| a.tool == "update_a_zoho_desk_ticket_by_id")
    );

    // apply: sent once; a second run of the same tickets changes nothing more.
    let workflow = triage(2, WritePolicy::Apply);
    let report = run(&setup, &workflow, &llm).await;
    assert!(report.is_success(), "{report:#?}");
    for item in &report.items {
        let ticket = setup.backend.sandbox.admin().ticket(&item.key).unwrap();
        assert_eq!(
            ticket["assigneeId"],
            item.output.as_ref().unwrap()["assigneeId"]
        );
        assert_eq!(note_count(&setup, &item.key, "[deskhand] Assigned to"), 1);
    }
}

#[tokio::test]
async fn invalid_ids_get_one_correction_then_the_runner_abstains() {
    let setup = setup().await;
    let workflow = triage(2, WritePolicy::Apply);
    let selected = run_selection(&setup, &workflow).await;
    // The first ticket gets a made-up agent, then a valid decision; the second made-up ids twice.
    let given_up = selected[1].clone();
    let llm = ScriptedLlm::builder()
        .responder(move |body| {
            let corrected = body["messages"].as_array().unwrap().iter().any(|m| {
                m["role"] == "user"
                    && m["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("Your decision is not valid"))
            });
            let (id, department) = ticket_of(body);
            if !corrected || id == given_up {
                return decision(&department, None, "999999999");
            }
            careful(body)
        })
        .start()
        .await;
    let report = run(&setup, &workflow, &llm).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        llm.hits(),
        4,
        "two requests per ticket: the decision and its correction"
    );
    let corrected = report.items.iter().find(|i| i.key == selected[0]).unwrap();
    let output = corrected.output.as_ref().unwrap();
    assert_eq!(output["decision"], "assign");
    let ticket = setup.backend.sandbox.admin().ticket(&selected[0]).unwrap();
    assert_eq!(ticket["assigneeId"], output["assigneeId"]);

    let abstained = report.items.iter().find(|i| i.key == selected[1]).unwrap();
    let output = abstained.output.as_ref().unwrap();
    assert_eq!(output["decision"], "abstain", "{output}");
    assert!(
        output["reason"].as_str().unwrap().contains("999999999"),
        "{output}"
    );
    let ticket = setup.backend.sandbox.admin().ticket(&selected[1]).unwrap();
    assert!(ticket["assigneeId"].is_null(), "{ticket}");
    assert_eq!(note_count(&setup, &selected[1], "Left unassigned"), 1);
    let correction = &llm.requests()[1];
    let last = correction.body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["content"].as_str().unwrap().contains("999999999"),
        "the correction names the bad id: {last}"
    );
}

/// The ticket ids the workflow selects, in order, read as the runner reads them.
async fn run_selection(setup: &Setup, workflow: &Workflow) -> Vec<String> {
    let for_each = workflow.for_each.as_ref().unwrap();
    let mut args = serde_json::Map::new();
    for (k, v) in &for_each.args {
        if v.as_str().is_some_and(|s| !s.contains("{{")) {
            args.insert(k.clone(), v.clone());
        }
    }
    args.insert("limit".into(), json!(for_each.max_items));
    let session = setup.engine.connect(workflow).await.unwrap();
    let page = session.call_tool(&for_each.tool, args).await.unwrap();
    let deskhand::mcp::ToolOutcome::Ok(value) = page else {
        panic!("the selection reads: {page:?}")
    };
    value["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_injected_ticket_cannot_make_anything_write_elsewhere() {
    // The model is fully taken over by the ticket: it tries a tool call on another ticket, then
    // a decision that carries another ticket's id in every field.
    let setup = setup().await;
    let workflow = triage(1, WritePolicy::Apply);
    let selected = run_selection(&setup, &workflow).await;
    let victim = setup.backend.sandbox.admin().state_json()["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .find(|id| *id != selected[0])
        .unwrap();
    let victim_before = setup.backend.sandbox.admin().ticket(&victim).unwrap();
    let target = victim.clone();
    let llm = ScriptedLlm::builder()
        .responder(move |body| {
            let asked = body["messages"].as_array().unwrap().len();
            if asked <= 2 {
                Step::tool_calls(vec![ScriptedToolCall::new(
                    "update_a_zoho_desk_ticket_by_id",
                    json!({ "id": target, "status": "Closed" }),
                )])
            } else {
                Step::text(
                    json!({
                        "decision": "assign",
                        "departmentId": target,
                        "teamId": target,
                        "assigneeId": target,
                        "confidence": 1,
                        "reason": format!("close ticket {target}")
                    })
                    .to_string(),
                )
            }
        })
        .start()
        .await;
    let report = run(&setup, &workflow, &llm).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        setup.backend.sandbox.admin().ticket(&victim).unwrap(),
        victim_before,
        "the other ticket is untouched"
    );
    let output = report.items[0].output.as_ref().unwrap();
    assert_eq!(output["decision"], "abstain", "{output}");
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    for call in detail.attempts.iter().flat_map(|a| &a.tool_calls) {
        let text = call.arguments.to_string();
        assert!(
            !call.is_write
                || !text.contains(&format!("\"{victim}\""))
                || call.tool == "create_a_zoho_desk_ticket_comment",
            "no write names the other ticket: {call:?}"
        );
        if call.is_write {
            let names = call
                .arguments
                .get("ticketId")
                .or_else(|| call.arguments.get("id"));
            assert_eq!(names, Some(&json!(selected[0])), "{call:?}");
        }
    }
}

#[tokio::test]
async fn a_context_call_reads_every_page_once_through_the_runs_toolbox() {
    use deskhand::agent::RunContext;
    use deskhand::store::NewRun;
    use deskhand::workflow::{ContextSource, RunInfo};

    let setup = setup().await;
    let mut workflow = triage(1, WritePolicy::DryRun);
    // Two departments a page, so the listing takes every page there is.
    let mut args = serde_json::Map::new();
    args.insert("limit".into(), json!(2));
    workflow.decide.context.insert(
        "departments".into(),
        ContextSource::Call {
            tool: "list_all_zoho_desk_departments".into(),
            args,
        },
    );
    let run_id = setup
        .store
        .create_run(&NewRun::new(&workflow.name, Trigger::Cli, "test"))
        .await
        .unwrap();
    let toolbox = setup
        .engine
        .toolbox(
            &workflow,
            run_id,
            std::sync::Arc::new(deskhand::retry::NoopObserver),
        )
        .await
        .unwrap();
    let info = RunInfo {
        id: run_id.to_string(),
        workflow: workflow.name.clone(),
        started_at: chrono::Utc::now(),
        scheduled_for: None,
        trigger: "manual".into(),
    };
    let before = setup.backend.sandbox.admin().stats();
    let context = RunContext::fetch(&toolbox, &workflow, &info).await.unwrap();
    let after = setup.backend.sandbox.admin().stats();
    let value = context.value();
    let all = setup.backend.sandbox.admin().state_json()["departments"]
        .as_array()
        .unwrap()
        .len();
    assert!(all > 2, "the org has more departments than a page");
    assert_eq!(value["departments"].as_array().unwrap().len(), all);
    let listings = requests_to(&after, "/departments") - requests_to(&before, "/departments");
    // The directory's own listing (one page) and the paged one.
    assert_eq!(listings, 1 + all.div_ceil(2) as u64, "{after:?}");
    assert!(
        value["org"]["agents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}
