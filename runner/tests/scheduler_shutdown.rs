//! `deskhand schedule` as a process: /healthz and /metrics on a free port, and SIGTERM that lets
//! the items in flight finish (within a grace of one item lease by default, or --grace) or
//! aborts them, exits 0 and leaves no lease behind. A run cut short is recorded `cancelled`,
//! never `succeeded`; a run whose process was killed is recorded `interrupted` once its lease
//! lapses, and its items are worked again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::time::Duration;

use deskhand::store::{ItemStatus, RunFilter, RunStatus, Store};
use scheduler_support::*;

struct Setup {
    name: String,
    dir: std::path::PathBuf,
    db: String,
    llm: deskhand_e2e::scripted_llm::ScriptedLlm,
}

async fn setup(delay: Duration) -> Setup {
    setup_with(delay, "limits: { item_timeout: 2m, concurrency: 2 }\n").await
}

async fn setup_with(delay: Duration, limits: &str) -> Setup {
    let name = common::unique_name("shutdown");
    let llm = commenting_llm(&name, delay).await;
    let dir = temp_dir("shutdown");
    write_workflow(&dir, &name, &workflow_body(&name, &llm, limits));
    let db = common::temp_path("shutdown", "db")
        .to_str()
        .unwrap()
        .to_owned();
    Setup { name, dir, db, llm }
}

fn workflow_body(
    name: &str,
    llm: &deskhand_e2e::scripted_llm::ScriptedLlm,
    limits: &str,
) -> String {
    commenter_body("*/2 * * * * *", &llm.base_url(), name, limits)
        .replace("limit: 12", "limit: 4")
        .replace("max_items: 12", "max_items: 4")
}

async fn leased_items(store: &Store, workflow: &str) -> usize {
    store
        .list_items(workflow)
        .await
        .unwrap()
        .iter()
        .filter(|i| i.status == ItemStatus::Running || i.lease_owner.is_some())
        .count()
}

#[tokio::test]
async fn sigterm_lets_the_run_in_flight_finish_and_exits_zero() {
    zoho_desk_mcp::install_crypto_provider();
    let s = setup(Duration::from_millis(800)).await;
    let mut process = ScheduleProcess::spawn(
        &[
            "--sandbox",
            "--workflows",
            s.dir.to_str().unwrap(),
            "--database-url",
            &s.db,
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        &[],
    );
    let serving = process
        .log_line("serving /healthz and /metrics", Duration::from_secs(60))
        .await;
    let addr = serving["fields"]["addr"].as_str().unwrap().to_owned();
    process
        .log_line(
            "run store is SQLite: fine for one scheduler process",
            Duration::from_secs(5),
        )
        .await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(&s.db))
        .await
        .unwrap();
    // Wait until an item is being worked, then ask the process to stop.
    wait_for(Duration::from_secs(60), "an item in flight", || async {
        (leased_items(&store, &s.name).await > 0).then_some(())
    })
    .await;
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "deskhand_ticks_total{{workflow=\"{}\",outcome=\"claimed\"}}",
            s.name
        )),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE deskhand_tick_lag_seconds gauge"));
    process.signal("TERM");
    let code = process.exit_code(Duration::from_secs(120)).await;
    assert_eq!(code, Some(0), "{}", process.log_dump());
    // The default grace is one item lease: item_timeout 2m x 1.25 + 1s.
    let draining = process
        .log_line(
            "stopped claiming ticks; waiting for runs in flight",
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(
        draining["fields"]["grace_ms"].as_u64(),
        Some(151_000),
        "{draining}"
    );

    let runs = store
        .list_runs(&RunFilter {
            workflow: Some(s.name.clone()),
            limit: 100,
        })
        .await
        .unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Running),
        "{runs:?}"
    );
    let ran = runs
        .iter()
        .find(|r| r.counts.total > 0)
        .expect("a run with items");
    // Stopped after its first items: those drained, the rest never started. Cut short, so
    // cancelled with its counts, not succeeded.
    assert_eq!(ran.status, RunStatus::Cancelled, "{ran:?}");
    assert_eq!(ran.counts.total, 4, "{ran:?}");
    assert!(ran.counts.succeeded >= 1, "drained, not aborted: {ran:?}");
    assert!(ran.counts.skipped >= 1, "{ran:?}");
    assert_eq!(ran.counts.succeeded + ran.counts.skipped, 4, "{ran:?}");
    assert!(
        ran.error
            .as_deref()
            .unwrap_or_default()
            .contains("not started"),
        "{ran:?}"
    );
    assert_eq!(leased_items(&store, &s.name).await, 0);
    let items = store.list_items(&s.name).await.unwrap();
    let pending = items
        .iter()
        .filter(|i| i.status == ItemStatus::Pending)
        .count();
    assert_eq!(
        i64::try_from(pending).unwrap(),
        ran.counts.skipped,
        "the items not started stay due: {items:?}"
    );
    // The drained run finished its items: every started ticket got its comment.
    assert!(s.llm.hits() > 0);
}

