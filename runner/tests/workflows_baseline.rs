//! The shipped workflows on the offline baseline, against a sandbox seeded with the labelled
//! evaluation set (tests/fixtures/eval). Assertions are on the sandbox's resulting state; the
//! accuracy floors are set below the figures measured when the baseline was written, so a
//! regression fails while ordinary tuning does not. Measured then (249 tickets): triage decided
//! the gold department for 104 of 145 clear tickets (0.717) and assigned 97 of them; 125 of 132
//! assignments were in the gold department (0.947), 111 to an eligible agent (0.841); 19 of 37
//! misplaced tickets were left unassigned with a note naming the gold department (no moves by
//! default; allowing them at margin 0.2 moved 51 tickets, 16 of them rightly). KB replies:
//! 86 of 111 drafts cited a gold article (0.775), 104 of 214 answerable tickets got a draft
//! (0.486), 28 of 35 unanswerable ones a no-article note (0.800).

#![allow(clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deskhand::baseline::SIGNATURE;
use deskhand::embedded::SandboxBackend;
use deskhand::engine::{Decider, Engine, Quiet, RunReport, RunRequest};
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{Store, Trigger};
use deskhand::workflow::{Workflow, WritePolicy};
use serde_json::Value;
use zoho_desk_sandbox::{SandboxConfig, SeedData};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runner sits in the workspace")
        .to_path_buf()
}

fn eval_file(name: &str) -> PathBuf {
    repo().join("tests/fixtures/eval").join(name)
}

fn gold() -> HashMap<String, Value> {
    let text = std::fs::read_to_string(eval_file("gold.json")).expect("gold.json");
    let value: Value = serde_json::from_str(&text).expect("gold.json parses");
    value["tickets"]
        .as_object()
        .expect("gold tickets")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn kinds(gold: &Value) -> Vec<&str> {
    gold["kinds"]
        .as_array()
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// No kind that makes routing hard (angry and no_article tickets are still clear to route).
fn is_clear(gold: &Value) -> bool {
    kinds(gold)
        .iter()
        .all(|k| matches!(*k, "angry" | "no_article"))
}

pub async fn eval_sandbox() -> SandboxBackend {
    common::sandbox_with(SandboxConfig {
        seed_data: Some(
            SeedData::from_path(&eval_file("dataset.json")).expect("dataset.json seeds"),
        ),
        ..Default::default()
    })
    .await
}

pub fn load(name: &str, items: u32, writes: WritePolicy) -> Workflow {
    let mut workflow = Workflow::load(&repo().join("workflows").join(name), &*common::catalog())
        .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    if let Some(for_each) = workflow.for_each.as_mut() {
        for_each.max_items = items;
    }
    workflow.writes = writes;
    workflow
}

pub async fn engine(backend: &SandboxBackend) -> Engine {
    let path = common::temp_path("workflows-baseline", "db");
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        path.to_str().expect("utf-8 temp path"),
    ))
    .await
    .expect("store opens");
    Engine::new(store, common::unique_name("test"))
        .with_embedded(EmbeddedServer::new(backend.gateway.clone()))
}

