//! The headline guarantee, on PostgreSQL: three `deskhand schedule` replicas on one database and
//! one sandbox, a tick every two seconds, writes applied. Every (workflow, scheduled_for) is
//! *executed* at most once (counted from what the replicas did and what the model was sent, not
//! from the run table, whose UNIQUE key could not show a duplicate), every ticket is handled
//! exactly once, and a replica killed with SIGKILL mid-run loses nothing: its run is closed as
//! interrupted and the others take its items over once its leases lapse.
//!
//! Needs `DESKHAND_TEST_POSTGRES_URL` (see `deskhand_e2e::postgres`: under CI its absence fails
//! the test; elsewhere the skip is reported in the test output).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deskhand::store::{ItemStatus, RunFilter, RunStatus, Store};
use scheduler_support::*;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

const TICKETS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_each_tick_once_and_survive_a_kill() {
    let Some(pg) = deskhand_e2e::postgres::test_url() else {
        return;
    };
    zoho_desk_mcp::install_crypto_provider();

    // One sandbox process, shared by every replica through the ZOHO_* variables.
    // Exactly TICKETS tickets: the ticks drain that queue, and then have nothing left to do.
    let seed = common::temp_path("replicas-seed", "json");
    std::fs::write(
        &seed,
        common::seed_with_tickets(TICKETS).to_json().to_string(),
    )
    .unwrap();
    let mut sandbox = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["sandbox", "--port", "0", "--json", "--seed-file"])
        .arg(&seed)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(sandbox.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    let s = |k: &str| info[k].as_str().unwrap().to_owned();
    let zoho_env = [
        ("ZOHO_DESK_BASE_URL", s("base_url")),
        ("ZOHO_ACCOUNTS_URL", s("accounts_url")),
        ("ZOHO_ORG_ID", s("org_id")),
        ("ZOHO_CLIENT_ID", s("client_id")),
        ("ZOHO_CLIENT_SECRET", s("client_secret")),
        ("ZOHO_REFRESH_TOKEN", s("refresh_token")),
        ("DATABASE_URL", pg.clone()),
    ];

    let name = common::unique_name("replicas");
    // Slow replies keep runs (and leases) in flight long enough to kill a replica mid-item.
    let llm = commenting_llm(&name, Duration::from_millis(700)).await;
    let dir = temp_dir("replicas");
    write_workflow(
        &dir,
        &name,
        &commenter_body(
            "*/2 * * * * *",
            &llm.base_url(),
            &name,
            // A short item_timeout makes a dead replica's leases lapse quickly (one lease is
            // 5s x 1.25 + 1s). `queue`: a tick meeting a run in flight waits for its turn, across
            // replicas, so a tick that went to two replicas would be executed twice, not skipped.
            "overlap: queue\nlimits: { item_timeout: 5s, concurrency: 2 }\n",
        ),
    );

    let mut replicas: Vec<(String, ScheduleProcess)> = (0..3)
        .map(|i| {
            let owner = format!("{name}-r{i}");
            let env: Vec<(&str, &str)> = zoho_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let process = ScheduleProcess::spawn(
                &[
                    "--workflows",
                    dir.to_str().unwrap(),
                    "--owner",
                    &owner,
                    "--metrics-addr",
                    "off",
                ],
                &env,
            );
            (owner, process)
        })
        .collect();
    for (_, p) in &replicas {
        p.log_line("run store is PostgreSQL", Duration::from_secs(60))
            .await;
    }

    let store = Store::connect(&pg).await.unwrap();
    // Kill -9 whichever replica holds an item lease first.
    let (victim_owner, victim_item) =
        wait_for(Duration::from_secs(90), "an item in flight", || async {
            store
                .list_items(&name)
                .await
                .unwrap()
                .into_iter()
                .find(|i| i.status == ItemStatus::Running)
                .and_then(|i| i.lease_owner.map(|o| (o, i.item_key)))
        })
        .await;
    let victim = replicas
        .iter()
        .position(|(owner, _)| *owner == victim_owner)
        .expect("the lease holder is one of ours");
    let (_, mut killed) = replicas.remove(victim);
    killed.child.start_kill().unwrap();
    killed.child.wait().await.unwrap();
    let killed_runs: Vec<i64> = store
        .list_runs(&RunFilter {
            workflow: Some(name.clone()),
            limit: 1000,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.owner == victim_owner && r.status == RunStatus::Running)
        .map(|r| r.id)
        .collect();
    assert!(!killed_runs.is_empty(), "the victim was running a run");

    // Every ticket gets handled, including the one the dead replica was working on.
    let items = wait_for(
        Duration::from_secs(180),
        "every item to succeed",
        || async {
            let items = store.list_items(&name).await.unwrap();
            (items.len() == TICKETS && items.iter().all(|i| i.status == ItemStatus::Succeeded))
                .then_some(items)
        },
    )
    .await;
    let taken_over = items.iter().find(|i| i.item_key == victim_item).unwrap();
    assert_eq!(taken_over.status, ItemStatus::Succeeded);

    // A few more ticks with the survivors, then a clean stop.
    let before = store
        .list_runs(&RunFilter {
            workflow: Some(name.clone()),
            limit: 1000,
        })
        .await
        .unwrap()
        .len();
    wait_for(
        Duration::from_secs(60),
        "more ticks after the takeover",
        || async {
            let now = store
                .list_runs(&RunFilter {
                    workflow: Some(name.clone()),
                    limit: 1000,
                })
                .await
                .unwrap()
                .len();
            (now >= before + 4).then_some(())
        },
    )
    .await;
    for (_, p) in &mut replicas {
        p.signal("TERM");
    }
    for (owner, p) in &mut replicas {
        assert_eq!(
            p.exit_code(Duration::from_secs(60)).await,
            Some(0),
            "{owner}: {}",
            p.log_dump()
        );
    }

    // Each tick executed at most once, across all replicas (the killed one included), counted
    // from what the replicas did: the run starts they logged...
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    for logs in replicas
        .iter()
        .map(|(_, p)| &p.logs)
        .chain(std::iter::once(&killed.logs))
    {
        for line in logs.lock().unwrap().iter() {
            let message = line["fields"]["message"].as_str().unwrap_or_default();
            if message.contains("tick claimed; run starting")
                || message.contains("queued tick starting")
            {
                let tick = line["fields"]["scheduled_for"].as_str().unwrap().to_owned();
                *starts.entry(tick).or_default() += 1;
            }
        }
    }
    assert!(starts.len() >= 2, "runs started: {starts:?}");
    assert!(
        starts.values().all(|n| *n == 1),
        "a tick was executed more than once: {starts:?}"
    );
    // ... and the runs the model was asked to work for each tick.
    let executions = executions_per_tick(&llm.requests());
    assert!(!executions.is_empty(), "the model was asked nothing");
    assert!(
        executions.values().all(|runs| runs.len() == 1),
        "a tick was executed by several runs: {executions:?}"
    );

    // Every run is closed; the killed replica's is interrupted, not running forever.
    let runs = store
        .list_runs(&RunFilter {
            workflow: Some(name.clone()),
            limit: 1000,
        })
        .await
        .unwrap();
    assert!(runs.iter().all(|r| !r.status.is_open()), "{runs:?}");
    for id in &killed_runs {
        let run = runs.iter().find(|r| r.id == *id).unwrap();
        assert_eq!(run.status, RunStatus::Interrupted, "{run:?}");
        assert!(
            run.error
                .as_deref()
                .unwrap_or_default()
                .contains(&victim_owner),
            "{run:?}"
        );
    }

    // One run row per tick, across all replicas.
    let runs = store
        .list_runs(&RunFilter {
            workflow: Some(name.clone()),
            limit: 1000,
        })
        .await
        .unwrap();
    let mut per_tick: BTreeMap<i64, usize> = BTreeMap::new();
    for run in &runs {
        *per_tick
            .entry(run.scheduled_for.expect("scheduled runs carry their tick"))
            .or_default() += 1;
    }
    assert!(per_tick.len() >= 8, "ticks ran: {per_tick:?}");
    assert!(per_tick.values().all(|n| *n == 1), "{per_tick:?}");
    assert!(
        per_tick.keys().all(|t| t % 2000 == 0),
        "ticks are nominal times: {per_tick:?}"
    );
    let owners: BTreeSet<&str> = runs.iter().map(|r| r.owner.as_str()).collect();
    assert!(
        owners.len() >= 2,
        "ticks were claimed by several replicas: {owners:?}"
    );
    // Losers logged and skipped.
    let lost = replicas
        .iter()
        .map(|(_, p)| {
            p.logs
                .lock()
                .unwrap()
                .iter()
                .filter(|l| {
                    l["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("already claimed by another replica"))
                })
                .count()
        })
        .sum::<usize>();
    assert!(lost > 0, "no replica ever lost a tick race");

    // Each ticket handled exactly once in Zoho (the sandbox), despite the kill.
    let state: Value = reqwest::get(format!("{}/_sandbox/state", s("base_url")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let comments = comment_counts(&state, &name);
    assert_eq!(comments.len(), TICKETS, "{comments:?}");
    assert!(
        comments.values().all(|n| *n == 1),
        "one comment per ticket: {comments:?}"
    );

    // The survivors left no lease behind.
    let items = store.list_items(&name).await.unwrap();
    assert!(items.iter().all(|i| i.lease_owner.is_none()), "{items:?}");
    let _ = sandbox.start_kill();
}
