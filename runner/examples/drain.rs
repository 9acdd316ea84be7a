//! Benchmark 2: draining a backlog under Zoho's rate limits (bench/drain.sh drives it).
//!
//! A sandbox holds N unassigned open tickets (the labelled dataset's tickets, repeated under new
//! ids) behind a credit window and a concurrency cap small enough that the limit, not the model,
//! is the bottleneck. The shipped triage-and-assign workflow runs once over all of them with
//! concurrency 8 and a scripted model with a fixed latency (deskhand_e2e::agents::triage), under
//! three client policies, one after the other in this process: deskhand's rate gate honouring the
//! reported reset, exponential backoff with jitter that ignores the headers, and no retry.
//!
//! For each policy it prints one JSON line: wall time, two minimums (the floor: 3 credits per
//! ticket, one read, one update, one note, over the credits allowed per second; and the
//! actual-spend one: the credits the run cost over the same rate), Zoho credits and LLM round
//! trips per ticket, 429s as a share of calls, and tickets lost (no assignment or no note) or
//! duplicated (more than one note).
//!
//! `--modes decide,agent` runs the workflow in decide mode (the shipped file: run context,
//! prefetch, one decision per ticket) and in agent mode (bench/agent-mode/: the model holds the
//! tools and reads the org itself), side by side.
//!
//! With `--replicas N` the policy `honour` also runs as N engines in this process, each with its
//! own store pool and rate gate, draining the same backlog at once the way N scheduler replicas
//! would: on PostgreSQL (`--database-url`) their gates share the budget through the store; on
//! SQLite each paces alone.
//!
//! ```text
//! drain [--tickets 1000] [--credits 400] [--window-secs 10] [--concurrency-cap 6]
//!       [--llm-latency-ms 50] [--policies honour,backoff,none] [--replicas 1]
//!       [--database-url postgres://...] [--modes decide,agent] [--item-concurrency 8]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use deskhand::embedded::SandboxBackend;
use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
use deskhand::llm::LlmSettings;
use deskhand::mcp::EmbeddedServer;
use deskhand::retry::{RateLimitStrategy, RetryPolicy};
use deskhand::store::{Store, Trigger};
use deskhand::workflow::{Workflow, WritePolicy};
use deskhand_e2e::{ScriptedLlm, Step, agents};
use serde_json::{Value, json};
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_sandbox::{SandboxConfig, SeedData};

struct Options {
    tickets: usize,
    credits: u64,
    window: Duration,
    concurrency_cap: usize,
    llm_latency: Duration,
    policies: Vec<String>,
    replicas: usize,
    database_url: Option<String>,
    modes: Vec<String>,
    item_concurrency: u32,
}

