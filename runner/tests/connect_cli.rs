//! Going live against the sandbox as against Zoho: `deskhand connect` with a Self Client grant
//! code and with the browser flow, `doctor`, `run` on the saved connection with no `ZOHO_*`
//! variable, each failure's sentence, thirty Zoho-calling commands under Zoho's token limit, and
//! no secret in logs, history, the store or the connections file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use deskhand_e2e::{ScriptedLlm, Step};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use zoho_desk_mcp::zoho::oauth::DESK_SCOPES;
use zoho_desk_sandbox::{Sandbox, SandboxConfig};

/// A user's machine: a config directory, a working directory and a store, nothing inherited.
struct Machine {
    config: PathBuf,
    cwd: PathBuf,
    db: PathBuf,
    /// Every byte the commands printed, for the leak check.
    printed: std::sync::Mutex<Vec<u8>>,
}

impl Machine {
    fn new(tag: &str) -> Machine {
        let root = common::temp_path(tag, "d");
        let m = Machine {
            config: root.join("config"),
            cwd: root.join("work"),
            db: root.join("store").join("deskhand.db"),
            printed: Default::default(),
        };
        std::fs::create_dir_all(&m.cwd).unwrap();
        std::fs::create_dir_all(m.db.parent().unwrap()).unwrap();
        m
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DESKHAND_CONFIG_DIR", &self.config)
            .env("DATABASE_URL", self.db.to_str().unwrap())
            .env(
                "DESKHAND_WORKFLOWS",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../workflows"),
            )
            .env("RUST_LOG", "debug")
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> (Output, String) {
        self.run_env(args, &[]).await
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.unwrap();
        let mut printed = self.printed.lock().unwrap();
        printed.extend_from_slice(&out.stdout);
        printed.extend_from_slice(&out.stderr);
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, text)
    }

    fn secrets(&self, name: &str) -> (String, String) {
        let text =
            std::fs::read_to_string(self.config.join("secrets").join(format!("{name}.yaml")))
                .unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(|v| serde_json::from_str::<String>(v).unwrap())
                .unwrap()
        };
        (field("client_secret"), field("refresh_token"))
    }
}

async fn sandbox(config: SandboxConfig) -> deskhand::embedded::SandboxBackend {
    common::sandbox_with(SandboxConfig {
        seed_data: Some(common::seed_with_tickets(4)),
        ..config
    })
    .await
}

fn connect_args<'a>(sb: &'a Sandbox, base: &'a str, code: &'a str) -> Vec<&'a str> {
    let creds = sb.credentials();
    vec![
        "connect",
        "--accounts-url",
        base,
        "--desk-url",
        base,
        "--client-id",
        &creds.client_id,
        "--client-secret",
        &creds.client_secret,
        "--code",
        code,
    ]
}

