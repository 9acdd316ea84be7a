//! Every way a workflow file can be wrong is one error that starts with `file:line:col:` and
//! points at the offending key or value (or, for templates, into the prompt file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use deskhand::workflow::{ToolDirectory, Workflow, WorkflowError, WorkflowErrorKind};
use serde_json::{Value, json};
use zoho_desk_mcp::catalog::Catalog;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows")
}

fn catalog() -> Catalog {
    Catalog::zoho_desk().expect("embedded catalog")
}

fn load_invalid(name: &str) -> WorkflowError {
    Workflow::load(&fixtures().join("invalid").join(name), &catalog())
        .expect_err("the fixture is invalid")
}

/// Asserts the exact text, with the absolute fixture path made relative for readability.
fn assert_error(err: &WorkflowError, expected: &str) {
    let root = format!("{}/", fixtures().display());
    assert_eq!(err.to_string().replace(&root, ""), expected);
}

/// The workflow file text with `extra` lines appended, loaded as if it lived in `valid/`.
fn inline(extra: &str, tools: &dyn ToolDirectory) -> Result<Workflow, WorkflowError> {
    let text = format!(
        "version: 1\nname: inline\ndescription: d\ntools: [list_all_zoho_desk_tickets]\nprompt: ../prompts/plain.md\ninputs: {{ department: x }}\n{extra}"
    );
    Workflow::from_source(&fixtures().join("valid/inline.yaml"), &text, tools)
}

#[test]
fn unknown_key_points_at_the_key() {
    let err = load_invalid("unknown-key.yaml");
    assert!(matches!(err.kind, WorkflowErrorKind::Yaml(_)));
    assert_error(
        &err,
        "invalid/unknown-key.yaml:4:1: unknown field `schedul`, expected one of version, name, description, schedule, timezone, overlap, catch_up, model, mcp, connection, tools, tools_when, for_each, prompt, system_prompt, inputs, input_choices, writes, notify, baseline, limits, output, mode, context, prefetch, decide, actions",
    );
}

#[test]
fn unknown_nested_key_points_at_the_key() {
    let err = inline("limits: { max_step: 3 }\n", &catalog()).unwrap_err();
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 11)));
    assert!(err.to_string().contains("unknown field `max_step`"));
}

#[test]
fn wrong_type_names_the_key_and_points_at_the_value() {
    let err = load_invalid("wrong-type.yaml");
    assert_error(
        &err,
        "invalid/wrong-type.yaml:7:22: max_steps: expected a whole number (0 or more)",
    );
    let err = inline("overlap: always\n", &catalog()).unwrap_err();
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 10)));
    assert!(
        err.to_string()
            .ends_with("unknown variant `always`, expected one of skip, queue")
    );
}

#[test]
fn missing_required_key_is_an_error() {
    let text = "version: 1\nname: x\ndescription: d\nprompt: ../prompts/plain.md\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/x.yaml"), text, &catalog()).unwrap_err();
    assert!(err.to_string().ends_with("missing field `tools`"));
    assert!(err.position.is_some());
}

#[test]
fn unknown_tool_suggests_the_nearest_name() {
    let err = load_invalid("unknown-tool.yaml");
    match &err.kind {
        WorkflowErrorKind::UnknownTool { name, suggestions } => {
            assert_eq!(name, "get_single_zoho_desk_tickets_by_id");
            assert_eq!(suggestions, &["get_single_zoho_desk_ticket_by_id"]);
        }
        other => panic!("expected UnknownTool, got {other:?}"),
    }
    assert_error(
        &err,
        "invalid/unknown-tool.yaml:6:5: tools: unknown tool `get_single_zoho_desk_tickets_by_id`; did you mean `get_single_zoho_desk_ticket_by_id`?",
    );
}

#[test]
fn unknown_for_each_tool_is_an_error_even_outside_the_allow_list() {
    let err = inline("for_each: { tool: list_all_zoho_desk_tiket }\n", &catalog()).unwrap_err();
    assert!(matches!(err.kind, WorkflowErrorKind::UnknownTool { .. }));
    assert_eq!(err.field.as_deref(), Some("for_each.tool"));
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 19)));
    assert!(
        err.to_string()
            .ends_with("did you mean `list_all_zoho_desk_tickets`?")
    );
}

