//! Loading valid workflows: every key round-trips into `Workflow`, defaults are filled in, `--set`
//! overrides are typed, schedules are normalised for the scheduler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use deskhand::workflow::{
    CatchUp, McpConnection, OverlapPolicy, Provider, RunInfo, Workflow, WorkflowErrorKind,
    WritePolicy, parse_assignment,
};
use serde_json::json;
use zoho_desk_mcp::catalog::Catalog;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows")
}

fn catalog() -> Catalog {
    Catalog::zoho_desk().expect("embedded catalog")
}

fn full() -> Workflow {
    Workflow::load(&fixtures().join("valid/full.yaml"), &catalog()).expect("full.yaml loads")
}

fn run_info() -> RunInfo {
    RunInfo {
        id: "run-42".into(),
        workflow: "triage-and-assign".into(),
        started_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        scheduled_for: None,
        trigger: "manual".into(),
    }
}

#[test]
fn full_workflow_round_trips_every_key() {
    let w = full();
    assert_eq!(w.name, "triage-and-assign");
    assert_eq!(
        w.description,
        "Route unassigned open tickets to the right department, team and agent."
    );
    let schedule = w.schedule.as_ref().unwrap();
    assert_eq!(schedule.expression, "*/15 * * * *");
    assert_eq!(w.cron(), Some("0 */15 * * * *"));
    assert_eq!(w.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(w.overlap, OverlapPolicy::Queue);
    assert_eq!(w.catch_up, CatchUp::Latest);

    let model = w.model.as_ref().unwrap();
    assert_eq!(model.provider, Provider::OpenaiCompatible);
    assert_eq!(model.name.as_deref(), Some("qwen2.5:7b-instruct"));
    assert_eq!(model.temperature, Some(0.0));
    assert_eq!(model.base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
    assert_eq!(model.api_key_env.as_deref(), Some("LOCAL_LLM_KEY"));
    assert_eq!(model.max_completion_tokens, Some(1024));
    assert!(model.tool_choice_required);
    assert!(model.azure.is_none());

    assert_eq!(w.mcp, McpConnection::Embedded);
    assert!(w.tools_verified);
    assert_eq!(
        w.tools,
        [
            "list_all_zoho_desk_tickets",
            "get_single_zoho_desk_ticket_by_id",
            "update_a_zoho_desk_ticket_by_id"
        ]
    );

    let for_each = w.for_each.as_ref().unwrap();
    assert_eq!(for_each.tool, "list_all_zoho_desk_tickets");
    assert_eq!(for_each.max_items, 50);
    assert_eq!(for_each.id_field, "ticketNumber");
    assert_eq!(for_each.args["status"], json!("Open"));
    assert_eq!(
        for_each.args["departmentId"],
        json!("{{ inputs.department_id }}")
    );

    let prompts = fixtures().join("prompts").canonicalize().unwrap();
    assert!(w.prompt.path.is_absolute());
    assert_eq!(w.prompt.path, prompts.join("triage.md"));
    assert_eq!(
        w.system_prompt.as_ref().unwrap().path,
        prompts.join("system.md")
    );

    assert_eq!(
        serde_json::Value::Object(w.inputs.clone()),
        json!({"department_id": "1000", "confidence_threshold": 0.7, "page_size": 25, "notify": false})
    );
    assert_eq!(w.writes, WritePolicy::Apply);
    assert_eq!(w.limits.max_steps, 8);
    assert_eq!(w.limits.item_timeout, Duration::from_secs(90));
    assert_eq!(w.limits.concurrency, 2);
    assert_eq!(w.limits.token_budget, Some(60000));
    assert_eq!(w.limits.max_attempts, 5);
    assert_eq!(
        w.output_schema.as_ref().unwrap()["required"],
        json!(["departmentId"])
    );
}

#[test]
fn minimal_workflow_gets_safe_defaults() {
    let w = Workflow::load(&fixtures().join("valid/minimal.yaml"), &catalog()).unwrap();
    assert!(w.schedule.is_none());
    assert_eq!(w.cron(), None);
    assert_eq!(w.next_run(Utc::now()), None);
    assert_eq!(w.timezone, chrono_tz::UTC);
    assert_eq!(w.overlap, OverlapPolicy::Skip);
    assert_eq!(w.catch_up, CatchUp::None);
    assert!(w.model.is_none());
    assert_eq!(w.mcp, McpConnection::Embedded);
    assert!(w.for_each.is_none());
    assert!(w.system_prompt.is_none());
    // No write reaches Zoho Desk unless the file says `writes: apply`.
    assert_eq!(w.writes, WritePolicy::Approve);
    assert_eq!(w.limits.max_steps, 12);
    assert_eq!(w.limits.item_timeout, Duration::from_secs(120));
    assert_eq!(w.limits.concurrency, 4);
    assert_eq!(w.limits.token_budget, None);
    assert_eq!(w.limits.max_attempts, 3);
    assert!(w.output_schema.is_none());
}

#[test]
fn remote_mcp_connection_skips_the_tool_check() {
    let w = Workflow::load(&fixtures().join("valid/remote.yml"), &catalog()).unwrap();
    assert!(!w.tools_verified);
    assert_eq!(w.tools, ["some_tool_only_the_remote_server_has"]);
    assert_eq!(
        w.mcp,
        McpConnection::Url {
            url: "https://mcp.example.com/mcp/abc123".into(),
            bearer_token_env: Some("DESKHAND_MCP_TOKEN".into()),
        }
    );
}

#[test]
fn command_mcp_connection_parses() {
    let text = "version: 1\nname: stdio\ndescription: d\nmcp: { command: [deskhand, mcp, serve, --stdio], env: { RUST_LOG: warn } }\ntools: [anything]\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let w = Workflow::from_source(&fixtures().join("valid/inline.yaml"), text, &catalog()).unwrap();
    match &w.mcp {
        McpConnection::Command { command, env } => {
            assert_eq!(command, &["deskhand", "mcp", "serve", "--stdio"]);
            assert_eq!(env["RUST_LOG"], "warn");
        }
        other => panic!("expected a command connection, got {other:?}"),
    }
    assert!(!w.tools_verified);
}

#[test]
fn azure_model_needs_its_block() {
    let text = "version: 1\nname: az\ndescription: d\nmodel: { provider: azure, azure: { deployment: gpt4o, api_version: 2024-10-21 } }\ntools: []\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let w = Workflow::from_source(&fixtures().join("valid/inline.yaml"), text, &catalog()).unwrap();
    let azure = w.model.unwrap().azure.unwrap();
    assert_eq!(azure.deployment, "gpt4o");
    assert_eq!(azure.api_version, "2024-10-21");
}

#[test]
fn six_field_cron_is_kept_and_next_run_follows_the_time_zone_across_dst() {
    let text = "version: 1\nname: nightly\ndescription: d\nschedule: \"30 0 2 * * *\"\ntimezone: Europe/Berlin\ntools: []\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let w = Workflow::from_source(&fixtures().join("valid/inline.yaml"), text, &catalog()).unwrap();
    assert_eq!(w.cron(), Some("30 0 2 * * *"));
    // 2026-03-29 is the spring-forward night in Berlin: 02:00:30 local does not exist, and the
    // run happens once, right after the gap (croner follows the OCPS rule), not never.
    let before = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
    let next = w.next_run(before).unwrap();
    assert_eq!(next.to_rfc3339(), "2026-03-29T03:00:00+02:00");
    // 2026-10-25 is the fall-back night: 02:00:30 happens twice on the clock, the run once.
    let before = Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap();
    let first = w.next_run(before).unwrap();
    assert_eq!(first.to_rfc3339(), "2026-10-25T02:00:30+02:00");
    let second = w.next_run(first.with_timezone(&Utc)).unwrap();
    assert_eq!(second.to_rfc3339(), "2026-10-26T02:00:30+01:00");
}

#[test]
fn five_field_cron_normalises_with_leading_zero_seconds() {
    let w = full();
    let after = Utc.with_ymd_and_hms(2026, 1, 5, 10, 7, 0).unwrap();
    assert_eq!(
        w.next_run(after).unwrap().to_rfc3339(),
        "2026-01-05T11:15:00+01:00"
    );
}

#[test]
fn overrides_are_typed_by_their_default() {
    let mut w = full();
    w.apply_overrides(&[
        ("department_id", "42"),
        ("confidence_threshold", "0.9"),
        ("page_size", "10"),
        ("notify", "true"),
    ])
    .unwrap();
    assert_eq!(w.inputs["department_id"], json!("42"));
    assert_eq!(w.inputs["confidence_threshold"], json!(0.9));
    assert_eq!(w.inputs["page_size"], json!(10));
    assert_eq!(w.inputs["notify"], json!(true));
}

#[test]
fn override_with_the_wrong_type_is_an_error() {
    let mut w = full();
    let err = w.apply_overrides(&[("page_size", "ten")]).unwrap_err();
    assert!(matches!(err.kind, WorkflowErrorKind::InputType { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: inputs.page_size: input `page_size` expects a number, got \"ten\"",
            fixtures().join("valid/full.yaml").display()
        )
    );
    let err = w.apply_overrides(&[("notify", "yes")]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("input `notify` expects a boolean (true or false), got \"yes\"")
    );
    // A failed override leaves the value alone.
    assert_eq!(w.inputs["page_size"], json!(25));
}

#[test]
fn unknown_override_key_is_an_error_listing_the_inputs() {
    let mut w = full();
    let err = w.apply_overrides(&[("departmen_id", "1")]).unwrap_err();
    assert!(matches!(err.kind, WorkflowErrorKind::UnknownInput { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: --set: unknown input `departmen_id` (known inputs: department_id, confidence_threshold, page_size, notify)",
            fixtures().join("valid/full.yaml").display()
        )
    );
}

#[test]
fn parse_assignment_splits_on_the_first_equals() {
    assert_eq!(
        parse_assignment("query=a=b").unwrap(),
        ("query".to_string(), "a=b".to_string())
    );
    assert!(parse_assignment("novalue").is_err());
    assert!(parse_assignment("=x").is_err());
}

#[test]
fn prompt_renders_item_inputs_and_run() {
    let w = full();
    let item = json!({
        "id": "7",
        "ticketNumber": 101,
        "subject": "Printer on fire",
        "threads": [{"summary": "It is still burning"}]
    });
    let text = w.render_prompt(&run_info(), Some(&item)).unwrap();
    assert!(text.starts_with("Route ticket #101 (\"Printer on fire\") in department 1000.\n"));
    assert!(text.contains("at least 0.7.\n"));
    assert!(text.contains("The latest thread says: It is still burning\n"));
    assert!(text.contains("Full ticket:\n{\n  \"id\": \"7\",\n"));
    assert!(text.contains("write {{ literally as {{ }}. Run run-42."));
    let system = w
        .render_system_prompt(&run_info(), Some(&item))
        .unwrap()
        .unwrap();
    assert_eq!(
        system,
        "You are a careful Zoho Desk triage agent working for workflow triage-and-assign.\n"
    );
}

#[test]
fn for_each_args_render_with_json_types_preserved() {
    let mut w = full();
    w.apply_overrides(&[("page_size", "10")]).unwrap();
    let args = w.for_each_args(&run_info()).unwrap().unwrap();
    assert_eq!(
        serde_json::Value::Object(args),
        json!({"assignee": "Unassigned", "departmentId": "1000", "limit": 10, "status": "Open"})
    );
}

#[test]
fn load_all_loads_a_directory_in_name_order() {
    let all = Workflow::load_all(&fixtures().join("valid"), &catalog()).unwrap();
    let names: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["triage-and-assign", "backlog-summary", "remote-summary"]
    );
}

#[test]
fn load_all_reports_every_broken_file() {
    let errors = Workflow::load_all(&fixtures().join("invalid"), &catalog()).unwrap_err();
    let files: Vec<String> = errors
        .0
        .iter()
        .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files,
        [
            "broken.md", // bad-template.yaml: the error is in its prompt file
            "cron-five.yaml",
            "cron-six.yaml",
            "duration.yaml",
            "missing-prompt.yaml",
            "timezone.yaml",
            "unknown-key.yaml",
            "unknown-tool.yaml",
            "typo.md", // unknown-variable.yaml
            "wrong-type.yaml",
        ]
    );
    // One line per error.
    assert_eq!(errors.to_string().lines().count(), 10);
}

#[test]
fn duplicate_names_across_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("deskhand-dup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Prompts stay inside the workflow's directory.
    std::fs::copy(fixtures().join("prompts/plain.md"), dir.join("plain.md")).unwrap();
    for file in ["a.yaml", "b.yml"] {
        std::fs::write(
            dir.join(file),
            "version: 1\nname: same\ndescription: d\ntools: []\nprompt: plain.md\ninputs: { department: x }\n",
        )
        .unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a workflow").unwrap();
    let errors = Workflow::load_all(&dir, &catalog()).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(
        errors.0[0].to_string(),
        format!(
            "{}:2:7: name: workflow name `same` is also used by {}",
            dir.join("b.yml").display(),
            dir.join("a.yaml").display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_all_of_a_missing_directory_is_one_error() {
    let errors = Workflow::load_all(&fixtures().join("nope"), &catalog()).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert!(matches!(errors.0[0].kind, WorkflowErrorKind::Read(_)));
}
