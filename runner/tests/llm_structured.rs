//! Structured outputs at the client: the strict `response_format` as sent, the refusal that turns
//! them off for the rest of the run (reported once), and the settings that turn them off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deskhand::llm::structured::strict_schema;
use deskhand::llm::{
    ChatMessage, ChatRequest, LlmClient, LlmError, LlmSettings, RetryLog, RetryPolicy, ToolSpec,
};
use deskhand::workflow::Workflow;
use deskhand_e2e::{ScriptedLlm, Step};
use serde_json::json;

fn settings(llm: &ScriptedLlm) -> LlmSettings {
    LlmSettings {
        retry: RetryPolicy {
            max_attempts: 2,
            max_wait: Duration::from_millis(10),
            min_backoff: Duration::from_millis(1),
        },
        ..LlmSettings::openai_compatible(llm.base_url(), "test-model")
    }
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"type": "string", "enum": ["assign", "abstain"]},
            "teamId": {"type": "string", "minLength": 1},
        }
    })
}

fn tool() -> ToolSpec {
    ToolSpec {
        name: "list_all_zoho_desk_tickets".into(),
        description: None,
        parameters: json!({"type": "object", "properties": {}}),
    }
}

#[tokio::test]
async fn the_strict_schema_is_sent_as_response_format_beside_the_tools() {
    let llm = ScriptedLlm::start([Step::text(r#"{"decision":"assign","teamId":null}"#)]).await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let format = client
        .response_format(&schema())
        .expect("structured outputs on");
    client
        .chat(
            ChatRequest::new(vec![ChatMessage::user("x")])
                .with_tools(vec![tool()])
                .with_response_format(Some(format)),
        )
        .await
        .unwrap();
    let sent = llm.last_request();
    assert_eq!(
        sent.response_format(),
        Some(&json!({
            "type": "json_schema",
            "json_schema": {
                "name": "final_answer",
                "strict": true,
                "schema": {
                    "type": "object",
                    "required": ["decision", "teamId"],
                    "additionalProperties": false,
                    "properties": {
                        "decision": {"type": "string", "enum": ["assign", "abstain"]},
                        "teamId": {"type": ["string", "null"]},
                    }
                }
            }
        }))
    );
    assert_eq!(
        sent.tools().len(),
        1,
        "tools and response_format go together"
    );
}

#[tokio::test]
async fn a_request_without_a_format_sends_none() {
    let llm = ScriptedLlm::start([Step::text("ok")]).await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap();
    assert_eq!(llm.last_request().response_format(), None);
}

#[tokio::test]
async fn structured_output_false_gives_no_format() {
    let llm = ScriptedLlm::start([]).await;
    let client = LlmClient::new(LlmSettings {
        structured_output: false,
        ..settings(&llm)
    })
    .unwrap();
    assert_eq!(client.response_format(&schema()), None);
    // A schema strict mode cannot express goes in the prompt too.
    let on = LlmClient::new(settings(&llm)).unwrap();
    assert_eq!(on.response_format(&json!({"type": "object"})), None);
    assert!(on.response_format(&schema()).is_some());
}

#[tokio::test]
async fn a_refusal_turns_structured_outputs_off_for_the_run_and_is_reported_once() {
    let llm = ScriptedLlm::builder()
        .rejecting_response_format()
        .start()
        .await;
    let log = Arc::new(RetryLog::default());
    let client = LlmClient::new(settings(&llm))
        .unwrap()
        .with_observer(log.clone());
    let format = client.response_format(&schema());
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]).with_response_format(format.clone()))
        .await
        .unwrap_err();
    assert!(err.rejects_response_format(), "{err}");
    assert_eq!(llm.hits(), 1, "a 400 is not retried");

    // A clone (another item of the same run) sees the same state.
    let other_item = client.clone();
    assert!(client.refuse_structured_output(&err));
    assert!(other_item.structured_output_refused());
    assert_eq!(other_item.response_format(&schema()), None);
    assert!(other_item.refuse_structured_output(&err));
    let events = log.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].layer, "llm");
    assert!(events[0].reason.contains("response_format"), "{events:?}");

    // A new client (the next run) tries again.
    let next_run = LlmClient::new(settings(&llm)).unwrap();
    assert!(next_run.response_format(&schema()).is_some());
}

#[test]
fn only_errors_that_name_the_format_count_as_a_refusal() {
    let bad = |status: u16, message: &str| LlmError::BadRequest {
        provider: "p".into(),
        status,
        message: message.into(),
    };
    assert!(bad(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.").rejects_response_format());
    assert!(
        bad(
            400,
            "response_format value as json_schema is enabled only for api versions 2024-08-01-preview and later"
        )
        .rejects_response_format()
    );
    assert!(
        bad(422, "Invalid schema for response_format 'final_answer'").rejects_response_format()
    );
    assert!(!bad(400, "Invalid schema for function 'x'").rejects_response_format());
    assert!(!bad(404, "json_schema: model not found").rejects_response_format());
    assert!(
        LlmError::ServerError {
            provider: "p".into(),
            status: 500,
            attempts: 2,
            message: "AssertionError: json_schema not supported".into(),
        }
        .rejects_response_format()
    );
    assert!(
        !LlmError::Timeout {
            provider: "p".into(),
            attempts: 1,
            after: Duration::from_secs(1),
        }
        .rejects_response_format()
    );
}

#[test]
fn the_shipped_workflows_answer_under_a_strict_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let workflows = Workflow::load_all(&dir, &*common::catalog()).unwrap();
    assert!(workflows.len() >= 2);
    for workflow in workflows {
        let schema = workflow.output_schema.as_ref().expect("an output schema");
        let strict = strict_schema(schema).unwrap_or_else(|why| panic!("{}: {why}", workflow.name));
        assert_eq!(strict["additionalProperties"], false, "{}", workflow.name);
        let model = workflow.model.as_ref();
        assert!(
            model.is_none_or(|m| m.structured_output),
            "{} opts out",
            workflow.name
        );
    }
}
