//! `deskhand sandbox`: the offline Zoho Desk, as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use zoho_desk_sandbox::{Sandbox, SandboxConfig, SeedData};

use super::output::outln;
use crate::shutdown;

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Address to bind. The sandbox has no real security: keep it on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Seed for the generated org and for fault injection.
    #[arg(long, conflicts_with = "seed_file")]
    seed: Option<u64>,
    /// Load the org from a seed file in Zoho's JSON shapes instead of generating one.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// API credits per rate-limit window (Zoho: per day).
    #[arg(long)]
    credits_per_window: Option<u64>,
    /// Length of the credit window in seconds.
    #[arg(long)]
    window_secs: Option<u64>,
    /// Concurrent API calls allowed before 429 TOO_MANY_REQUESTS.
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// Lifetime of issued access tokens in seconds.
    #[arg(long)]
    token_ttl_secs: Option<u64>,
    /// Latency added to every API call, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// How long a grant code stays exchangeable, in seconds (Zoho: 3 to 10 minutes).
    #[arg(long)]
    grant_code_ttl_secs: Option<u64>,
    /// Print the connection details as one JSON line.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let mut config = SandboxConfig::default();
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(path) = &args.seed_file {
        config.seed_data = Some(SeedData::from_path(path)?);
    }
    if let Some(credits) = args.credits_per_window {
        config.credits_per_window = credits;
    }
    if let Some(secs) = args.window_secs {
        anyhow::ensure!(secs > 0, "--window-secs must be at least 1");
        config.window = Duration::from_secs(secs);
    }
    if let Some(n) = args.max_concurrency {
        anyhow::ensure!(n > 0, "--max-concurrency must be at least 1");
        config.max_concurrency = n;
    }
    if let Some(secs) = args.token_ttl_secs {
        anyhow::ensure!(secs > 0, "--token-ttl-secs must be at least 1");
        config.token_ttl = Duration::from_secs(secs);
    }
    if let Some(secs) = args.grant_code_ttl_secs {
        config.grant_code_ttl = Duration::from_secs(secs);
    }
    if let Some(ms) = args.latency_ms {
        config.latency = Duration::from_millis(ms);
    }

    let config_code_ttl = config.grant_code_ttl;
    let addr = SocketAddr::new(args.host, args.port);
    let sandbox = Sandbox::start(config, addr)
        .await
        .with_context(|| format!("could not start the sandbox on {addr}"))?;
    let creds = sandbox.credentials();
    // A Self Client grant code with the scopes `deskhand connect` asks for, so that `connect
    // --code` can be tried against the sandbox exactly as against Zoho.
    let grant_code = sandbox
        .admin()
        .grant_code(zoho_desk_mcp::zoho::oauth::DESK_SCOPES)
        .map_err(anyhow::Error::msg)?;
    if args.json {
        let line = serde_json::json!({
            "base_url": sandbox.base_url(),
            "accounts_url": sandbox.accounts_url(),
            "org_id": creds.org_id,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
            "grant_code": grant_code,
        });
        outln!("{line}");
    } else {
        outln!("Zoho Desk sandbox listening");
        outln!(
            "  base URL      {}   (API at /api/v1, admin at /_sandbox)",
            sandbox.base_url()
        );
        outln!("  accounts URL  {}", sandbox.accounts_url());
        outln!("  org id        {}", creds.org_id);
        outln!("  client id     {}", creds.client_id);
        outln!("  client secret {}", creds.client_secret);
        outln!("  refresh token {}", creds.refresh_token);
        outln!(
            "  grant code    {grant_code}   (single use, expires in {} s)",
            config_code_ttl.as_secs()
        );
        outln!();
        outln!("To point deskhand at it:");
        outln!(
            "  export ZOHO_DESK_BASE_URL={} ZOHO_ACCOUNTS_URL={} ZOHO_ORG_ID={} \\",
            sandbox.base_url(),
            sandbox.accounts_url(),
            creds.org_id
        );
        outln!(
            "         ZOHO_CLIENT_ID={} ZOHO_CLIENT_SECRET={} ZOHO_REFRESH_TOKEN={}",
            creds.client_id,
            creds.client_secret,
            creds.refresh_token
        );
        outln!();
        outln!("Or save it as a connection:");
        outln!(
            "  deskhand connect --name sandbox --accounts-url {} --desk-url {} --client-id {} --client-secret {} --code {grant_code}",
            sandbox.accounts_url(),
            sandbox.base_url(),
            creds.client_id,
            creds.client_secret
        );
    }
    shutdown::signal().await;
    tracing::info!("shutting down the sandbox");
    sandbox.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
