//! Overlap in a running scheduler, with a manual clock so ticks come exactly when the test says:
//! `skip` records a skipped run for a tick that meets a run in flight (here or on another
//! replica), `queue` runs it after the one in flight, and a dead replica's run does not block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deskhand::engine::Engine;
use deskhand::mcp::EmbeddedServer;
use deskhand::scheduler::overlap::{self, Action, Busy};
use deskhand::scheduler::{self, Metrics, SchedulerConfig, SchedulerHandle};
use deskhand::store::{Clock, ManualClock, NewRun, Run, RunFilter, RunStatus, Store};
use deskhand::workflow::OverlapPolicy;
use scheduler_support::*;

struct Fixture {
    handle: SchedulerHandle,
    store: Store,
    clock: ManualClock,
    metrics: Arc<Metrics>,
    name: String,
    /// A whole multiple of 10 s near the real time, so store timestamps and ticks line up.
    t0: i64,
    _sandbox: deskhand::embedded::SandboxBackend,
    _llm: deskhand_e2e::scripted_llm::ScriptedLlm,
}

impl Fixture {
    async fn start(overlap: &str) -> Fixture {
        // Two tickets, both in every run's scope.
        let sandbox = common::sandbox_with(zoho_desk_sandbox::SandboxConfig {
            seed_data: Some(common::seed_with_tickets(2)),
            ..Default::default()
        })
        .await;
        let name = common::unique_name("overlap");
        let llm = commenting_llm(&name, Duration::from_millis(600)).await;
        let dir = temp_dir("overlap");
        write_workflow(
            &dir,
            &name,
            &commenter_body(
                "*/10 * * * * *",
                &llm.base_url(),
                &name,
                &format!("overlap: {overlap}\n"),
            )
            .replace("limit: 12", "limit: 2")
            .replace("max_items: 12", "max_items: 2"),
        );
        let url = zoho_desk_mcp::registry::database::sqlite_url(
            common::temp_path("overlap", "db").to_str().unwrap(),
        );
        let store = Store::connect(&url).await.unwrap();
        let engine = Engine::new(store.clone(), format!("{name}-owner"))
            .with_embedded(EmbeddedServer::new(sandbox.gateway.clone()));
        let t0 = Utc::now().timestamp_millis() / 10_000 * 10_000;
        let clock = ManualClock::new(t0);
        let metrics = Metrics::new();
        let mut config = SchedulerConfig::new(&dir);
        config.clock = Clock::Manual(clock.clone());
        let handle = scheduler::start(Arc::new(engine), metrics.clone(), config)
            .await
            .unwrap();
        Fixture {
            handle,
            store,
            clock,
            metrics,
            name,
            t0,
            _sandbox: sandbox,
            _llm: llm,
        }
    }

    /// Moves the clock to `t0 + secs` and wakes the workflow, as its timer would.
    fn tick(&self, secs: i64) {
        self.clock.set(self.t0 + secs * 1000);
        self.handle.wake(&self.name);
    }

    async fn run_for(&self, secs: i64) -> Run {
        let at = self.t0 + secs * 1000;
        wait_for(
            Duration::from_secs(60),
            &format!("the run of tick +{secs}s"),
            || async {
                self.runs()
                    .await
                    .into_iter()
                    .find(|r| r.scheduled_for == Some(at))
            },
        )
        .await
    }

    async fn finished_run_for(&self, secs: i64) -> Run {
        let at = self.t0 + secs * 1000;
        wait_for(
            Duration::from_secs(60),
            &format!("tick +{secs}s to finish"),
            || async {
                self.runs()
                    .await
                    .into_iter()
                    .find(|r| r.scheduled_for == Some(at) && r.status != RunStatus::Running)
            },
        )
        .await
    }

