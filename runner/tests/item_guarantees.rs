//! The runner's guarantees at their edges, each made deterministic: a write without a readable
//! success is reconciled before anything is sent again; reconciliation tells a new note from an
//! older identical one; after a crash a sent write that landed is not resent and one that did not
//! is sent once; an item whose note failed stays due after its own assignment moved it out of the
//! selection; and faults outside a ticket (Zoho's credit budget, the LLM) defer items without
//! counting attempts, so a backlog is never abandoned for nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agent::{self, comments_containing, note_for};
use deskhand::engine::{Decider, Quiet, RunReport, RunRequest};
use deskhand::store::{AttemptStatus, IntentState, ItemStatus, ItemView, RunStatus, Trigger};
use deskhand::workflow::{Workflow, WritePolicy};
use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
use serde_json::{Value, json};
use zoho_desk_sandbox::{FaultPlan, FaultRule, SandboxConfig, SeedData};

const COMMENT: &str = "create_a_zoho_desk_ticket_comment";

type Setup = common::EngineSetup;

async fn setup(config: SandboxConfig) -> Setup {
    common::engine_setup(config).await
}

fn workflow(llm: &ScriptedLlm, items: u32, extra: &str) -> Workflow {
    let name = common::unique_name("guarantee");
    agent::load(&agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        items,
        "apply",
        extra,
    )))
}

async fn run(setup: &Setup, workflow: &Workflow) -> RunReport {
    let decider = Decider::for_workflow(workflow, |_| None).unwrap();
    setup
        .engine
        .run(workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap()
}

fn fault(rule: FaultRule) -> FaultPlan {
    FaultPlan {
        seed: None,
        rules: vec![rule],
    }
}

/// The next note (any POST under a ticket) is refused before Zoho stores it.
fn fail_next_note(setup: &Setup) {
    setup
        .backend
        .sandbox
        .admin()
        .set_faults(fault(comment_posts().next(1)));
}

/// The scripted model's notes on ticket `id`, as the sandbox holds them now.
fn notes_on(setup: &Setup, id: &str) -> usize {
    let state = setup.backend.sandbox.admin().state_json();
    comments_containing(&state, id, &note_for(id))
}

/// The comment POST of every ticket (not the PATCH of the update, which shares the prefix).
fn comment_posts() -> FaultRule {
    FaultRule::status(503)
        .method("POST")
        .path_prefix("/api/v1/tickets/")
}

/// What a crash between sending a write and reading its answer leaves behind: the item's intents
/// of `tool` back in `sent` (sent just now) and the item running under a lease that has expired.
async fn crash_after_sending(setup: &Setup, workflow: &str, item: &str, tool: &str) {
    let pool = sqlx::sqlite::SqlitePool::connect(&setup.db_url)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let changed = sqlx::query(
        "UPDATE write_intents SET state = 'sent', updated_at = ? \
         WHERE workflow = ? AND item_key = ? AND tool = ?",
    )
    .bind(now)
    .bind(workflow)
    .bind(item)
    .bind(tool)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1, "one {tool} intent for item {item}");
    sqlx::query(
        "UPDATE work_items SET status = 'running', lease_owner = 'a-dead-process', \
         lease_expires_at = 0, attempts = 0 WHERE workflow = ? AND item_key = ?",
    )
    .bind(workflow)
    .bind(item)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn intent_of(setup: &Setup, report: &RunReport, tool: &str) -> deskhand::store::Intent {
    let detail = setup
        .store
        .run_detail(report.run.id)
        .await
        .unwrap()
        .unwrap();
    let key = &detail.attempts[0].attempt.item_key;
    setup
        .store
        .intents_of_item(&report.run.workflow, key)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.tool == tool)
        .unwrap_or_else(|| panic!("no {tool} intent"))
}

#[tokio::test]
async fn a_write_answered_200_with_an_unreadable_body_is_reconciled_not_taken_for_a_refusal() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // Zoho stores the comment and answers 200 with a body cut short.
    setup.backend.sandbox.admin().set_faults(fault(
        FaultRule::malformed()
            .method("POST")
            .path_prefix("/api/v1/tickets/")
            .next(1),
    ));
    let wf = workflow(&llm, 1, "");
    let report = run(&setup, &wf).await;
    let id = report.items[0].key.clone();
    assert_eq!(notes_on(&setup, &id), 1);
    let intent = intent_of(&setup, &report, COMMENT).await;
    assert_eq!(
        intent.state,
        IntentState::Reconciled,
        "a 200 whose body was lost landed: it is settled as landed, never as failed"
    );

    // A later run of the same ticket (its attempt restarted) finds it settled and sends nothing.
    crash_after_sending(&setup, &wf.name, &id, COMMENT).await;
    run(&setup, &wf).await;
    assert_eq!(notes_on(&setup, &id), 1);
}

