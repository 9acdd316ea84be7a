//! Reloading the workflow directory (what SIGHUP does) while a run is in flight: changes and new
//! workflows take effect, removed ones stop firing, the run in flight finishes, and a broken
//! directory is refused without dropping anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use deskhand::engine::Engine;
use deskhand::mcp::EmbeddedServer;
use deskhand::scheduler::{self, Metrics, SchedulerConfig};
use deskhand::store::{Clock, ManualClock, RunFilter, RunStatus, Store};
use scheduler_support::*;

#[tokio::test]
async fn reload_applies_changes_without_dropping_the_run_in_flight() {
    let sandbox = common::sandbox().await;
    let a = common::unique_name("reload-a");
    let b = common::unique_name("reload-b");
    let llm = commenting_llm(&a, Duration::from_millis(700)).await;
    let dir = temp_dir("reload");
    let body = |schedule: &str| {
        commenter_body(schedule, &llm.base_url(), &a, "")
            .replace("limit: 12", "limit: 2")
            .replace("max_items: 12", "max_items: 2")
    };
    write_workflow(&dir, &a, &body("*/10 * * * * *"));
    let url = zoho_desk_mcp::registry::database::sqlite_url(
        common::temp_path("reload", "db").to_str().unwrap(),
    );
    let store = Store::connect(&url).await.unwrap();
    let engine = Engine::new(store.clone(), "reload-owner")
        .with_embedded(EmbeddedServer::new(sandbox.gateway.clone()));
    let t0 = Utc::now().timestamp_millis() / 10_000 * 10_000;
    let clock = ManualClock::new(t0);
    let mut config = SchedulerConfig::new(&dir);
    config.clock = Clock::Manual(clock.clone());
    let handle = scheduler::start(Arc::new(engine), Metrics::new(), config)
        .await
        .unwrap();
    let runs_of = |name: String| {
        let store = store.clone();
        async move {
            store
                .list_runs(&RunFilter {
                    workflow: Some(name),
                    limit: 100,
                })
                .await
                .unwrap()
        }
    };

    clock.set(t0 + 10_000);
    handle.wake(&a);
    let running = wait_for(Duration::from_secs(30), "a's run", || async {
        // Past `queued`: the tick has its turn.
        runs_of(a.clone())
            .await
            .into_iter()
            .find(|r| r.status != RunStatus::Queued)
    })
    .await;
    assert_eq!(running.status, RunStatus::Running);

    // Change a's schedule and add b, while a's run is in flight.
    write_workflow(&dir, &a, &body("*/5 * * * * *"));
    write_workflow(
        &dir,
        &b,
        &commenter_body(
            "0 0 3 * * *",
            &llm.base_url(),
            &b,
            "timezone: Europe/Berlin\n",
        ),
    );
    let mut names = handle.reload().await.unwrap();
    names.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(names, expected);
    let status = handle.status().await;
    let sa = status.iter().find(|s| s.name == a).unwrap();
    assert_eq!(sa.expression, "*/5 * * * * *");
    assert_eq!(sa.running, 1, "the run in flight is still tracked");
    assert_eq!(
        sa.last_tick.timestamp_millis(),
        t0 + 10_000,
        "progress kept"
    );
    let sb = status.iter().find(|s| s.name == b).unwrap();
    assert_eq!(sb.timezone, "Europe/Berlin");

    // A broken directory is refused and changes nothing.
    std::fs::write(dir.join("broken.yaml"), "version: 1\nname: [oops\n").unwrap();
    let refused = handle.reload().await.unwrap_err();
    assert!(refused.contains("broken.yaml"), "{refused}");
    assert_eq!(handle.status().await.len(), 2);
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();

    // Remove a: it stops firing, but its run in flight completes normally.
    std::fs::remove_file(dir.join(format!("{a}.yaml"))).unwrap();
    assert_eq!(handle.reload().await.unwrap(), vec![b.clone()]);
    clock.set(t0 + 15_000);
    handle.wake(&a);
    let finished = wait_for(Duration::from_secs(60), "a's run to finish", || async {
        runs_of(a.clone())
            .await
            .into_iter()
            .find(|r| !r.status.is_open())
    })
    .await;
    assert_eq!(finished.status, RunStatus::Succeeded, "{finished:?}");
    assert_eq!(finished.counts.succeeded, 2);
    let runs = runs_of(a.clone()).await;
    assert_eq!(runs.len(), 1, "no tick of a after its removal: {runs:?}");
    let report = handle.shutdown().await;
    assert_eq!(report.aborted, 0);
}
