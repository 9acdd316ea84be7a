//! The fault soak (bench/soak.sh drives it): scheduler replicas on PostgreSQL work a sandbox
//! backlog while the sandbox injects 5xx answers (JSON and HTML), dropped connections after the
//! write happened, 200s with a cut body, latency, both kinds of 429 (a tight credit window and a
//! concurrency cap) and token expiry, and a replica is killed with SIGKILL at random moments and
//! started again. At the end every ticket must carry exactly one note and the update its run
//! decided, no item may be abandoned, and nothing may be written twice.
//!
//! It prints one JSON line with the totals: faults injected by kind, 429s, kills, items, lost and
//! duplicated writes, abandoned items, and how long the backlog took.
//!
//! ```text
//! soak --database-url postgres://... [--tickets 40] [--minutes 4] [--replicas 2] [--seed 7]
//! ```
//! The binary is `target/<profile>/deskhand` next to this example (build it first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use deskhand::store::{ItemStatus, Store};
use deskhand_e2e::agents::ticket_in_prompt;
use deskhand_e2e::{ScriptedLlm, ScriptedToolCall, Step};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

struct Options {
    database_url: String,
    tickets: usize,
    minutes: u64,
    replicas: usize,
    seed: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        database_url: std::env::var("DATABASE_URL").unwrap_or_default(),
        tickets: 40,
        minutes: 4,
        replicas: 2,
        seed: 7,
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
            "--database-url" => o.database_url = value.clone(),
            "--tickets" => o.tickets = usize::try_from(number()?)?,
            "--minutes" => o.minutes = number()?,
            "--replicas" => o.replicas = usize::try_from(number()?)?.max(1),
            "--seed" => o.seed = number()?,
            other => bail!("unknown option {other}"),
        }
    }
    if !o.database_url.starts_with("postgres") {
        bail!("the soak runs replicas on PostgreSQL: pass --database-url postgres://...");
    }
    Ok(o)
}

/// A small deterministic generator for kill times and victims (the soak is repeatable for a seed).
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn note_for(id: &str) -> String {
    format!("Soak triage for ticket {id}: routed once, whatever the faults.")
}

/// Reads the ticket, updates it and comments in one turn, then answers.
fn triage(body: &Value) -> Step {
    let id = ticket_in_prompt(body);
    let results = body["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "tool").count())
        .unwrap_or(0);
    match results {
        0 => Step::tool_call(
            "zoho_desk_tickets_get_full_context",
            json!({ "ticketId": id }),
        ),
        1 => Step::tool_calls(vec![
            ScriptedToolCall::new(
                "update_a_zoho_desk_ticket_by_id",
                json!({ "id": id, "priority": "High" }),
            ),
            ScriptedToolCall::new(
                "create_a_zoho_desk_ticket_comment",
                json!({ "ticketId": id, "content": note_for(&id), "isPublic": false }),
            ),
        ]),
        _ => Step::text(r#"{"decision": "assign"}"#),
    }
}

fn workflow_yaml(name: &str, llm_url: &str, tickets: usize) -> String {
    format!(
        r#"version: 1
name: {name}
description: Soak triage.
schedule: "*/3 * * * * *"
overlap: skip
model: {{ provider: openai_compatible, base_url: "{llm_url}", name: scripted }}
mcp: embedded
tools:
  - zoho_desk_tickets_get_full_context
  - update_a_zoho_desk_ticket_by_id
  - create_a_zoho_desk_ticket_comment
for_each:
  tool: list_all_zoho_desk_tickets
  args: {{ limit: 50 }}
  max_items: {tickets}
  fingerprint: [subject, threadCount]
prompt: prompt.md
writes: apply
limits: {{ item_timeout: 20s, concurrency: 3, max_attempts: 10 }}
output:
  schema:
    type: object
    required: [decision]
    properties:
      decision: {{ type: string }}
"#
    )
}

fn deskhand_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/soak -> target/<profile>/deskhand
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("deskhand"))
        .context("no target directory")?;
    if !bin.exists() {
        bail!(
            "{} is missing: build the deskhand binary first",
            bin.display()
        );
    }
    Ok(bin)
}

struct Sandbox {
    _child: Child,
    admin: String,
    env: Vec<(String, String)>,
}

