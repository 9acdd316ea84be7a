//! `deskhand run`, `history`, `approvals` and a crash: the binary is killed with SIGKILL between a
//! write's intent and its outcome, and the next run neither duplicates nor loses anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::agent::{self, comments_containing, note_for};
use deskhand::store::{IntentState, Store};
use deskhand_e2e::scripted_llm::ScriptedLlm;
use serde_json::Value;
use zoho_desk_sandbox::{FaultPlan, FaultRule};

fn deskhand(sandbox: &zoho_desk_sandbox::Sandbox) -> tokio::process::Command {
    let creds = sandbox.credentials();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"));
    cmd.env("ZOHO_DESK_BASE_URL", sandbox.base_url())
        .env("ZOHO_ACCOUNTS_URL", sandbox.accounts_url())
        .env("ZOHO_ORG_ID", &creds.org_id)
        .env("ZOHO_CLIENT_ID", &creds.client_id)
        .env("ZOHO_CLIENT_SECRET", &creds.client_secret)
        .env("ZOHO_REFRESH_TOKEN", &creds.refresh_token)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn killed_between_intent_and_outcome_the_next_run_neither_duplicates_nor_loses() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let sandbox = &backend.sandbox;
    let name = common::unique_name("crash");
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        2,
        "apply",
        "limits: { concurrency: 1, item_timeout: 4s }\n",
    ));
    let db = common::temp_path("crash", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());

    // The comment request is held by Zoho long enough to kill the runner while it waits.
    sandbox.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![
            FaultRule::latency(2500)
                .method("POST")
                .path_prefix("/api/v1/tickets/")
                .next(1),
        ],
    });
    let mut first = deskhand(sandbox)
        .args([
            "run",
            workflow.to_str().unwrap(),
            "--database-url",
            &db_url,
            "--json",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let store = wait_for_store(&db_url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_flight = loop {
        assert!(Instant::now() < deadline, "the comment was never sent");
        let pending = store.pending_intents_of(&name).await.unwrap();
        if let Some(sent) = pending
            .iter()
            .find(|i| i.state == IntentState::Sent && i.tool == "create_a_zoho_desk_ticket_comment")
        {
            break sent.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    sandbox.admin().clear_faults();
    let crashed_ticket = in_flight.item_key.clone();
    // Let the held request finish on the sandbox side (it may or may not land), and the dead
    // process's lease run out (item_timeout 4s: lease ~6s).
    tokio::time::sleep(Duration::from_secs(7)).await;

    let second = deskhand(sandbox)
        .args([
            "run",
            workflow.to_str().unwrap(),
            "--database-url",
            &db_url,
            "--json",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let reconciled = &report["reconciliation"];
    // The comment was held when the process died. The update the model asked for in the same
    // turn runs concurrently: whether its outcome was recorded before the kill is a race, so it
    // may be reconciled too.
    let settled =
        reconciled["landed"].as_u64().unwrap() + reconciled["not_landed"].as_u64().unwrap();
    assert!((1..=2).contains(&settled), "{reconciled}");
    assert_eq!(reconciled["unknown"], 0, "{reconciled}");
    let keys: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&crashed_ticket.as_str()),
        "the interrupted item was resumed: {keys:?}"
    );

    let state = sandbox.admin().state_json();
    let tickets = store.list_items(&name).await.unwrap();
    // max_items is 2, and the resumed ticket counts against it: the second run finished the
    // interrupted ticket and the one the first run never reached, and took no third.
    assert_eq!(tickets.len(), 2);
    for item in tickets {
        let id = &item.item_key;
        assert_eq!(
            comments_containing(&state, id, &note_for(id)),
            1,
            "ticket {id}"
        );
        assert_eq!(
            sandbox.admin().ticket(id).unwrap()["priority"],
            "High",
            "ticket {id}"
        );
    }
    assert!(store.pending_intents_of(&name).await.unwrap().is_empty());

    // History shows both runs, the second with the resumed item.
    let history = deskhand(sandbox)
        .args(["history", "--database-url", &db_url, "--json"])
        .output()
        .await
        .unwrap();
    let runs: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let id = report["run"]["id"].as_i64().unwrap().to_string();
    let detail = deskhand(sandbox)
        .args(["history", &id, "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&detail.stdout);
    assert!(
        text.contains(&format!("item {crashed_ticket} (attempt 1): succeeded")),
        "{text}"
    );
    assert!(
        text.contains("create_a_zoho_desk_ticket_comment (write)"),
        "{text}"
    );
    let first = store.run_detail(1).await.unwrap().unwrap();
    let interrupted = first
        .attempts
        .iter()
        .find(|a| a.attempt.item_key == crashed_ticket)
        .unwrap();
    assert_eq!(
        interrupted.attempt.status,
        deskhand::store::AttemptStatus::Cancelled
    );
    assert!(
        interrupted
            .attempt
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
}

async fn wait_for_store(url: &str) -> Store {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(store) = Store::connect(url).await {
            return store;
        }
        assert!(Instant::now() < deadline, "the run never created its store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn run_exits_non_zero_when_an_item_fails_and_explains_a_missing_workflow() {
    let llm = ScriptedLlm::builder()
        .responder(|_: &Value| {
            deskhand_e2e::scripted_llm::Step::text("not json").with_cached_tokens(4)
        })
        .start()
        .await;
    let backend = common::sandbox().await;
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &common::unique_name("failing"),
        &llm.base_url(),
        1,
        "apply",
        "",
    ));
    let db = common::temp_path("failing", "db");
    let out = deskhand(&backend.sandbox)
        .args([
            "run",
            workflow.to_str().unwrap(),
            "--database-url",
            db.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed"), "{stdout}");
    assert!(stdout.contains("output schema"), "{stdout}");
    // One answer and one correction, 11 + 7 tokens each, 4 of the prompt's from the cache.
    assert!(
        stdout.contains("tokens: 22 prompt (8 cached) + 14 completion = 36, 36 per item"),
        "{stdout}"
    );
    let out = deskhand(&backend.sandbox)
        .args(["history", "--database-url", db.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("36 (8 cached)"), "{listing}");
    let out = deskhand(&backend.sandbox)
        .args(["history", "1", "--database-url", db.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let detail = String::from_utf8_lossy(&out.stdout);
    assert!(
        detail.contains("tokens: 22 prompt (8 cached) + 14 completion = 36, 36 per item"),
        "{detail}"
    );
    assert!(detail.contains("11 (4 cached)+7 tokens"), "{detail}");
    assert!(
        detail.contains(": failed, 36 (8 cached) tokens"),
        "{detail}"
    );

    let out = deskhand(&backend.sandbox)
        .args([
            "run",
            "no-such-workflow",
            "--workflows",
            workflow.parent().unwrap().to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no workflow named `no-such-workflow`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A `--set` value outside the workflow's `input_choices` stops before any run is recorded.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let refused_db = common::temp_path("refused", "db");
    let out = deskhand(&backend.sandbox)
        .args(["run", "kb-grounded-reply", "--workflows"])
        .arg(&shipped)
        .args(["--set", "reply_mode=public-reply", "--database-url"])
        .arg(&refused_db)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input `reply_mode` is one of \"draft_comment\", \"public_reply\""),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    assert!(!refused_db.exists(), "no store was opened, no run recorded");
}

/// `deskhand approvals` through the binary: a run under `writes: approve` queues its writes; one
/// is approved (and applied exactly once, even if approved again), the other rejected for good.
#[tokio::test]
async fn approvals_through_the_binary_apply_once_and_rejections_stick() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let sandbox = &backend.sandbox;
    let name = common::unique_name("approve");
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        1,
        "approve",
        "",
    ));
    let dir = workflow.parent().unwrap().to_str().unwrap().to_owned();
    let db = common::temp_path("approvals", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let cli = |args: &[&str]| {
        let mut cmd = deskhand(sandbox);
        cmd.args(args)
            .args(["--database-url", &db_url, "--workflows", &dir]);
        cmd
    };

    let before = sandbox.admin().state_json();
    let run = deskhand(sandbox)
        .args(["run", workflow.to_str().unwrap(), "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let listed = cli(&["approvals", "list", "--json"])
        .output()
        .await
        .unwrap();
    let queued: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let queued = queued.as_array().unwrap().clone();
    assert_eq!(queued.len(), 2, "the update and the note: {queued:?}");
    let id_of = |tool: &str| {
        queued
            .iter()
            .find(|a| a["tool"] == tool)
            .map(|a| a["id"].to_string())
            .unwrap()
    };
    let (comment, update) = (
        id_of("create_a_zoho_desk_ticket_comment"),
        id_of("update_a_zoho_desk_ticket_by_id"),
    );
    let ticket = queued[0]["item_key"].as_str().unwrap().to_owned();
    assert_eq!(
        comments_containing(&sandbox.admin().state_json(), &ticket, &note_for(&ticket)),
        0,
        "nothing is written before approval"
    );

    let approved = cli(&["approvals", "approve", &comment, "--by", "ops"])
        .output()
        .await
        .unwrap();
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let rejected = cli(&["approvals", "reject", &update])
        .output()
        .await
        .unwrap();
    assert!(rejected.status.success());
    let again = cli(&["approvals", "approve", &comment])
        .output()
        .await
        .unwrap();
    assert!(
        !again.status.success(),
        "an applied approval is not applied twice"
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains(&comment), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let state = sandbox.admin().state_json();
    assert_eq!(comments_containing(&state, &ticket, &note_for(&ticket)), 1);
    let priority_before = before["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == ticket.as_str())
        .map(|t| t["priority"].clone())
        .unwrap();
    assert_eq!(
        sandbox.admin().ticket(&ticket).unwrap()["priority"],
        priority_before,
        "the rejected update was never sent"
    );
    let shown = cli(&["approvals", "show", &update, "--json"])
        .output()
        .await
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["state"], "rejected", "{shown}");
    assert!(shown["applied_at"].is_null(), "{shown}");
    let pending = cli(&["approvals", "list", "--json", "--state", "pending"])
        .output()
        .await
        .unwrap();
    let pending: Value = serde_json::from_slice(&pending.stdout).unwrap();
    assert_eq!(pending, serde_json::json!([]));
}

/// `run --dry-run` and `history` show what the run cost in Zoho credits and tokens, per item and
/// for the run, with the estimate for a larger backlog.
#[tokio::test]
async fn a_dry_run_and_its_history_show_the_credits_spent() {
    let backend = common::sandbox().await;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let db = common::temp_path("cost", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let before = backend.sandbox.admin().stats().credits_charged;
    let out = deskhand(&backend.sandbox)
        .current_dir(&repo)
        .args([
            "run",
            "triage-and-assign",
            "--dry-run",
            "--limit",
            "3",
            "--database-url",
            &db_url,
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let spent = backend.sandbox.admin().stats().credits_charged - before;
    assert!(spent > 0);
    assert_eq!(report["cost"]["credits"], spent, "{}", report["cost"]);
    let per_item: u64 = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["credits"].as_u64().unwrap())
        .sum();
    assert!(per_item > 0 && per_item < spent, "{}", report["cost"]);
    assert!(
        report["cost"]["per_1000_items"]["credits"]
            .as_u64()
            .unwrap()
            > spent
    );

    let id = report["run"]["id"].as_i64().unwrap().to_string();
    let detail = deskhand(&backend.sandbox)
        .args(["history", &id, "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&detail.stdout);
    assert!(
        text.contains(&format!("cost: {spent} Zoho credits")),
        "{text}"
    );
    assert!(
        text.contains("estimate for a backlog of 1,000 such items"),
        "{text}"
    );
    let first = report["items"][0]["key"].as_str().unwrap();
    let credits = report["items"][0]["credits"].as_u64().unwrap();
    assert!(
        text.contains(&format!(
            "item {first} (attempt 1): succeeded ({credits} Zoho credits)"
        )),
        "{text}"
    );
}

/// Bulk decisions through the binary: a bulk selection is not decided without a confirmation
/// (`--yes` when input is not a terminal); `--ticket` takes one ticket's writes, `--all-pending`
/// the rest; listings name tickets by number.
#[tokio::test]
async fn bulk_approvals_need_a_confirmation_and_decide_per_ticket() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let sandbox = &backend.sandbox;
    let name = common::unique_name("bulk");
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        2,
        "approve",
        "",
    ));
    let dir = workflow.parent().unwrap().to_str().unwrap().to_owned();
    let db = common::temp_path("bulk", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let cli = |args: &[&str]| {
        let mut cmd = deskhand(sandbox);
        cmd.args(args)
            .args(["--database-url", &db_url, "--workflows", &dir])
            .stdin(std::process::Stdio::null());
        cmd
    };
    let run = deskhand(sandbox)
        .args(["run", workflow.to_str().unwrap(), "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let pending = |cli: &dyn Fn(&[&str]) -> tokio::process::Command| {
        let mut cmd = cli(&["approvals", "list", "--json"]);
        async move {
            let out = cmd.output().await.unwrap();
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        }
    };
    let queued = pending(&cli).await;
    assert_eq!(queued.as_array().unwrap().len(), 4, "{queued}");
    let first = queued[0]["item_key"].as_str().unwrap().to_owned();
    let number = sandbox.admin().ticket(&first).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = cli(&["approvals", "list"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains(&format!("#{number}")), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");

    let unconfirmed = cli(&["approvals", "reject", "--all-pending"])
        .output()
        .await
        .unwrap();
    assert!(!unconfirmed.status.success());
    let stderr = String::from_utf8_lossy(&unconfirmed.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(
        pending(&cli).await.as_array().unwrap().len(),
        4,
        "nothing decided"
    );

    let one_ticket = cli(&["approvals", "approve", "--ticket", &number, "--yes"])
        .output()
        .await
        .unwrap();
    assert!(
        one_ticket.status.success(),
        "{}",
        String::from_utf8_lossy(&one_ticket.stderr)
    );
    assert_eq!(
        comments_containing(&sandbox.admin().state_json(), &first, &note_for(&first)),
        1
    );
    let rest = pending(&cli).await;
    assert_eq!(rest.as_array().unwrap().len(), 2);
    assert!(
        rest.as_array()
            .unwrap()
            .iter()
            .all(|a| a["item_key"] != first.as_str())
    );
    let second = rest[0]["item_key"].as_str().unwrap().to_owned();

    let all = cli(&["approvals", "reject", "--all-pending", "--yes"])
        .output()
        .await
        .unwrap();
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert_eq!(pending(&cli).await, serde_json::json!([]));
    assert_eq!(
        comments_containing(&sandbox.admin().state_json(), &second, &note_for(&second)),
        0
    );
}

/// A failed apply is not the end of a reviewed change: `approvals retry` applies it later, once.
#[tokio::test]
async fn a_failed_apply_is_retried_through_the_binary_and_sends_once() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let sandbox = &backend.sandbox;
    let name = common::unique_name("retry");
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        1,
        "approve",
        "",
    ));
    let dir = workflow.parent().unwrap().to_str().unwrap().to_owned();
    let db = common::temp_path("retry", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let cli = |args: &[&str]| {
        let mut cmd = deskhand(sandbox);
        cmd.args(args)
            .args(["--database-url", &db_url, "--workflows", &dir]);
        cmd
    };
    let run = deskhand(sandbox)
        .args(["run", workflow.to_str().unwrap(), "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let listed = cli(&["approvals", "list", "--json"])
        .output()
        .await
        .unwrap();
    let queued: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let comment = queued
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tool"] == "create_a_zoho_desk_ticket_comment")
        .unwrap()
        .clone();
    let id = comment["id"].to_string();
    let ticket = comment["item_key"].as_str().unwrap().to_owned();

    sandbox.admin().set_faults(FaultPlan {
        seed: None,
        rules: vec![
            FaultRule::status(503)
                .method("POST")
                .path_prefix("/api/v1/tickets/"),
        ],
    });
    let failed = cli(&["approvals", "approve", &id]).output().await.unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("approvals retry {id}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    sandbox.admin().clear_faults();
    let retried = cli(&["approvals", "retry", &id]).output().await.unwrap();
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let again = cli(&["approvals", "retry", &id]).output().await.unwrap();
    assert!(
        !again.status.success(),
        "an applied approval is not retried"
    );
    assert_eq!(
        comments_containing(&sandbox.admin().state_json(), &ticket, &note_for(&ticket)),
        1
    );
}

/// `approvals approve N --args-file FILE`: broken JSON or another ticket is one error and changes
/// nothing; a valid edit is what lands, and the proposal stays on record.
#[tokio::test]
async fn approving_with_an_args_file_sends_the_edit_and_keeps_the_proposal() {
    let llm = ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let sandbox = &backend.sandbox;
    let name = common::unique_name("edit");
    let workflow = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        1,
        "approve",
        "",
    ));
    let dir = workflow.parent().unwrap().to_str().unwrap().to_owned();
    let db = common::temp_path("edit", "db");
    let db_url = zoho_desk_mcp::registry::database::sqlite_url(db.to_str().unwrap());
    let cli = |args: &[&str]| {
        let mut cmd = deskhand(sandbox);
        cmd.args(args)
            .args(["--database-url", &db_url, "--workflows", &dir]);
        cmd
    };
    let run = deskhand(sandbox)
        .args(["run", workflow.to_str().unwrap(), "--database-url", &db_url])
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let listed = cli(&["approvals", "list", "--json"])
        .output()
        .await
        .unwrap();
    let queued: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let update = queued
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tool"] == "update_a_zoho_desk_ticket_by_id")
        .unwrap()
        .clone();
    let id = update["id"].to_string();
    let ticket = update["item_key"].as_str().unwrap().to_owned();
    let state_of = || async {
        let shown = cli(&["approvals", "show", &id, "--json"])
            .output()
            .await
            .unwrap();
        serde_json::from_slice::<Value>(&shown.stdout).unwrap()
    };
    let file = common::temp_path("edit-args", "json");
    let file_arg = file.to_str().unwrap().to_owned();
    let refused = [
        ("{\"id\": ", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{"id": "999999", "priority": "Low"}"#, "must stay"),
        (r#"{"priority": "Low"}"#, "must stay"),
    ];
    for (text, says) in refused {
        std::fs::write(&file, text).unwrap();
        let out = cli(&["approvals", "approve", &id, "--args-file", &file_arg])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains(says), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(state_of().await["state"], "pending", "{text}");
    }
    // A priority the ticket has neither now nor in the proposal, so only the edit can set it.
    let before = sandbox.admin().ticket(&ticket).unwrap()["priority"].clone();
    let chosen = if before == "Low" { "Medium" } else { "Low" };
    std::fs::write(
        &file,
        serde_json::json!({"id": ticket, "priority": chosen}).to_string(),
    )
    .unwrap();
    let approved = cli(&[
        "approvals",
        "approve",
        &id,
        "--args-file",
        &file_arg,
        "--by",
        "ops",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    assert!(String::from_utf8_lossy(&approved.stdout).contains("as edited"));
    assert_eq!(sandbox.admin().ticket(&ticket).unwrap()["priority"], chosen);
    let shown = state_of().await;
    assert_eq!(shown["state"], "applied", "{shown}");
    assert_eq!(shown["arguments"]["priority"], chosen, "{shown}");
    assert_eq!(shown["proposed_arguments"]["priority"], "High", "{shown}");
    assert_eq!(shown["decided_by"], "ops", "{shown}");
}
