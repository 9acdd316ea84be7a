//! `deskhand doctor`: one line per check, with a one-line fix for each failure, and exit code 0
//! only when everything a run needs passes. `schedule` and `mcp serve` run the Zoho part
//! ([`preflight`]) before they start, so wrong credentials stop them at once instead of at the
//! first tick.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use zoho_desk_mcp::zoho::oauth::DESK_SCOPES;
use zoho_desk_mcp::zoho::{ZohoClient, ZohoError, ZohoResponse};

use super::backend::{self, ZohoArgs};
use super::output::outln;
use crate::llm::{
    ChatMessage, ChatRequest, LlmClient, LlmError, LlmProvider, LlmSettings, RetryPolicy,
    ToolChoice, ToolSpec,
};
use crate::store::Store;
use crate::workflow::{LoadResults, Mode, Provider, Workflow};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    zoho: ZohoArgs,
    /// Where the workflows are.
    #[arg(long, default_value = "workflows", env = "DESKHAND_WORKFLOWS")]
    workflows: PathBuf,
    /// Run store: a postgres:// URL, a sqlite:// URL or a file path (default deskhand.db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// One JSON object with every check, instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Worth knowing, not a failure.
    Note,
    /// Works, but not as well as it could: not a failure either.
    Warn,
    Fail,
    /// Not run because an earlier check failed.
    Skipped,
}

#[derive(Debug, Serialize)]
struct Check {
    name: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn add(&mut self, name: &str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.0.push(Check {
            name: name.to_owned(),
            status,
            detail: detail.into(),
            fix,
        });
    }
    fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.add(name, Status::Ok, detail, None);
    }
    fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Fail, detail, Some(fix.into()));
    }
    fn warn(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Warn, detail, Some(fix.into()));
    }
    fn skip(&mut self, name: &str, why: &str) {
        self.add(name, Status::Skipped, why, None);
    }
    fn failed(&self) -> bool {
        self.0.iter().any(|c| c.status == Status::Fail)
    }
}

/// A [`Report`] whose check names carry a suffix (the connection, when doctor checks several).
struct Named<'a> {
    report: &'a mut Report,
    name: &'a dyn Fn(&str) -> String,
}

impl Named<'_> {
    fn add(&mut self, name: &str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.report.add(&(self.name)(name), status, detail, fix);
    }
    fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.report.ok(&(self.name)(name), detail);
    }
    fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.report.fail(&(self.name)(name), detail, fix);
    }
    fn skip(&mut self, name: &str, why: &str) {
        self.report.skip(&(self.name)(name), why);
    }
}