    async fn runs(&self) -> Vec<Run> {
        self.store
            .list_runs(&RunFilter {
                workflow: Some(self.name.clone()),
                limit: 100,
            })
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn skip_records_a_skipped_run_for_a_tick_that_meets_a_run_in_flight() {
    let fx = Fixture::start("skip").await;
    fx.tick(10);
    let first = fx.run_for(10).await;
    assert_eq!(first.status, RunStatus::Running);
    fx.tick(20);
    let skipped = fx.finished_run_for(20).await;
    assert_eq!(skipped.status, RunStatus::Skipped);
    assert!(
        skipped
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("still in flight"),
        "{skipped:?}"
    );
    assert_eq!(skipped.counts.total, 0);
    let first = fx.finished_run_for(10).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_eq!(first.counts.succeeded, 2);

    // Once nothing is in flight, the next tick runs.
    fx.tick(30);
    let third = fx.finished_run_for(30).await;
    assert_eq!(third.status, RunStatus::Succeeded);
    let text = fx.metrics.render();
    let line = format!(
        "deskhand_ticks_total{{workflow=\"{}\",outcome=\"skipped\"}} 1",
        fx.name
    );
    assert!(text.contains(&line), "{text}");
    assert!(text.contains(&format!(
        "deskhand_runs_total{{workflow=\"{}\",status=\"succeeded\"}} 2",
        fx.name
    )));
    assert!(text.contains(&format!(
        "deskhand_tool_calls_total{{workflow=\"{}\"}} 2",
        fx.name
    )));
    let report = fx.handle.shutdown().await;
    assert_eq!(report.aborted, 0);
}

#[tokio::test]
async fn queue_runs_the_tick_after_the_run_in_flight_and_keeps_one_waiting() {
    let fx = Fixture::start("queue").await;
    fx.tick(10);
    fx.run_for(10).await;
    fx.tick(20);
    fx.run_for(20).await;
    fx.tick(30);
    let third = fx.finished_run_for(30).await;
    assert_eq!(
        third.status,
        RunStatus::Skipped,
        "a second waiting tick is dropped"
    );
    let first = fx.finished_run_for(10).await;
    let second = fx.finished_run_for(20).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    let first_end = first.finished_at.unwrap();
    assert!(
        second.started_at <= first_end,
        "the queued tick was claimed while the first ran"
    );
    let detail = fx.store.run_detail(second.id).await.unwrap().unwrap();
    let earliest_attempt = detail.attempts.iter().map(|a| a.attempt.started_at).min();
    // Its items (none left: both were handled by the first run) or its finish come after.
    assert!(earliest_attempt.is_none_or(|t| t >= first_end));
    assert!(second.finished_at.unwrap() >= first_end);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn another_replicas_live_run_makes_the_tick_skip_but_a_dead_ones_does_not() {
    let fx = Fixture::start("skip").await;
    // A replica elsewhere claimed the previous tick moments ago and is still running it.
    fx.store
        .claim_tick_run(&NewRun::tick(&fx.name, fx.t0, "elsewhere"))
        .await
        .unwrap()
        .unwrap();
    fx.tick(10);
    let skipped = fx.finished_run_for(10).await;
    assert_eq!(skipped.status, RunStatus::Skipped);
    assert!(
        skipped
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("another replica"),
        "{skipped:?}"
    );
    // An hour later that run is still `running` in the store, but its replica holds no lease:
    // it died. It no longer blocks the schedule.
    let later = 3600;
    fx.tick(later);
    let run = fx.finished_run_for(later).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    fx.handle.shutdown().await;
}

#[test]
fn overlap_decisions() {
    let idle = Busy::default();
    let local = Busy {
        local: true,
        ..idle
    };
    let remote = Busy {
        remote: true,
        ..idle
    };
    let local_queued = Busy {
        local: true,
        queued: true,
        ..idle
    };
    assert_eq!(overlap::decide(OverlapPolicy::Skip, idle), Action::Start);
    assert_eq!(overlap::decide(OverlapPolicy::Queue, idle), Action::Start);
    assert!(matches!(
        overlap::decide(OverlapPolicy::Skip, local),
        Action::Skip(_)
    ));
    assert!(
        matches!(overlap::decide(OverlapPolicy::Skip, remote), Action::Skip(r) if r.contains("another replica"))
    );
    assert_eq!(overlap::decide(OverlapPolicy::Queue, local), Action::Queue);
    assert_eq!(overlap::decide(OverlapPolicy::Queue, remote), Action::Queue);
    assert!(matches!(
        overlap::decide(OverlapPolicy::Queue, local_queued),
        Action::Skip(_)
    ));

    let started: DateTime<Utc> = Utc::now();
    let t = started.timestamp_millis();
    assert!(
        overlap::remote_run_alive(t, false, t + 1_000, 150_000),
        "young run"
    );
    assert!(
        !overlap::remote_run_alive(t, false, t + 600_000, 150_000),
        "old, no lease"
    );
    assert!(
        overlap::remote_run_alive(t, true, t + 600_000, 150_000),
        "old, leasing"
    );
}
