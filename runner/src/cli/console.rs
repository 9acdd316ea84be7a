//! `deskhand console`: the review console on a local port (see [`crate::console`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::registry::Registry;

use super::backend::{self, BackendArgs};
use super::output::outln;
use crate::console::{self, Console};
use crate::mcp::EmbeddedServer;

#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The port to serve on (0 picks a free one).
    #[arg(long, default_value_t = 8470)]
    port: u16,
    /// The address to bind. Anything but loopback needs --allowed-hosts.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Host names (besides loopback) the console answers to, comma-separated: the names it is
    /// reached by through a proxy or on the network.
    #[arg(long, value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Base URL of `deskhand mcp serve --http`, printed in front of `/mcp/<token>` for MCP
    /// servers created from the console.
    #[arg(long, env = "DESKHAND_MCP_PUBLIC_URL", default_value = console::DEFAULT_MCP_PUBLIC_URL)]
    mcp_public_url: String,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    if !args.bind.is_loopback() && args.allowed_hosts.is_empty() {
        anyhow::bail!(
            "binding {} exposes the console beyond this machine; name the host names it is reached by with --allowed-hosts",
            args.bind
        );
    }
    let store = backend::store(&args.backend).await?;
    let registry = Registry::open(store.database().clone())
        .await
        .context("could not open the token registry")?;
    let catalog = backend::catalog()?;
    // One sandbox for the console's lifetime, so decisions land where the page shows them.
    let (embedded, _sandbox) = if args.backend.sandbox {
        backend::embedded(&args.backend, catalog, true).await?
    } else {
        (None::<EmbeddedServer>, None)
    };
    let mut console = Console::new(store, registry, args.backend.clone(), args.allowed_hosts)
        .with_mcp_public_url(args.mcp_public_url);
    if let Some(embedded) = embedded {
        console = console.with_embedded(embedded);
    }
    let stop = CancellationToken::new();
    let addr = SocketAddr::new(args.bind, args.port);
    let (bound, task) = console::serve(console, addr, stop.clone())
        .await
        .with_context(|| format!("could not serve the console on {addr}"))?;
    outln!("console: http://{bound}/");
    tracing::info!(addr = %bound, "serving the console");
    crate::shutdown::signal().await;
    stop.cancel();
    let _ = task.await;
    Ok(ExitCode::SUCCESS)
}
