//! Replicas draining one org share its rate budget through the store: a closure one process
//! learns from a 429 holds for a process with its own pool, and a budget reported to one caps
//! what the other lets into flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use deskhand::mcp::RateLimit;
use deskhand::retry::{GateConfig, RateGate};
use deskhand::store::Store;

async fn published(
    store: &Store,
    connection: &str,
    check: impl Fn(&deskhand::store::SharedBudget) -> bool,
) {
    for _ in 0..200 {
        if check(&store.shared_budget(connection).await.unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the observation never reached the store");
}

#[tokio::test]
async fn a_closure_and_a_budget_learned_by_one_replica_hold_for_another() {
    for backend in common::store_backends() {
        let (one, two) = (backend.open().await, backend.open().await);
        let connection = common::unique_name("zoho");
        let config = GateConfig {
            reopen_jitter: Duration::ZERO,
            ..GateConfig::default()
        };
        let first = RateGate::share_through(config, one.clone(), connection.clone());
        let second = RateGate::share_through(config, two.clone(), connection.clone());

        // The second replica has seen nothing yet and would admit its full concurrency.
        drop(second.wait().await);
        assert_eq!(second.admissible(), 64, "{}", backend.name);
        // Its call, answered, releases its reservation (on a task of its own): wait for that, so
        // the figure below is not netted against a call that is over.
        published(&two, &connection, |b| b.in_flight == 0).await;

        first.observe_budget(Some(&RateLimit {
            remaining: Some(6),
            weight: Some(3),
            ..RateLimit::default()
        }));
        published(&one, &connection, |b| b.remaining == Some(6)).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        drop(second.wait().await);
        assert_eq!(
            second.admissible(),
            2,
            "{}: 6 credits at 3 a call",
            backend.name
        );

        // A 429 with a reset 30 s away closes both.
        first.observe(
            Some(&RateLimit {
                remaining: Some(0),
                reset: Some(30),
                ..RateLimit::default()
            }),
            true,
        );
        published(&one, &connection, |b| b.closed_until.is_some()).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            second.wait_at_most(Duration::from_secs(1)).await.is_err(),
            "{}: the other replica waits for the reset instead of meeting its own 429",
            backend.name
        );
        assert!(
            second
                .closed_for()
                .is_some_and(|d| d > Duration::from_secs(25))
        );
    }
}

#[tokio::test]
async fn credits_are_reserved_before_calls_and_one_process_probes_when_they_run_out() {
    use deskhand::store::Reservation;
    for backend in common::store_backends() {
        let (one, two) = (backend.open().await, backend.open().await);
        let connection = common::unique_name("zoho");
        assert_eq!(
            one.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Unmetered,
            "{}: nothing known yet",
            backend.name
        );
        // The unmetered call is in flight when the first figure arrives: it is netted out.
        one.share_budget(&connection, Some(7), Some(3))
            .await
            .unwrap();
        assert_eq!(
            one.shared_budget(&connection).await.unwrap().remaining,
            Some(4),
            "{}",
            backend.name
        );
        one.release_credits(&connection).await.unwrap();
        one.share_budget(&connection, Some(7), Some(3))
            .await
            .unwrap();
        assert_eq!(
            two.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Granted
        );
        assert_eq!(
            one.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Granted
        );
        assert_eq!(
            one.shared_budget(&connection).await.unwrap().remaining,
            Some(1)
        );
        // An answer that knows nothing of the two calls in flight reports 7 left: taken as it is,
        // it would hand their 6 credits out again.
        one.share_budget(&connection, Some(7), Some(3))
            .await
            .unwrap();
        assert_eq!(
            one.shared_budget(&connection).await.unwrap().remaining,
            Some(1),
            "{}: net of the reservations in flight",
            backend.name
        );
        one.release_credits(&connection).await.unwrap();
        one.release_credits(&connection).await.unwrap();
        // One credit left: a single process calls to learn the reset, the other waits for it.
        assert_eq!(
            two.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Probe
        );
        assert_eq!(
            one.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Wait
        );
        assert_eq!(
            two.reserve_credits(&connection, 3).await.unwrap(),
            Reservation::Wait
        );
        // The probe's 429 closes the gate for everyone and forgets the spent window's budget.
        let until = chrono::Utc::now().timestamp_millis() + 30_000;
        two.share_closure(&connection, until).await.unwrap();
        let shared = one.shared_budget(&connection).await.unwrap();
        assert_eq!(shared.closed_until, Some(until), "{}", backend.name);
        assert_eq!(shared.remaining, None);
    }
}

async fn held_becomes(store: &Store, connection: &str, n: i64) {
    for _ in 0..500 {
        if store.call_slots_held(connection).await.unwrap() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the slots held never came to {n}");
}

/// Zoho's cap on calls in flight holds for the replicas together: with a cap of 2, two processes'
/// gates let two calls out between them (each alone would admit 64), a third goes out when one
/// of them ends, and a slot held by a process that died comes back when its lease ends. The
/// store runs on a manual clock, so nothing lapses unless the test says so.
#[tokio::test]
async fn replicas_share_the_cap_on_calls_in_flight() {
    use deskhand::store::{Clock, ManualClock};
    for backend in common::store_backends() {
        let clock = ManualClock::new(chrono::Utc::now().timestamp_millis());
        let one = backend
            .open()
            .await
            .with_clock(Clock::Manual(clock.clone()));
        let two = backend
            .open()
            .await
            .with_clock(Clock::Manual(clock.clone()));
        let connection = common::unique_name("zoho");
        let config = GateConfig {
            shared_cap: 2,
            ..GateConfig::default()
        };
        let first = RateGate::share_through(config, one.clone(), connection.clone());
        let second = RateGate::share_through(config, two.clone(), connection.clone());

        let a = first.wait().await;
        let b = second.wait().await;
        assert_eq!(one.call_slots_held(&connection).await.unwrap(), 2);
        assert_eq!(
            first.admissible(),
            64,
            "each process alone would admit more"
        );
        for gate in [&first, &second] {
            assert!(
                tokio::time::timeout(Duration::from_millis(300), gate.wait())
                    .await
                    .is_err(),
                "{}: both slots are held, so a third call waits",
                backend.name
            );
        }
        let third = tokio::spawn({
            let gate = second.clone();
            async move { gate.wait().await }
        });
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the freed slot lets the waiting call out")
            .unwrap();
        held_becomes(&one, &connection, 2).await;
        drop((b, c));
        held_becomes(&one, &connection, 0).await;

        // Two processes killed mid-call hold both slots; the gate waits until a lease ends.
        for (holder, lease) in [("dead-1", 600_000), ("dead-2", 60_000)] {
            assert!(
                one.take_call_slot(&connection, 2, holder, lease)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(
            one.take_call_slot(&connection, 2, "x", 1).await.unwrap(),
            None
        );
        let waiting = tokio::spawn({
            let gate = first.clone();
            async move { gate.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "{}: no lease has ended",
            backend.name
        );
        clock.advance(Duration::from_secs(61));
        let d = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the lapsed lease frees its slot")
            .unwrap();
        assert_eq!(
            one.call_slots_held(&connection).await.unwrap(),
            2,
            "{}: the live dead-1 lease and the new call",
            backend.name
        );
        drop(d);
    }
}