#[tokio::test]
async fn after_a_crash_a_sent_write_that_landed_is_not_sent_again() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let wf = workflow(&llm, 1, "");
    let report = run(&setup, &wf).await;
    let id = report.items[0].key.clone();
    crash_after_sending(&setup, &wf.name, &id, COMMENT).await;

    let again = run(&setup, &wf).await;
    assert_eq!(again.items.len(), 1, "the interrupted item is resumed");
    assert_eq!(again.items[0].key, id);
    assert_eq!(
        notes_on(&setup, &id),
        1,
        "the note that landed before the crash is not written twice"
    );
    assert_eq!(
        intent_of(&setup, &again, COMMENT).await.state,
        IntentState::Reconciled
    );
}

#[tokio::test]
async fn after_a_crash_a_sent_write_that_did_not_land_is_sent_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // The first comment never reaches Zoho's store.
    fail_next_note(&setup);
    let wf = workflow(&llm, 1, "");
    let report = run(&setup, &wf).await;
    let id = report.items[0].key.clone();
    assert_eq!(notes_on(&setup, &id), 0);
    crash_after_sending(&setup, &wf.name, &id, COMMENT).await;

    run(&setup, &wf).await;
    assert_eq!(notes_on(&setup, &id), 1);
}

/// One generated ticket whose conversation already holds, from long ago, the very note the
/// scripted model writes.
fn seed_with_old_twin_note() -> (SeedData, String) {
    let seed = common::seed_with_tickets(1);
    let mut data = seed.to_json();
    let commenter = data["agents"][0]["id"].clone();
    let ticket = &mut data["tickets"][0];
    let id = ticket["id"].as_str().unwrap().to_owned();
    let comment = json!({
        "id": "9000000000000001",
        "content": note_for(&id),
        "contentType": "plainText",
        "isPublic": false,
        "commentedTime": "2021-03-01T09:00:00.000Z",
        "commenterId": commenter,
    });
    ticket["comments"]
        .as_array_mut()
        .map(|c| c.push(comment.clone()))
        .unwrap_or_else(|| ticket["comments"] = json!([comment]));
    (SeedData::from_json_str(&data.to_string()).unwrap(), id)
}

#[tokio::test]
async fn an_older_identical_note_does_not_stand_in_for_a_lost_new_one() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let (seed, id) = seed_with_old_twin_note();
    let setup = setup(SandboxConfig {
        seed_data: Some(seed),
        ..Default::default()
    })
    .await;
    fail_next_note(&setup);
    let wf = workflow(&llm, 1, "");
    let report = run(&setup, &wf).await;
    assert_eq!(report.items[0].key, id);
    crash_after_sending(&setup, &wf.name, &id, COMMENT).await;

    run(&setup, &wf).await;
    assert_eq!(
        notes_on(&setup, &id),
        2,
        "the 2021 note and this run's note: the old one is no proof that the new one landed"
    );
}

#[tokio::test]
async fn a_note_that_failed_after_its_assignment_landed_is_still_written() {
    let setup = setup(SandboxConfig {
        seed_data: Some(common::seed_with_tickets(6)),
        ..Default::default()
    })
    .await;
    let mut wf = crate_workflow("triage-and-assign.yaml", 6);
    wf.limits.concurrency = 1;
    wf.limits.max_attempts = 3;
    // Every note fails (nothing stored) during the first run; assignments land.
    setup
        .backend
        .sandbox
        .admin()
        .set_faults(fault(comment_posts().path_prefix("/api/v1/tickets/")));
    let first = run(&setup, &wf).await;
    setup.backend.sandbox.admin().clear_faults();
    let assigned: Vec<String> = first
        .items
        .iter()
        .map(|i| i.key.clone())
        .filter(|id| {
            setup.backend.sandbox.admin().ticket(id).unwrap()["assigneeId"]
                .as_str()
                .is_some_and(|a| !a.is_empty())
        })
        .collect();
    assert!(
        !assigned.is_empty(),
        "precondition: the baseline assigned at least one ticket ({:?})",
        first.items
    );
    for id in &assigned {
        assert_eq!(
            baseline_notes(&setup, id),
            0,
            "precondition: ticket {id}'s note failed"
        );
    }

    // The assigned tickets are no longer unassigned: the selection does not list them. Their
    // notes are due all the same.
    run(&setup, &wf).await;
    for id in &assigned {
        assert_eq!(baseline_notes(&setup, id), 1, "ticket {id}");
    }
}

fn crate_workflow(file: &str, items: u32) -> Workflow {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut wf = Workflow::load(&repo.join("workflows").join(file), &*common::catalog()).unwrap();
    if let Some(for_each) = wf.for_each.as_mut() {
        for_each.max_items = items;
    }
    wf.writes = WritePolicy::Apply;
    wf.name = common::unique_name("triage");
    wf
}

fn baseline_notes(setup: &Setup, id: &str) -> usize {
    let state = setup.backend.sandbox.admin().state_json();
    comments_containing(&state, id, deskhand::baseline::SIGNATURE)
}