/// The API families the shipped workflows and curated tools read, one cheap call each.
const FAMILIES: [(&str, &str, &str); 5] = [
    ("scope tickets", "/tickets", "Desk.tickets.READ"),
    (
        "scope directory",
        "/departments",
        "Desk.basic.READ / Desk.settings.READ",
    ),
    ("scope search", "/tickets/search", "Desk.search.READ"),
    ("scope articles", "/articles", "Desk.articles.READ"),
    ("scope contacts", "/contacts", "Desk.contacts.READ"),
];

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    let store = check_store(&args, &mut report).await;
    let workflows = load_workflows(&args);
    let loaded: Vec<&Workflow> = workflows
        .as_ref()
        .map(|r| r.iter().filter_map(|(_, w)| w.as_ref().ok()).collect())
        .unwrap_or_default();
    for (zoho, suffix) in connections_to_check(&args.zoho, &loaded) {
        check_zoho(&zoho, &suffix, store.as_ref(), &mut report).await;
    }
    for group in llm_groups(&loaded) {
        check_llm(group, &mut report).await;
    }
    check_workflows(&args, workflows, &mut report);
    if args.json {
        let out = serde_json::json!({ "ok": !report.failed(), "checks": report.0 });
        outln!("{out}");
    } else {
        for c in &report.0 {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Note => "note",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skipped => "skip",
            };
            outln!("{mark}  {:<28} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                outln!("      {:<28} fix: {fix}", "");
            }
        }
        outln!();
        outln!(
            "{}",
            if report.failed() {
                "Some checks failed; fix them and run `deskhand doctor` again."
            } else {
                "Everything needed passes."
            }
        );
    }
    Ok(if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn check_store(args: &DoctorArgs, report: &mut Report) -> Option<Store> {
    let url = zoho_desk_mcp::registry::database::database_url(args.database_url.as_deref());
    match Store::connect(&url).await {
        Ok(store) => {
            report.ok(
                "store",
                format!(
                    "{} store reachable, migrations current",
                    match store.backend() {
                        zoho_desk_mcp::registry::database::Backend::Sqlite => "SQLite",
                        zoho_desk_mcp::registry::database::Backend::Postgres => "PostgreSQL",
                    }
                ),
            );
            Some(store)
        }
        Err(e) => {
            report.fail(
                "store",
                format!("{e}"),
                "check DATABASE_URL / --database-url and that the database is up and writable",
            );
            None
        }
    }
}

/// One sentence and one fix for a Zoho failure.
fn explain(e: &ZohoError) -> (String, String) {
    match e {
        ZohoError::Auth { code, message } => {
            let fix = match code.as_str() {
                "invalid_client" => {
                    "check the client id and the data centre, or run `deskhand connect` again"
                }
                "invalid_client_secret" => {
                    "copy the client secret again, or run `deskhand connect` again"
                }
                "Access Denied" => {
                    "wait for Zoho's token window to pass; processes on one store share one token"
                }
                _ => "run `deskhand connect` again to get a new refresh token",
            };
            (message.clone(), fix.to_owned())
        }
        ZohoError::Upstream(up) => {
            let fix = match up.error_code.as_deref() {
                Some("SCOPE_MISMATCH") => format!(
                    "run `deskhand connect` with a code generated for these scopes: {DESK_SCOPES}"
                ),
                Some("OAUTH_ORG_MISMATCH") => {
                    "the org id is not one this token reaches; run `deskhand connect` to pick the org".to_owned()
                }
                Some("THRESHOLD_EXCEEDED") => {
                    "the org's API credits are spent; wait for the daily reset or buy credits".to_owned()
                }
                Some("INVALID_OAUTH") => {
                    "the token was refused; run `deskhand connect` again".to_owned()
                }
                _ => "see Zoho's message; `deskhand doctor --json` has the details".to_owned(),
            };
            (up.to_string(), fix)
        }
        ZohoError::Timeout { .. } | ZohoError::Transport(_) => (
            e.to_string(),
            "check the network, a proxy, and the data centre (--dc) of the connection".to_owned(),
        ),
        other => (other.to_string(), "run `deskhand connect` again".to_owned()),
    }
}

/// The Zoho connections to check, each with the suffix its check names carry. `--connection`
/// replaces every workflow's own, so it is the only one then; otherwise the default connection
/// (unless every workflow that uses the embedded server names another) and each connection the
/// workflows name, the first one unsuffixed.
fn connections_to_check(given: &ZohoArgs, workflows: &[&Workflow]) -> Vec<(ZohoArgs, String)> {
    if given.connection.is_some() {
        return vec![(given.clone(), String::new())];
    }
    let embedded: Vec<&&Workflow> = workflows
        .iter()
        .filter(|w| backend::uses_embedded(w))
        .collect();
    let mut names: Vec<Option<String>> = Vec::new();
    let named = |w: &&&Workflow| {
        w.connection
            .clone()
            .filter(|n| n != zoho_desk_mcp::zoho::connections::DEFAULT_NAME)
    };
    if embedded.is_empty() || embedded.iter().any(|w| named(w).is_none()) {
        names.push(None);
    }
    for name in embedded.iter().filter_map(named) {
        if !names.contains(&Some(name.clone())) {
            names.push(Some(name));
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let suffix = match (&name, i) {
                (Some(n), i) if i > 0 => format!(" ({n})"),
                _ => String::new(),
            };
            (
                ZohoArgs {
                    connection: name,
                    connections: given.connections.clone(),
                },
                suffix,
            )
        })
        .collect()
}

async fn check_zoho(args: &ZohoArgs, suffix: &str, store: Option<&Store>, report: &mut Report) {
    const LATER: [&str; 4] = ["accounts host", "token refresh", "org access", "credits"];
    let named = |name: &str| format!("{name}{suffix}");
    let report = &mut Named {
        report,
        name: &named,
    };
    let config = match args.config() {
        Ok(c) => {
            report.ok(
                "zoho settings",
                format!(
                    "connection `{}`: org {} at {}",
                    args.name(),
                    c.org_id,
                    c.desk_base_url
                ),
            );
            c
        }
        Err(e) => {
            report.fail(
                "zoho settings",
                format!("{e:#}"),
                "run `deskhand connect` (or set the ZOHO_* variables named above)",
            );
            for name in LATER {
                report.skip(name, "no Zoho settings");
            }
            return;
        }
    };
    let reachable = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string());
    let accounts = config.accounts_url.clone();
    match reachable {
        Ok(http) => match http.get(accounts.clone()).send().await {
            Ok(_) => report.ok("accounts host", format!("{accounts} answers")),
            Err(e) => report.fail(
                "accounts host",
                format!("{accounts} unreachable: {}", e.without_url()),
                "check the network or proxy, and that the data centre is the org's",
            ),
        },
        Err(e) => report.fail("accounts host", e, "report this as a bug"),
    }
    let client = match store {
        Some(store) => backend::zoho_client(config, store),
        None => ZohoClient::new(config).map_err(Into::into),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            report.fail("token refresh", format!("{e:#}"), "see the message");
            return;
        }
    };
    if let Err(e) = client.ensure_token().await {
        let (detail, fix) = explain(&e);
        report.fail("token refresh", detail, fix);
        for name in &LATER[2..] {
            report.skip(name, "no access token");
        }
        return;
    }
    report.ok(
        "token refresh",
        if store.is_some() {
            "access token obtained (shared through the store)"
        } else {
            "access token obtained"
        },
    );
    let org_id = client.config().org_id.clone();
    match client
        .request(Method::GET, "/organizations", &[], None)
        .await
    {
        Ok(resp) => {
            let ids: Vec<String> = data(&resp)
                .iter()
                .filter_map(|o| {
                    o.get("id")
                        .and_then(zoho_desk_mcp::zoho::lenient::as_string)
                })
                .collect();
            if ids.contains(&org_id) {
                report.ok("org access", format!("org {org_id} is reachable"));
            } else {
                report.fail(
                    "org access",
                    format!(
                        "the token does not see org {org_id} (it sees: {})",
                        if ids.is_empty() {
                            "none".to_owned()
                        } else {
                            ids.join(", ")
                        }
                    ),
                    "run `deskhand connect` and pick one of those orgs",
                );
            }
        }
        Err(e) => {
            let (detail, fix) = explain(&e);
            report.fail("org access", detail, fix);
        }
    }
    let mut remaining = None;
    for (name, path, scope) in FAMILIES {
        let query = [("limit".to_owned(), "1".to_owned())];
        match client.request(Method::GET, path, &query, None).await {
            Ok(resp) => {
                remaining = resp.ratelimit.remaining.or(remaining);
                report.ok(
                    name,
                    format!("{scope}: GET {path} answered {}", resp.status),
                );
            }
            Err(e) => {
                if let ZohoError::Upstream(up) = &e {
                    remaining = up
                        .ratelimit
                        .as_ref()
                        .and_then(|r| r.remaining)
                        .or(remaining);
                }
                let (detail, fix) = explain(&e);
                report.fail(name, format!("{scope}: {detail}"), fix);
            }
        }
    }
    report.add(
        "scope writes",
        Status::Note,
        "Desk.tickets.CREATE/UPDATE are not tried (that would write); they are in the scope `connect` asks for",
        None,
    );
    match remaining {
        Some(0) => report.fail(
            "credits",
            "0 API credits left in this window",
            "wait for Zoho's daily reset, or buy more credits",
        ),
        Some(n) => report.ok("credits", format!("{n} API credits left today")),
        None => report.add(
            "credits",
            Status::Note,
            "Zoho sent no X-Rate-Limit-Remaining-v3 header",
            None,
        ),
    }
}