#[test]
fn invalid_five_field_cron_quotes_the_expression_and_croner() {
    let err = load_invalid("cron-five.yaml");
    assert!(matches!(err.kind, WorkflowErrorKind::Cron { .. }));
    assert_error(
        &err,
        "invalid/cron-five.yaml:4:11: schedule: invalid cron expression \"61 * * * *\": Component error: Number out of bounds.",
    );
}

#[test]
fn invalid_six_field_cron_quotes_the_expression_and_croner() {
    let err = load_invalid("cron-six.yaml");
    assert_error(
        &err,
        "invalid/cron-six.yaml:4:11: schedule: invalid cron expression \"0 0 25 * * *\": Component error: Number out of bounds.",
    );
}

#[test]
fn cron_with_the_wrong_field_count_is_an_error() {
    let err = inline("schedule: \"* * * *\"\n", &catalog()).unwrap_err();
    assert!(err.to_string().contains(
        "invalid cron expression \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found 4"
    ));
    let err = inline("schedule: \"0 0 0 * * * 2030\"\n", &catalog()).unwrap_err();
    assert!(err.to_string().contains("found 7"));
}

#[test]
fn bad_timezone_points_at_the_value() {
    let err = load_invalid("timezone.yaml");
    assert_error(
        &err,
        "invalid/timezone.yaml:5:11: timezone: unknown time zone \"Europe/Berlinn\" (expected an IANA name such as Europe/Berlin or UTC)",
    );
}

#[test]
fn missing_prompt_file_names_the_resolved_path() {
    let err = load_invalid("missing-prompt.yaml");
    assert!(matches!(err.kind, WorkflowErrorKind::MissingFile(_)));
    assert_error(
        &err,
        "invalid/missing-prompt.yaml:5:9: prompt: file not found: prompts/nope.md",
    );
}

#[test]
fn missing_system_prompt_file_is_an_error() {
    let err = inline("system_prompt: ../prompts/none.md\n", &catalog()).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("system_prompt"));
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 16)));
}

#[test]
fn bad_duration_points_at_the_value() {
    let err = load_invalid("duration.yaml");
    assert_error(
        &err,
        "invalid/duration.yaml:9:17: limits.item_timeout: invalid duration \"2 minutes\" (expected a whole number followed by ms, s, m or h, e.g. 500ms, 30s, 2m, 1h)",
    );
    for bad in ["0s", "1.5m", "90", "1d", "m"] {
        let err = inline(
            &format!("limits: {{ item_timeout: \"{bad}\" }}\n"),
            &catalog(),
        )
        .expect_err(bad);
        assert!(matches!(err.kind, WorkflowErrorKind::Duration(_)), "{bad}");
    }
    for good in ["500ms", "30s", "2m", "1h"] {
        inline(&format!("limits: {{ item_timeout: {good} }}\n"), &catalog()).expect(good);
    }
}

#[test]
fn bad_template_syntax_points_into_the_prompt_file() {
    let err = load_invalid("bad-template.yaml");
    assert!(matches!(err.kind, WorkflowErrorKind::Template(_)));
    assert_error(
        &err,
        "prompts/broken.md:3:10: prompt: unclosed \"{{\" (no matching \"}}\")",
    );
}

#[test]
fn unknown_template_variable_points_into_the_prompt_file() {
    let err = load_invalid("unknown-variable.yaml");
    assert_error(
        &err,
        "prompts/typo.md:1:21: prompt: unknown variable `inputs.departmnet_id` (known inputs: department_id)",
    );
}

#[test]
fn item_in_a_prompt_without_for_each_is_an_error() {
    let text = "version: 1\nname: x\ndescription: d\ntools: []\nprompt: ../prompts/triage.md\ninputs: { department_id: \"1\", confidence_threshold: 0.5 }\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/x.yaml"), text, &catalog()).unwrap_err();
    assert_error(
        &err,
        "prompts/triage.md:1:15: prompt: unknown variable `item.ticketNumber` (there is no item without `for_each`)",
    );
}

