//! A load client for comparing MCP servers side by side (bench/gateway_compare.py drives it).
//!
//! One client for every server under test, so the numbers differ only by server: rmcp's
//! Streamable HTTP client, one MCP session per concurrent client. Prints one JSON line per run.
//!
//! ```text
//! mcp_load call   URL TOOL ARGS_JSON CLIENTS CALLS      # p50/p99 latency and calls/s
//! mcp_load direct URL CLIENTS CALLS [HEADER:VALUE ...]  # plain HTTP GET, the floor
//! mcp_load idle   URL SESSIONS                          # open idle sessions, print "ready", hold until stdin closes
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

type Session = RunningService<RoleClient, ()>;

const WARMUP_CALLS: usize = 20;

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn report(mode: &str, clients: usize, mut samples: Vec<Duration>, secs: f64) {
    samples.sort();
    let calls = samples.len();
    println!(
        "{}",
        json!({
            "mode": mode,
            "clients": clients,
            "calls": calls,
            "seconds": secs,
            "calls_per_s": calls as f64 / secs,
            "p50_us": percentile_us(&samples, 0.5),
            "p99_us": percentile_us(&samples, 0.99),
        })
    );
}

fn parse_count(s: Option<&String>, what: &str) -> anyhow::Result<usize> {
    let s = s.with_context(|| format!("missing {what}"))?;
    let n: usize = s
        .parse()
        .with_context(|| format!("{what} must be a number"))?;
    anyhow::ensure!(n > 0, "{what} must be at least 1");
    Ok(n)
}

async fn open(url: &str) -> anyhow::Result<Session> {
    ().serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .with_context(|| format!("MCP session to {url} failed"))
}

async fn call_once(session: &Session, tool: &str, args: &Map<String, Value>) -> anyhow::Result<()> {
    let result = session
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args.clone()))
        .await?;
    if result.is_error == Some(true) {
        bail!("tool {tool} returned an error: {:?}", result.content);
    }
    Ok(())
}

async fn run_calls(
    url: &str,
    tool: &str,
    args: Value,
    clients: usize,
    calls: usize,
) -> anyhow::Result<()> {
    let args = args
        .as_object()
        .cloned()
        .context("ARGS_JSON must be a JSON object")?;
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(open(url).await?);
    }
    for session in &sessions {
        for _ in 0..WARMUP_CALLS.div_ceil(clients) {
            call_once(session, tool, &args).await?;
        }
    }
    let per_client = calls.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for session in sessions {
        let (tool, args) = (tool.to_owned(), args.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                call_once(&session, &tool, &args).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok((samples, session))
        }));
    }
    let mut samples = Vec::with_capacity(per_client * clients);
    let mut done = Vec::with_capacity(clients);
    for task in tasks {
        let (s, session) = task.await??;
        samples.extend(s);
        done.push(session);
    }
    let secs = started.elapsed().as_secs_f64();
    report("mcp", clients, samples, secs);
    for session in done {
        let _ = session.cancel().await;
    }
    Ok(())
}

async fn run_direct(
    url: &str,
    clients: usize,
    calls: usize,
    headers: &[String],
) -> anyhow::Result<()> {
    let mut map = reqwest::header::HeaderMap::new();
    for h in headers {
        let (name, value) = h.split_once(':').context("headers are NAME:VALUE")?;
        map.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            reqwest::header::HeaderValue::from_str(value.trim())?,
        );
    }
    let client = reqwest::Client::builder().default_headers(map).build()?;
    let get = |client: reqwest::Client, url: String| async move {
        let response = client.get(&url).send().await?;
        let status = response.status();
        response.bytes().await?;
        anyhow::ensure!(status.is_success(), "GET answered {status}");
        anyhow::Ok(())
    };
    for _ in 0..WARMUP_CALLS {
        get(client.clone(), url.to_owned()).await?;
    }
    let per_client = calls.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                get(client.clone(), url.clone()).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::with_capacity(per_client * clients);
    for task in tasks {
        samples.extend(task.await??);
    }
    report("direct", clients, samples, started.elapsed().as_secs_f64());
    Ok(())
}

async fn run_idle(url: &str, sessions: usize) -> anyhow::Result<()> {
    let mut open_sessions = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        open_sessions.push(open(url).await?);
    }
    println!(
        "{}",
        json!({"mode": "idle", "sessions": open_sessions.len(), "ready": true})
    );
    // Held open until the driver has read the server's memory and closes our stdin.
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    for session in open_sessions {
        let _ = session.cancel().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoho_desk_mcp::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("call") => {
            let url = args.get(1).context("missing URL")?;
            let tool = args.get(2).context("missing TOOL")?;
            let tool_args: Value = serde_json::from_str(args.get(3).context("missing ARGS_JSON")?)?;
            let clients = parse_count(args.get(4), "CLIENTS")?;
            let calls = parse_count(args.get(5), "CALLS")?;
            run_calls(url, tool, tool_args, clients, calls).await
        }
        Some("direct") => {
            let url = args.get(1).context("missing URL")?;
            let clients = parse_count(args.get(2), "CLIENTS")?;
            let calls = parse_count(args.get(3), "CALLS")?;
            run_direct(url, clients, calls, &args[4.min(args.len())..]).await
        }
        Some("idle") => {
            let url = args.get(1).context("missing URL")?;
            run_idle(url, parse_count(args.get(2), "SESSIONS")?).await
        }
        _ => bail!("usage: mcp_load call|direct|idle ... (see the file's header)"),
    }
}