async fn run(engine: &Engine, workflow: &Workflow) -> RunReport {
    let decider = workflow
        .baseline
        .map(Decider::Baseline)
        .expect("a baseline");
    engine
        .run(workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .expect("the run completes")
}

fn assert_no_failed_items(report: &RunReport) {
    assert_eq!(
        report.failed_items(),
        0,
        "{:#?}",
        report
            .items
            .iter()
            .filter(|i| i.error.is_some())
            .collect::<Vec<_>>()
    );
}

fn tickets(backend: &SandboxBackend) -> HashMap<String, Value> {
    backend.sandbox.admin().state_json()["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| (t["id"].as_str().expect("ticket id").to_owned(), t.clone()))
        .collect()
}

/// The seed's reply addresses: (address, department or none for every department).
fn reply_addresses(backend: &SandboxBackend) -> Vec<(String, Option<String>)> {
    backend.sandbox.admin().state_json()["supportEmailAddresses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| {
            Some((
                a["address"].as_str()?.to_owned(),
                a["departmentId"].as_str().map(str::to_owned),
            ))
        })
        .collect()
}

fn comments(ticket: &Value) -> Vec<Value> {
    ticket["comments"].as_array().cloned().unwrap_or_default()
}

/// Comments in `after` that were not in `before`.
fn new_comments(before: &Value, after: &Value) -> Vec<Value> {
    let old: Vec<&Value> = before["comments"]
        .as_array()
        .map(|c| c.iter().map(|x| &x["id"]).collect())
        .unwrap_or_default();
    comments(after)
        .into_iter()
        .filter(|c| !old.contains(&&c["id"]))
        .collect()
}

/// Threads in `after` that were not in `before`.
fn new_threads(before: &Value, after: &Value) -> Vec<Value> {
    let old: Vec<&Value> = before["threads"]
        .as_array()
        .map(|c| c.iter().map(|x| &x["id"]).collect())
        .unwrap_or_default();
    after["threads"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !old.contains(&&c["id"]))
        .collect()
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_baseline_routes_the_eval_set_and_is_idempotent() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let gold = gold();
    let before = tickets(&backend);
    let workflow = load("triage-and-assign.yaml", 400, WritePolicy::Apply);

    let report = run(&engine, &workflow).await;
    assert_no_failed_items(&report);
    assert_eq!(
        report.items.len(),
        before.len(),
        "every open unassigned ticket is an item"
    );
    let after = tickets(&backend);

    let (mut clear, mut clear_decided_right, mut clear_assigned) = (0, 0, 0);
    let (mut assigned, mut assigned_right_dept, mut assigned_right_team, mut assigned_eligible) =
        (0, 0, 0, 0);
    let (mut misplaced, mut misplaced_moved, mut misplaced_named) = (0, 0, 0);
    let mut moved = 0;
    let mut abstained = 0;
    for item in &report.items {
        let id = &item.key;
        let g = &gold[id];
        let output = item.output.as_ref().expect("an answer");
        let t0 = &before[id];
        let t1 = &after[id];
        let notes = new_comments(t0, t1);

        // Whatever the ticket says (injection tickets included): only its own routing changes,
        // with exactly one private note signed by the baseline.
        assert_eq!(notes.len(), 1, "ticket {id}: {notes:?}");
        assert_eq!(notes[0]["isPublic"], false, "ticket {id}");
        assert!(
            notes[0]["content"]
                .as_str()
                .unwrap_or_default()
                .starts_with(SIGNATURE),
            "ticket {id}"
        );
        for field in ["status", "priority", "subject", "threadCount"] {
            assert_eq!(t0[field], t1[field], "ticket {id}: {field} changed");
        }
        // A department changes only by a move the ticket's own decision names.
        if t0["departmentId"] != t1["departmentId"] {
            assert_eq!(
                output["decision"], "assign",
                "ticket {id} moved without an assignment"
            );
            assert_eq!(t1["departmentId"], output["departmentId"], "ticket {id}");
            moved += 1;
        }

        let decided_dept = output["departmentId"].as_str();
        match output["decision"].as_str() {
            Some("assign") => {
                assigned += 1;
                assert_eq!(t1["assigneeId"], output["assigneeId"], "ticket {id}");
                assert_eq!(t1["teamId"], output["teamId"], "ticket {id}");
                if t1["departmentId"] == g["departmentId"] {
                    assigned_right_dept += 1;
                }
                if t1["teamId"] == g["teamId"] {
                    assigned_right_team += 1;
                }
                if g["eligibleAssigneeIds"]
                    .as_array()
                    .is_some_and(|e| e.contains(&t1["assigneeId"]))
                {
                    assigned_eligible += 1;
                }
            }
            Some("abstain") => {
                abstained += 1;
                assert!(
                    t1["assigneeId"].is_null() && t1["teamId"].is_null(),
                    "ticket {id} abstained but changed"
                );
            }
            other => panic!("ticket {id}: decision {other:?}"),
        }
        if is_clear(g) {
            clear += 1;
            if decided_dept == g["departmentId"].as_str() {
                clear_decided_right += 1;
            }
            if output["decision"] == "assign" {
                clear_assigned += 1;
            }
        }
        if kinds(g).contains(&"wrong_department") {
            misplaced += 1;
            if output["decision"] == "abstain" && decided_dept == g["departmentId"].as_str() {
                misplaced_named += 1;
            }
            if t1["departmentId"] == g["departmentId"] {
                misplaced_moved += 1;
            }
        }
    }
    let clear_accuracy = ratio(clear_decided_right, clear);
    let precision = ratio(assigned_right_dept, assigned);
    let eligible = ratio(assigned_eligible, assigned);
    eprintln!(
        "triage baseline on {} tickets: {assigned} assigned, {abstained} abstained\n  \
         clear tickets: {clear}, department decided right {clear_decided_right} ({clear_accuracy:.3}), assigned {clear_assigned} ({:.3})\n  \
         assigned tickets: department right {assigned_right_dept} ({precision:.3}), team right {assigned_right_team} ({:.3}), eligible assignee {assigned_eligible} ({eligible:.3})\n  \
         wrong-department tickets: {misplaced}, left unassigned naming the gold department {misplaced_named}, moved there {misplaced_moved}; {moved} moves in all",
        report.items.len(),
        ratio(clear_assigned, clear),
        ratio(assigned_right_team, assigned),
    );
    assert!(
        clear_accuracy > 0.65,
        "department accuracy on clear tickets {clear_accuracy:.3}"
    );
    assert!(
        ratio(clear_assigned, clear) > 0.55,
        "the baseline assigns most clear tickets"
    );
    assert!(
        precision > 0.9,
        "assigned tickets are in their gold department: {precision:.3}"
    );
    assert!(
        eligible > 0.75,
        "assignees are eligible per gold: {eligible:.3}"
    );
    assert!(abstained > 0, "some tickets are too unclear to assign");
    assert_eq!(moved, 0, "the shipped settings never move a ticket");
    assert!(
        misplaced_named * 3 > misplaced,
        "notes name the right department for misplaced tickets"
    );

    // Nothing changed since: a second run finds no ticket due.
    let again = run(&engine, &workflow).await;
    assert!(
        again.items.is_empty(),
        "second run worked {:?}",
        again.items.iter().map(|i| &i.key).collect::<Vec<_>>()
    );
    assert_eq!(tickets(&backend), after, "the second run wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_baseline_moves_tickets_when_allowed() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let before = tickets(&backend);
    let mut workflow = load("triage-and-assign.yaml", 400, WritePolicy::Apply);
    workflow
        .inputs
        .insert("baseline_min_move_margin".into(), serde_json::json!(0.2));
    let report = run(&engine, &workflow).await;
    assert_eq!(report.failed_items(), 0);
    let after = tickets(&backend);
    let mut moved = 0;
    for item in &report.items {
        let id = &item.key;
        let output = item.output.as_ref().expect("an answer");
        if before[id]["departmentId"] == after[id]["departmentId"] {
            continue;
        }
        moved += 1;
        assert_eq!(output["decision"], "assign", "ticket {id}");
        assert_eq!(
            after[id]["departmentId"], output["departmentId"],
            "ticket {id}"
        );
        assert_eq!(
            after[id]["assigneeId"], output["assigneeId"],
            "ticket {id}: assigned in the new department"
        );
        assert!(!after[id]["assigneeId"].is_null(), "ticket {id}");
        assert_eq!(
            new_comments(&before[id], &after[id]).len(),
            1,
            "ticket {id}"
        );
        assert!(item.writes >= 3, "ticket {id}: move, update and note");
    }
    eprintln!("with moves allowed at margin 0.2: {moved} tickets moved");
    assert!(moved > 0, "some tickets were moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_reply_baseline_cites_articles_or_says_none_fits() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let gold = gold();
    let before = tickets(&backend);
    let workflow = load("kb-grounded-reply.yaml", 400, WritePolicy::Apply);

    let report = run(&engine, &workflow).await;
    assert_no_failed_items(&report);
    assert_eq!(report.items.len(), before.len());
    let after = tickets(&backend);

    let (mut with_articles, mut drafted_gold, mut drafted_any) = (0, 0, 0);
    let (mut without, mut without_noted) = (0, 0);
    let (mut drafted_total, mut zoho_drafts) = (0, 0);
    let addresses = reply_addresses(&backend);
    for item in &report.items {
        let id = &item.key;
        let g = &gold[id];
        let output = item.output.as_ref().expect("an answer");
        let notes = new_comments(&before[id], &after[id]);
        let threads = new_threads(&before[id], &after[id]);
        assert_eq!(
            before[id]["threadCount"], after[id]["threadCount"],
            "draft mode sends nothing"
        );
        assert!(
            threads.iter().all(|t| t["status"] == "DRAFT"),
            "ticket {id}: draft mode sends nothing"
        );
        // One written thing per ticket: a Zoho draft on an e-mail ticket with an answer, a
        // private comment otherwise.
        assert_eq!(
            notes.len() + threads.len(),
            1,
            "ticket {id}: {notes:?} {threads:?}"
        );
        let email = after[id]["channel"] == "Email";
        let note = if let Some(draft) = threads.first() {
            zoho_drafts += 1;
            assert!(email, "ticket {id}: a Zoho draft only on e-mail tickets");
            assert_eq!(draft["channel"], "EMAIL", "ticket {id}");
            let from = draft["fromEmailAddress"].as_str().unwrap_or_default();
            let department = after[id]["departmentId"].as_str().unwrap_or_default();
            assert!(
                addresses
                    .iter()
                    .any(|(a, d)| a == from && d.as_deref().is_none_or(|d| d == department)),
                "ticket {id}: {from} is a reply address of department {department}"
            );
            draft["content"].as_str().unwrap_or_default().to_owned()
        } else {
            assert_eq!(notes[0]["isPublic"], false, "ticket {id}");
            let note = notes[0]["content"].as_str().unwrap_or_default().to_owned();
            assert!(note.starts_with(SIGNATURE), "ticket {id}");
            note
        };
        let note = note.as_str();
        if email && output["action"] == "drafted" {
            assert!(
                !threads.is_empty(),
                "ticket {id}: an e-mail answer is a Zoho draft"
            );
        }
        let gold_articles: Vec<&str> = g["articleIds"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match output["action"].as_str() {
            Some("drafted") => {
                drafted_total += 1;
                let cited = output["articleIds"][0].as_str().expect("a cited article");
                assert!(
                    note.contains(&format!("article {cited}")),
                    "ticket {id}: the note cites {cited}"
                );
                if gold_articles.contains(&cited) {
                    drafted_gold += 1;
                }
            }
            Some("no_article") => {
                assert!(note.contains("No article"), "ticket {id}: {note}");
                assert!(
                    !note.contains("Draft reply"),
                    "ticket {id}: no invented answer"
                );
                assert_eq!(output["articleIds"], serde_json::json!([]), "ticket {id}");
            }
            other => panic!("ticket {id}: action {other:?}"),
        }
        if gold_articles.is_empty() {
            without += 1;
            if output["action"] == "no_article" {
                without_noted += 1;
            }
        } else {
            with_articles += 1;
            if output["action"] == "drafted" {
                drafted_any += 1;
            }
        }
    }
    assert!(zoho_drafts > 0, "e-mail tickets got Zoho drafts");
    let cite_precision = ratio(drafted_gold, drafted_total);
    let recall = ratio(drafted_any, with_articles);
    let no_article = ratio(without_noted, without);
    eprintln!(
        "kb baseline on {} tickets: {drafted_total} drafted ({drafted_gold} citing a gold article, precision {cite_precision:.3})\n  \
         tickets with gold articles: {with_articles}, drafted {drafted_any} ({recall:.3})\n  \
         tickets without: {without}, no-article note {without_noted} ({no_article:.3})",
        report.items.len()
    );
    assert!(
        cite_precision > 0.7,
        "drafts cite a gold article: {cite_precision:.3}"
    );
    assert!(
        recall > 0.4,
        "drafts for tickets the KB answers: {recall:.3}"
    );
    assert!(
        no_article > 0.7,
        "no-article notes where nothing fits: {no_article:.3}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_in_the_sandbox() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let before = backend.sandbox.admin().state_json();
    for name in ["triage-and-assign.yaml", "kb-grounded-reply.yaml"] {
        let workflow = load(name, 15, WritePolicy::DryRun);
        let report = run(&engine, &workflow).await;
        assert_eq!(report.items.len(), 15, "{name}");
        assert_eq!(report.failed_items(), 0, "{name}: {:?}", report.items);
        assert!(
            report.items.iter().all(|i| i.writes >= 1),
            "{name}: every item tried a write"
        );
    }
    assert_eq!(
        backend.sandbox.admin().state_json(),
        before,
        "dry runs wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_tickets_do_not_starve_the_rest_of_the_queue() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let mut workflow = load("kb-grounded-reply.yaml", 3, WritePolicy::Apply);
    // Pages of three: the second run's first page holds only tickets the first run handled,
    // which stay Open (a draft comment changes nothing in the fingerprint).
    workflow
        .for_each
        .as_mut()
        .expect("for_each")
        .args
        .insert("limit".into(), serde_json::json!(3));
    let keys = |r: &RunReport| r.items.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
    let first = run(&engine, &workflow).await;
    let second = run(&engine, &workflow).await;
    let third = run(&engine, &workflow).await;
    assert_eq!(first.items.len(), 3, "{:?}", keys(&first));
    assert_eq!(second.items.len(), 3, "{:?}", keys(&second));
    assert_eq!(third.items.len(), 3, "{:?}", keys(&third));
    let mut all = [keys(&first), keys(&second), keys(&third)].concat();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        9,
        "every run worked tickets no earlier run had: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_narrow_the_selection_and_empty_inputs_do_not() {
    let backend = eval_sandbox().await;
    let engine = engine(&backend).await;
    let all = tickets(&backend);
    let (id, ticket) = all.iter().next().expect("a ticket");
    let number = ticket["ticketNumber"]
        .as_str()
        .expect("a number")
        .to_owned();

    let mut reply = load("kb-grounded-reply.yaml", 400, WritePolicy::DryRun);
    reply
        .apply_overrides(&[("ticket_number", number.as_str())])
        .expect("ticket_number is an input");
    let one = run(&engine, &reply).await;
    assert_eq!(
        one.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );

    let department = "1892000001010005";
    let mut triage = load("triage-and-assign.yaml", 400, WritePolicy::DryRun);
    triage
        .apply_overrides(&[("department_ids", department)])
        .expect("department_ids is an input");
    let report = run(&engine, &triage).await;
    let expected = all
        .values()
        .filter(|t| t["departmentId"] == department)
        .count();
    assert!(expected > 0);
    assert_eq!(report.items.len(), expected);
    assert!(
        report
            .items
            .iter()
            .all(|i| all[&i.key]["departmentId"] == department)
    );
}

/// A scheduler pointed at a real org changes nothing until someone approves or opts in with
/// `writes: apply` (the demo and eval force apply on their throwaway sandboxes).
#[test]
fn the_shipped_workflows_queue_their_writes_for_approval() {
    for name in ["triage-and-assign.yaml", "kb-grounded-reply.yaml"] {
        let workflow = Workflow::load(&repo().join("workflows").join(name), &*common::catalog())
            .unwrap_or_else(|e| panic!("{name} loads: {e}"));
        assert_eq!(workflow.writes, WritePolicy::Approve, "{name}");
    }
}
