//! Gateway overhead, measured side by side in one process against one sandbox:
//! a direct Zoho client call, the same call through the gateway core, through MCP in-process,
//! and through MCP over Streamable HTTP. Prints a Markdown table of p50/p99 latencies, the
//! overhead of each layer as a ratio of the direct round trip, and HTTP tool calls per second at
//! 1, 8 and 64 concurrent clients.
//!
//! Run: `cargo bench -p deskhand --bench gateway` (set `DESKHAND_BENCH_CALLS` to change the sample).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Map, Value, json};
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_mcp::registry::{ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer};
use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, transport};
use zoho_desk_sandbox::SandboxConfig;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoho_desk_mcp::install_crypto_provider();
    let calls: usize = std::env::var("DESKHAND_BENCH_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let catalog = Arc::new(Catalog::zoho_desk()?);
    // The benchmark measures the gateway, not Zoho's limits.
    let config = SandboxConfig {
        credits_per_window: u64::MAX / 4,
        max_concurrency: 1024,
        ..SandboxConfig::default()
    };
    let backend = deskhand::embedded::SandboxBackend::start_with(catalog.clone(), config).await?;
    let ticket_id = backend.sandbox.admin().state_json()["tickets"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client = backend.gateway.client().clone();
    let path = format!("/tickets/{ticket_id}");
    let args: Map<String, Value> = json!({"id": ticket_id})
        .as_object()
        .cloned()
        .unwrap_or_default();

    let in_process = transport::connect_in_process(ZohoDeskMcpServer::new(
        backend.gateway.clone(),
        Scope::default(),
    ))
    .await?;

    let db_path = std::env::temp_dir().join(format!("deskhand-bench-{}.db", std::process::id()));
    let http_server = deskhand::embedded::HostedMcp::start(
        backend.gateway.clone(),
        database::connect(&db_path.to_string_lossy()).await?,
    )
    .await?;
    let (registry, gateways, base) = (
        http_server.registry.clone(),
        http_server.gateways.clone(),
        http_server.base_url.clone(),
    );
    let hosted = hosted::create(
        &registry,
        &gateways,
        CreateServer {
            name: "bench".into(),
            connection: "default".into(),
            methods: vec![],
            tags: vec![],
            exposure: ToolExposure::All,
            require_api_token_auth: false,
            expires_at: None,
        },
        &base,
    )
    .await?;
    let http_client = ().serve(StreamableHttpClientTransport::from_uri(hosted.url.clone())).await?;

    // Warm-up: token fetch, connection pools, allocator.
    for _ in 0..50 {
        client
            .request(reqwest::Method::GET, &path, &[], None)
            .await?;
        backend
            .gateway
            .call("get_single_zoho_desk_ticket_by_id", args.clone())
            .await?;
    }

    let names = [
        "direct Zoho client",
        "gateway core",
        "MCP in-process",
        "MCP Streamable HTTP",
    ];
    let mut samples: Vec<Vec<Duration>> = (0..4).map(|_| Vec::with_capacity(calls)).collect();
    // Interleaved, so drift (other load on the machine) hits every mode alike.
    for _ in 0..calls {
        let t = Instant::now();
        client
            .request(reqwest::Method::GET, &path, &[], None)
            .await?;
        samples[0].push(t.elapsed());

        let t = Instant::now();
        backend
            .gateway
            .call("get_single_zoho_desk_ticket_by_id", args.clone())
            .await?;
        samples[1].push(t.elapsed());

        let t = Instant::now();
        in_process
            .call_tool(
                CallToolRequestParams::new("get_single_zoho_desk_ticket_by_id")
                    .with_arguments(args.clone()),
            )
            .await?;
        samples[2].push(t.elapsed());

        let t = Instant::now();
        http_client
            .call_tool(
                CallToolRequestParams::new("get_single_zoho_desk_ticket_by_id")
                    .with_arguments(args.clone()),
            )
            .await?;
        samples[3].push(t.elapsed());
    }
    for s in &mut samples {
        s.sort();
    }
    let direct_p50 = percentile(&samples[0], 0.5);
    println!(
        "## Gateway overhead per tool call (get_single_zoho_desk_ticket_by_id, {calls} calls each, interleaved)\n"
    );
    println!("| path | p50 µs | p99 µs | p50 overhead vs direct |");
    println!("|---|---:|---:|---:|");
    for (name, s) in names.iter().zip(&samples) {
        let p50 = percentile(s, 0.5);
        let overhead = (micros(p50) - micros(direct_p50)) / micros(direct_p50) * 100.0;
        println!(
            "| {name} | {:.0} | {:.0} | {:+.1}% |",
            micros(p50),
            micros(percentile(s, 0.99)),
            overhead
        );
    }

    println!("\n## Tool calls per second over Streamable HTTP\n");
    println!("| concurrent clients | calls | seconds | calls/s |");
    println!("|---:|---:|---:|---:|");
    for clients in [1usize, 8, 64] {
        let mut sessions = Vec::new();
        for _ in 0..clients {
            sessions.push(
                ().serve(StreamableHttpClientTransport::from_uri(hosted.url.clone()))
                    .await?,
            );
        }
        let per_client = (calls / clients).max(20);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for session in sessions {
            let args = args.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_client {
                    session
                        .call_tool(
                            CallToolRequestParams::new("get_single_zoho_desk_ticket_by_id")
                                .with_arguments(args.clone()),
                        )
                        .await?;
                }
                anyhow::Ok(session)
            }));
        }
        for task in tasks {
            task.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let total = per_client * clients;
        println!(
            "| {clients} | {total} | {secs:.2} | {:.0} |",
            total as f64 / secs
        );
    }
    drop(http_server);
    let _ = std::fs::remove_file(&db_path);
    Ok(())
}
