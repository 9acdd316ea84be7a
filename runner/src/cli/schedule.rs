//! `deskhand schedule`: the long-running scheduler, one or many replicas.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::Registry;
use zoho_desk_mcp::registry::database::Backend;

use std::collections::BTreeSet;

use super::backend::{self, BackendArgs, ZohoArgs};
use crate::console::Console;
use crate::engine::{Engine, ZohoConnections};
use crate::mcp::EmbeddedServer;
use crate::scheduler::{self, Metrics, SchedulerConfig};
use crate::shutdown;
use crate::workflow::{Workflow, format_duration, parse_duration};

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    backend: BackendArgs,
    /// Where `/healthz` and `/metrics` are served: host:port (port 0 picks a free one), or `off`.
    #[arg(
        long,
        env = "DESKHAND_METRICS_ADDR",
        default_value = "127.0.0.1:9464",
        value_parser = parse_metrics_addr
    )]
    metrics_addr: MetricsAddr,
    /// On SIGTERM or Ctrl-C, how long runs in flight may finish before they are aborted.
    /// `auto`: one item lease of the workflows in flight (item_timeout x 1.25 + 1s), as long as
    /// an item in flight can still take.
    #[arg(long, default_value = "auto", value_parser = parse_grace)]
    grace: Grace,
    /// Names this replica in runs and item leases (default: schedule:<hostname>:<pid>).
    /// Also serve the review console (`deskhand console`) on this loopback port, over the same
    /// store (0 picks a free one; the address is logged).
    #[arg(long)]
    console_port: Option<u16>,
    #[arg(long, env = "DESKHAND_OWNER")]
    owner: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum MetricsAddr {
    Off,
    At(SocketAddr),
}

fn parse_metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr::Off);
    }
    text.trim()
        .parse()
        .map(MetricsAddr::At)
        .map_err(|_| format!("expected host:port (such as 0.0.0.0:9464) or `off`, got `{text}`"))
}

/// `--grace`: `None` is `auto`.
type Grace = Option<Duration>;

/// The longest `--grace`: a shutdown that waits longer than a day is a hang.
const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);

fn parse_grace(text: &str) -> Result<Grace, String> {
    match text.trim() {
        "auto" => Ok(None),
        "0" | "0s" => Ok(Some(Duration::ZERO)),
        other => {
            let grace = parse_duration(other).ok_or_else(|| {
                format!("expected `auto` or a duration such as 30s, 2m or 500ms, got `{text}`")
            })?;
            if grace > MAX_GRACE {
                return Err(format!(
                    "`{text}` is longer than the longest grace period, {}",
                    format_duration(MAX_GRACE)
                ));
            }
            Ok(Some(grace))
        }
    }
}