/// Credits a triaged ticket needs at the least: read it, update it, note why.
const FLOOR_CREDITS_PER_TICKET: f64 = 3.0;

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        tickets: 1000,
        credits: 400,
        window: Duration::from_secs(10),
        concurrency_cap: 6,
        llm_latency: Duration::from_millis(50),
        policies: vec!["honour".into(), "backoff".into(), "none".into()],
        replicas: 1,
        database_url: None,
        modes: vec!["decide".into()],
        item_concurrency: 8,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || -> anyhow::Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag} takes a number, not {value}"))
        };
        match flag.as_str() {
            "--tickets" => o.tickets = usize::try_from(number()?)?,
            "--credits" => o.credits = number()?,
            "--window-secs" => o.window = Duration::from_secs(number()?),
            "--concurrency-cap" => o.concurrency_cap = usize::try_from(number()?)?,
            "--llm-latency-ms" => o.llm_latency = Duration::from_millis(number()?),
            "--policies" => o.policies = value.split(',').map(str::to_owned).collect(),
            "--replicas" => o.replicas = usize::try_from(number()?)?.max(1),
            "--database-url" => o.database_url = Some(value.clone()),
            "--modes" => o.modes = value.split(',').map(str::to_owned).collect(),
            "--item-concurrency" => o.item_concurrency = u32::try_from(number()?)?.max(1),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The labelled org with its tickets repeated under new ids until there are `n`, all open and
/// unassigned.
fn backlog(n: usize) -> anyhow::Result<SeedData> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/eval/dataset.json"))
        .context("tests/fixtures/eval/dataset.json")?;
    let mut data: Value = serde_json::from_str(&text)?;
    let originals = data["tickets"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(!originals.is_empty(), "the dataset has no tickets");
    let mut tickets = Vec::with_capacity(n);
    for i in 0..n {
        let mut t = originals[i % originals.len()].clone();
        let id = format!("77000000{:08}", i + 1);
        t["id"] = json!(id);
        t["ticketNumber"] = json!((10_000 + i).to_string());
        for (list, prefix) in [("threads", "78"), ("comments", "79")] {
            if let Some(entries) = t[list].as_array_mut() {
                for (j, e) in entries.iter_mut().enumerate() {
                    e["id"] = json!(format!("{prefix}000000{:06}{j:02}", i + 1));
                    if e.get("ticketId").is_some() {
                        e["ticketId"] = json!(id);
                    }
                }
            }
        }
        tickets.push(t);
    }
    data["tickets"] = Value::Array(tickets);
    Ok(SeedData::from_json_str(&data.to_string())?)
}

fn policy(name: &str) -> anyhow::Result<RetryPolicy> {
    let on_rate_limit = match name {
        "honour" => RateLimitStrategy::HonourReset,
        "backoff" => RateLimitStrategy::Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        },
        "none" => RateLimitStrategy::Surface,
        other => bail!("unknown policy {other} (honour, backoff, none)"),
    };
    Ok(RetryPolicy {
        on_rate_limit,
        ..RetryPolicy::default()
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The triage workflow in `mode`: the shipped file (decide) or the agent-mode one kept for
/// benchmarks.
fn triage_workflow(mode: &str, catalog: &Catalog) -> anyhow::Result<Workflow> {
    let path = match mode {
        "decide" => repo().join("workflows/triage-and-assign.yaml"),
        "agent" => repo().join("bench/agent-mode/triage-and-assign.yaml"),
        other => bail!("unknown mode {other} (decide, agent)"),
    };
    Ok(Workflow::load(&path, catalog)?)
}

async fn drain(
    o: &Options,
    name: &str,
    mode: &str,
    replicas: usize,
    catalog: Arc<Catalog>,
) -> anyhow::Result<Value> {
    let backend = SandboxBackend::start_with(
        catalog.clone(),
        SandboxConfig {
            seed_data: Some(backlog(o.tickets)?),
            credits_per_window: o.credits,
            window: o.window,
            max_concurrency: o.concurrency_cap,
            max_tokens_per_window: 1000,
            ..SandboxConfig::default()
        },
    )
    .await?;
    let latency = o.llm_latency;
    let llm = ScriptedLlm::builder()
        .responder(move |body| Step::delay(latency, agents::triage_any(body)))
        .start()
        .await;

    let mut workflow = triage_workflow(mode, &catalog)?;
    workflow.writes = WritePolicy::Apply;
    workflow.limits.concurrency = o.item_concurrency;
    workflow.limits.item_timeout = Duration::from_secs(30 * 60);
    if let Some(for_each) = workflow.for_each.as_mut() {
        for_each.max_items = u32::try_from(o.tickets)?;
    }
    // Each run gets a workflow name of its own: a PostgreSQL store outlives the process.
    workflow.name = format!(
        "triage-drain-{mode}-{name}-{replicas}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let db = std::env::temp_dir().join(format!("deskhand-drain-{name}-{}.db", std::process::id()));
    let url = o
        .database_url
        .clone()
        .unwrap_or_else(|| zoho_desk_mcp::registry::database::sqlite_url(&db.to_string_lossy()));
    let mut engines = Vec::with_capacity(replicas);
    for r in 0..replicas {
        // One pool and one gate per replica, as separate processes would have.
        let store = Store::connect(&url).await?;
        engines.push(
            Engine::new(store, format!("drain-{name}-{r}"))
                .with_embedded(EmbeddedServer::new(backend.gateway.clone()))
                .with_retry_policy(policy(name)?),
        );
    }
    let decider = Decider::Llm(Box::new(LlmSettings::openai_compatible(
        llm.base_url(),
        "scripted",
    )));

    // A fresh window for the run, so the theoretical minimum starts at zero.
    backend
        .sandbox
        .admin()
        .set_limits(o.credits, o.window, o.concurrency_cap);
    let before = backend.sandbox.admin().stats();
    let started = Instant::now();
    let runs = futures::future::join_all(
        engines
            .iter()
            .map(|engine| engine.run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)),
    )
    .await;
    let wall = started.elapsed().as_secs_f64();
    let mut items_succeeded = 0;
    for report in runs {
        items_succeeded += report?.items.iter().filter(|i| i.error.is_none()).count();
    }
    let stats = backend.sandbox.admin().stats();
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);

    let state = backend.sandbox.admin().state_json();
    let (mut lost, mut duplicated) = (0, 0);
    for t in state["tickets"].as_array().into_iter().flatten() {
        let notes = t["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["content"].as_str().is_some_and(|s| {
                    let s = s.trim_start_matches("[deskhand] ");
                    s.starts_with("Assigned to") || s.starts_with("Left unassigned")
                })
            })
            .count();
        if notes == 0 || t["assigneeId"].is_null() {
            lost += 1;
        }
        if notes > 1 {
            duplicated += 1;
        }
    }
    let calls = stats.total - before.total;
    let rate_limited = stats.by_status.get(&429).copied().unwrap_or(0)
        - before.by_status.get(&429).copied().unwrap_or(0);
    let credits = stats.credits_charged - before.credits_charged;
    let per_second = o.credits as f64 / o.window.as_secs_f64();
    let minimum = credits as f64 / per_second;
    let floor = FLOOR_CREDITS_PER_TICKET * o.tickets as f64 / per_second;
    Ok(json!({
        "mode": mode,
        "policy": name,
        "replicas": replicas,
        "item_concurrency": o.item_concurrency,
        "store": if o.database_url.is_some() { "postgres" } else { "sqlite" },
        "tickets": o.tickets,
        "items_succeeded": items_succeeded,
        "wall_s": wall,
        "credits_used": credits,
        "credits_per_ticket": credits as f64 / o.tickets.max(1) as f64,
        "floor_min_s": floor,
        "wall_over_floor": wall / floor,
        "actual_spend_min_s": minimum,
        "wall_over_actual_spend_min": wall / minimum,
        // The names bench/runner.sh reads (the actual-spend minimum).
        "theoretical_min_s": minimum,
        "wall_over_min": wall / minimum,
        "zoho_calls": calls,
        "answered_429": rate_limited,
        "share_429": rate_limited as f64 / calls.max(1) as f64,
        "threshold_429": stats.rate_limited_threshold - before.rate_limited_threshold,
        "concurrency_429": stats.rate_limited_concurrency - before.rate_limited_concurrency,
        "lost": lost,
        "duplicated": duplicated,
        "llm_requests": llm.hits(),
        "llm_round_trips_per_ticket": llm.hits() as f64 / o.tickets.max(1) as f64,
        "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    zoho_desk_mcp::install_crypto_provider();
    let catalog = Arc::new(Catalog::zoho_desk()?);
    eprintln!(
        "drain: {} tickets, {} credits per {:?}, concurrency cap {}, model latency {:?}, workflow concurrency {}",
        o.tickets, o.credits, o.window, o.concurrency_cap, o.llm_latency, o.item_concurrency
    );
    for mode in &o.modes {
        for name in &o.policies {
            eprintln!("== {mode} mode, policy {name}");
            let line = drain(&o, name, mode, 1, catalog.clone()).await?;
            println!("{line}");
            if o.replicas > 1 && name == "honour" {
                eprintln!("== {mode} mode, policy {name}, {} replicas", o.replicas);
                let line = drain(&o, name, mode, o.replicas, catalog.clone()).await?;
                println!("{line}");
            }
        }
    }
    Ok(())
}
