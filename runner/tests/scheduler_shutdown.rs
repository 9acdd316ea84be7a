//! `deskhand schedule` as a process: /healthz and /metrics on a free port, and SIGTERM that lets
//! the run in flight finish (or aborts it after --grace), exits 0 and leaves no lease behind.
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
    let name = common::unique_name("shutdown");
    let llm = commenting_llm(&name, delay).await;
    let dir = temp_dir("shutdown");
    write_workflow(
        &dir,
        &name,
        &commenter_body(
            "*/2 * * * * *",
            &llm.base_url(),
            &name,
            "limits: { item_timeout: 2m, concurrency: 2 }\n",
        )
        .replace("limit: 12", "limit: 4")
        .replace("max_items: 12", "max_items: 4"),
    );
    let db = common::temp_path("shutdown", "db")
        .to_str()
        .unwrap()
        .to_owned();
    Setup { name, dir, db, llm }
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
            "--grace",
            "2m",
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
    assert_eq!(
        ran.status,
        RunStatus::Succeeded,
        "drained, not aborted: {ran:?}"
    );
    assert_eq!(leased_items(&store, &s.name).await, 0);
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
