//! Benchmark 3: tokens and round trips per ticket (bench/runner.sh drives it).
//!
//! Each shipped workflow runs on the first N tickets of the labelled dataset with a scripted
//! model that does the job the way its prompt asks, from the real tool results
//! (deskhand_e2e::agents). Every chat request the runner sends is recorded and counted with
//! OpenAI's o200k_base tokenizer: the messages (3 tokens of framing each, plus content, tool-call
//! names and arguments) and the `tools` array as the JSON that is sent. Completion tokens are the
//! scripted answers and tool calls, counted the same way. Variants per workflow, one after the
//! other in this process: the shipped file; for a workflow that ships in decide mode (one
//! decision per ticket, no tools offered), also agent mode (bench/agent-mode/: the model holds the
//! tools); in agent mode every generated tool offered; and the agent-mode list without the
//! composite context tool (the model reads ticket, threads and comments one call at a time). One
//! JSON line per variant, with the Zoho credits per ticket the run counted and the run's quality
//! as `deskhand eval` scores it against tests/fixtures/eval/gold.json.
//!
//! ```text
//! tokens [--tickets 20] [--workflow kb-grounded-reply]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use deskhand::embedded::SandboxBackend;
use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
use deskhand::eval::{EvalKind, Gold, evaluate};
use deskhand::llm::LlmSettings;
use deskhand::mcp::EmbeddedServer;
use deskhand::store::{Store, Trigger};
use deskhand::workflow::{Mode, Workflow, WritePolicy};
use deskhand_e2e::{ScriptedLlm, Step, agents};
use serde_json::{Value, json};
use tiktoken_rs::CoreBPE;
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_sandbox::{SandboxConfig, SeedData};

const COMPOSITE: &str = "zoho_desk_tickets_get_full_context";
/// What a model reads instead of the composite tool.
const PIECEWISE: [&str; 4] = [
    "get_single_zoho_desk_ticket_by_id",
    "list_all_zoho_desk_ticket_threads",
    "get_single_zoho_desk_ticket_thread_by_id",
    "list_all_zoho_desk_ticket_comments",
];
/// OpenAI's chat format: framing tokens per message, and priming of the reply.
const PER_MESSAGE: usize = 3;
const PER_REPLY: usize = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn seed(n: usize) -> anyhow::Result<SeedData> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/eval/dataset.json"))
        .context("tests/fixtures/eval/dataset.json")?;
    let mut data: Value = serde_json::from_str(&text)?;
    if let Some(tickets) = data["tickets"].as_array_mut() {
        tickets.truncate(n);
    }
    Ok(SeedData::from_json_str(&data.to_string())?)
}

fn count(bpe: &CoreBPE, text: &str) -> usize {
    bpe.encode_with_special_tokens(text).len()
}

/// Prompt tokens of one request, and how many of them are the tool schemas.
fn prompt_tokens(bpe: &CoreBPE, body: &Value) -> (usize, usize) {
    let mut total = PER_REPLY;
    for m in body["messages"].as_array().into_iter().flatten() {
        total += PER_MESSAGE;
        if let Some(content) = m["content"].as_str() {
            total += count(bpe, content);
        }
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            total += count(bpe, call["function"]["name"].as_str().unwrap_or_default());
            total += count(
                bpe,
                call["function"]["arguments"].as_str().unwrap_or_default(),
            );
        }
    }
    let schemas = body
        .get("tools")
        .filter(|t| !t.is_null())
        .map_or(0, |t| count(bpe, &t.to_string()));
    (total + schemas, schemas)
}

fn completion_tokens(bpe: &CoreBPE, step: &Step) -> usize {
    match step {
        Step::Text { text, .. } => count(bpe, text),
        Step::ToolCalls { calls, .. } => calls
            .iter()
            .map(|c| count(bpe, &c.name) + count(bpe, &c.arguments.to_string()))
            .sum(),
        Step::Delay(_, inner) => completion_tokens(bpe, inner),
        _ => 0,
    }
}

