//! What the operator reads on stderr when something outside deskhand fails, through the binary
//! with the default log filter: the cause once and in words, no credentials, no Rust type
//! names, no colour codes into a pipe, no PostgreSQL chatter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

const TOKEN: &str = "dhm_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[test]
fn an_unreachable_mcp_server_is_told_with_its_cause_and_without_its_token() {
    let dir = common::temp_path("errors-mcp", "d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prompt.md"), "Summarise.\n").unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    std::fs::write(
        dir.join("remote.yaml"),
        format!(
            "version: 1\nname: remote\ndescription: d\nmcp: {{ url: \"http://127.0.0.1:1/mcp/{TOKEN}\" }}\ntools: [some_tool]\nprompt: prompt.md\n"
        ),
    )
    .unwrap();
    let db = common::temp_path("errors-mcp", "db");
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["run", "remote.yaml", "--database-url"])
        .arg(&db)
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .env_remove("OPENAI_API_KEY")
        .env("DESKHAND_LLM_MODEL", "scripted")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains(&TOKEN[4..]), "{said}");
    assert!(
        said.contains("MCP handshake with the MCP server at http://127.0.0.1:1/mcp/dhm_… failed"),
        "{said}"
    );
    assert!(!said.contains("%E2%80%A6"), "{said}");
    assert!(
        !said.contains("WorkerTransport") && !said.contains("::"),
        "{said}"
    );
    // reqwest's "error sending request" comes with why.
    assert!(said.contains("Connection refused"), "{said}");
    assert!(!said.contains('\u{1b}'), "{said:?}");
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}

#[tokio::test]
async fn postgres_notices_are_not_printed_on_every_command() {
    let Ok(shared) = std::env::var("DESKHAND_TEST_POSTGRES_URL") else {
        eprintln!("skipped: DESKHAND_TEST_POSTGRES_URL is not set");
        return;
    };
    // A database of its own: the shared one may hold other branches' migrations.
    let name = format!("deskhand_notice_{}", std::process::id());
    let (base, _) = shared.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let admin = zoho_desk_mcp::registry::database::connect(&shared)
        .await
        .unwrap();
    let drop_sql = format!("DROP DATABASE IF EXISTS {name}");
    sqlx::query(sqlx::AssertSqlSafe(drop_sql.clone()))
        .execute(&admin.pool)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin.pool)
        .await
        .unwrap();
    // The second command finds every table already there: the case that sends notices.
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
            .args(["approvals", "list", "--database-url", &url])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(said, "", "stderr should be empty");
    }
    sqlx::query(sqlx::AssertSqlSafe(drop_sql))
        .execute(&admin.pool)
        .await
        .unwrap();
}
