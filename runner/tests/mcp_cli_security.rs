#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hosted-server and API-token management through the binary: a sandbox URL is no credential
//! for a real org, revocation is by exact id (or a unique name, asked for explicitly), names are
//! bounded and unique, token expiry is checked and shown, and plain http reaches loopback only.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// The environment of a "real" connection: loopback URLs where nothing listens (no command here
/// reaches Zoho), so the commands run offline.
const REAL_ENV: [(&str, &str); 6] = [
    ("ZOHO_DESK_BASE_URL", "http://127.0.0.1:9"),
    ("ZOHO_ACCOUNTS_URL", "http://127.0.0.1:9"),
    ("ZOHO_ORG_ID", "20090000001"),
    ("ZOHO_CLIENT_ID", "1000.REAL"),
    ("ZOHO_CLIENT_SECRET", "real-secret"),
    ("ZOHO_REFRESH_TOKEN", "real-refresh"),
];

fn deskhand(db: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deskhand"));
    command
        .args(args)
        .arg("--database-url")
        .arg(db)
        .env_remove("DATABASE_URL")
        .env_remove("DESKHAND_CONNECTIONS")
        .env_remove("ZOHO_DC")
        .env_remove("ZOHO_ALLOW_HTTP_HOSTS")
        .stdin(Stdio::null());
    for (k, v) in REAL_ENV {
        command.env(k, v);
    }
    command.output().expect("deskhand runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "cli-test", "version": "0"}}})
}

async fn post_initialize(url: &str) -> reqwest::Response {
    zoho_desk_mcp::install_crypto_provider();
    reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sandbox_url_is_refused_by_a_server_on_a_real_connection() {
    let db = common::temp_path("sandbox-url", "db");

    // 1. The README's demo: a sandbox server that prints a ready URL.
    let mut sandbox = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args([
            "mcp",
            "serve",
            "--http",
            "--port",
            "0",
            "--sandbox",
            "--print-url",
        ])
        .arg("--database-url")
        .arg(&db)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(sandbox.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(post_initialize(&url).await.status(), 200);
    sandbox.kill().await.unwrap();

    // 2. Later, the same registry serves a real org under the same connection name.
    let mut real = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["mcp", "serve", "--http", "--port", "0"])
        .arg("--database-url")
        .arg(&db)
        .env_remove("DATABASE_URL")
        .env_remove("DESKHAND_CONNECTIONS")
        .env_remove("ZOHO_DC")
        .envs(REAL_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut errors = tokio::io::BufReader::new(real.stderr.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = errors.next_line().await.unwrap().expect("a listening line");
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
    })
    .await
    .unwrap();
    let token = url.rsplit('/').next().unwrap();
    let response = post_initialize(&format!("{base}/mcp/{token}")).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "connection_mismatch", "{body}");
    real.kill().await.unwrap();
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}

fn create(db: &std::path::Path, name: &str) -> Output {
    deskhand(db, &["mcp", "servers", "create", "--name", name, "--json"])
}

fn created_id(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    value["id"].as_str().unwrap().to_owned()
}

fn listed_ids(db: &std::path::Path) -> Vec<String> {
    let out = deskhand(db, &["mcp", "servers", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    value["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn servers_are_revoked_by_exact_id_and_names_are_bounded_and_unique() {
    let db = common::temp_path("revoke", "db");
    let alpha = created_id(&create(&db, "alpha"));

    let again = create(&db, "alpha");
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    for bad in [
        "x".repeat(65),
        "red\u{1b}[31m".to_owned(),
        "tab\tname".to_owned(),
    ] {
        let out = create(&db, &bad);
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(
            text(&out.stderr).contains("at most 64"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(create_succeeds(&db, &"y".repeat(64)));

    // A server named like another's id is never revoked by that id, nor the other way round.
    let lookalike = created_id(&create(&db, &alpha));
    let by_name_as_id = deskhand(&db, &["mcp", "servers", "revoke", "alpha"]);
    assert!(!by_name_as_id.status.success());
    assert!(
        text(&by_name_as_id.stderr).contains("--name"),
        "{}",
        text(&by_name_as_id.stderr)
    );
    let out = deskhand(&db, &["mcp", "servers", "revoke", &alpha]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let left = listed_ids(&db);
    assert!(!left.contains(&alpha));
    assert!(
        left.contains(&lookalike),
        "the look-alike survived: {left:?}"
    );

    let out = deskhand(&db, &["mcp", "servers", "revoke", "--name", &alpha]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!listed_ids(&db).contains(&lookalike));
    let out = deskhand(&db, &["mcp", "servers", "revoke", "--name", "alpha"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no MCP server is named"),
        "{}",
        text(&out.stderr)
    );
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}

fn create_succeeds(db: &std::path::Path, name: &str) -> bool {
    create(db, name).status.success()
}

#[test]
fn token_expiry_must_be_ahead_and_is_listed() {
    let db = common::temp_path("tokens", "db");
    let past = deskhand(
        &db,
        &[
            "mcp",
            "tokens",
            "create",
            "--name",
            "old",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert!(!past.status.success());
    assert!(
        text(&past.stderr).contains("in the past"),
        "{}",
        text(&past.stderr)
    );
    let out = deskhand(
        &db,
        &[
            "mcp",
            "tokens",
            "create",
            "--name",
            "ops",
            "--expires-at",
            "2999-01-01T00:00:00Z",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = deskhand(&db, &["mcp", "tokens", "list"]);
    let listed = text(&list.stdout);
    assert!(listed.contains("EXPIRES"), "{listed}");
    assert!(listed.contains("2999-01-01T00:00:00Z"), "{listed}");
    assert!(!listed.contains("old"), "{listed}");

    // Tokens too are revoked by exact id, or by a unique name when asked.
    let by_name_as_id = deskhand(&db, &["mcp", "tokens", "revoke", "ops"]);
    assert!(!by_name_as_id.status.success());
    assert!(
        text(&by_name_as_id.stderr).contains("--name"),
        "{}",
        text(&by_name_as_id.stderr)
    );
    let out = deskhand(&db, &["mcp", "tokens", "revoke", "--name", "ops"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = deskhand(&db, &["mcp", "tokens", "list"]);
    assert!(
        !text(&list.stdout).contains("ops"),
        "{}",
        text(&list.stdout)
    );
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}

#[test]
fn plain_http_to_a_non_loopback_host_is_one_clear_error() {
    let db = common::temp_path("plain-http", "db");
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["mcp", "servers", "create", "--name", "x", "--database-url"])
        .arg(&db)
        .env_remove("DATABASE_URL")
        .env_remove("DESKHAND_CONNECTIONS")
        .env_remove("ZOHO_DC")
        .env_remove("ZOHO_ALLOW_HTTP_HOSTS")
        .envs(REAL_ENV)
        .env("ZOHO_DESK_BASE_URL", "http://desk.example.com")
        .env("ZOHO_ACCOUNTS_URL", "http://accounts.example.com")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plain http://"), "{stderr}");
    assert!(!stderr.contains("real-secret"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}

#[tokio::test]
async fn over_stdio_a_message_over_16_mib_is_answered_not_dropped() {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["mcp", "serve", "--stdio", "--sandbox"])
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut replies = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "stdio-cli", "version": "0"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), replies.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next().await["id"], 1);
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .unwrap();
    let pad = "x".repeat(17 * 1024 * 1024);
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":{{\"name\":\"list_all_zoho_desk_tickets\",\"arguments\":{{\"pad\":\"{pad}\"}}}}}}\n"
    );
    stdin.write_all(big.as_bytes()).await.unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":43,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    let refused = next().await;
    assert_eq!(refused["id"], 42, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert_eq!(next().await["id"], 43);
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