async fn start_sandbox(bin: &Path, dir: &Path, o: &Options) -> anyhow::Result<Sandbox> {
    let mut data = zoho_desk_sandbox::SeedData::generated(o.seed).to_json();
    if let Some(tickets) = data["tickets"].as_array_mut() {
        tickets.truncate(o.tickets);
    }
    let seed = dir.join("seed.json");
    std::fs::write(&seed, data.to_string())?;
    let mut child = Command::new(bin)
        .args(["sandbox", "--port", "0", "--json", "--seed-file"])
        .arg(&seed)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("sandbox stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .context("the sandbox did not start")??
        .context("the sandbox printed nothing")?;
    let info: Value = serde_json::from_str(&line)?;
    let s = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
    let base = url::Url::parse(&s("base_url"))?;
    let admin = format!(
        "{}://{}:{}",
        base.scheme(),
        base.host_str().unwrap_or("127.0.0.1"),
        base.port().unwrap_or(80)
    );
    let env = vec![
        ("ZOHO_DESK_BASE_URL".into(), s("base_url")),
        ("ZOHO_ACCOUNTS_URL".into(), s("accounts_url")),
        ("ZOHO_ORG_ID".into(), s("org_id")),
        ("ZOHO_CLIENT_ID".into(), s("client_id")),
        ("ZOHO_CLIENT_SECRET".into(), s("client_secret")),
        ("ZOHO_REFRESH_TOKEN".into(), s("refresh_token")),
    ];
    Ok(Sandbox {
        _child: child,
        admin,
        env,
    })
}

fn spawn_replica(
    bin: &Path,
    dir: &Path,
    owner: &str,
    sandbox: &Sandbox,
    database_url: &str,
) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{owner}.log")))?;
    Ok(Command::new(bin)
        .args(["schedule", "--workflows"])
        .arg(dir.join("workflows"))
        .args(["--owner", owner, "--metrics-addr", "off", "--grace", "5s"])
        .envs(sandbox.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DATABASE_URL", database_url)
        .env("DESKHAND_CONFIG_DIR", dir.join("config"))
        // One key for every replica, so they share one access token (Zoho's token limit).
        .env(
            "DESKHAND_TOKEN_KEY",
            "5c0a0b7e1f2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccd",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?)
}

/// Per ticket: (notes with the soak's text, priority set).
fn tally(state: &Value) -> BTreeMap<String, (usize, bool)> {
    state["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let id = t["id"].as_str().unwrap_or_default().to_owned();
            let note = note_for(&id);
            let notes = t["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["content"].as_str().is_some_and(|s| s.contains(&note)))
                .count();
            (id, (notes, t["priority"] == "High"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    zoho_desk_mcp::install_crypto_provider();
    let bin = deskhand_binary()?;
    let dir = std::env::temp_dir().join(format!("deskhand-soak-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("workflows"))?;
    std::fs::create_dir_all(dir.join("config"))?;

    let sandbox = start_sandbox(&bin, &dir, &o).await?;
    let llm = ScriptedLlm::builder().responder(triage).start().await;
    let name = format!("soak-{}-{}", std::process::id(), o.seed);
    std::fs::write(
        dir.join("workflows/prompt.md"),
        "Triage ticket {{ item.id }} ({{ item.subject }}).\n",
    )?;
    std::fs::write(
        dir.join("workflows/soak.yaml"),
        workflow_yaml(&name, &llm.base_url(), o.tickets),
    )?;

    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}/_sandbox/{path}", sandbox.admin);
    // Faults on every API call, decided by a seeded generator: failures before the write (5xx),
    // after it (dropped connection, cut body), slowness; a credit window the backlog outruns and
    // a concurrency cap below what the replicas send.
    http.put(admin("faults"))
        .json(&json!({"seed": o.seed, "rules": [
            {"kind": "status", "status": 503, "rate": 0.04, "path_prefix": "/api/v1"},
            {"kind": "status", "status": 502, "html": true, "rate": 0.02, "path_prefix": "/api/v1"},
            {"kind": "drop", "rate": 0.03, "path_prefix": "/api/v1"},
            {"kind": "malformed", "rate": 0.03, "path_prefix": "/api/v1"},
            {"kind": "latency", "ms": 400, "rate": 0.05, "path_prefix": "/api/v1"}
        ]}))
        .send()
        .await?
        .error_for_status()?;
    http.put(admin("limits"))
        .json(&json!({"credits_per_window": 120, "window_secs": 5.0, "max_concurrency": 4}))
        .send()
        .await?
        .error_for_status()?;

    let owners: Vec<String> = (0..o.replicas).map(|i| format!("{name}-r{i}")).collect();
    let mut replicas: Vec<Child> = owners
        .iter()
        .map(|owner| spawn_replica(&bin, &dir, owner, &sandbox, &o.database_url))
        .collect::<anyhow::Result<_>>()?;

    let mut rng = SplitMix(o.seed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.minutes * 60);
    let mut next_kill = started + Duration::from_secs(5 + rng.below(10));
    let mut next_expiry = started + Duration::from_secs(40);
    let mut kills = 0u64;
    let mut expiries = 0u64;
    let mut drained_after = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        if now >= next_kill {
            let victim = usize::try_from(rng.below(o.replicas as u64)).unwrap_or(0);
            let _ = replicas[victim].start_kill();
            let _ = replicas[victim].wait().await;
            kills += 1;
            tokio::time::sleep(Duration::from_millis(500 + rng.below(2500))).await;
            replicas[victim] =
                spawn_replica(&bin, &dir, &owners[victim], &sandbox, &o.database_url)?;
            next_kill = Instant::now() + Duration::from_secs(15 + rng.below(20));
        }
        if now >= next_expiry {
            http.post(admin("tokens/expire")).send().await?;
            expiries += 1;
            // Zoho issues 10 access tokens per refresh token per 10 minutes: expiring every
            // 100 s stays within that, as an hour-long token does in life.
            next_expiry = now + Duration::from_secs(100);
        }
        let state: Value = http.get(admin("state")).send().await?.json().await?;
        if tally(&state)
            .values()
            .all(|(notes, high)| *notes >= 1 && *high)
        {
            drained_after = Some(started.elapsed());
            break;
        }
    }

    // Faults off; let whatever is still due settle, then stop the replicas gracefully.
    http.delete(admin("faults")).send().await?;
    http.put(admin("limits"))
        .json(&json!({"credits_per_window": 100000, "window_secs": 1.0, "max_concurrency": 25}))
        .send()
        .await?;
    let settle_until = Instant::now() + Duration::from_secs(60);
    let store = Store::connect(&o.database_url).await?;
    while Instant::now() < settle_until {
        let state: Value = http.get(admin("state")).send().await?.json().await?;
        let done = tally(&state).values().all(|(n, h)| *n >= 1 && *h);
        let busy = store
            .list_items(&name)
            .await?
            .iter()
            .any(|i| i.status == ItemStatus::Running);
        if done && !busy {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for r in &mut replicas {
        if let Some(pid) = r.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
    }
    for r in &mut replicas {
        let _ = tokio::time::timeout(Duration::from_secs(30), r.wait()).await;
    }

    let state: Value = http.get(admin("state")).send().await?.json().await?;
    let stats: Value = http.get(admin("stats")).send().await?.json().await?;
    let per_ticket = tally(&state);
    let lost = per_ticket.values().filter(|(n, h)| *n == 0 || !*h).count();
    let duplicated = per_ticket.values().filter(|(n, _)| *n > 1).count();
    let items = store.list_items(&name).await?;
    let abandoned = items
        .iter()
        .filter(|i| i.status == ItemStatus::Abandoned)
        .count();
    let line = json!({
        "tickets": o.tickets,
        "replicas": o.replicas,
        "seed": o.seed,
        "drained_s": drained_after.map(|d| d.as_secs_f64()),
        "kills": kills,
        "token_expiries": expiries,
        "faults_injected": stats["faults_injected"],
        "answered_429_quota": stats["rate_limited_threshold"],
        "answered_429_concurrency": stats["rate_limited_concurrency"],
        "zoho_calls": stats["total"],
        "llm_requests": llm.hits(),
        "items": items.len(),
        "abandoned": abandoned,
        "lost": lost,
        "duplicated": duplicated,
    });
    println!("{line}");
    let _ = std::fs::remove_dir_all(&dir);
    if lost > 0 || duplicated > 0 || abandoned > 0 {
        bail!("the soak found lost, duplicated or abandoned work: {line}");
    }
    Ok(())
}