#[tokio::test]
async fn sigterm_aborts_after_the_grace_period_and_releases_leases() {
    // Each model reply takes far longer than the grace period.
    let s = setup(Duration::from_secs(60)).await;
    let mut process = ScheduleProcess::spawn(
        &[
            "--sandbox",
            "--workflows",
            s.dir.to_str().unwrap(),
            "--database-url",
            &s.db,
            "--metrics-addr",
            "off",
            "--grace",
            "1s",
        ],
        &[],
    );
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(&s.db))
        .await
        .unwrap();
    wait_for(Duration::from_secs(60), "an item in flight", || async {
        (leased_items(&store, &s.name).await > 0).then_some(())
    })
    .await;
    process.signal("TERM");
    let code = process.exit_code(Duration::from_secs(60)).await;
    assert_eq!(code, Some(0), "{}", process.log_dump());
    process
        .log_line(
            "grace period over; aborting runs in flight",
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(
        leased_items(&store, &s.name).await,
        0,
        "no lease left behind"
    );
    let items = store.list_items(&s.name).await.unwrap();
    assert!(
        items.iter().all(|i| i.status == ItemStatus::Pending),
        "handed back untouched: {items:?}"
    );
    let runs = store
        .list_runs(&RunFilter {
            workflow: Some(s.name.clone()),
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        runs.iter().any(|r| r.status == RunStatus::Cancelled),
        "{runs:?}"
    );
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Running),
        "{runs:?}"
    );
}

#[tokio::test]
async fn a_killed_schedulers_run_is_closed_as_interrupted_and_its_items_worked_again() {
    // The model never answers in time; item leases last 2s x 1.25 + 1s = 3.5s.
    let s = setup_with(
        Duration::from_secs(60),
        "limits: { item_timeout: 2s, concurrency: 2 }\n",
    )
    .await;
    let args = |dir: &std::path::Path| {
        vec![
            "--sandbox".to_owned(),
            "--workflows".to_owned(),
            dir.to_str().unwrap().to_owned(),
            "--database-url".to_owned(),
            s.db.clone(),
            "--metrics-addr".to_owned(),
            "off".to_owned(),
        ]
    };
    let first_args = args(&s.dir);
    let mut first = ScheduleProcess::spawn(
        &first_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(&s.db))
        .await
        .unwrap();
    wait_for(Duration::from_secs(60), "an item in flight", || async {
        (leased_items(&store, &s.name).await > 0).then_some(())
    })
    .await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let killed = store
        .list_runs(&RunFilter {
            workflow: Some(s.name.clone()),
            limit: 100,
        })
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.status == RunStatus::Running)
        .expect("the killed process left its run open");

    // Once its lease lapses, `deskhand history` shows it interrupted, with the reason.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let history = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args([
            "history",
            "--json",
            "--workflow",
            &s.name,
            "--database-url",
            &s.db,
        ])
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(history.status.success(), "{history:?}");
    let listed: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == killed.id)
        .unwrap()
        .clone();
    assert_eq!(row["status"], "interrupted", "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap_or_default()
            .contains("lease lapsed"),
        "{row}"
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "{listed}"
    );

    // A new scheduler (with a model that answers) works the dead process's items.
    let fast = commenting_llm(&s.name, Duration::ZERO).await;
    let dir = temp_dir("shutdown-restart");
    write_workflow(
        &dir,
        &s.name,
        &workflow_body(
            &s.name,
            &fast,
            "limits: { item_timeout: 2s, concurrency: 2 }\n",
        ),
    );
    let second_args = args(&dir);
    let mut second = ScheduleProcess::spawn(
        &second_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    let items = wait_for(Duration::from_secs(60), "every item to succeed", || async {
        let items = store.list_items(&s.name).await.unwrap();
        (items.len() == 4 && items.iter().all(|i| i.status == ItemStatus::Succeeded))
            .then_some(items)
    })
    .await;
    assert!(items.iter().all(|i| i.lease_owner.is_none()), "{items:?}");
    second.signal("TERM");
    assert_eq!(
        second.exit_code(Duration::from_secs(60)).await,
        Some(0),
        "{}",
        second.log_dump()
    );
    assert_eq!(
        store.get_run(killed.id).await.unwrap().unwrap().status,
        RunStatus::Interrupted
    );
    drop(s.llm);
}