pub async fn run(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let catalog = backend::catalog()?;
    let dir = args.backend.workflows.clone();
    // Loaded here only to learn whether the embedded server is needed; the scheduler loads (and
    // on SIGHUP reloads) the directory itself.
    let workflows = Workflow::load_all(&dir, catalog.as_ref())
        .with_context(|| format!("the workflows in {} are not valid", dir.display()))?;
    let scheduled: Vec<&Workflow> = workflows.iter().filter(|w| w.schedule.is_some()).collect();
    if scheduled.is_empty() {
        tracing::warn!(dir = %dir.display(), "no workflow has a `schedule`; waiting for SIGHUP to reload");
    }
    let store = backend::store(&args.backend).await?;
    match store.backend() {
        Backend::Sqlite => tracing::info!(
            "run store is SQLite: fine for one scheduler process; replicas need a shared PostgreSQL (DATABASE_URL=postgres://...)"
        ),
        Backend::Postgres => tracing::info!(
            "run store is PostgreSQL: replicas sharing it run each tick exactly once"
        ),
    }
    let owner = args
        .owner
        .clone()
        .unwrap_or_else(|| backend::owner("schedule"));
    let metrics = Metrics::new();
    let console_store = store.clone();
    let mut console_embedded = None;
    let mut engine = Engine::new(store.clone(), owner.clone()).with_observer(metrics.clone());
    let mut sandbox = None;
    if args.backend.sandbox {
        let (embedded, started) = backend::embedded(&args.backend, catalog, true).await?;
        if let Some(started) = &started {
            tracing::info!(base_url = %started.sandbox.base_url(), "working against an in-process sandbox, not Zoho");
        }
        if let Some(embedded) = embedded {
            // With --sandbox, the console applies approvals to the scheduler's own sandbox,
            // where its runs wrote.
            console_embedded = Some(embedded.clone());
            engine = engine.with_embedded(embedded);
        }
        sandbox = started;
    } else {
        // Each workflow on its own connection; the ones the scheduled workflows name are checked
        // now, and a connection a reloaded workflow names later is built on its first tick.
        let connections = Arc::new(connections(&args.backend, catalog, store));
        let mut checked = BTreeSet::new();
        for w in scheduled.iter().filter(|w| backend::uses_embedded(w)) {
            let name = connections.effective(w);
            if checked.insert(name.clone()) {
                preflight(&args.backend, &connections, name, &w.name).await?;
            }
        }
        engine = engine.with_connections(connections);
    }

    let http_stop = CancellationToken::new();
    if let MetricsAddr::At(addr) = args.metrics_addr {
        let bound = scheduler::serve_http(addr, metrics.clone(), http_stop.clone())
            .await
            .with_context(|| format!("could not serve metrics on {addr}"))?;
        tracing::info!(addr = %bound, "serving /healthz and /metrics");
    }

    if let Some(port) = args.console_port {
        let registry = Registry::open(console_store.database().clone())
            .await
            .context("could not open the token registry for the console")?;
        let mut console = Console::new(console_store, registry, args.backend.clone(), Vec::new());
        if let Some(embedded) = console_embedded {
            console = console.with_embedded(embedded);
        }
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let (bound, _) = crate::console::serve(console, addr, http_stop.clone())
            .await
            .with_context(|| format!("could not serve the console on {addr}"))?;
        tracing::info!(addr = %bound, "serving the console");
    }

    let mut config = SchedulerConfig::new(dir);
    config.grace = args.grace;
    let handle = scheduler::start(Arc::new(engine), metrics, config).await?;
    tracing::info!(owner = %owner, "scheduler started");

    wait_for_stop(&handle).await;
    tracing::info!("stopping: no new ticks are claimed");
    handle.shutdown().await;
    http_stop.cancel();
    drop(sandbox);
    Ok(ExitCode::SUCCESS)
}

/// The Zoho connections of this scheduler: `--connection` for every workflow when given, else
/// each workflow's own `connection:` (or the default).
fn connections(
    args: &BackendArgs,
    catalog: Arc<zoho_desk_mcp::catalog::Catalog>,
    store: crate::store::Store,
) -> ZohoConnections {
    let base = args.zoho.clone();
    let make = move |name: Option<&str>| -> anyhow::Result<EmbeddedServer> {
        let zoho = ZohoArgs {
            connection: name.map(str::to_owned),
            connections: base.connections.clone(),
        };
        let config = zoho.config()?;
        let client = backend::zoho_client(config, &store)?;
        Ok(EmbeddedServer::new(Arc::new(
            zoho_desk_mcp::catalog::Gateway::new(catalog.clone(), client),
        )))
    };
    ZohoConnections::new(Arc::new(make), args.zoho.connection.clone())
}

/// The start-up check of one connection, in a sentence that names the workflow needing it.
async fn preflight(
    args: &BackendArgs,
    connections: &ZohoConnections,
    name: Option<String>,
    workflow: &str,
) -> anyhow::Result<()> {
    let shown = name.clone().unwrap_or_else(|| args.zoho.name().to_owned());
    let server = connections.server(name).map_err(|e| {
        anyhow::anyhow!(
            "the workflow `{workflow}` uses the embedded MCP server, which needs the Zoho connection `{shown}`: {e:#} (or pass --sandbox to work offline)"
        )
    })?;
    super::doctor::preflight(server.gateway.client())
        .await
        .with_context(|| format!("connection `{shown}` (used by the workflow `{workflow}`)"))
}

/// Reloads on SIGHUP until SIGTERM or Ctrl-C.
async fn wait_for_stop(handle: &scheduler::SchedulerHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hangup) = signal(SignalKind::hangup()) {
            let stop = shutdown::signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    Some(()) = hangup.recv() => {
                        tracing::info!("SIGHUP: reloading workflows");
                        // The outcome is logged by the scheduler; a refused reload keeps the old set.
                        let _ = handle.reload().await;
                    }
                }
            }
        }
    }
    shutdown::signal().await;
}
