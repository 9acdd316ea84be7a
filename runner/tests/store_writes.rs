//! Write intents and approvals, on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{store_backends, unique_name};
use deskhand::store::{
    ApprovalState, Decision, IntentState, NewApproval, NewRun, StoreError, Trigger,
};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn intents_are_idempotent_by_key_and_pending_until_settled() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("intents");
        let run = store
            .create_run(&NewRun::new(&wf, Trigger::Cli, "cli"))
            .await
            .unwrap();
        let key = unique_name("idem");
        let args = json!({"ticketId": "101", "assigneeId": "7"});

        let intent = store
            .record_intent(&key, run, "101", "update_a_zoho_desk_ticket_by_id", &args)
            .await
            .unwrap();
        assert!(intent.created, "{name}");
        assert_eq!(intent.state, IntentState::Recorded, "{name}");
        assert_eq!(intent.workflow, wf, "{name}: taken from the run");
        assert_eq!(intent.arguments, args, "{name}");

        // The run crashes after sending; a resumed run records the same key.
        store
            .mark_intent(&key, IntentState::Sent, None)
            .await
            .unwrap();
        let resumed = store
            .create_run(&NewRun::new(&wf, Trigger::Cli, "cli"))
            .await
            .unwrap();
        let again = store
            .record_intent(
                &key,
                resumed,
                "101",
                "update_a_zoho_desk_ticket_by_id",
                &json!({"other": 1}),
            )
            .await
            .unwrap();
        assert!(!again.created, "{name}");
        assert_eq!(
            (again.id, again.run_id),
            (intent.id, run),
            "{name}: the original intent"
        );
        assert_eq!(again.state, IntentState::Sent, "{name}");
        assert_eq!(again.arguments, args, "{name}");

        let pending = store.pending_intents(&wf, "101").await.unwrap();
        assert_eq!(
            pending.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![intent.id],
            "{name}"
        );
        assert!(
            store.pending_intents(&wf, "102").await.unwrap().is_empty(),
            "{name}"
        );

        let reconciled = store
            .mark_intent(
                &key,
                IntentState::Reconciled,
                Some(&json!({"assigneeId": "7"})),
            )
            .await
            .unwrap();
        assert_eq!(
            reconciled.outcome,
            Some(json!({"assigneeId": "7"})),
            "{name}"
        );
        assert!(
            store.pending_intents(&wf, "101").await.unwrap().is_empty(),
            "{name}"
        );
        let settled = store.mark_intent(&key, IntentState::Succeeded, None).await;
        assert!(
            matches!(settled, Err(StoreError::IntentSettled { ref state, .. }) if state == "reconciled"),
            "{name}: {settled:?}"
        );

        // A failed write may be sent again; success is final.
        let key2 = unique_name("idem");
        store
            .record_intent(
                &key2,
                run,
                "102",
                "create_a_zoho_desk_ticket_comment",
                &json!({}),
            )
            .await
            .unwrap();
        store
            .mark_intent(&key2, IntentState::Failed, Some(&json!({"status": 503})))
            .await
            .unwrap();
        assert!(
            store.pending_intents(&wf, "102").await.unwrap().is_empty(),
            "{name}: failed has an outcome"
        );
        store
            .mark_intent(&key2, IntentState::Sent, None)
            .await
            .unwrap();
        let done = store
            .mark_intent(&key2, IntentState::Succeeded, Some(&json!({"id": "c1"})))
            .await
            .unwrap();
        assert_eq!(done.state, IntentState::Succeeded, "{name}");
        assert!(
            store
                .get_intent(&key2)
                .await
                .unwrap()
                .unwrap()
                .state
                .is_final(),
            "{name}"
        );

        let dry = unique_name("idem");
        store
            .record_intent(
                &dry,
                run,
                "103",
                "update_a_zoho_desk_ticket_by_id",
                &json!({}),
            )
            .await
            .unwrap();
        store
            .mark_intent(&dry, IntentState::DryRun, None)
            .await
            .unwrap();
        assert!(
            store
                .mark_intent(&dry, IntentState::Sent, None)
                .await
                .is_err(),
            "{name}"
        );

        let missing = store
            .mark_intent("no-such-key", IntentState::Sent, None)
            .await;
        assert!(
            matches!(missing, Err(StoreError::IntentNotFound(_))),
            "{name}: {missing:?}"
        );
        let no_run = store
            .record_intent(&unique_name("idem"), i64::MAX, "1", "t", &json!({}))
            .await;
        assert!(
            matches!(no_run, Err(StoreError::RunNotFound(_))),
            "{name}: {no_run:?}"
        );
    }
}