/// Zoho-style tokens (`1000.<32 hex>.<32 hex>`) anywhere in `bytes`.
fn has_token(bytes: &[u8]) -> bool {
    bytes.windows(5).enumerate().any(|(i, w)| {
        w == b"1000."
            && bytes
                .get(i + 5..i + 37)
                .is_some_and(|t| t.iter().all(u8::is_ascii_hexdigit))
    })
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn connect_with_a_grant_code_then_doctor_and_thirty_runs_on_the_saved_connection() {
    // Zoho's token limit is on: ten access tokens per refresh token per ten minutes.
    let backend = sandbox(SandboxConfig::default()).await;
    let sb = &backend.sandbox;
    assert_eq!(SandboxConfig::default().max_tokens_per_window, 10);
    let base = sb.base_url();
    let m = Machine::new("connect");
    let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
    let (out, text) = m.run(&connect_args(sb, &base, &code)).await;
    assert!(out.status.success(), "{text}");
    let state = sb.admin().state_json();
    for dept in state["departments"].as_array().unwrap() {
        assert!(text.contains(dept["id"].as_str().unwrap()), "{text}");
    }
    assert!(text.contains("deskhand doctor"), "{text}");
    assert!(
        std::fs::read_dir(&m.cwd).unwrap().next().is_none(),
        "connect wrote into the working directory"
    );
    let connections = m.config.join("connections.yaml");
    let secrets_file = m.config.join("secrets").join("default.yaml");
    #[cfg(unix)]
    assert_eq!(mode(&secrets_file), 0o600);
    let (client_secret, refresh_token) = m.secrets("default");
    assert_eq!(client_secret, sb.credentials().client_secret);
    assert_ne!(refresh_token, sb.credentials().refresh_token);

    let (out, text) = m.run(&["doctor", "--json"]).await;
    assert!(out.status.success(), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in [
        "store",
        "zoho settings",
        "accounts host",
        "token refresh",
        "org access",
        "scope tickets",
        "credits",
        "llm",
        "workflow triage-and-assign",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(text.contains("offline baseline"), "{text}");

    // Thirty commands that call Zoho, one after another: with one token per process they would be
    // refused from the ninth on (the exchange and doctor spent two); sharing needs one.
    for i in 0..30 {
        let args: &[&str] = if i % 3 == 0 {
            &["doctor"]
        } else {
            &["run", "triage-and-assign", "--dry-run", "--json"]
        };
        let (out, text) = m.run(args).await;
        assert!(out.status.success(), "command {i} {args:?} failed:\n{text}");
        assert!(!text.contains("10 access tokens"), "{text}");
    }
    let (out, text) = m.run(&["history"]).await;
    assert!(out.status.success(), "{text}");
    #[cfg(unix)]
    assert_eq!(mode(&m.config.join("token.key")), 0o600);

    // No secret anywhere but the user-only secrets file.
    let printed = m.printed.lock().unwrap().clone();
    let mut store_bytes = Vec::new();
    for entry in std::fs::read_dir(m.db.parent().unwrap()).unwrap() {
        store_bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(
        contains(&store_bytes, "zoho_tokens"),
        "the store was not read"
    );
    let file = std::fs::read(&connections).unwrap();
    for (what, bytes) in [
        ("output and logs", &printed),
        ("the store", &store_bytes),
        ("the connections file", &file),
    ] {
        assert!(!contains(bytes, &client_secret), "client secret in {what}");
        assert!(!contains(bytes, &refresh_token), "refresh token in {what}");
        assert!(!has_token(bytes), "a Zoho token in {what}");
    }
}

#[tokio::test]
async fn the_browser_flow_checks_state_and_saves_a_named_connection() {
    let backend = sandbox(SandboxConfig::default()).await;
    let sb = &backend.sandbox;
    let base = sb.base_url();
    let m = Machine::new("browser");
    let creds = sb.credentials();
    let mut child = m
        .command()
        .args([
            "connect",
            "--name",
            "eu-support",
            "--browser",
            "--port",
            "0",
            "--accounts-url",
            &base,
            "--desk-url",
            &base,
            "--client-id",
            &creds.client_id,
            "--client-secret",
            &creds.client_secret,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let auth_url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("an authorization URL");
        if let Some(url) = line
            .trim()
            .strip_prefix("http")
            .filter(|l| l.contains("/oauth/v2/auth"))
        {
            break format!("http{url}");
        }
    };
    let url = url::Url::parse(&auth_url).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(state.len() >= 32, "{state}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(browser.get(url.clone()).send().await.unwrap().status(), 200);
    let accepted = browser
        .post(url.clone())
        .form(&[("decision", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 302);
    let callback = url::Url::parse(accepted.headers()["location"].to_str().unwrap()).unwrap();
    // A forged callback (wrong state) is refused before the real one arrives, and ends the flow.
    let mut forged = callback.clone();
    let kept: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(kept);
    let r = reqwest::get(forged).await.unwrap();
    assert_eq!(r.status(), 400);
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
    }
    assert!(rest.contains("state does not match"), "{rest}");

    // The flow again, with the real callback followed.
    let mut child = m
        .command()
        .args([
            "connect",
            "--name",
            "eu-support",
            "--browser",
            "--port",
            "0",
            "--accounts-url",
            &base,
            "--desk-url",
            &base,
            "--client-id",
            &creds.client_id,
            "--client-secret",
            &creds.client_secret,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let auth_url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("an authorization URL");
        if let Some(url) = line
            .trim()
            .strip_prefix("http")
            .filter(|l| l.contains("/oauth/v2/auth"))
        {
            break format!("http{url}");
        }
    };
    let accepted = browser
        .post(auth_url.as_str())
        .form(&[("decision", "accept")])
        .send()
        .await
        .unwrap();
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let page = reqwest::get(location).await.unwrap();
    assert_eq!(page.status(), 200);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("--connection eu-support"), "{stdout}");
    let (out, text) = m.run(&["doctor", "--connection", "eu-support"]).await;
    assert!(out.status.success(), "{text}");
    // The default connection does not exist: every missing setting is named at once.
    let (out, text) = m.run(&["run", "triage-and-assign", "--dry-run"]).await;
    assert!(!out.status.success());
    for name in [
        "ZOHO_DC",
        "ZOHO_ORG_ID",
        "ZOHO_CLIENT_ID",
        "ZOHO_CLIENT_SECRET",
        "ZOHO_REFRESH_TOKEN",
    ] {
        assert!(text.contains(name), "{text}");
    }
}

#[tokio::test]
async fn each_failure_is_one_sentence_with_what_to_do() {
    let backend = sandbox(SandboxConfig::default()).await;
    let sb = &backend.sandbox;
    let base = sb.base_url();
    let m = Machine::new("failures");
    let creds = sb.credentials().clone();

    // Nothing given, no terminal: everything missing is named at once.
    let (out, text) = m.run(&["connect"]).await;
    assert!(!out.status.success());
    for flag in ["--dc", "--client-id", "--client-secret", "--code"] {
        assert!(text.contains(flag), "{text}");
    }
    assert!(text.contains(DESK_SCOPES), "{text}");

    // A used code.
    let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
    assert!(
        m.run(&connect_args(sb, &base, &code))
            .await
            .0
            .status
            .success()
    );
    let (out, text) = m.run(&connect_args(sb, &base, &code)).await;
    assert!(!out.status.success());
    assert!(text.contains("already used, or expired"), "{text}");

    // A wrong client secret.
    let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
    let mut args = connect_args(sb, &base, &code);
    args[8] = "not-the-secret";
    let (out, text) = m.run(&args).await;
    assert!(!out.status.success());
    assert!(text.contains("refused the client secret"), "{text}");

    // A missing scope.
    let code = sb.admin().grant_code("Desk.tickets.READ").unwrap();
    let (out, text) = m.run(&connect_args(sb, &base, &code)).await;
    assert!(!out.status.success());
    assert!(text.contains("lacks a scope"), "{text}");
    assert!(text.contains(DESK_SCOPES), "{text}");

    // A revoked refresh token: doctor fails with the sentence, and schedule refuses to start.
    let (_, refresh_token) = m.secrets("default");
    let revoked = reqwest::Client::new()
        .post(format!("{base}/oauth/v2/token/revoke"))
        .query(&[("token", refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let (out, text) = m.run(&["doctor"]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("refresh token: it was revoked"), "{text}");
    assert!(text.contains("fix: run `deskhand connect` again"), "{text}");
    let (out, text) = m.run(&["schedule", "--metrics-addr", "off"]).await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("will not start"), "{text}");
    let (out, text) = m.run(&["mcp", "serve", "--stdio"]).await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("will not start"), "{text}");

    // An expired code.
    let short = sandbox(SandboxConfig {
        grant_code_ttl: std::time::Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await;
    let base = short.sandbox.base_url();
    let code = short.sandbox.admin().grant_code(DESK_SCOPES).unwrap();
    let (out, text) = m.run(&connect_args(&short.sandbox, &base, &code)).await;
    assert!(!out.status.success());
    assert!(text.contains("expired"), "{text}");
    let _ = creds;
}

/// A sandbox and a machine with its `default` connection saved.
async fn connected(tag: &str) -> (deskhand::embedded::SandboxBackend, Machine) {
    let backend = sandbox(SandboxConfig::default()).await;
    let m = Machine::new(tag);
    let sb = &backend.sandbox;
    let base = sb.base_url();
    let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
    let (out, text) = m.run(&connect_args(sb, &base, &code)).await;
    assert!(out.status.success(), "{text}");
    (backend, m)
}

/// A workflows directory with the shipped `triage-and-assign` (decide mode) and its prompts,
/// `extra` added to the workflow file.
fn workflows_dir(m: &Machine, tag: &str, extra: &str) -> PathBuf {
    let root = m.cwd.join(tag);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::create_dir_all(root.join("workflows")).unwrap();
    std::fs::create_dir_all(root.join("prompts")).unwrap();
    for entry in std::fs::read_dir(shipped.join("prompts")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, root.join("prompts").join(path.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(shipped.join("workflows/triage-and-assign.yaml")).unwrap();
    let text = text.replacen("mcp: embedded\n", &format!("mcp: embedded\n{extra}"), 1);
    assert!(text.contains(extra));
    std::fs::write(root.join("workflows/triage-and-assign.yaml"), text).unwrap();
    root.join("workflows")
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

#[tokio::test]
async fn a_workflow_names_its_zoho_connection_and_every_command_uses_it() {
    let backend = sandbox(SandboxConfig::default()).await;
    let sb = &backend.sandbox;
    let base = sb.base_url();
    let m = Machine::new("wfconn");
    // Only a named connection: nothing would reach Zoho without the workflow naming it.
    let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
    let mut args = connect_args(sb, &base, &code);
    args.extend(["--name", "eu-support"]);
    let (out, text) = m.run(&args).await;
    assert!(out.status.success(), "{text}");
    let good = workflows_dir(&m, "good", "connection: eu-support\n");
    let good_arg = good.to_str().unwrap();

    let (out, text) = m.run(&["validate", "--workflows", good_arg]).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("connection eu-support"), "{text}");

    let (out, text) = m
        .run(&[
            "run",
            "triage-and-assign",
            "--workflows",
            good_arg,
            "--writes",
            "approve",
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{text}");
    let (out, text) = m
        .run(&["approvals", "list", "--json", "--workflows", good_arg])
        .await;
    assert!(out.status.success(), "{text}");
    let approvals: Value = serde_json::from_slice(&out.stdout).unwrap();
    let approvals = approvals.as_array().unwrap();
    assert!(!approvals.is_empty(), "{text}");
    let label = format!("sandbox org {}", sb.credentials().org_id);
    for a in approvals {
        assert_eq!(a["connection"], label.as_str(), "{a}");
    }
    // Approving applies through the workflow's connection (there is no default to fall back on).
    let (out, text) = m
        .run(&[
            "approvals",
            "approve",
            "--workflow",
            "triage-and-assign",
            "--yes",
            "--by",
            "test",
            "--workflows",
            good_arg,
        ])
        .await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("applied"), "{text}");

    let (out, text) = m.run(&["doctor", "--json", "--workflows", good_arg]).await;
    assert!(out.status.success(), "{text}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        check(&report, "zoho settings")["detail"]
            .as_str()
            .unwrap()
            .contains("connection `eu-support`"),
        "{report}"
    );
    assert_eq!(check(&report, "token refresh")["status"], "ok", "{report}");

    // A connection the connections file does not define: each command says so, naming the file.
    let bad = workflows_dir(&m, "bad", "connection: nope\n");
    let bad_arg = bad.to_str().unwrap();
    let file = m.config.join("connections.yaml");
    let file = file.to_str().unwrap();
    let (out, text) = m.run(&["validate", "--workflows", bad_arg]).await;
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("connection `nope` is not in the connections file"),
        "{text}"
    );
    assert!(text.contains(file), "{text}");
    assert!(text.contains("triage-and-assign.yaml:11:"), "{text}");
    let (out, text) = m.run(&["doctor", "--workflows", bad_arg]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("connection `nope`"), "{text}");
    let (out, text) = m
        .run(&[
            "run",
            "triage-and-assign",
            "--workflows",
            bad_arg,
            "--dry-run",
        ])
        .await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("connection `nope`"), "{text}");
    let (out, text) = m
        .run(&["schedule", "--metrics-addr", "off", "--workflows", bad_arg])
        .await;
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("connection `nope`"), "{text}");
    assert!(text.contains("triage-and-assign"), "{text}");
    // --connection wins over the workflow's.
    let (out, text) = m
        .run(&[
            "run",
            "triage-and-assign",
            "--workflows",
            bad_arg,
            "--dry-run",
            "--connection",
            "eu-support",
        ])
        .await;
    assert!(out.status.success(), "{text}");
}

/// An OpenAI-compatible server that calls the offered tool, answers JSON otherwise, and refuses
/// the tools or the `response_format` when told to.
async fn llm(refuse_tools: bool, refuse_format: bool) -> ScriptedLlm {
    let mut builder = ScriptedLlm::builder().responder(move |body| {
        if body.get("tools").is_some() {
            if refuse_tools {
                return Step::error(
                    400,
                    json!({"error": {"message": "test-model does not support tools", "type": "invalid_request_error"}}),
                );
            }
            let name = body["tools"][0]["function"]["name"].as_str().unwrap_or("x");
            return Step::tool_call(name, json!({}));
        }
        Step::text(r#"{"ok": true}"#)
    });
    if refuse_format {
        builder = builder.rejecting_response_format();
    }
    builder.start().await
}

async fn doctor_with(m: &Machine, llm: &ScriptedLlm, extra: &[&str]) -> (Output, Value, String) {
    let base = llm.base_url();
    let mut args = vec!["doctor", "--json"];
    args.extend(extra);
    let (out, text) = m
        .run_env(
            &args,
            &[
                ("DESKHAND_LLM_PROVIDER", "openai_compatible"),
                ("OPENAI_BASE_URL", &base),
                ("DESKHAND_LLM_MODEL", "test-model"),
            ],
        )
        .await;
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report, text)
}

#[tokio::test]
async fn doctor_passes_an_llm_with_tool_calling_and_structured_output() {
    let (_backend, m) = connected("llm-ok").await;
    let llm = llm(false, false).await;
    let (out, report, text) = doctor_with(&m, &llm, &[]).await;
    assert!(out.status.success(), "{text}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        check(&report, "llm tool calling")["status"],
        "ok",
        "{report}"
    );
    assert_eq!(
        check(&report, "llm structured output")["status"],
        "ok",
        "{report}"
    );
    // What went out is what a run sends: the tool, then the strict schema.
    let sent: Vec<Value> = llm.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["tools"].as_array().unwrap().len(), 1, "{}", sent[0]);
    assert_eq!(
        sent[1]["response_format"]["type"], "json_schema",
        "{}",
        sent[1]
    );
    assert_eq!(sent[1]["response_format"]["json_schema"]["strict"], true);
}

#[tokio::test]
async fn doctor_warns_when_the_llm_refuses_structured_output() {
    let (_backend, m) = connected("llm-format").await;
    let llm = llm(false, true).await;
    let (out, report, text) = doctor_with(&m, &llm, &[]).await;
    assert!(out.status.success(), "{text}");
    assert_eq!(report["ok"], true, "{report}");
    let c = check(&report, "llm structured output");
    assert_eq!(c["status"], "warn", "{report}");
    assert!(c["fix"].as_str().unwrap().contains("prompt"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("structured_output: false"),
        "{c}"
    );
    assert_eq!(
        check(&report, "llm tool calling")["status"],
        "ok",
        "{report}"
    );
}

#[tokio::test]
async fn doctor_fails_an_llm_without_tool_calling_only_when_an_agent_workflow_needs_it() {
    let (_backend, m) = connected("llm-tools").await;
    let llm = llm(true, false).await;
    // bench/agent-mode holds kb-grounded-reply and triage-and-assign in agent mode.
    let agent_mode = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/agent-mode");
    let (out, report, text) =
        doctor_with(&m, &llm, &["--workflows", agent_mode.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    let c = check(&report, "llm tool calling");
    assert_eq!(c["status"], "fail", "{report}");
    assert!(
        c["detail"].as_str().unwrap().contains("kb-grounded-reply"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("does not support tool calling"),
        "{c}"
    );
    // The shipped workflows are all in decide mode and do not need it: a warning, and doctor
    // passes.
    let (out, report, text) = doctor_with(&m, &llm, &[]).await;
    assert!(out.status.success(), "{text}");
    assert_eq!(
        check(&report, "llm tool calling")["status"],
        "warn",
        "{report}"
    );
}

#[tokio::test]
async fn doctor_probes_the_llm_a_workflow_pins_as_well_as_the_environments() {
    let (_backend, m) = connected("llm-pinned").await;
    let env_llm = llm(false, false).await;
    let pinned = llm(false, true).await;
    let dir = workflows_dir(
        &m,
        "pinned",
        &format!(
            "model: {{ provider: openai_compatible, name: pinned-model, base_url: \"{}\" }}\n",
            pinned.base_url()
        ),
    );
    let (out, report, text) =
        doctor_with(&m, &env_llm, &["--workflows", dir.to_str().unwrap()]).await;
    assert!(out.status.success(), "{text}");
    assert_eq!(
        check(&report, "llm structured output")["status"],
        "ok",
        "{report}"
    );
    let c = check(
        &report,
        "llm structured output (workflow triage-and-assign)",
    );
    assert_eq!(
        c["status"], "warn",
        "the pinned server refuses it: {report}"
    );
    assert!(
        pinned
            .requests()
            .iter()
            .any(|r| r.body["model"] == "pinned-model"),
        "the pinned LLM was asked, with its own model name"
    );
    // A pinned model name nothing serves is the workflow's to fix, and fails doctor.
    let broken = workflows_dir(
        &m,
        "pinned-broken",
        "model: { provider: openai_compatible, name: pinned-model, base_url: \"http://127.0.0.1:9/v1\" }\n",
    );
    let (out, report, text) =
        doctor_with(&m, &env_llm, &["--workflows", broken.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_ne!(check(&report, "llm")["status"], "fail", "{report}");
    let c = check(&report, "llm (workflow triage-and-assign)");
    assert_eq!(c["status"], "fail", "{report}");
    assert!(c["detail"].as_str().unwrap().contains("unreachable"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("model.base_url"), "{c}");
}

/// `deskhand schedule` through the binary with two workflows on two orgs: each tick reads and
/// proposes through its own workflow's connection.
#[tokio::test]
async fn the_scheduler_serves_two_workflows_each_on_its_own_orgs_connection() {
    let org_a = sandbox(SandboxConfig::default()).await;
    let org_b = sandbox(SandboxConfig {
        credentials: zoho_desk_sandbox::Credentials {
            org_id: "20097654321".into(),
            ..Default::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let m = Machine::new("sched-two-orgs");
    for (backend, name) in [(&org_a, None), (&org_b, Some("eu-support"))] {
        let sb = &backend.sandbox;
        let code = sb.admin().grant_code(DESK_SCOPES).unwrap();
        let base = sb.base_url();
        let mut args = connect_args(sb, &base, &code);
        if let Some(name) = name {
            args.extend(["--name", name]);
        }
        let (out, text) = m.run(&args).await;
        assert!(out.status.success(), "{text}");
    }
    let root = workflows_dir(&m, "two-orgs", "")
        .parent()
        .unwrap()
        .to_owned();
    let shipped = std::fs::read_to_string(root.join("workflows/triage-and-assign.yaml")).unwrap();
    std::fs::remove_file(root.join("workflows/triage-and-assign.yaml")).unwrap();
    for (name, extra) in [("triage-a", ""), ("triage-b", "connection: eu-support\n")] {
        let text = shipped
            .replacen("name: triage-and-assign", &format!("name: {name}"), 1)
            .replacen(
                "schedule: \"*/15 * * * *\"",
                "schedule: \"*/2 * * * * *\"",
                1,
            )
            .replacen("mcp: embedded\n", &format!("mcp: embedded\n{extra}"), 1);
        assert!(text.contains(name) && text.contains("*/2 * * * * *"));
        std::fs::write(root.join(format!("workflows/{name}.yaml")), text).unwrap();
    }
    let dir = root.join("workflows");
    let dir_arg = dir.to_str().unwrap();
    let mut scheduler = m
        .command()
        .args(["schedule", "--metrics-addr", "off", "--workflows", dir_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let label = |backend: &deskhand::embedded::SandboxBackend| {
        format!("sandbox org {}", backend.sandbox.credentials().org_id)
    };
    let mut seen = Value::Null;
    for _ in 0..120 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (out, _) = m
            .run(&["approvals", "list", "--json", "--workflows", dir_arg])
            .await;
        seen = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let workflows: Vec<&str> = seen
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["workflow"].as_str()).collect())
            .unwrap_or_default();
        if workflows.contains(&"triage-a") && workflows.contains(&"triage-b") {
            break;
        }
    }
    scheduler.kill().await.unwrap();
    let approvals = seen.as_array().expect("approvals listed");
    for wanted in ["triage-a", "triage-b"] {
        assert!(
            approvals.iter().any(|a| a["workflow"] == wanted),
            "no proposal from {wanted}: {seen}"
        );
    }
    for a in approvals {
        let expected = if a["workflow"] == "triage-b" {
            label(&org_b)
        } else {
            label(&org_a)
        };
        assert_eq!(a["connection"], expected.as_str(), "{a}");
    }
}
