//! Overlap in a running scheduler, with a manual clock so ticks come exactly when the test says:
//! `skip` records a skipped run for a tick that meets a run in flight (here or on another
//! replica, however many skipped ticks came since), `queue` runs it after the one in flight, and
//! a dead replica's run does not block: it is closed as interrupted once its lease lapses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scheduler_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use deskhand::engine::Engine;
use deskhand::mcp::EmbeddedServer;
use deskhand::scheduler::overlap::{self, Action, Busy};
use deskhand::scheduler::{self, Metrics, SchedulerConfig, SchedulerHandle};
use deskhand::store::{Clock, ManualClock, NewRun, Run, RunFilter, RunStatus, Store, Trigger};
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
        let url = zoho_desk_mcp::registry::database::sqlite_url(
            common::temp_path("overlap", "db").to_str().unwrap(),
        );
        Fixture::start_on(overlap, &url).await
    }

    /// The fixture on the store at `url`; the store and the scheduler share the manual clock,
    /// so leases lapse when the test moves it.
    async fn start_on(overlap: &str, url: &str) -> Fixture {
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
        let t0 = Utc::now().timestamp_millis() / 10_000 * 10_000;
        let clock = ManualClock::new(t0);
        let store = Store::connect(url)
            .await
            .unwrap()
            .with_clock(Clock::Manual(clock.clone()));
        let engine = Engine::new(store.clone(), format!("{name}-owner"))
            .with_embedded(EmbeddedServer::new(sandbox.gateway.clone()));
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

    /// The run of the tick once it is past `queued`.
    async fn started_run_for(&self, secs: i64) -> Run {
        let at = self.t0 + secs * 1000;
        wait_for(
            Duration::from_secs(60),
            &format!("tick +{secs}s to start"),
            || async {
                self.runs()
                    .await
                    .into_iter()
                    .find(|r| r.scheduled_for == Some(at) && r.status != RunStatus::Queued)
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
                    .find(|r| r.scheduled_for == Some(at) && !r.status.is_open())
            },
        )
        .await
    }

    async fn runs(&self) -> Vec<Run> {
        self.store
            .list_runs(&RunFilter {
                workflow: Some(self.name.clone()),
                limit: 1000,
            })
            .await
            .unwrap()
    }
}

/// Another replica's long run stays live through more skipped ticks than any page of recent
/// rows holds: every tick meeting it is skipped, none starts a concurrent run.
async fn many_skipped_ticks_never_hide_a_live_run_on(url: &str, backend: &str) {
    let fx = Fixture::start_on("skip", url).await;
    // A run elsewhere, live (its process renews its lease, and it holds an item's lease).
    let elsewhere = fx
        .store
        .create_run(&NewRun::new(&fx.name, Trigger::Cli, "elsewhere"))
        .await
        .unwrap();
    fx.store
        .offer_items(&fx.name, &[("busy-item".to_owned(), None)], 3)
        .await
        .unwrap();
    fx.store
        .claim_item(
            &fx.name,
            "busy-item",
            "elsewhere",
            Duration::from_secs(3600),
        )
        .await
        .unwrap()
        .expect("the item is free");
    const TICKS: i64 = 30;
    for k in 1..=TICKS {
        fx.tick(k * 10);
        let run = fx.finished_run_for(k * 10).await;
        assert_eq!(
            run.status,
            RunStatus::Skipped,
            "{backend}: tick {k} of {TICKS} met the live run elsewhere: {run:?}"
        );
        // The live run elsewhere renews its lease, as its process would.
        assert!(
            fx.store
                .renew_run(elsewhere, Duration::from_secs(600))
                .await
                .unwrap()
        );
    }
    let runs = fx.runs().await;
    let started: Vec<&Run> = runs
        .iter()
        .filter(|r| r.id != elsewhere && r.status != RunStatus::Skipped)
        .collect();
    assert!(
        started.is_empty(),
        "{backend}: concurrent runs started: {started:?}"
    );
    assert_eq!(fx._llm.hits(), 0, "{backend}: no item was worked");
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn many_skipped_ticks_never_hide_a_live_run_sqlite() {
    let url = zoho_desk_mcp::registry::database::sqlite_url(
        common::temp_path("overlap", "db").to_str().unwrap(),
    );
    many_skipped_ticks_never_hide_a_live_run_on(&url, "SQLite").await;
}

#[tokio::test]
async fn many_skipped_ticks_never_hide_a_live_run_postgres() {
    let Some(url) = deskhand_e2e::postgres::test_url() else {
        return;
    };
    many_skipped_ticks_never_hide_a_live_run_on(&url, "PostgreSQL").await;
}

#[tokio::test]
async fn skip_records_a_skipped_run_for_a_tick_that_meets_a_run_in_flight() {
    let fx = Fixture::start("skip").await;
    fx.tick(10);
    let first = fx.started_run_for(10).await;
    assert_eq!(
        first.status,
        RunStatus::Running,
        "the tick got its turn at once"
    );
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
    let elsewhere = fx
        .store
        .claim_tick_run(&NewRun::tick(&fx.name, fx.t0, "elsewhere").lease(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fx.store
            .take_turn(elsewhere, Duration::from_secs(60))
            .await
            .unwrap(),
        deskhand::store::RunTurn::Started
    );
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
    // An hour later that run is still `running` in the store, but its replica stopped renewing
    // its lease: it died. It no longer blocks the schedule, and it is closed as interrupted.
    let later = 3600;
    fx.tick(later);
    let run = fx.finished_run_for(later).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let dead = fx.store.get_run(elsewhere).await.unwrap().unwrap();
    assert_eq!(dead.status, RunStatus::Interrupted, "{dead:?}");
    assert!(
        dead.error
            .as_deref()
            .unwrap_or_default()
            .contains("elsewhere"),
        "the reason names the owner: {dead:?}"
    );
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
}
