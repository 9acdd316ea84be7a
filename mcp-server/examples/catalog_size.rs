//! Does the gateway's per-call cost grow with the catalogue? Measured side by side in one process
//! against one in-process sandbox: the same tool call through a gateway holding today's curated
//! catalogue and through one holding the full catalogue (curated + every generated tool), at the
//! gateway core and over MCP in-process, interleaved so machine noise hits every path alike.
//! Prints a Markdown table and the full/curated ratio of each layer's median.
//!
//! Run: `cargo run --release -p zoho-desk-mcp --example catalog_size`
//! (`DESKHAND_BENCH_CALLS` changes the sample, default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value, json};
use zoho_desk_mcp::catalog::{ToolFilter, Toolset};
use zoho_desk_mcp::registry::ToolExposure;
use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, transport};
use zoho_desk_mcp::{Catalog, Gateway, Secret, ZohoClient, ZohoConfig};
use zoho_desk_sandbox::{Sandbox, SandboxConfig};

const TOOL: &str = "get_single_zoho_desk_ticket_by_id";

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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    zoho_desk_mcp::install_crypto_provider();
    let calls: usize = std::env::var("DESKHAND_BENCH_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let config = SandboxConfig {
        credits_per_window: u64::MAX / 4,
        max_concurrency: 1024,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config, "127.0.0.1:0".parse()?).await?;
    let creds = sandbox.credentials().clone();
    let client = ZohoClient::new(ZohoConfig {
        desk_base_url: sandbox.base_url().parse()?,
        accounts_url: sandbox.accounts_url().parse()?,
        org_id: creds.org_id,
        client_id: creds.client_id,
        client_secret: Secret::new(creds.client_secret),
        refresh_token: Secret::new(creds.refresh_token),
        timeout: Duration::from_secs(20),
    })?;
    let ticket_id = sandbox.admin().state_json()["tickets"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/tickets/{ticket_id}");
    let args: Map<String, Value> = json!({"id": ticket_id})
        .as_object()
        .cloned()
        .unwrap_or_default();

    let curated = Arc::new(Catalog::zoho_desk()?);
    let full = Arc::new(Catalog::zoho_desk_all()?);
    let gw_curated = Arc::new(Gateway::new(curated.clone(), client.clone()));
    let gw_full = Arc::new(Gateway::new(full.clone(), client.clone()));
    let mcp_curated =
        transport::connect_in_process(ZohoDeskMcpServer::new(gw_curated.clone(), Scope::default()))
            .await?;
    let mcp_full = transport::connect_in_process(ZohoDeskMcpServer::new(
        gw_full.clone(),
        Scope {
            filter: ToolFilter::all().with_toolset(Toolset::All),
            exposure: ToolExposure::All,
        },
    ))
    .await?;

    for _ in 0..50 {
        client
            .request(reqwest::Method::GET, &path, &[], None)
            .await?;
        gw_curated.call(TOOL, args.clone()).await?;
        gw_full.call(TOOL, args.clone()).await?;
    }

    let names = [
        "direct Zoho client".to_owned(),
        format!("gateway core, {} tools", curated.tools().len()),
        format!("gateway core, {} tools", full.tools().len()),
        format!("MCP in-process, {} tools", curated.tools().len()),
        format!("MCP in-process, {} tools", full.tools().len()),
    ];
    let mut samples: Vec<Vec<Duration>> = (0..names.len())
        .map(|_| Vec::with_capacity(calls))
        .collect();
    for i in 0..calls {
        // Alternate which catalogue goes first, so neither always follows a warm cache.
        let order: [usize; 5] = if i % 2 == 0 {
            [0, 1, 2, 3, 4]
        } else {
            [0, 2, 1, 4, 3]
        };
        for which in order {
            let t = Instant::now();
            match which {
                0 => {
                    client
                        .request(reqwest::Method::GET, &path, &[], None)
                        .await?;
                }
                1 => {
                    gw_curated.call(TOOL, args.clone()).await?;
                }
                2 => {
                    gw_full.call(TOOL, args.clone()).await?;
                }
                3 => {
                    mcp_curated
                        .call_tool(CallToolRequestParams::new(TOOL).with_arguments(args.clone()))
                        .await?;
                }
                _ => {
                    mcp_full
                        .call_tool(CallToolRequestParams::new(TOOL).with_arguments(args.clone()))
                        .await?;
                }
            }
            samples[which].push(t.elapsed());
        }
    }
    for s in &mut samples {
        s.sort();
    }
    let p50: Vec<f64> = samples.iter().map(|s| micros(percentile(s, 0.5))).collect();
    println!("## Per-call cost by catalogue size ({TOOL}, {calls} calls each, interleaved)\n");
    println!("| path | p50 µs | p99 µs | p50 over direct µs |");
    println!("|---|---:|---:|---:|");
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.0} | {:.0} | {:+.0} |",
            p50[i],
            micros(percentile(&samples[i], 0.99)),
            p50[i] - p50[0]
        );
    }
    println!(
        "\nfull/curated p50 ratio: gateway core {:.3}, MCP in-process {:.3}",
        p50[2] / p50[1],
        p50[4] / p50[3]
    );

    // The catalogue-dependent part alone, without the network's noise: a call the gateway refuses
    // before anything goes upstream still finds the tool, validates every argument and lists the
    // allowed keys.
    let mut bad = args.clone();
    bad.insert("not_an_argument".into(), json!(1));
    let rounds = calls * 10;
    let mut cpu: [Vec<Duration>; 2] = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    for i in 0..rounds {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let gw = if which == 0 { &gw_curated } else { &gw_full };
            let t = Instant::now();
            let refused = gw.call(TOOL, bad.clone()).await;
            cpu[which].push(t.elapsed());
            if refused.is_ok() {
                return Err("the unknown argument was accepted".into());
            }
        }
    }
    for s in &mut cpu {
        s.sort();
    }
    let (a, b) = (
        micros(percentile(&cpu[0], 0.5)),
        micros(percentile(&cpu[1], 0.5)),
    );
    println!(
        "\nLookup and validation only (refused before the network, {rounds} calls each): p50 {a:.1} µs with {} tools, {b:.1} µs with {} tools, ratio {:.3}",
        curated.tools().len(),
        full.tools().len(),
        b / a
    );
    Ok(())
}
