//! Work items and leases across runs and replicas, on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{store_backends, unique_name};
use deskhand::store::{Clock, ItemOutcome, ItemStatus, ManualClock, Store, StoreError};

const LEASE: Duration = Duration::from_secs(60);

fn items(keys: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    keys.iter()
        .map(|(k, f)| (k.to_string(), Some(f.to_string())))
        .collect()
}

async fn status(store: &Store, workflow: &str, key: &str) -> (ItemStatus, i64) {
    let item = store
        .get_item(workflow, key)
        .await
        .unwrap()
        .expect("item exists");
    (item.status, item.attempts)
}

#[tokio::test]
async fn offered_items_are_claimed_completed_and_not_offered_again_unless_changed() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("offer");
        let owner = unique_name("owner");

        let offered = store
            .offer_items(&wf, &items(&[("t2", "m1"), ("t1", "m1"), ("t2", "m1")]), 3)
            .await
            .unwrap();
        assert_eq!(
            offered,
            vec!["t2", "t1"],
            "{name}: input order, duplicates once"
        );
        assert_eq!(
            status(&store, &wf, "t1").await,
            (ItemStatus::Pending, 0),
            "{name}"
        );

        let mut lease = store
            .claim_item(&wf, "t1", &owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lease.attempt, 1, "{name}");
        assert_eq!(lease.fingerprint.as_deref(), Some("m1"), "{name}");
        assert_eq!(
            store
                .claim_item(&wf, "t1", "someone-else", LEASE)
                .await
                .unwrap(),
            None,
            "{name}: a live lease excludes others"
        );
        assert_eq!(
            store.claim_item(&wf, "t1", &owner, LEASE).await.unwrap(),
            None,
            "{name}: and its own owner"
        );
        // A live lease is neither offered nor reset, even if the ticket changed meanwhile.
        let during = store
            .offer_items(&wf, &items(&[("t1", "m2")]), 3)
            .await
            .unwrap();
        assert!(during.is_empty(), "{name}: {during:?}");
        assert_eq!(
            status(&store, &wf, "t1").await,
            (ItemStatus::Running, 0),
            "{name}"
        );

        store
            .renew_lease(&mut lease, Duration::from_secs(600))
            .await
            .unwrap();
        let item = store.get_item(&wf, "t1").await.unwrap().unwrap();
        assert_eq!(item.lease_expires_at, Some(lease.expires_at), "{name}");
        assert_eq!(item.lease_owner.as_deref(), Some(owner.as_str()), "{name}");

        let done = store
            .complete_item(&lease, ItemOutcome::Succeeded, None, 3)
            .await
            .unwrap();
        assert_eq!(
            (done.status, done.attempts),
            (ItemStatus::Succeeded, 1),
            "{name}"
        );
        assert_eq!(done.lease_owner, None, "{name}");
        // Completing twice: the lease is gone.
        let twice = store
            .complete_item(&lease, ItemOutcome::Succeeded, None, 3)
            .await;
        assert!(
            matches!(twice, Err(StoreError::LeaseLost { .. })),
            "{name}: {twice:?}"
        );

        // Unchanged: not offered. Changed: offered again, attempts start over.
        let same = store
            .offer_items(&wf, &items(&[("t1", "m1")]), 3)
            .await
            .unwrap();
        assert!(same.is_empty(), "{name}: {same:?}");
        let changed = store
            .offer_items(&wf, &items(&[("t1", "m2")]), 3)
            .await
            .unwrap();
        assert_eq!(changed, vec!["t1"], "{name}");
        assert_eq!(
            status(&store, &wf, "t1").await,
            (ItemStatus::Pending, 0),
            "{name}"
        );

        // The agent's own write changes the fingerprint; recording it on completion keeps
        // the item from coming back because of that write.
        let mut lease = store
            .claim_item(&wf, "t1", &owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        lease.fingerprint = Some("m3-after-our-update".into());
        store
            .complete_item(&lease, ItemOutcome::Succeeded, None, 3)
            .await
            .unwrap();
        let after = store
            .offer_items(&wf, &items(&[("t1", "m3-after-our-update")]), 3)
            .await
            .unwrap();
        assert!(after.is_empty(), "{name}: {after:?}");
        assert!(
            store
                .claim_item(&wf, "t1", &owner, LEASE)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );

        // Items without a fingerprint are new once, then never "changed".
        let bare = vec![("b1".to_string(), None)];
        assert_eq!(
            store.offer_items(&wf, &bare, 3).await.unwrap(),
            vec!["b1"],
            "{name}"
        );
        let lease = store
            .claim_item(&wf, "b1", &owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        store
            .complete_item(&lease, ItemOutcome::Succeeded, None, 3)
            .await
            .unwrap();
        assert!(
            store.offer_items(&wf, &bare, 3).await.unwrap().is_empty(),
            "{name}"
        );

        let listed: Vec<String> = store
            .list_items(&wf)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.item_key)
            .collect();
        assert_eq!(listed.len(), 3, "{name}: {listed:?}");
    }
}