fn data(resp: &ZohoResponse) -> Vec<Value> {
    resp.body
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// One LLM (the environment's, or one that workflows pin): reachable, the model served, then one
/// tiny completion with a tool it must call and one with a strict `response_format`, each sent by
/// the runner's own client exactly as a run sends them. The group's `agents` are the agent-mode
/// workflows, which need tool calling; decide-mode workflows do not.
async fn check_llm(group: LlmGroup, report: &mut Report) {
    let from_workflow = !group.workflows.is_empty();
    let label = match group.workflows.as_slice() {
        [] => String::new(),
        [one] => format!(" (workflow {one})"),
        many => format!(" (workflows {})", many.join(", ")),
    };
    let LlmGroup {
        settings, agents, ..
    } = group;
    let name = |check: &str| format!("{check}{label}");
    let settings = match settings {
        Ok(Some(s)) => s,
        Ok(None) => {
            report.add(
                &name("llm"),
                Status::Note,
                "no LLM configured: the shipped workflows run on the offline baseline (deterministic, not an LLM)",
                None,
            );
            return;
        }
        Err(e) => {
            report.fail(
                &name("llm"),
                e.to_string(),
                if from_workflow {
                    "fix the workflow's `model:` block, or set the variables it names"
                } else {
                    "fix the LLM variables (OPENAI_API_KEY, OPENAI_BASE_URL, DESKHAND_LLM_MODEL)"
                },
            );
            return;
        }
    };
    if settings.provider == LlmProvider::Azure {
        report.add(
            &name("llm"),
            Status::Note,
            format!(
                "Azure OpenAI deployment for {}: not probed (the deployment decides the model)",
                settings.model
            ),
            None,
        );
        return;
    }
    let base = settings
        .base_url
        .clone()
        .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
    let url = format!("{}/models", base.trim_end_matches('/'));
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            report.fail(&name("llm"), e.to_string(), "report this as a bug");
            return;
        }
    };
    let mut req = http.get(&url);
    if let Some(key) = &settings.api_key {
        req = req.bearer_auth(key.expose());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                &name("llm"),
                format!("{base} unreachable: {}", e.without_url()),
                if from_workflow {
                    "start the model server, or fix the workflow's model.base_url"
                } else {
                    "start the model server, or fix OPENAI_BASE_URL"
                },
            );
            return;
        }
    };
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        report.fail(
            &name("llm"),
            format!("{base} refused the API key (HTTP {status})"),
            format!(
                "set a valid key in {}",
                settings.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY")
            ),
        );
        return;
    }
    let models: Vec<String> = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|b| b.get("data").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if models.is_empty() {
        report.add(
            &name("llm"),
            Status::Note,
            format!(
                "{base} answered HTTP {status} but listed no models; {} not confirmed",
                settings.model
            ),
            None,
        );
    } else if models.iter().any(|m| m == &settings.model) {
        report.ok(&name("llm"), format!("{base} serves {}", settings.model));
    } else {
        report.fail(
            &name("llm"),
            format!("{base} does not list the model {}", settings.model),
            format!(
                "set {} to one it serves (e.g. {})",
                if from_workflow {
                    "the workflow's model.name"
                } else {
                    "DESKHAND_LLM_MODEL"
                },
                models
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return;
    }
    probe_llm(settings, &agents, &label, report).await;
}

/// One LLM doctor probes, and the workflows that would use it.
struct LlmGroup {
    settings: Result<Option<LlmSettings>, LlmError>,
    /// The workflows whose `model:` block pins this LLM; empty for the environment's, which the
    /// workflows without a block (or with one that resolves to the same) use.
    workflows: Vec<String>,
    /// The agent-mode workflows among its users (they need tool calling).
    agents: Vec<String>,
}

/// The environment's LLM, always, then each different LLM the workflows' `model:` blocks
/// resolve to, once, so a workflow pinned to another server, model or setting is probed too.
fn llm_groups(workflows: &[&Workflow]) -> Vec<LlmGroup> {
    // What makes two probes differ: where they go, as whom, and what the requests carry.
    let identity = |s: &LlmSettings| {
        format!(
            "{:?}|{:?}|{}|{:?}|{:?}|{}|{}",
            s.provider,
            s.base_url,
            s.model,
            s.api_key_env,
            s.azure.as_ref().map(|a| (&a.deployment, &a.api_version)),
            s.structured_output,
            s.tool_choice_required
        )
    };
    let env = LlmSettings::from_env();
    let env_identity = match &env {
        Ok(Some(s)) => Some(identity(s)),
        _ => None,
    };
    let mut groups = vec![LlmGroup {
        settings: env,
        workflows: Vec::new(),
        agents: Vec::new(),
    }];
    // The identity (or the error) of each group after the first, in the same order.
    let mut keys: Vec<String> = Vec::new();
    for w in workflows {
        let index = match &w.model {
            None => 0,
            Some(m) if m.provider == Provider::Baseline => continue,
            Some(m) => {
                let resolved = LlmSettings::resolve(Some(m), |name| std::env::var(name).ok());
                let key = match &resolved {
                    Ok(Some(s)) => identity(s),
                    Ok(None) => continue,
                    Err(e) => format!("error|{e}"),
                };
                if env_identity.as_ref() == Some(&key) {
                    0
                } else if let Some(at) = keys.iter().position(|k| *k == key) {
                    groups[at + 1].workflows.push(w.name.clone());
                    at + 1
                } else {
                    keys.push(key);
                    groups.push(LlmGroup {
                        settings: resolved,
                        workflows: vec![w.name.clone()],
                        agents: Vec::new(),
                    });
                    groups.len() - 1
                }
            }
        };
        if w.mode == Mode::Agent {
            groups[index].agents.push(w.name.clone());
        }
    }
    groups
}

/// The name of the tool offered in the tool-calling probe.
const PROBE_TOOL: &str = "deskhand_doctor_ping";

async fn probe_llm(settings: LlmSettings, agents: &[String], label: &str, report: &mut Report) {
    let tools_check = format!("llm tool calling{label}");
    let output_check = format!("llm structured output{label}");
    // A check that retries a refusal for minutes helps nobody: one retry, short waits.
    let settings = LlmSettings {
        retry: RetryPolicy {
            max_attempts: 2,
            max_wait: Duration::from_secs(5),
            min_backoff: Duration::from_millis(500),
        },
        request_timeout: settings.request_timeout.min(Duration::from_secs(60)),
        ..settings
    };
    let client = match LlmClient::new(settings) {
        Ok(c) => c,
        Err(e) => {
            report.fail(&tools_check, e.to_string(), "fix the LLM settings");
            return;
        }
    };
    let required = client.settings().tool_choice_required;
    let tool = ToolSpec {
        name: PROBE_TOOL.to_owned(),
        description: Some("Answers pong. Takes no arguments.".to_owned()),
        parameters: json!({"type": "object", "properties": {}}),
    };
    let asked = ChatRequest::new(vec![ChatMessage::user(format!(
        "This is a connectivity check. Call the {PROBE_TOOL} tool now, with no arguments."
    ))])
    .with_tools(vec![tool])
    .with_tool_choice(ToolChoice::Required);
    let choice = if required {
        "tool_choice required"
    } else {
        "tool_choice auto (tool_choice_required is off for this provider)"
    };
    let agent_note = if agents.is_empty() {
        "no agent-mode workflow here needs it".to_owned()
    } else {
        format!("needed by the agent-mode workflows {}", agents.join(", "))
    };
    match client.chat(asked).await {
        Ok(answer) if answer.tool_calls.iter().any(|c| c.name == PROBE_TOOL) => report.ok(
            &tools_check,
            format!("a tool offered with {choice} was called"),
        ),
        Ok(_) => report.warn(
            &tools_check,
            format!(
                "the tools were accepted ({choice}) but the model answered in text instead of calling the tool; {agent_note}"
            ),
            "agent-mode workflows need a model that calls tools: try a larger or tool-tuned model, or set model.tool_choice_required: true if the server supports it",
        ),
        Err(e) if refuses_tools(&e) => {
            let detail = format!("the request with a tool was refused: {e}");
            let fix = "this model/server does not support tool calling; agent-mode workflows need it, decide-mode workflows do not: pick a model (or server option) with tool calling, or use `mode: decide`";
            if agents.is_empty() {
                report.warn(&tools_check, format!("{detail}; {agent_note}"), fix);
            } else {
                report.fail(&tools_check, format!("{detail}; {agent_note}"), fix);
            }
        }
        Err(e) => report.fail(
            &tools_check,
            e.to_string(),
            "see the message: the model server did not complete a one-line request",
        ),
    }

    // The same request builder and refusal detection a run uses for `output.schema`.
    let schema = json!({
        "type": "object",
        "required": ["ok"],
        "properties": {"ok": {"type": "boolean"}}
    });
    let Some(format) = client.response_format(&schema) else {
        report.add(
            &output_check,
            Status::Note,
            "structured output is off in the settings: output schemas go in the prompt",
            None,
        );
        return;
    };
    let asked = ChatRequest::new(vec![ChatMessage::user(
        "This is a connectivity check. Answer with the JSON object {\"ok\": true}.",
    )])
    .with_response_format(Some(format));
    match client.chat(asked).await {
        Ok(_) => report.ok(
            &output_check,
            "response_format json_schema (strict) accepted",
        ),
        Err(e) if client.refuse_structured_output(&e) => report.warn(
            &output_check,
            format!("the server refused response_format json_schema (strict): {e}"),
            "nothing needed: runs fall back to describing the schema in the prompt and correcting the answer once; set model.structured_output: false in the workflows to skip the refused request",
        ),
        Err(e) => report.fail(
            &output_check,
            e.to_string(),
            "see the message: the model server did not complete a one-line request",
        ),
    }
}

/// Whether the server refused a request because of its tools: any client error but an unknown
/// model or endpoint (404), or a server error (llama.cpp answers `tool_choice: required` with a
/// 500), since the tool is all that request adds to a plain completion.
fn refuses_tools(e: &LlmError) -> bool {
    match e {
        LlmError::BadRequest { status, .. } => *status != 404,
        LlmError::ServerError { .. } => true,
        _ => false,
    }
}

type Loaded = Result<LoadResults, (String, &'static str)>;

fn load_workflows(args: &DoctorArgs) -> Loaded {
    let catalog = backend::catalog().map_err(|e| (format!("{e:#}"), "report this as a bug"))?;
    Workflow::load_each(&args.workflows, catalog.as_ref()).map_err(|e| {
        (
            e.to_string(),
            "run from the project directory or pass --workflows",
        )
    })
}

fn check_workflows(args: &DoctorArgs, loaded: Loaded, report: &mut Report) {
    let results = match loaded {
        Ok(r) => r,
        Err((detail, fix)) => {
            report.fail("workflows", detail, fix);
            return;
        }
    };
    if results.is_empty() {
        report.add(
            "workflows",
            Status::Note,
            format!("no workflow files in {}", args.workflows.display()),
            None,
        );
    }
    for (path, result) in results {
        let label = format!(
            "workflow {}",
            path.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
        );
        match result {
            Ok(w) => match w.connection.as_deref().and_then(|n| args.zoho.undefined(n)) {
                // `--connection` replaces the workflow's, so an undefined one does not matter.
                Some(problem) if args.zoho.connection.is_none() => report.fail(
                    &label,
                    problem,
                    "run `deskhand connect --name` with that name, or fix `connection:`",
                ),
                _ => report.ok(
                    &label,
                    format!(
                        "valid; {} mode, writes: {}{}{}",
                        match w.mode {
                            Mode::Agent => "agent",
                            Mode::Decide => "decide",
                        },
                        w.writes.as_str(),
                        w.connection
                            .as_ref()
                            .map(|c| format!(", connection {c}"))
                            .unwrap_or_default(),
                        w.schedule
                            .as_ref()
                            .map(|_| ", scheduled")
                            .unwrap_or_default()
                    ),
                ),
            },
            Err(e) => report.fail(
                &label,
                e.to_string(),
                "run `deskhand validate` and fix the file",
            ),
        }
    }
}

/// The start-up check of `schedule` and `mcp serve`: a token, and the org reachable with it.
pub async fn preflight(client: &ZohoClient) -> anyhow::Result<()> {
    // A host that does not answer yet (a container starting beside this one) gets half a minute;
    // a refusal is final at once.
    for _ in 0..15 {
        match client.ensure_token().await {
            Err(ZohoError::Transport(_) | ZohoError::Timeout { .. }) => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            _ => break,
        }
    }
    client.ensure_token().await.map_err(|e| {
        let (detail, fix) = explain(&e);
        anyhow::anyhow!("Zoho refused this connection, so deskhand will not start: {detail}; {fix}")
    })?;
    client
        .request(
            Method::GET,
            "/departments",
            &[("limit".to_owned(), "1".to_owned())],
            None,
        )
        .await
        .map_err(|e| {
            let (detail, fix) = explain(&e);
            anyhow::anyhow!(
                "Zoho refused this connection's org, so deskhand will not start: {detail}; {fix}"
            )
        })?;
    Ok(())
}
