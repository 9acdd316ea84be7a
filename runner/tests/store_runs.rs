//! Runs and exactly-once schedule ticks, on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{store_backends, unique_name};
use std::time::Duration;

use deskhand::store::{
    Clock, ManualClock, NewRun, RunCounts, RunFilter, RunFinish, RunStatus, RunTurn, StoreError,
    Trigger,
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

/// Finishes a run as succeeded.
fn succeeded() -> RunFinish {
    RunFinish {
        status: RunStatus::Succeeded,
        summary: json!({}),
        counts: RunCounts::default(),
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_ticks_on_two_replicas_start_one_at_a_time() {
    for backend in store_backends() {
        let name = backend.name;
        // Two pools, as two replicas would have.
        let a = backend.open().await;
        let b = backend.open().await;
        let lease = Duration::from_secs(60);
        for round in 0..20 {
            let workflow = unique_name("turns");
            // A run in flight; each replica then claims a tick, which has to wait.
            let live = a
                .create_run(&NewRun::new(&workflow, Trigger::Cli, "replica-c"))
                .await
                .unwrap();
            let tick_a = a
                .claim_tick_run(&NewRun::tick(&workflow, 1_000, "replica-a").lease(lease))
                .await
                .unwrap()
                .unwrap();
            let tick_b = b
                .claim_tick_run(&NewRun::tick(&workflow, 2_000, "replica-b").lease(lease))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                a.get_run(tick_a).await.unwrap().unwrap().status,
                RunStatus::Queued,
                "{name}: a claimed tick is queued until it gets its turn"
            );
            for (store, tick) in [(&a, tick_a), (&b, tick_b)] {
                match store.take_turn(tick, lease).await.unwrap() {
                    RunTurn::Waiting {
                        behind,
                        queued_elsewhere,
                    } => {
                        assert_eq!(behind.id, live, "{name}");
                        assert!(queued_elsewhere, "{name}: the other tick waits too");
                    }
                    RunTurn::Started => panic!("{name}: started beside a live run"),
                }
            }
            // The run in flight ends; both replicas ask at the same moment.
            a.finish_run(live, &succeeded()).await.unwrap();
            let (turn_a, turn_b) =
                tokio::join!(a.take_turn(tick_a, lease), b.take_turn(tick_b, lease));
            let (turn_a, turn_b) = (turn_a.unwrap(), turn_b.unwrap());
            let started: Vec<i64> = [(tick_a, &turn_a), (tick_b, &turn_b)]
                .iter()
                .filter(|(_, t)| **t == RunTurn::Started)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(
                started.len(),
                1,
                "{name}: round {round}: exactly one queued tick starts ({turn_a:?}, {turn_b:?})"
            );
            let (winner, loser) = if started[0] == tick_a {
                (tick_a, tick_b)
            } else {
                (tick_b, tick_a)
            };
            let turn_loser = if loser == tick_a { &turn_a } else { &turn_b };
            assert!(
                matches!(turn_loser, RunTurn::Waiting { behind, .. } if behind.id == winner),
                "{name}: the other waits behind the winner: {turn_loser:?}"
            );
            let statuses = [status(&a, winner).await, status(&a, loser).await];
            assert_eq!(statuses, [RunStatus::Running, RunStatus::Queued], "{name}");
            // Once the winner is done, the loser gets its turn.
            a.finish_run(winner, &succeeded()).await.unwrap();
            assert_eq!(
                a.take_turn(loser, lease).await.unwrap(),
                RunTurn::Started,
                "{name}"
            );
            a.finish_run(loser, &succeeded()).await.unwrap();
            // A closed run never gets a turn.
            assert!(
                matches!(
                    a.take_turn(loser, lease).await,
                    Err(StoreError::RunFinished { .. })
                ),
                "{name}"
            );
        }
    }
}

async fn status(store: &deskhand::store::Store, id: i64) -> RunStatus {
    store.get_run(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_dead_owners_run_is_closed_when_its_lease_lapses_and_its_items_are_offered_again() {
    for backend in store_backends() {
        let name = backend.name;
        let clock = ManualClock::new(1_900_000_000_000);
        let store = backend
            .open()
            .await
            .with_clock(Clock::Manual(clock.clone()));
        let workflow = unique_name("lapsed");
        let lease = Duration::from_secs(10);
        // The dead replica: a run and an item, both under leases it will never renew.
        let run = store
            .create_run(&NewRun::new(&workflow, Trigger::Schedule, "dead-replica").lease(lease))
            .await
            .unwrap();
        store
            .offer_items(&workflow, &[("ticket-1".to_owned(), None)], 3)
            .await
            .unwrap();
        store
            .claim_item(&workflow, "ticket-1", "dead-replica", lease)
            .await
            .unwrap()
            .unwrap();
        // A live run on another replica, renewing its lease.
        let live = store
            .create_run(&NewRun::new(&workflow, Trigger::Schedule, "live-replica").lease(lease))
            .await
            .unwrap();

        clock.advance(Duration::from_secs(8));
        assert!(store.renew_run(live, lease).await.unwrap(), "{name}");
        assert!(
            store
                .close_lapsed_runs(Some(&workflow))
                .await
                .unwrap()
                .is_empty(),
            "{name}: nothing lapsed yet"
        );
        assert!(
            store
                .claim_item(&workflow, "ticket-1", "live-replica", lease)
                .await
                .unwrap()
                .is_none(),
            "{name}: the item is still held"
        );
        let live_ids: Vec<i64> = store
            .live_runs(&workflow)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(live_ids, [run, live], "{name}");

        clock.advance(Duration::from_secs(3));
        let live_ids: Vec<i64> = store
            .live_runs(&workflow)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(live_ids, [live], "{name}: the dead run is no longer live");
        let closed = store.close_lapsed_runs(Some(&workflow)).await.unwrap();
        assert_eq!(closed.len(), 1, "{name}: {closed:?}");
        let closed = store.get_run(run).await.unwrap().unwrap();
        assert_eq!(closed.status, RunStatus::Interrupted, "{name}");
        assert!(closed.finished_at.is_some(), "{name}");
        let reason = closed.error.clone().unwrap_or_default();
        assert!(
            reason.contains("dead-replica") && reason.contains("lease lapsed"),
            "{name}: the reason names the owner and the cause: {reason}"
        );
        // Its item is offered again, first among the unfinished, and another replica takes it.
        let unfinished = store.resumable_items(&workflow, 3).await.unwrap();
        assert_eq!(unfinished.len(), 1, "{name}");
        assert_eq!(unfinished[0].0, "ticket-1", "{name}");
        assert!(
            store
                .claim_item(&workflow, "ticket-1", "live-replica", lease)
                .await
                .unwrap()
                .is_some(),
            "{name}: the item is taken over"
        );
        // Closed once: not again, the live run is untouched, and the dead one cannot finish.
        assert!(
            store
                .close_lapsed_runs(Some(&workflow))
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            store.get_run(live).await.unwrap().unwrap().status,
            RunStatus::Running,
            "{name}"
        );
        assert!(!store.renew_run(run, lease).await.unwrap(), "{name}");
        assert!(
            matches!(
                store.finish_run(run, &succeeded()).await,
                Err(StoreError::RunFinished { .. })
            ),
            "{name}: an interrupted run is never reported as succeeded"
        );
    }
}