#[test]
fn for_each_args_templates_are_checked() {
    let err = inline(
        "for_each: { tool: list_all_zoho_desk_tickets, args: { departmentId: \"{{ inputs.dept }}\" } }\n",
        &catalog(),
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("for_each.args.departmentId"));
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 69)));
    assert!(
        err.to_string()
            .ends_with("unknown variable `inputs.dept` (known inputs: department)")
    );

    let err = inline(
        "for_each: { tool: list_all_zoho_desk_tickets, args: { viewId: \"{{ item.id }}\" } }\n",
        &catalog(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("rendered before there are items"));

    let err = inline(
        "for_each: { tool: list_all_zoho_desk_tickets, args: { viewId: \"{{ inputs.department\" } }\n",
        &catalog(),
    )
    .unwrap_err();
    assert!(matches!(err.kind, WorkflowErrorKind::Template(_)));
}

/// A directory with one tool whose schema is closed and has a required key.
struct OneTool;

impl ToolDirectory for OneTool {
    fn tool_names(&self) -> Vec<String> {
        vec!["list_things".into()]
    }
    fn input_schema(&self, name: &str) -> Option<Value> {
        (name == "list_things").then(|| {
            json!({
                "type": "object",
                "properties": { "kind": {"type": "string"}, "limit": {"type": "integer"} },
                "required": ["kind"],
                "additionalProperties": false
            })
        })
    }
}

#[test]
fn for_each_args_are_checked_against_the_tools_input_schema() {
    let base = "version: 1\nname: x\ndescription: d\ntools: []\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let load = |extra: &str| {
        Workflow::from_source(
            &fixtures().join("valid/x.yaml"),
            &format!("{base}{extra}"),
            &OneTool,
        )
    };
    load("for_each: { tool: list_things, args: { kind: a, limit: 5 } }\n").unwrap();
    let err =
        load("for_each: { tool: list_things, args: { kind: a, colour: red } }\n").unwrap_err();
    assert_error(
        &err,
        "valid/x.yaml:7:57: for_each.args.colour: `list_things` has no argument `colour` (allowed: kind, limit)",
    );
    let err = load("for_each: { tool: list_things }\n").unwrap_err();
    assert_error(
        &err,
        "valid/x.yaml:7:19: for_each.args: `list_things` requires the argument `kind`",
    );
}

#[test]
fn duplicate_tool_is_an_error() {
    let text = "version: 1\nname: x\ndescription: d\ntools: [list_all_zoho_desk_tickets, list_all_zoho_desk_tickets]\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/x.yaml"), text, &catalog()).unwrap_err();
    assert_error(
        &err,
        "valid/x.yaml:4:37: tools: `list_all_zoho_desk_tickets` is listed twice",
    );
}

#[test]
fn name_and_version_rules() {
    let text = "version: 2\nname: x\ndescription: d\ntools: []\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/x.yaml"), text, &catalog()).unwrap_err();
    assert_error(
        &err,
        "valid/x.yaml:1:10: version: unsupported version 2 (this deskhand reads version 1)",
    );
    let text = "version: 1\nname: Triage_All\ndescription: d\ntools: []\nprompt: ../prompts/plain.md\ninputs: { department: x }\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/x.yaml"), text, &catalog()).unwrap_err();
    assert_error(
        &err,
        "valid/x.yaml:2:7: name: invalid name \"Triage_All\" (use 1 to 64 lowercase letters, digits and `-`)",
    );
}

#[test]
fn model_settings_must_fit_the_provider() {
    let cases = [
        (
            "model: { provider: openai }\n",
            "model.name: required for this provider",
        ),
        (
            "model: { provider: azure }\n",
            "model.azure: the azure provider needs",
        ),
        (
            "model: { provider: openai, name: m, azure: { deployment: d, api_version: v } }\n",
            "model.azure: only for `provider: azure`",
        ),
        (
            "model: { provider: baseline, base_url: \"http://x\" }\n",
            "model.base_url: only for the openai and openai_compatible providers",
        ),
        (
            "model: { provider: openai, name: m, temperature: 3 }\n",
            "model.temperature: 3 is outside 0..=2",
        ),
        (
            "model: { provider: openai, name: m, api_key_env: sk-proj-secret }\n",
            "model.api_key_env: \"sk-p…\" is not an environment variable name",
        ),
        ("model: { provider: gpt }\n", "unknown variant `gpt`"),
        (
            "model: { provider: openai, name: m, api_key: sk-1 }\n",
            "unknown field `api_key`",
        ),
    ];
    for (extra, expected) in cases {
        let err = inline(extra, &catalog()).expect_err(extra);
        assert!(
            err.to_string().contains(expected),
            "{extra}: {err} does not contain {expected}"
        );
        assert_eq!(err.position.map(|p| p.line), Some(7), "{extra}");
        // A key pasted where its variable name belongs is never echoed in full.
        assert!(!err.to_string().contains("secret"));
    }
}