#[tokio::test]
async fn a_credit_budget_that_resets_beyond_the_wait_defers_items_without_counting_attempts() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // A handful of credits for an hour: the first items spend them, then Zoho says "in an hour".
    setup
        .backend
        .sandbox
        .admin()
        .set_limits(12, Duration::from_secs(3600), 16);
    let mut wf = workflow(&llm, 4, "");
    wf.limits.max_attempts = 1;
    let report = run(&setup, &wf).await;

    assert_eq!(report.run.status, RunStatus::Failed);
    let error = report.run.error.clone().unwrap_or_default();
    assert!(error.contains("rate limiting"), "one clear reason: {error}");
    let deferred: Vec<_> = report
        .items
        .iter()
        .filter(|i| i.status == AttemptStatus::Deferred)
        .collect();
    assert!(!deferred.is_empty(), "{:#?}", report.items);
    let in_an_hour = chrono::Utc::now().timestamp_millis() + 3_000_000;
    for item in &deferred {
        let stored = setup
            .store
            .get_item(&wf.name, &item.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ItemStatus::Pending, "never abandoned");
        assert_eq!(stored.attempts, 0, "no attempt counted");
        assert!(
            stored.not_before.is_some_and(|at| at > in_an_hour),
            "deferred to the reset: {stored:?}"
        );
    }
    let listed = setup
        .store
        .items_in_state(Some(&wf.name), Some(ItemView::Deferred))
        .await
        .unwrap();
    assert_eq!(listed.len(), deferred.len());

    // Before the reset nothing is claimed again, and `items retry` gives them a fresh start.
    let early = run(&setup, &wf).await;
    assert!(
        early
            .items
            .iter()
            .all(|i| !deferred.iter().any(|d| d.key == i.key)),
        "deferred items wait for their reset"
    );
    let reset = setup.store.retry_items(Some(&wf.name), &[]).await.unwrap();
    assert!(reset >= u64::try_from(deferred.len()).unwrap());
}

#[tokio::test]
async fn an_llm_out_of_quota_stops_the_run_and_abandons_nothing() {
    let llm = ScriptedLlm::builder()
        .responder(|_: &Value| Step::insufficient_quota())
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let mut wf = workflow(&llm, 3, "");
    wf.limits.max_attempts = 1;
    wf.limits.concurrency = 1;
    for _ in 0..3 {
        let report = run(&setup, &wf).await;
        assert_eq!(report.run.status, RunStatus::Failed);
        assert!(
            report.run.error.as_deref().unwrap_or("").contains("quota"),
            "{:?}",
            report.run.error
        );
        assert_eq!(
            report.items.len(),
            1,
            "the breaker stops after the first item"
        );
        assert_eq!(report.items[0].status, AttemptStatus::Deferred);
    }
    for item in setup.store.list_items(&wf.name).await.unwrap() {
        assert_eq!(item.attempts, 0, "{item:?}");
        assert_ne!(item.status, ItemStatus::Abandoned);
    }
}

#[tokio::test]
async fn a_prompt_that_does_not_render_stops_the_run_before_the_first_item() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    let path = agent::write_workflow(&agent::workflow_yaml(
        &common::unique_name("typo"),
        &llm.base_url(),
        2,
        "apply",
        "",
    ));
    // A field the listed tickets do not have.
    std::fs::write(
        path.parent().unwrap().join("prompt.md"),
        "Triage {{ item.id }} for {{ item.customer.name }}.\n",
    )
    .unwrap();
    let wf = agent::load(&path);
    let report = run(&setup, &wf).await;
    assert_eq!(report.run.status, RunStatus::Failed);
    assert!(
        report
            .run
            .error
            .as_deref()
            .unwrap_or("")
            .contains("does not render"),
        "{:?}",
        report.run.error
    );
    assert!(report.items.is_empty(), "no item was worked");
    assert_eq!(llm.hits(), 0);
    for item in setup.store.list_items(&wf.name).await.unwrap() {
        assert_eq!(item.attempts, 0);
    }
}

#[tokio::test]
async fn a_note_the_model_was_told_had_failed_is_written_by_the_next_run() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let setup = setup(SandboxConfig::default()).await;
    // The note is refused before Zoho stores it; the model is told and answers all the same, so
    // the item succeeds with its note unsent.
    fail_next_note(&setup);
    let wf = workflow(&llm, 1, "");
    let first = run(&setup, &wf).await;
    let id = first.items[0].key.clone();
    assert_eq!(first.items[0].status, AttemptStatus::Succeeded);
    assert_eq!(notes_on(&setup, &id), 0);

    // Unchanged tickets are not selected again, yet this one's note is still due.
    let second = run(&setup, &wf).await;
    assert!(
        second.items.iter().any(|i| i.key == id),
        "{:?}",
        second.items
    );
    assert_eq!(notes_on(&setup, &id), 1);
    // And once written, the item is left alone.
    let third = run(&setup, &wf).await;
    assert!(third.items.iter().all(|i| i.key != id), "{:?}", third.items);
    assert_eq!(notes_on(&setup, &id), 1);
}
