//! Runs and exactly-once schedule ticks, on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{store_backends, unique_name};
use deskhand::store::{
    ManualClock, NewRun, RunCounts, RunFilter, RunFinish, RunStatus, StoreError, Trigger,
};
use serde_json::json;

#[tokio::test]
async fn runs_are_created_finished_listed_and_timed() {
    for backend in store_backends() {
        let name = backend.name;
        let clock = ManualClock::new(1_700_000_000_000);
        let store = backend
            .open()
            .await
            .with_clock(deskhand::store::Clock::Manual(clock.clone()));
        let workflow = unique_name("runs");
        let other = unique_name("runs-other");

        let first = store
            .create_run(
                &NewRun::new(&workflow, Trigger::Cli, "replica-a")
                    .inputs(json!({"department": "Support"}))
                    .model("openai/gpt-4.1-mini", true),
            )
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_millis(10));
        let second = store
            .create_run(
                &NewRun::new(&workflow, Trigger::Demo, "replica-a").model("baseline", false),
            )
            .await
            .unwrap();
        store
            .create_run(&NewRun::new(&other, Trigger::Eval, "replica-b"))
            .await
            .unwrap();

        let run = store.get_run(first).await.unwrap().expect("run exists");
        assert_eq!(run.status, RunStatus::Running, "{name}");
        assert_eq!(run.trigger, Trigger::Cli, "{name}");
        assert_eq!(run.inputs, json!({"department": "Support"}), "{name}");
        assert_eq!(run.model.as_deref(), Some("openai/gpt-4.1-mini"), "{name}");
        assert!(run.llm_used, "{name}");
        assert_eq!(
            run.duration_ms(),
            None,
            "{name}: running runs have no duration"
        );

        clock.advance(std::time::Duration::from_millis(1500));
        let finished = store
            .finish_run(
                first,
                &RunFinish {
                    status: RunStatus::Partial,
                    summary: json!({"assigned": 3}),
                    counts: RunCounts {
                        total: 5,
                        succeeded: 3,
                        failed: 1,
                        skipped: 1,
                    },
                    error: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(finished.status, RunStatus::Partial, "{name}");
        assert_eq!(finished.duration_ms(), Some(1510), "{name}");
        assert_eq!(finished.summary, Some(json!({"assigned": 3})), "{name}");
        assert_eq!(finished.counts.failed, 1, "{name}");
        assert_eq!(
            store.get_run(first).await.unwrap().unwrap(),
            finished,
            "{name}"
        );

        // A run finishes once.
        let again = store
            .finish_run(
                first,
                &RunFinish {
                    status: RunStatus::Succeeded,
                    summary: json!({}),
                    counts: RunCounts::default(),
                    error: None,
                },
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::RunFinished { ref status, .. }) if status == "partial"),
            "{name}: {again:?}"
        );
        let missing = store
            .finish_run(
                i64::MAX,
                &RunFinish {
                    status: RunStatus::Cancelled,
                    summary: json!({}),
                    counts: RunCounts::default(),
                    error: Some("cancelled".into()),
                },
            )
            .await;
        assert!(
            matches!(missing, Err(StoreError::RunNotFound(_))),
            "{name}: {missing:?}"
        );

        let listed = store
            .list_runs(&RunFilter {
                workflow: Some(workflow.clone()),
                limit: 10,
            })
            .await
            .unwrap();
        let ids: Vec<i64> = listed.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![second, first], "{name}: newest first, filtered");
        let one = store
            .list_runs(&RunFilter {
                workflow: Some(workflow.clone()),
                limit: 1,
            })
            .await
            .unwrap();
        assert_eq!(one.len(), 1, "{name}");
        let all = store.list_runs(&RunFilter::default()).await.unwrap();
        assert!(!all.is_empty(), "{name}: unfiltered listing returns runs");
        assert_eq!(store.get_run(i64::MAX).await.unwrap(), None, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_for_a_tick_fire_it_once() {
    for backend in store_backends() {
        let name = backend.name;
        // Two pools, as two replicas would have.
        let a = backend.open().await;
        let b = backend.open().await;
        let workflow = unique_name("tick-race");
        let base = 1_800_000_000_000_i64;
        for i in 0..20 {
            let tick = base + i * 900_000;
            let (won_a, won_b) = tokio::join!(
                a.claim_tick(&workflow, tick, "replica-a"),
                b.claim_tick(&workflow, tick, "replica-b"),
            );
            let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
            assert!(
                won_a.is_some() != won_b.is_some(),
                "{name}: tick {i}: exactly one claimant wins ({won_a:?}, {won_b:?})"
            );
            let run_id = won_a.or(won_b).unwrap();
            let run = a.get_run(run_id).await.unwrap().unwrap();
            assert_eq!(run.trigger, Trigger::Schedule, "{name}");
            assert_eq!(run.scheduled_for, Some(tick), "{name}");
            let owner = if won_a.is_some() {
                "replica-a"
            } else {
                "replica-b"
            };
            assert_eq!(run.owner, owner, "{name}");
        }
        let runs = a
            .list_runs(&RunFilter {
                workflow: Some(workflow.clone()),
                limit: 100,
            })
            .await
            .unwrap();
        assert_eq!(runs.len(), 20, "{name}: one run per tick");
        assert_eq!(
            a.last_tick(&workflow).await.unwrap(),
            Some(base + 19 * 900_000),
            "{name}"
        );
    }
}

#[tokio::test]
async fn ticks_are_unique_per_workflow_and_catch_up_reads_the_last() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let workflow = unique_name("tick");
        let other = unique_name("tick-other");
        assert_eq!(store.last_tick(&workflow).await.unwrap(), None, "{name}");

        let run = NewRun::tick(&workflow, 1000, "replica-a")
            .inputs(json!({"x": 1}))
            .model("baseline", false);
        let id = store
            .claim_tick_run(&run)
            .await
            .unwrap()
            .expect("first claim wins");
        assert_eq!(store.claim_tick_run(&run).await.unwrap(), None, "{name}");
        assert_eq!(
            store.get_run(id).await.unwrap().unwrap().inputs,
            json!({"x": 1}),
            "{name}"
        );
        // Same time, another workflow: its own tick.
        assert!(
            store
                .claim_tick(&other, 1000, "replica-a")
                .await
                .unwrap()
                .is_some(),
            "{name}"
        );
        // A plain create_run cannot take a claimed tick either.
        let taken = store.create_run(&run).await;
        assert!(
            matches!(taken, Err(StoreError::TickTaken { .. })),
            "{name}: {taken:?}"
        );
        // Runs without a tick never collide.
        store
            .create_run(&NewRun::new(&workflow, Trigger::Cli, "cli"))
            .await
            .unwrap();
        store
            .create_run(&NewRun::new(&workflow, Trigger::Cli, "cli"))
            .await
            .unwrap();
        // A tick needs a time.
        let invalid = store
            .claim_tick_run(&NewRun::new(&workflow, Trigger::Schedule, "replica-a"))
            .await;
        assert!(
            matches!(invalid, Err(StoreError::Invalid(_))),
            "{name}: {invalid:?}"
        );

        store
            .claim_tick(&workflow, 5000, "replica-b")
            .await
            .unwrap()
            .unwrap();
        store
            .claim_tick(&workflow, 3000, "replica-b")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.last_tick(&workflow).await.unwrap(),
            Some(5000),
            "{name}"
        );
    }
}

#[tokio::test]
async fn opening_an_already_migrated_database_is_harmless() {
    for backend in store_backends() {
        let name = backend.name;
        // The first open creates the SQLite file (switching a new file to WAL wants it alone);
        // later replicas may start together.
        let first = backend.open().await;
        let (a, b) = tokio::join!(backend.open(), backend.open());
        let workflow = unique_name("migrate");
        let id = a
            .create_run(&NewRun::new(&workflow, Trigger::Cli, "cli"))
            .await
            .unwrap();
        assert!(b.get_run(id).await.unwrap().is_some(), "{name}");
        assert!(first.get_run(id).await.unwrap().is_some(), "{name}");
    }
}