#[test]
fn mcp_connection_errors_name_the_problem() {
    let cases = [
        ("mcp: embeded\n", "unknown MCP connection `embeded`"),
        ("mcp: { urll: x }\n", "unknown field `urll`"),
        (
            "mcp: { url: \"http://x\", command: [a] }\n",
            "either `url` or `command`, not both",
        ),
        (
            "mcp: { command: [] }\n",
            "mcp.command: must name the program",
        ),
        (
            "mcp: { url: \"ftp://x/mcp/tok\" }\n",
            "mcp.url: must be an http or https URL",
        ),
        (
            "mcp: { command: [x], bearer_token_env: T }\n",
            "`bearer_token_env` applies to a `url` MCP connection",
        ),
    ];
    for (extra, expected) in cases {
        let err = inline(extra, &catalog()).expect_err(extra);
        assert!(
            err.to_string().contains(expected),
            "{extra}: {err} does not contain {expected}"
        );
        assert_eq!(err.position.map(|p| p.line), Some(7), "{extra}");
    }
}

#[test]
fn a_connection_is_for_the_embedded_server_only_and_has_a_connection_name() {
    let ok = inline("connection: eu-support\n", &catalog()).unwrap();
    assert_eq!(ok.connection.as_deref(), Some("eu-support"));
    assert_eq!(inline("", &catalog()).unwrap().connection, None);
    let cases = [
        (
            "mcp: { url: \"http://x/mcp\" }\nconnection: eu\n",
            8,
            "connection: names a Zoho connection of the embedded MCP server, but this workflow reaches Zoho through its own `mcp:` server",
        ),
        (
            "mcp: { command: [deskhand, mcp, serve, --stdio] }\nconnection: eu\n",
            8,
            "remove `connection:` or use `mcp: embedded`",
        ),
        (
            "connection: \"eu support\"\n",
            7,
            "connection: \"eu support\" is not a connection name",
        ),
    ];
    for (extra, line, expected) in cases {
        let err = inline(extra, &catalog()).expect_err(extra);
        assert!(
            err.to_string().contains(expected),
            "{extra}: {err} does not contain {expected}"
        );
        assert_eq!(err.position.map(|p| p.line), Some(line), "{extra}");
    }
}

#[test]
fn limits_of_zero_are_refused() {
    for key in ["max_steps", "concurrency", "max_attempts", "token_budget"] {
        let err = inline(&format!("limits: {{ {key}: 0 }}\n"), &catalog()).expect_err(key);
        assert!(
            err.to_string()
                .ends_with(&format!("limits.{key}: must be at least 1")),
            "{err}"
        );
    }
}

#[test]
fn output_schema_must_be_an_object() {
    let err = inline("output: { schema: [a] }\n", &catalog()).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("output.schema"));
    assert_eq!(err.position.map(|p| (p.line, p.col)), Some((7, 19)));
}

#[test]
fn unreadable_workflow_file_is_an_error() {
    let err = Workflow::load(&fixtures().join("invalid/absent.yaml"), &catalog()).unwrap_err();
    assert!(matches!(err.kind, WorkflowErrorKind::Read(_)));
    assert!(err.to_string().contains("absent.yaml: cannot read:"));
}

#[test]
fn tools_when_names_a_listed_tool_and_a_known_input() {
    let err = inline(
        "tools_when:\n  zoho_desk_tickets_send_reply: { input: department, equals: x }\n",
        &catalog(),
    )
    .expect_err("the tool is not in tools");
    assert!(
        err.to_string()
            .contains("`zoho_desk_tickets_send_reply` is not in `tools`"),
        "{err}"
    );
    let err = inline(
        "tools_when:\n  list_all_zoho_desk_tickets: { input: mode, equals: x }\n",
        &catalog(),
    )
    .expect_err("no such input");
    assert!(err.to_string().contains("`mode` is not an input"), "{err}");
    assert!(err.to_string().contains(":8:"), "points at the line: {err}");
}

