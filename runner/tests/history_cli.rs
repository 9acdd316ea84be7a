//! `deskhand history` through the binary, against a store seeded through the library: hostile
//! text, a reader that goes away, a damaged row, the store file's mode and open errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::temp_path;
use deskhand::store::{
    AttemptFinish, AttemptStatus, NewRun, RunCounts, RunFinish, RunStatus, Store, Trigger,
};
use serde_json::json;
use zoho_desk_mcp::registry::database::{remove_sqlite_files, sqlite_url};

/// A subject as a hostile ticket would carry it: clear the screen, recolour, set the title.
const HOSTILE: &str = "Refund \u{1b}[2J\u{1b}[31mnow\u{1b}]0;pwned\u{7}\u{202e}evil";

fn deskhand(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(args)
        .arg("--database-url")
        .arg(db)
        .env("RUST_LOG", "off")
        .env_remove("DATABASE_URL")
        .output()
        .expect("deskhand runs")
}

/// Two finished runs: the first with hostile text in its name, item key, error and answer.
async fn seeded(db: &Path) -> (Store, i64, i64) {
    let store = Store::connect(&sqlite_url(&db.to_string_lossy()))
        .await
        .unwrap();
    let first = store
        .create_run(
            &NewRun::new("triage-and-assign", Trigger::Cli, "cli")
                .model(format!("model {HOSTILE}"), true)
                .inputs(json!({"department": "Support"})),
        )
        .await
        .unwrap();
    let attempt = store.start_attempt(first, HOSTILE, 1).await.unwrap();
    store
        .finish_attempt(
            attempt,
            &AttemptFinish {
                status: AttemptStatus::Failed,
                error: Some(format!("Zoho said {HOSTILE}")),
                output: Some(json!({"decision": HOSTILE})),
            },
        )
        .await
        .unwrap();
    store
        .finish_run(
            first,
            &RunFinish {
                status: RunStatus::Failed,
                summary: json!({"note": HOSTILE}),
                counts: RunCounts {
                    total: 1,
                    failed: 1,
                    ..RunCounts::default()
                },
                error: Some(HOSTILE.to_owned()),
            },
        )
        .await
        .unwrap();
    let second = store
        .create_run(&NewRun::new("kb-grounded-reply", Trigger::Cli, "cli"))
        .await
        .unwrap();
    (store, first, second)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn control_characters_from_tickets_never_reach_the_terminal() {
    let db = temp_path("history-ansi", "db");
    let (_store, first, _) = seeded(&db).await;
    for args in [vec!["history"], vec!["history", &first.to_string()]] {
        let out = deskhand(&args, &db);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(
            !shown
                .chars()
                .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{args:?}: {shown:?}"
        );
        // Escaped, not dropped: the operator sees that something was there.
        assert!(shown.contains("\\u001b[2J"), "{args:?}: {shown}");
    }
    remove_sqlite_files(&db);
}

#[tokio::test]
async fn a_closed_pipe_ends_every_command_cleanly() {
    let db = temp_path("history-pipe", "db");
    let (_store, first, _) = seeded(&db).await;
    let id = first.to_string();
    let db_arg = db.to_str().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let demo_db = temp_path("pipe-demo", "db");
    let commands: Vec<Vec<&str>> = vec![
        vec!["history", "--database-url", db_arg],
        vec!["history", "--json", "--database-url", db_arg],
        vec!["history", &id, "--database-url", db_arg],
        vec!["history", &id, "--json", "--database-url", db_arg],
        vec!["approvals", "list", "--database-url", db_arg],
        vec!["validate"],
        vec!["validate", "--json"],
        vec!["mcp", "openapi"],
        vec!["mcp", "servers", "list", "--database-url", db_arg],
        vec!["items", "list", "--database-url", db_arg],
        vec![
            "demo",
            "--tickets",
            "1",
            "--database",
            demo_db.to_str().unwrap(),
        ],
    ];
    for args in commands {
        // The reader is gone before the first byte is written, like `| head -c1` once it has
        // its byte: every write to stdout fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
            .args(&args)
            .current_dir(&repo)
            .env("RUST_LOG", "off")
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
    remove_sqlite_files(&db);
    remove_sqlite_files(&demo_db);
}

#[tokio::test]
async fn one_unreadable_json_value_leaves_the_rest_of_the_history_readable() {
    let db = temp_path("history-corrupt", "db");
    let (store, first, second) = seeded(&db).await;
    for column in ["inputs", "summary"] {
        let sql = format!("UPDATE runs SET {column} = '{{not json' WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(first)
            .execute(&store.database().pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE item_attempts SET output = 'nope' WHERE run_id = $1")
        .bind(first)
        .execute(&store.database().pool)
        .await
        .unwrap();

    let out = deskhand(&["history"], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("triage-and-assign"), "{listed}");
    assert!(listed.contains("kb-grounded-reply"), "{listed}");

    let out = deskhand(&["history", "--json"], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bad = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == first)
        .unwrap();
    assert!(
        bad["inputs"]["unreadable"]
            .as_str()
            .unwrap()
            .starts_with("inputs: not valid JSON"),
        "{bad}"
    );
    assert!(runs.as_array().unwrap().iter().any(|r| r["id"] == second));

    let out = deskhand(&["history", &first.to_string()], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("answer: {\"unreadable\":\"output: not valid JSON"),
        "{}",
        text(&out.stdout)
    );
    remove_sqlite_files(&db);
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_file_is_user_only_and_a_wider_one_is_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let db = temp_path("history-mode", "db");
    let out = deskhand(&["history"], &db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(&db), 0o600);
    for suffix in ["-wal", "-shm"] {
        let companion = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        if companion.exists() {
            assert_eq!(mode(&companion), 0o600, "{}", companion.display());
        }
    }

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["history", "--database-url"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(&db), 0o600);
    let warned = text(&out.stderr);
    assert!(
        warned.contains("was readable by others (mode 644); it is now 0600"),
        "{warned}"
    );
    // stderr is a pipe here: no colour codes.
    assert!(!warned.contains('\u{1b}'), "{warned:?}");
    remove_sqlite_files(&db);
}

#[test]
fn an_unopenable_store_is_named_and_each_cause_told_once() {
    let dir = temp_path("history-missing-dir", "d");
    let db = dir.join("store.db");
    let out = deskhand(&["history"], &db);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert_eq!(
        said.trim_end(),
        format!(
            "error: could not open the run store {}: could not connect to the SQLite database: unable to open database file",
            db.display()
        )
    );
}

#[test]
fn a_missing_postgres_database_is_told_in_the_servers_words_once() {
    let Ok(url) = std::env::var("DESKHAND_TEST_POSTGRES_URL") else {
        eprintln!("skipped: DESKHAND_TEST_POSTGRES_URL is not set");
        return;
    };
    let Some((base, _)) = url.rsplit_once('/') else {
        panic!("DESKHAND_TEST_POSTGRES_URL has no database name: {url}");
    };
    let missing = format!("{base}/deskhand_no_such_database");
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["history", "--database-url", &missing])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.ends_with(
            "could not connect to the PostgreSQL database: database \"deskhand_no_such_database\" does not exist\n"
        ),
        "{said}"
    );
    assert_eq!(said.matches("does not exist").count(), 1, "{said}");
    assert!(!said.contains("at line"), "{said}");
}

#[cfg(unix)]
#[test]
fn the_mcp_registry_creates_the_store_file_user_only_too() {
    use std::os::unix::fs::PermissionsExt;
    let db = temp_path("registry-mode", "db");
    let out = Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .args(["mcp", "servers", "list", "--database-url"])
        .arg(&db)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    remove_sqlite_files(&db);
}

/// `history --ticket N`: the runs that worked a ticket (by its Zoho number or its id), per item
/// the decision and the writes, in 80 columns; `--wide` names the writes; `--json` has it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_one_ticket_fits_80_columns() {
    use common::agent;
    use deskhand::engine::{Decider, Engine, Quiet, RunRequest};
    let llm = deskhand_e2e::scripted_llm::ScriptedLlm::builder()
        .responder(agent::triage)
        .start()
        .await;
    let backend = common::sandbox().await;
    let db = temp_path("history-ticket", "db");
    let store = Store::connect(&sqlite_url(&db.to_string_lossy()))
        .await
        .unwrap();
    let engine = Engine::new(store.clone(), "test")
        .with_embedded(deskhand::mcp::EmbeddedServer::new(backend.gateway.clone()));
    let name = common::unique_name("hist");
    let path = agent::write_workflow(&agent::workflow_yaml(
        &name,
        &llm.base_url(),
        2,
        "approve",
        "",
    ));
    let workflow = agent::load(&path);
    let decider = Decider::for_workflow(&workflow, |_| None).unwrap();
    let report = engine
        .run(&workflow, &decider, RunRequest::new(Trigger::Cli), &Quiet)
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    let approvals = store.list_approvals(None, None, 10).await.unwrap();
    let ticket = approvals[0].item_key.clone();
    let other = approvals
        .iter()
        .find(|a| a.item_key != ticket)
        .unwrap()
        .item_key
        .clone();
    let run_id = approvals[0].run_id.unwrap();
    let number = backend.sandbox.admin().ticket(&ticket).unwrap()["ticketNumber"]
        .as_str()
        .unwrap()
        .to_owned();

    for wanted in [number.clone(), format!("#{number}"), ticket.clone()] {
        let out = deskhand(&["history", "--ticket", &wanted], &db);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        // The ticket's link is the one line never cut.
        for line in shown.lines().filter(|l| !l.starts_with("https://")) {
            assert!(line.chars().count() <= 80, "{} wide: {line}", line.len());
        }
        assert!(shown.contains(&format!("ticket #{wanted}").replace("##", "#")));
        let row = shown
            .lines()
            .find(|l| l.starts_with(&format!("{run_id} ")))
            .unwrap_or_else(|| panic!("a row for run {run_id}: {shown}"));
        assert!(row.contains("1/succeeded"), "{row}");
        assert!(row.contains("assign"), "{row}");
        assert!(row.contains("2 queued"), "{row}");
        assert!(shown.contains("writes held for approval"), "{shown}");
        assert!(shown.contains("priority: "), "{shown}");
        assert!(
            !shown.contains(&note_text(&other)),
            "only this ticket's writes: {shown}"
        );
    }

    let wide = text(&deskhand(&["history", "--ticket", &number, "--wide"], &db).stdout);
    // The two writes were parallel tool calls: recorded in either order.
    assert!(
        wide.contains("update queued") && wide.contains("note queued"),
        "{wide}"
    );
    assert!(wide.contains(&name), "{wide}");

    let json: serde_json::Value =
        serde_json::from_slice(&deskhand(&["history", "--ticket", &number, "--json"], &db).stdout)
            .unwrap();
    assert_eq!(json["runs"][0]["run"]["id"], run_id, "{json}");
    assert_eq!(json["keys"], json!([ticket]), "{json}");
    assert_eq!(json["approvals"].as_array().unwrap().len(), 2, "{json}");

    let none = deskhand(&["history", "--ticket", "424242"], &db);
    assert_eq!(none.status.code(), Some(0));
    assert!(text(&none.stdout).contains("no run has worked ticket #424242"));
    let both = deskhand(&["history", "1", "--ticket", &number], &db);
    assert_eq!(both.status.code(), Some(2), "a run and a ticket at once");
    remove_sqlite_files(&db);
}

fn note_text(ticket: &str) -> String {
    common::agent::note_for(ticket)
}