async fn measure(
    catalog: Arc<Catalog>,
    bpe: Arc<CoreBPE>,
    file: &str,
    variant: &str,
    tickets: usize,
) -> anyhow::Result<Value> {
    let shipped = Workflow::load(&repo().join("workflows").join(file), &*catalog)?;
    // Agent-mode variants of a decide-mode workflow start from its agent-mode file.
    let agent_mode = repo().join("bench/agent-mode").join(file);
    let mut workflow = if variant != "shipped" && shipped.mode == Mode::Decide {
        Workflow::load(&agent_mode, &*catalog)?
    } else {
        shipped
    };
    let agent: fn(&Value) -> Step = match workflow.name.as_str() {
        "triage-and-assign" => agents::triage_any,
        "kb-grounded-reply" => agents::kb_reply_any,
        other => bail!("no scripted agent for {other}"),
    };
    match variant {
        "shipped" | "agent" => {}
        "all_tools" => {
            workflow.tools = catalog.tools().iter().map(|t| t.name.clone()).collect();
            workflow.tools_when.clear();
        }
        "no_composite" => {
            workflow.tools.retain(|t| t != COMPOSITE);
            workflow
                .tools
                .extend(PIECEWISE.iter().map(|t| (*t).to_owned()));
        }
        other => bail!("unknown variant {other}"),
    }
    workflow.writes = WritePolicy::Apply;
    if let Some(for_each) = workflow.for_each.as_mut() {
        for_each.max_items = u32::try_from(tickets)?;
    }
    let backend = SandboxBackend::start_with(
        catalog.clone(),
        SandboxConfig {
            seed_data: Some(seed(tickets)?),
            ..SandboxConfig::default()
        },
    )
    .await?;
    let completions: Arc<Mutex<usize>> = Arc::default();
    let llm = {
        let (bpe, completions) = (bpe.clone(), completions.clone());
        ScriptedLlm::builder()
            .responder(move |body| {
                let step = agent(body);
                let n = completion_tokens(&bpe, &step);
                if let Ok(mut c) = completions.lock() {
                    *c += n;
                }
                step
            })
            .start()
            .await
    };
    let db = std::env::temp_dir().join(format!(
        "deskhand-tokens-{}-{variant}-{}.db",
        workflow.name,
        std::process::id()
    ));
    let store = Store::connect(&zoho_desk_mcp::registry::database::sqlite_url(
        &db.to_string_lossy(),
    ))
    .await?;
    let engine = Engine::new(store, "tokens-bench")
        .with_embedded(EmbeddedServer::new(backend.gateway.clone()));
    let decider = Decider::Llm(Box::new(LlmSettings::openai_compatible(
        llm.base_url(),
        "scripted",
    )));
    let before = backend.sandbox.admin().state_json();
    let started = std::time::Instant::now();
    let report = engine
        .run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await?;
    let wall = started.elapsed();
    let after = backend.sandbox.admin().state_json();
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
    let failed = report.items.iter().filter(|i| i.error.is_some()).count();
    anyhow::ensure!(
        failed == 0,
        "{} {variant}: {failed} item(s) failed: {:?}",
        workflow.name,
        report.items.iter().find_map(|i| i.error.clone())
    );

    let requests = llm.requests();
    // Each offered tool's definition, as sent: which tools a workflow's allow-list pays for.
    let per_tool: BTreeMap<String, usize> = requests
        .first()
        .map(|r| {
            r.body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        count(&bpe, &t.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (mut prompt, mut schemas) = (0, 0);
    let mut offered = HashSet::new();
    for r in &requests {
        let (p, s) = prompt_tokens(&bpe, &r.body);
        prompt += p;
        schemas += s;
        for t in r.body["tools"].as_array().into_iter().flatten() {
            offered.insert(
                t["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    let items = report.items.len().max(1) as f64;
    let tool_calls: i64 = report.items.iter().map(|i| i.tool_calls).sum();
    let completion = completions.lock().map(|c| *c).unwrap_or_default();
    // The same scoring as `deskhand eval`, from the sandbox's state after the run: with scripted
    // agents that make the same choice, a difference is the mode's (what the model was given,
    // what the runner wrote), not a model's.
    let gold = Gold::load(&repo().join("tests/fixtures/eval/gold.json"))?;
    let quality = match EvalKind::for_workflow(&workflow) {
        Some(kind) => {
            let scored = evaluate(kind, &gold, &before, &after, &report, wall);
            match (scored.triage, scored.replies) {
                (Some(t), _) => json!({
                    "department_accuracy": t.department_accuracy,
                    "fully_routed_rate": t.fully_routed_rate,
                    "abstention_rate": t.abstention_rate,
                }),
                (_, Some(r)) => json!({
                    "answer_rate": r.answer_rate,
                    "citing_gold_share": r.citing_gold_share,
                    "grounded_share": r.grounded_share,
                    "no_article_share": r.no_article_share,
                    "invented": r.invented,
                }),
                _ => Value::Null,
            }
        }
        None => Value::Null,
    };
    Ok(json!({
        "quality": quality,
        "workflow": workflow.name,
        "variant": variant,
        "mode": if workflow.mode == Mode::Decide { "decide" } else { "agent" },
        "zoho_credits_per_ticket": report.cost.credits as f64 / items,
        "tickets": report.items.len(),
        "tools_offered": offered.len(),
        "llm_round_trips_per_ticket": requests.len() as f64 / items,
        "tool_calls_per_ticket": tool_calls as f64 / items,
        "prompt_tokens_per_ticket": prompt as f64 / items,
        "completion_tokens_per_ticket": completion as f64 / items,
        "tool_schema_tokens_per_ticket": schemas as f64 / items,
        "tool_schema_share": schemas as f64 / prompt.max(1) as f64,
        "tool_schema_tokens_per_request": schemas as f64 / requests.len().max(1) as f64,
        "tool_schema_tokens": per_tool,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut tickets = 20;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--tickets", Some(n)) => {
                tickets = n.parse().context("--tickets takes a number")?;
            }
            ("--workflow", Some(name)) => only = Some(name),
            _ => bail!("usage: tokens [--tickets N] [--workflow NAME]"),
        }
    }
    zoho_desk_mcp::install_crypto_provider();
    let catalog = Arc::new(Catalog::zoho_desk()?);
    let bpe = Arc::new(tiktoken_rs::o200k_base()?);
    for file in ["triage-and-assign.yaml", "kb-grounded-reply.yaml"] {
        if only
            .as_deref()
            .is_some_and(|o| file.strip_suffix(".yaml") != Some(o))
        {
            continue;
        }
        let decides =
            Workflow::load(&repo().join("workflows").join(file), &*catalog)?.mode == Mode::Decide;
        let variants: &[&str] = if decides {
            &["shipped", "agent", "all_tools", "no_composite"]
        } else {
            &["shipped", "all_tools", "no_composite"]
        };
        for variant in variants {
            eprintln!("== {file} {variant}");
            let line = measure(catalog.clone(), bpe.clone(), file, variant, tickets).await?;
            println!("{line}");
        }
    }
    Ok(())
}
