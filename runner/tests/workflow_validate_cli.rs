//! `deskhand validate`: one line per file, exit code 1 if any file is broken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows")
}

/// Runs `deskhand validate ARGS` from the fixtures directory, so paths print as given.
fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deskhand"))
        .arg("validate")
        .args(args)
        .current_dir(fixtures())
        .env("RUST_LOG", "off")
        .output()
        .expect("deskhand runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn good_file_prints_ok_with_a_summary_and_exits_zero() {
    let out = validate(&["valid/full.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(
            "ok  valid/full.yaml (triage-and-assign: 3 tools, writes apply, schedule */15 * * * * Europe/Berlin, next run 20"
        ),
        "{text}"
    );
    // Next run is a whole minute in Berlin time.
    assert!(
        lines[0].ends_with(":00+01:00)") || lines[0].ends_with(":00+02:00)"),
        "{text}"
    );
}

#[test]
fn bad_file_prints_the_error_and_exits_one() {
    let out = validate(&["valid/minimal.yaml", "invalid/unknown-tool.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "ok  valid/minimal.yaml (backlog-summary: 1 tool, writes approve, no schedule)\n\
         err invalid/unknown-tool.yaml:6:5: tools: unknown tool `get_single_zoho_desk_tickets_by_id`; did you mean `get_single_zoho_desk_ticket_by_id`?\n"
    );
}

#[test]
fn workflows_dir_checks_every_file_and_notes_unchecked_remote_tools() {
    let out = validate(&["--workflows", "valid"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(
        "ok  valid/remote.yml (remote-summary: 1 tool, tools not checked: url MCP connection, listed when connected, writes approve, no schedule)"
    ));

    let out = validate(&["--workflows", "invalid"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 10, "{text}");
    assert!(text.lines().all(|l| l.starts_with("err ")), "{text}");
    assert!(text.contains("err prompts/broken.md:3:10: prompt: unclosed \"{{\""));
}

#[test]
fn default_directory_is_workflows_under_the_current_directory() {
    // The fixtures directory has no `workflows/` subdirectory.
    let out = validate(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("err workflows: cannot read:"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_output_has_one_entry_per_file() {
    let out = validate(&["--json", "valid/full.yaml", "invalid/timezone.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["name"], "triage-and-assign");
    assert_eq!(files[0]["cron"], "0 */15 * * * *");
    assert_eq!(files[0]["timezone"], "Europe/Berlin");
    assert_eq!(files[0]["writes"], "apply");
    assert_eq!(files[1]["ok"], false);
    assert_eq!(files[1]["error"]["line"], 5);
    assert_eq!(files[1]["error"]["column"], 11);
    assert_eq!(files[1]["error"]["field"], "timezone");
}