#[tokio::test]
async fn failures_count_attempts_until_the_item_is_abandoned() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("attempts");
        let owner = unique_name("owner");
        let offer = items(&[("t1", "m1")]);

        for attempt in 1..=3 {
            let offered = store.offer_items(&wf, &offer, 3).await.unwrap();
            assert_eq!(offered, vec!["t1"], "{name}: attempt {attempt} offered");
            let lease = store
                .claim_item(&wf, "t1", &owner, LEASE)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(lease.attempt, attempt, "{name}");
            let item = store
                .complete_item(&lease, ItemOutcome::Failed, Some("HTTP 500"), 3)
                .await
                .unwrap();
            assert_eq!(item.attempts, attempt, "{name}");
            assert_eq!(item.last_error.as_deref(), Some("HTTP 500"), "{name}");
            let expected = if attempt < 3 {
                ItemStatus::Failed
            } else {
                ItemStatus::Abandoned
            };
            assert_eq!(item.status, expected, "{name}: after attempt {attempt}");
            // A failed item is not claimable until it is offered again (by a later run).
            assert!(
                store
                    .claim_item(&wf, "t1", &owner, LEASE)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
            assert!(
                store
                    .claim_next(&wf, &owner, LEASE, 3)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
        }
        assert!(
            store.offer_items(&wf, &offer, 3).await.unwrap().is_empty(),
            "{name}"
        );
        // Raising the cap does not revive an abandoned item; a changed ticket does.
        assert!(
            store.offer_items(&wf, &offer, 10).await.unwrap().is_empty(),
            "{name}"
        );
        let changed = store
            .offer_items(&wf, &items(&[("t1", "m2")]), 3)
            .await
            .unwrap();
        assert_eq!(changed, vec!["t1"], "{name}");
        let item = store.get_item(&wf, "t1").await.unwrap().unwrap();
        assert_eq!(
            (item.status, item.attempts, item.last_error),
            (ItemStatus::Pending, 0, None),
            "{name}"
        );

        // Abandoning outright skips the remaining attempts.
        let lease = store
            .claim_item(&wf, "t1", &owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        let item = store
            .complete_item(&lease, ItemOutcome::Abandoned, Some("ticket deleted"), 3)
            .await
            .unwrap();
        assert_eq!(
            (item.status, item.attempts),
            (ItemStatus::Abandoned, 1),
            "{name}"
        );

        // A failure under a higher cap leaves room for another run.
        store
            .offer_items(&wf, &items(&[("t2", "m1")]), 5)
            .await
            .unwrap();
        let lease = store
            .claim_item(&wf, "t2", &owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        store
            .complete_item(&lease, ItemOutcome::Failed, Some("x"), 5)
            .await
            .unwrap();
        assert_eq!(
            store
                .offer_items(&wf, &items(&[("t2", "m1")]), 1)
                .await
                .unwrap(),
            Vec::<String>::new(),
            "{name}: a cap of 1 is used up"
        );
        assert_eq!(
            store
                .offer_items(&wf, &items(&[("t2", "m1")]), 5)
                .await
                .unwrap(),
            vec!["t2"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_by_another_replica() {
    for backend in store_backends() {
        let name = backend.name;
        let clock = ManualClock::new(1_900_000_000_000);
        let a = backend
            .open()
            .await
            .with_clock(Clock::Manual(clock.clone()));
        let b = backend
            .open()
            .await
            .with_clock(Clock::Manual(clock.clone()));
        let wf = unique_name("expiry");
        let (owner_a, owner_b) = (unique_name("replica-a"), unique_name("replica-b"));

        a.offer_items(&wf, &items(&[("t1", "m1")]), 3)
            .await
            .unwrap();
        let mut lease_a = a
            .claim_item(&wf, "t1", &owner_a, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert!(
            b.claim_item(&wf, "t1", &owner_b, LEASE)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert!(
            b.claim_next(&wf, &owner_b, LEASE, 3)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );

        // Replica A dies: its lease runs out.
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            b.offer_items(&wf, &items(&[("t1", "m1")]), 3)
                .await
                .unwrap(),
            vec!["t1"],
            "{name}: an expired lease is offered"
        );
        let lease_b = b
            .claim_item(&wf, "t1", &owner_b, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            lease_b.attempt, 1,
            "{name}: the lost attempt never finished, so it is not counted"
        );

        // A comes back: it lost the item.
        let renew = a.renew_lease(&mut lease_a, LEASE).await;
        assert!(
            matches!(renew, Err(StoreError::LeaseLost { .. })),
            "{name}: {renew:?}"
        );
        let complete = a
            .complete_item(&lease_a, ItemOutcome::Succeeded, None, 3)
            .await;
        assert!(
            matches!(complete, Err(StoreError::LeaseLost { .. })),
            "{name}: {complete:?}"
        );

        let item = b
            .complete_item(&lease_b, ItemOutcome::Succeeded, None, 3)
            .await
            .unwrap();
        assert_eq!(
            (item.status, item.attempts),
            (ItemStatus::Succeeded, 1),
            "{name}"
        );

        // claim_next also takes expired leases.
        b.offer_items(&wf, &items(&[("t2", "m1")]), 3)
            .await
            .unwrap();
        let lease = a
            .claim_next(&wf, &owner_a, Duration::from_secs(5), 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lease.item_key, "t2", "{name}");
        assert!(
            b.claim_next(&wf, &owner_b, LEASE, 3)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        clock.advance(Duration::from_secs(5));
        let taken = b
            .claim_next(&wf, &owner_b, LEASE, 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.item_key, "t2", "{name}");
        assert_eq!(taken.owner, owner_b, "{name}");
    }
}

#[tokio::test]
async fn released_leases_go_back_to_the_queue() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("release");
        let (owner, other) = (unique_name("draining"), unique_name("other"));
        store
            .offer_items(&wf, &items(&[("a", "1"), ("b", "1"), ("c", "1")]), 3)
            .await
            .unwrap();
        let first = store
            .claim_next(&wf, &owner, LEASE, 3)
            .await
            .unwrap()
            .unwrap();
        let second = store
            .claim_next(&wf, &owner, LEASE, 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.item_key.as_str(), second.item_key.as_str()),
            ("a", "b"),
            "{name}"
        );
        let third = store
            .claim_next(&wf, &other, LEASE, 3)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(store.release_leases(&owner).await.unwrap(), 2, "{name}");
        assert_eq!(
            status(&store, &wf, "a").await,
            (ItemStatus::Pending, 0),
            "{name}: no attempt counted"
        );
        assert_eq!(
            status(&store, &wf, "c").await.0,
            ItemStatus::Running,
            "{name}: others keep theirs"
        );
        let retaken = store
            .claim_next(&wf, &other, LEASE, 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retaken.item_key, "a", "{name}");

        store.release_item(&third).await.unwrap();
        assert_eq!(
            status(&store, &wf, "c").await.0,
            ItemStatus::Pending,
            "{name}"
        );
        let again = store.release_item(&third).await;
        assert!(
            matches!(again, Err(StoreError::LeaseLost { .. })),
            "{name}: {again:?}"
        );
        assert_eq!(store.release_leases(&owner).await.unwrap(), 0, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_pulling_fifty_items_never_double_claim() {
    for backend in store_backends() {
        let name = backend.name;
        let setup = backend.open().await;
        let wf = unique_name("queue");
        let keys: Vec<(String, Option<String>)> = (0..50)
            .map(|i| (format!("ticket-{i:02}"), Some("m1".to_string())))
            .collect();
        assert_eq!(
            setup.offer_items(&wf, &keys, 3).await.unwrap().len(),
            50,
            "{name}"
        );

        let mut workers = Vec::new();
        for w in 0..3 {
            // A pool per worker, as separate replicas would have.
            let store = backend.open().await;
            let wf = wf.clone();
            let owner = unique_name(&format!("worker{w}"));
            workers.push(tokio::spawn(async move {
                let mut claimed = Vec::new();
                while let Some(lease) = store.claim_next(&wf, &owner, LEASE, 3).await.unwrap() {
                    claimed.push(lease.item_key.clone());
                    store
                        .complete_item(&lease, ItemOutcome::Succeeded, None, 3)
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
                claimed
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(all.len(), 50, "{name}: every item claimed once: {all:?}");
        assert_eq!(unique.len(), 50, "{name}: no item claimed twice");
        for item in setup.list_items(&wf).await.unwrap() {
            assert_eq!(
                (item.status, item.attempts),
                (ItemStatus::Succeeded, 1),
                "{name}: {item:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_claiming_the_same_item_get_it_once() {
    for backend in store_backends() {
        let name = backend.name;
        let a = backend.open().await;
        let b = backend.open().await;
        let wf = unique_name("claim-race");
        let keys: Vec<(String, Option<String>)> =
            (0..20).map(|i| (format!("t{i}"), None)).collect();
        a.offer_items(&wf, &keys, 3).await.unwrap();
        for (key, _) in &keys {
            let (x, y) = tokio::join!(
                a.claim_item(&wf, key, "replica-a", LEASE),
                b.claim_item(&wf, key, "replica-b", LEASE),
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(x.is_some() != y.is_some(), "{name}: {key}: {x:?} / {y:?}");
        }
    }
}