#[tokio::test]
async fn approvals_are_decided_once_then_applied() {
    for backend in store_backends() {
        let name = backend.name;
        let store = backend.open().await;
        let wf = unique_name("approvals");
        let run = store
            .create_run(&NewRun::new(&wf, Trigger::Cli, "cli"))
            .await
            .unwrap();
        let key = unique_name("idem");
        let args = json!({"ticketId": "101", "departmentId": "5"});
        let intent = store
            .record_intent(&key, run, "101", "update_a_zoho_desk_ticket_by_id", &args)
            .await
            .unwrap();
        let new = NewApproval {
            intent_id: Some(intent.id),
            run_id: Some(run),
            workflow: wf.clone(),
            item_key: "101".into(),
            tool: "update_a_zoho_desk_ticket_by_id".into(),
            arguments: args.clone(),
            reason: Some("billing question".into()),
            ..NewApproval::default()
        };
        let approval = store.queue_approval(&new).await.unwrap();
        assert_eq!(approval.state, ApprovalState::Pending, "{name}");
        assert_eq!(
            store.queue_approval(&new).await.unwrap().id,
            approval.id,
            "{name}: one per intent"
        );

        let other = store
            .queue_approval(&NewApproval {
                intent_id: None,
                item_key: "102".into(),
                ..new.clone()
            })
            .await
            .unwrap();
        assert_ne!(other.id, approval.id, "{name}");

        let pending: Vec<i64> = store
            .list_approvals(Some(ApprovalState::Pending), Some(&wf), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(pending, vec![approval.id, other.id], "{name}");

        let approved = store
            .decide_approval(approval.id, Decision::Approve, "alice", Some("ok"))
            .await
            .unwrap();
        assert_eq!(approved.state, ApprovalState::Approved, "{name}");
        assert_eq!(approved.decided_by.as_deref(), Some("alice"), "{name}");
        assert!(approved.decided_at.is_some(), "{name}");

        for decision in [Decision::Reject, Decision::Approve] {
            let twice = store
                .decide_approval(approval.id, decision, "bob", None)
                .await;
            assert!(
                matches!(twice, Err(StoreError::ApprovalState { ref state, .. }) if state == "approved"),
                "{name}: {twice:?}"
            );
        }
        assert_eq!(
            store
                .get_approval(approval.id)
                .await
                .unwrap()
                .unwrap()
                .decided_by
                .as_deref(),
            Some("alice"),
            "{name}: the first decision stands"
        );

        // Only an approved write can be claimed and applied, once, by its claimant.
        let early = store
            .claim_approval(other.id, "carol", Duration::from_secs(60))
            .await;
        assert!(
            matches!(early, Err(StoreError::ApprovalState { ref state, .. }) if state == "pending"),
            "{name}: {early:?}"
        );
        let claimed = store
            .claim_approval(approval.id, "carol", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(claimed.state, ApprovalState::Applying, "{name}");
        assert_eq!(claimed.attempts, 1, "{name}");
        let not_mine = store
            .mark_approval(approval.id, "dave", ApprovalState::Applied, &json!({}))
            .await;
        assert!(
            matches!(not_mine, Err(StoreError::ApprovalState { .. })),
            "{name}: {not_mine:?}"
        );
        let applied = store
            .mark_approval(
                approval.id,
                "carol",
                ApprovalState::Applied,
                &json!({"status": 200}),
            )
            .await
            .unwrap();
        assert_eq!(applied.state, ApprovalState::Applied, "{name}");
        assert_eq!(applied.result, Some(json!({"status": 200})), "{name}");
        assert!(
            store
                .mark_approval(approval.id, "carol", ApprovalState::Failed, &json!({}))
                .await
                .is_err(),
            "{name}"
        );
        assert!(
            store
                .claim_approval(approval.id, "carol", Duration::from_secs(60))
                .await
                .is_err(),
            "{name}: an applied write is not claimed again"
        );
        assert!(
            matches!(
                store
                    .mark_approval(approval.id, "carol", ApprovalState::Pending, &json!({}))
                    .await,
                Err(StoreError::Invalid(_))
            ),
            "{name}"
        );

        let rejected = store
            .decide_approval(other.id, Decision::Reject, "bob", None)
            .await
            .unwrap();
        assert_eq!(rejected.state, ApprovalState::Rejected, "{name}");
        let listed = store
            .list_approvals(Some(ApprovalState::Rejected), Some(&wf), 10)
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![other.id],
            "{name}"
        );
        assert!(
            listed.iter().all(|a| a.state == ApprovalState::Rejected),
            "{name}"
        );
        assert_eq!(
            store
                .list_approvals(None, Some(&wf), 10)
                .await
                .unwrap()
                .len(),
            2,
            "{name}"
        );
        assert!(
            !store
                .list_approvals(None, None, 1)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );

        let missing = store
            .decide_approval(i64::MAX, Decision::Approve, "x", None)
            .await;
        assert!(
            matches!(missing, Err(StoreError::ApprovalNotFound(_))),
            "{name}: {missing:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_reviewers_deciding_at_once_get_one_decision() {
    for backend in store_backends() {
        let name = backend.name;
        let a = backend.open().await;
        let b = backend.open().await;
        let wf = unique_name("approval-race");
        for i in 0..10 {
            let approval = a
                .queue_approval(&NewApproval {
                    intent_id: None,
                    run_id: None,
                    workflow: wf.clone(),
                    item_key: format!("t{i}"),
                    tool: "update_a_zoho_desk_ticket_by_id".into(),
                    arguments: json!({}),
                    ..NewApproval::default()
                })
                .await
                .unwrap();
            let (x, y) = tokio::join!(
                a.decide_approval(approval.id, Decision::Approve, "alice", None),
                b.decide_approval(approval.id, Decision::Reject, "bob", None),
            );
            assert!(x.is_ok() != y.is_ok(), "{name}: {x:?} / {y:?}");
        }
    }
}

/// One approved write, queued and approved under `wf`.
async fn approved_one(store: &deskhand::store::Store, wf: &str, item: &str) -> i64 {
    let approval = store
        .queue_approval(&NewApproval {
            workflow: wf.to_owned(),
            item_key: item.to_owned(),
            tool: "create_a_zoho_desk_ticket_comment".into(),
            arguments: json!({"ticketId": item, "content": "hello"}),
            ..NewApproval::default()
        })
        .await
        .unwrap();
    store
        .decide_approval(approval.id, Decision::Approve, "alice", None)
        .await
        .unwrap();
    approval.id
}

/// Two approvers (two processes: two pools) applying the same approval at once: exactly one
/// claims it, so exactly one sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvers_claim_an_approval_once() {
    for backend in store_backends() {
        let name = backend.name;
        let a = backend.open().await;
        let b = backend.open().await;
        let wf = unique_name("claim-race");
        for i in 0..20 {
            let id = approved_one(&a, &wf, &format!("t{i}")).await;
            let (x, y) = tokio::join!(
                a.claim_approval(id, "alice", Duration::from_secs(60)),
                b.claim_approval(id, "bob", Duration::from_secs(60)),
            );
            assert!(x.is_ok() != y.is_ok(), "{name}: {x:?} / {y:?}");
            let loser = if x.is_ok() { y } else { x };
            assert!(
                matches!(loser, Err(StoreError::ApprovalState { ref state, .. }) if state == "applying"),
                "{name}: {loser:?}"
            );
        }
    }
}

/// A failed apply is claimed again (the retry), once; a stale claim (its holder died) lapses.
#[tokio::test]
async fn a_failed_or_abandoned_apply_can_be_claimed_again() {
    for backend in store_backends() {
        let name = backend.name;
        let clock = deskhand::store::ManualClock::new(1_000_000);
        let store = backend
            .open()
            .await
            .with_clock(deskhand::store::Clock::Manual(clock.clone()));
        let wf = unique_name("claim-retry");
        let id = approved_one(&store, &wf, "t1").await;
        store
            .claim_approval(id, "alice", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .mark_approval(id, "alice", ApprovalState::Failed, &json!({"status": 503}))
            .await
            .unwrap();
        let retry = store
            .claim_approval(id, "bob", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            (retry.state, retry.attempts),
            (ApprovalState::Applying, 2),
            "{name}"
        );
        assert!(
            store
                .claim_approval(id, "carol", Duration::from_secs(60))
                .await
                .is_err(),
            "{name}: held while the claim lives"
        );
        clock.advance(Duration::from_secs(61));
        let taken = store
            .claim_approval(id, "carol", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(taken.claimed_by.as_deref(), Some("carol"), "{name}");
        assert!(
            store
                .mark_approval(id, "bob", ApprovalState::Applied, &json!({}))
                .await
                .is_err(),
            "{name}: the lapsed claimant settles nothing"
        );
        let released = store.release_approval(id, "carol").await.unwrap();
        assert_eq!(released.state, ApprovalState::Approved, "{name}");
    }
}

/// Edit-then-approve: the edit replaces the arguments and the proposal is kept, in the one
/// conditional update that decides; a decided approval cannot be edited, and two reviewers
/// editing at once decide once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edited_approval_keeps_the_proposal_and_is_decided_once() {
    for backend in store_backends() {
        let name = backend.name;
        let a = backend.open().await;
        let b = backend.open().await;
        let wf = unique_name("edit");
        let run = a
            .create_run(&NewRun::new(&wf, Trigger::Cli, "cli"))
            .await
            .unwrap();
        let proposed = json!({"ticketId": "101", "content": "agent's draft", "isPublic": false});
        let queued = a
            .queue_approval(&NewApproval {
                run_id: Some(run),
                workflow: wf.clone(),
                item_key: "101".into(),
                tool: "create_a_zoho_desk_ticket_comment".into(),
                arguments: proposed.clone(),
                ..NewApproval::default()
            })
            .await
            .unwrap();
        assert_eq!(queued.proposed_arguments, None, "{name}");
        let edited = json!({"ticketId": "101", "content": "reviewer's text", "isPublic": false});
        let other = json!({"ticketId": "101", "content": "someone else's", "isPublic": false});
        let (x, y) = tokio::join!(
            a.approve_edited(queued.id, "alice", None, &edited),
            b.approve_edited(queued.id, "bob", None, &other),
        );
        assert!(x.is_ok() != y.is_ok(), "{name}: {x:?} / {y:?}");
        let (won, text) = match (x, y) {
            (Ok(won), _) => (won, "reviewer's text"),
            (_, Ok(won)) => (won, "someone else's"),
            (Err(e), _) => panic!("{name}: {e}"),
        };
        assert_eq!(won.state, ApprovalState::Approved, "{name}");
        assert_eq!(won.arguments["content"], text, "{name}");
        assert_eq!(won.proposed_arguments, Some(proposed.clone()), "{name}");
        let stored = a.get_approval(queued.id).await.unwrap().unwrap();
        assert_eq!(stored, won, "{name}: what was returned is what is stored");
        assert!(
            matches!(
                a.approve_edited(queued.id, "carol", None, &edited).await,
                Err(StoreError::ApprovalState { .. })
            ),
            "{name}: a decided approval is not edited"
        );
        assert!(
            a.approve_edited(queued.id, "carol", None, &json!("text"))
                .await
                .is_err(),
            "{name}"
        );
    }
}