#[test]
fn tools_when_offers_a_tool_only_while_its_input_matches() {
    let mut w = inline(
        "tools_when:\n  list_all_zoho_desk_tickets: { input: department, equals: Billing }\n",
        &catalog(),
    )
    .expect("valid");
    assert!(w.offered_tools().is_empty(), "department is x");
    w.apply_overrides(&[("department", "Billing")]).unwrap();
    assert_eq!(w.offered_tools(), ["list_all_zoho_desk_tickets"]);

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows/kb-grounded-reply.yaml");
    let mut kb = Workflow::load(&shipped, &catalog()).unwrap();
    assert!(kb.tools.iter().any(|t| t == "zoho_desk_tickets_send_reply"));
    assert!(
        !kb.offered_tools()
            .iter()
            .any(|t| t == "zoho_desk_tickets_send_reply"),
        "draft mode never shows the model the reply tool"
    );
    kb.apply_overrides(&[("reply_mode", "public_reply")])
        .unwrap();
    assert!(
        kb.offered_tools()
            .iter()
            .any(|t| t == "zoho_desk_tickets_send_reply")
    );
}

#[test]
fn input_choices_refuse_a_value_outside_them_on_load_and_on_set() {
    let err = inline("input_choices:\n  mode: [a, b]\n", &catalog()).expect_err("no such input");
    assert!(
        err.to_string()
            .contains("input_choices.mode: `mode` is not an input"),
        "{err}"
    );
    let err = inline("input_choices:\n  department: [a, b]\n", &catalog())
        .expect_err("the default is not a choice");
    assert!(
        err.to_string()
            .contains("the default of `inputs.department`, \"x\", is not one of them"),
        "{err}"
    );
    let err = inline(
        "input_choices:\n  department: [x, Billing]\ntools_when:\n  list_all_zoho_desk_tickets: { input: department, equals: Bilin }\n",
        &catalog(),
    )
    .expect_err("a condition no choice meets");
    assert!(
        err.to_string()
            .contains("tools_when.list_all_zoho_desk_tickets.equals"),
        "{err}"
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows/kb-grounded-reply.yaml");
    let mut kb = Workflow::load(&shipped, &catalog()).unwrap();
    let err = kb
        .apply_overrides(&[("reply_mode", "public-reply")])
        .expect_err("a typo is refused");
    assert!(
        matches!(err.kind, WorkflowErrorKind::InputChoice { .. }),
        "{err}"
    );
    assert!(
        err.to_string().ends_with(
            "--set: input `reply_mode` is one of \"draft_comment\", \"public_reply\", got \"public-reply\""
        ),
        "{err}"
    );
    assert_eq!(
        kb.inputs["reply_mode"], "draft_comment",
        "the refused value is not kept"
    );
    kb.apply_overrides(&[("reply_mode", "public_reply")])
        .unwrap();
    assert_eq!(kb.inputs["reply_mode"], "public_reply");
}

/// Decide mode: the decision's writes come from `actions`, whose tools must be in `tools`, and the
/// runner needs to know what to decide when the model's decision stays invalid.
#[test]
fn decide_mode_errors_name_the_field_and_the_fix() {
    let for_each = "for_each: { tool: list_all_zoho_desk_tickets }\noutput: { schema: { type: object, properties: { decision: { type: string } } } }\n";
    let err = inline(&format!("mode: decide\n{for_each}"), &catalog()).unwrap_err();
    assert!(
        err.to_string()
            .contains("decide: decide mode needs a `decide` block"),
        "{err}"
    );
    let err = inline(
        &format!(
            "mode: decide\n{for_each}decide: {{ abstain: {{ decision: abstain }} }}\nactions:\n  - {{ tool: update_a_zoho_desk_ticket_by_id, args: {{ id: \"{{{{ item.id }}}}\" }} }}\n"
        ),
        &catalog(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "actions[0]: `update_a_zoho_desk_ticket_by_id` is not in `tools`; the runner calls only tools listed there"
        ),
        "{err}"
    );
    let err = inline(
        "actions:\n  - { tool: list_all_zoho_desk_tickets }\n",
        &catalog(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("actions: applies only with `mode: decide`"),
        "{err}"
    );
    let err = inline(
        &format!(
            "mode: decide\n{for_each}decide: {{ abstain: {{ decision: abstain }} }}\nactions:\n  - {{ tool: list_all_zoho_desk_tickets, args: {{ x: \"{{{{ decison.id }}}}\" }} }}\n"
        ),
        &catalog(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown variable `decison.id`"),
        "{err}"
    );
    let ok = inline(
        &format!(
            "mode: decide\n{for_each}context: {{ org: {{ builtin: directory }} }}\ndecide: {{ abstain: {{ decision: abstain }} }}\nactions:\n  - {{ tool: list_all_zoho_desk_tickets, args: {{ x: \"{{{{ decision.decision }}}}\" }} }}\n"
        ),
        &catalog(),
    )
    .unwrap();
    assert_eq!(ok.mode, deskhand::workflow::Mode::Decide);
    assert_eq!(ok.decide.actions.len(), 1);
}

/// A prefetch repeated over an earlier read's list, and ids checked against a read list: each
/// mistake is refused at load with the field that holds it.
#[test]
fn prefetch_each_and_known_ids_errors_name_the_field() {
    let head = "mode: decide\nfor_each: { tool: list_all_zoho_desk_tickets }\noutput: { schema: { type: object, properties: { action: { type: string }, ids: { type: array } } } }\n";
    let decide = "decide: { abstain_field: action, abstain: { action: none }, known_ids: [{ field: ids, in: \"{{ prefetch.list }}\" }] }\n";
    let prefetch = |entry: &str| {
        format!(
            "{head}{decide}prefetch:\n  - {{ name: list, tool: list_all_zoho_desk_tickets }}\n  - {entry}\n"
        )
    };
    let ok = inline(
        &prefetch(
            "{ name: each_one, tool: list_all_zoho_desk_tickets, each: \"{{ prefetch.list }}\", first: 2, args: { assignee: \"{{ each.id }}\" }, max_chars: 100, cache: run, optional: true }",
        ),
        &catalog(),
    )
    .unwrap();
    let each = &ok.decide.prefetch[1];
    assert_eq!(each.each.as_ref().map(|e| e.1), Some(2));
    assert!(each.cache_run && each.optional);
    assert_eq!(each.max_chars, Some(100));
    assert_eq!(ok.decide.known_ids.len(), 1);

    let cases = [
        (
            "{ name: x, tool: list_all_zoho_desk_tickets, first: 2 }",
            "prefetch[1]: `first` applies only with `each`",
        ),
        (
            "{ name: x, tool: list_all_zoho_desk_tickets, each: \"{{ prefetch.list }}\", first: 0 }",
            "prefetch[1]: `first` must be between 1 and 20",
        ),
        (
            "{ name: x, tool: list_all_zoho_desk_tickets, args: { assignee: \"{{ each.id }}\" } }",
            "prefetch[1]: unknown variable `each.id`",
        ),
    ];
    for (entry, message) in cases {
        let err = inline(&prefetch(entry), &catalog()).unwrap_err();
        assert!(err.to_string().contains(message), "{entry}: {err}");
    }
    let err = inline(
        &format!(
            "{head}decide: {{ abstain_field: action, abstain: {{ action: none }}, known_ids: [{{ field: idz, in: \"{{{{ prefetch.list }}}}\" }}] }}\n"
        ),
        &catalog(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("decide.known_ids[0]: `idz` is not a property of `output.schema`"),
        "{err}"
    );
    let err = inline(
        &format!(
            "{head}decide: {{ abstain_field: action, abstain: {{ action: none }}, required_to_act: [reply] }}\n"
        ),
        &catalog(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("decide.required_to_act: `reply` is not a property of `output.schema`"),
        "{err}"
    );
}

#[test]
fn a_prompt_naming_an_undeclared_context_entry_is_refused_at_load() {
    let text = "version: 1\nname: inline\ndescription: d\ntools: [list_all_zoho_desk_tickets]\nprompt: ../prompts/context-typo.md\ncontext: { org: { builtin: directory } }\n";
    let err =
        Workflow::from_source(&fixtures().join("valid/inline.yaml"), text, &catalog()).unwrap_err();
    assert_error(
        &err,
        "prompts/context-typo.md:1:6: prompt: unknown variable `context.orgg` (the workflow's context declares: org)",
    );
}
