//! Ticket text on the operator's terminal: `deskhand run` against a sandbox whose tickets carry
//! escape sequences shows them escaped, in the table, in the progress lines and in `--json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use zoho_desk_sandbox::{SandboxConfig, SeedData};

const HOSTILE: &str = "Printer \u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m\u{202e}fire";

/// The generated org with two tickets, both with the hostile subject.
fn hostile_seed() -> std::path::PathBuf {
    let mut data = SeedData::generated(SandboxConfig::default().seed).to_json();
    let tickets = data["tickets"].as_array_mut().unwrap();
    tickets.truncate(2);
    for ticket in tickets {
        ticket["subject"] = HOSTILE.into();
    }
    let path = common::temp_path("hostile-seed", "json");
    std::fs::write(&path, data.to_string()).unwrap();
    path
}

fn run(seed: &Path, db: &Path, json: bool) -> Output {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new(env!("CARGO_BIN_EXE_deskhand"));
    command
        .args([
            "run",
            "triage-and-assign",
            "--sandbox",
            "--dry-run",
            "--sandbox-seed",
        ])
        .arg(seed)
        .arg("--database-url")
        .arg(db)
        .current_dir(repo)
        .env("RUST_LOG", "off")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    if json {
        command.arg("--json");
    }
    command.output().unwrap()
}

fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c))
        .collect()
}

#[test]
fn hostile_ticket_subjects_are_escaped_in_the_run_table_and_progress() {
    let seed = hostile_seed();
    let db = common::temp_path("hostile-run", "db");
    let out = run(&seed, &db, false);
    let table = String::from_utf8(out.stdout).unwrap();
    let progress = String::from_utf8(out.stderr).unwrap();
    assert!(table.contains("Printer \\u001b[2J"), "{table}");
    assert!(progress.contains("Printer \\u001b[2J"), "{progress}");
    assert_eq!(raw_controls(&table), Vec::<char>::new(), "{table:?}");
    assert_eq!(raw_controls(&progress), Vec::<char>::new(), "{progress:?}");
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);

    // `--json` stays valid JSON that decodes to the subject as it was.
    let db = common::temp_path("hostile-run-json", "db");
    let out = run(&seed, &db, true);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text:?}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["label"].as_str().unwrap().ends_with(HOSTILE)),
        "{report}"
    );
    zoho_desk_mcp::registry::database::remove_sqlite_files(&db);
}
