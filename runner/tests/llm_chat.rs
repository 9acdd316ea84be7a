//! The LLM client over real HTTP against the scripted OpenAI-compatible server: requests as
//! sent, responses as parsed, provider variants and local-server quirks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use deskhand::llm::{
    ApiKey, ChatMessage, ChatRequest, FinishReason, LlmClient, LlmError, LlmSettings, RetryPolicy,
    TokenUsage, ToolChoice, ToolSpec,
};
use deskhand_e2e::{ScriptedLlm, ScriptedToolCall, Step};
use serde_json::{Value, json};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_wait: Duration::from_millis(20),
        min_backoff: Duration::from_millis(1),
    }
}

fn settings(llm: &ScriptedLlm) -> LlmSettings {
    LlmSettings {
        retry: fast_retry(),
        ..LlmSettings::openai_compatible(llm.base_url(), "test-model")
    }
}

fn ticket_tool() -> ToolSpec {
    ToolSpec {
        name: "get_single_zoho_desk_ticket_by_id".into(),
        description: Some("Fetch one ticket by its id.".into()),
        // Key order and extra keywords must survive untouched.
        parameters: json!({
            "type": "object",
            "properties": {
                "ticket_id": {"type": "string", "description": "Ticket id", "pattern": "^[0-9]+$"},
                "include": {"type": "array", "items": {"enum": ["threads", "comments"]}}
            },
            "required": ["ticket_id"],
            "additionalProperties": false
        }),
    }
}

fn list_tool() -> ToolSpec {
    ToolSpec {
        name: "list_all_zoho_desk_tickets".into(),
        description: None,
        parameters: json!({"type": "object", "properties": {"status": {"type": "string"}}}),
    }
}

#[tokio::test]
async fn tool_calling_round_trip() {
    let llm = ScriptedLlm::start([
        Step::tool_calls(vec![
            ScriptedToolCall::new(
                "get_single_zoho_desk_ticket_by_id",
                json!({"ticket_id": "42"}),
            )
            .with_id("call_abc"),
        ]),
        Step::text("Ticket 42 is open."),
    ])
    .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let tools = vec![ticket_tool(), list_tool()];
    let mut messages = vec![
        ChatMessage::system("You triage tickets."),
        ChatMessage::user("What is the status of ticket 42?"),
    ];

    let first = client
        .chat(ChatRequest::new(messages.clone()).with_tools(tools.clone()))
        .await
        .unwrap();
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.text, None);
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].id, "call_abc");
    assert_eq!(
        first.tool_calls[0].name,
        "get_single_zoho_desk_ticket_by_id"
    );
    let args: Value = serde_json::from_str(&first.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"ticket_id": "42"}));
    assert_eq!(first.retries, 0);

    messages.push(first.to_message());
    messages.push(ChatMessage::tool_result(
        "call_abc",
        r#"{"id":"42","status":"Open"}"#,
    ));
    let second = client
        .chat(ChatRequest::new(messages).with_tools(tools.clone()))
        .await
        .unwrap();
    assert_eq!(second.text.as_deref(), Some("Ticket 42 is open."));
    assert_eq!(second.finish_reason, FinishReason::Stop);
    assert!(second.tool_calls.is_empty());

    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.body["model"], "test-model");
        assert_eq!(r.body["tool_choice"], "auto");
        // Tools exactly as given: same names, descriptions, schemas (key order included).
        let offered = r.tools();
        assert_eq!(offered.len(), 2);
        for (wire, spec) in offered.iter().zip(&tools) {
            assert_eq!(wire["type"], "function");
            assert_eq!(wire["function"]["name"], spec.name.as_str());
            assert_eq!(
                wire["function"].get("description").and_then(Value::as_str),
                spec.description.as_deref()
            );
            assert_eq!(wire["function"]["parameters"], spec.parameters);
            assert_eq!(
                serde_json::to_string(&wire["function"]["parameters"]).unwrap(),
                serde_json::to_string(&spec.parameters).unwrap()
            );
            assert!(wire["function"].get("strict").is_none());
        }
    }
    let sent = requests[1].messages();
    let roles: Vec<&str> = sent.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    // The assistant tool-call message carries content "" (llama.cpp rejects null or absent).
    assert_eq!(sent[2]["content"], json!(""));
    assert_eq!(sent[2]["tool_calls"][0]["id"], "call_abc");
    assert_eq!(sent[2]["tool_calls"][0]["type"], "function");
    assert_eq!(
        sent[2]["tool_calls"][0]["function"]["name"],
        "get_single_zoho_desk_ticket_by_id"
    );
    assert_eq!(
        sent[2]["tool_calls"][0]["function"]["arguments"],
        first.tool_calls[0].arguments.as_str()
    );
    assert_eq!(sent[3]["tool_call_id"], "call_abc");
    assert_eq!(sent[3]["content"], r#"{"id":"42","status":"Open"}"#);
}

#[tokio::test]
async fn parallel_tool_calls_are_all_parsed() {
    let llm = ScriptedLlm::start([Step::tool_calls(vec![
        ScriptedToolCall::new(
            "get_single_zoho_desk_ticket_by_id",
            json!({"ticket_id": "1"}),
        ),
        ScriptedToolCall::new(
            "get_single_zoho_desk_ticket_by_id",
            json!({"ticket_id": "2"}),
        ),
        ScriptedToolCall::new("list_all_zoho_desk_tickets", json!({"status": "Open"})),
    ])])
    .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let response = client
        .chat(
            ChatRequest::new(vec![ChatMessage::user("go")])
                .with_tools(vec![ticket_tool(), list_tool()]),
        )
        .await
        .unwrap();
    let calls: Vec<(&str, &str, Value)> = response
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.name.as_str(),
                serde_json::from_str(&c.arguments).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "call_1_0",
                "get_single_zoho_desk_ticket_by_id",
                json!({"ticket_id": "1"})
            ),
            (
                "call_1_1",
                "get_single_zoho_desk_ticket_by_id",
                json!({"ticket_id": "2"})
            ),
            (
                "call_1_2",
                "list_all_zoho_desk_tickets",
                json!({"status": "Open"})
            ),
        ]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn usage_is_reported_per_call_and_adds_up() {
    let llm = ScriptedLlm::start([
        Step::tool_call("list_all_zoho_desk_tickets", json!({})).with_usage(120, 30),
        Step::text("done")
            .with_usage(200, 15)
            .with_cached_tokens(128),
        Step::text("no usage").without_usage(),
    ])
    .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let mut total = TokenUsage::default();
    let mut per_call = Vec::new();
    for _ in 0..3 {
        let r = client
            .chat(ChatRequest::new(vec![ChatMessage::user("x")]).with_tools(vec![list_tool()]))
            .await
            .unwrap();
        per_call.push(r.usage);
        total += r.usage;
    }
    assert_eq!(
        per_call,
        vec![
            TokenUsage {
                prompt_tokens: 120,
                completion_tokens: 30,
                total_tokens: 150,
                cached_tokens: 0,
            },
            TokenUsage {
                prompt_tokens: 200,
                completion_tokens: 15,
                total_tokens: 215,
                cached_tokens: 128,
            },
            TokenUsage::default(),
        ]
    );
    assert_eq!(
        total,
        TokenUsage {
            prompt_tokens: 320,
            completion_tokens: 45,
            total_tokens: 365,
            cached_tokens: 128,
        }
    );
}

#[tokio::test]
async fn local_server_quirks_are_tolerated() {
    // llama.cpp / Ollama style: arguments as an object, no ids, no `type`, no usage, no `created`,
    // an unknown finish_reason.
    let quirky = json!({
        "model": "smollm2",
        "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"function": {"name": "get_single_zoho_desk_ticket_by_id", "arguments": {"ticket_id": "42"}}},
            {"id": "", "function": {"name": "list_all_zoho_desk_tickets", "arguments": "{}"}}
        ]}, "finish_reason": "eos"}]
    });
    let llm = ScriptedLlm::start([Step::raw(quirky.clone()), Step::raw(quirky)]).await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let request =
        ChatRequest::new(vec![ChatMessage::user("x")]).with_tools(vec![ticket_tool(), list_tool()]);
    let a = client.chat(request.clone()).await.unwrap();
    let b = client.chat(request).await.unwrap();

    assert_eq!(a.tool_calls.len(), 2);
    assert_eq!(a.tool_calls[0].name, "get_single_zoho_desk_ticket_by_id");
    let args: Value = serde_json::from_str(&a.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"ticket_id": "42"}));
    assert_eq!(a.tool_calls[1].arguments, "{}");
    // Synthesised ids: present, distinct, and the same for the same response.
    assert!(a.tool_calls.iter().all(|c| c.id.starts_with("call_")));
    assert_ne!(a.tool_calls[0].id, a.tool_calls[1].id);
    assert_eq!(a.tool_calls, b.tool_calls);
    assert_eq!(a.usage, TokenUsage::default());
    assert_eq!(a.finish_reason, FinishReason::ToolCalls);
    assert_eq!(a.model, "smollm2");
}

#[tokio::test]
async fn a_body_that_is_not_a_completion_is_a_decode_error() {
    let llm = ScriptedLlm::start([Step::raw(json!(["not", "an", "object"]))]).await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Decode { .. }), "{err:?}");
    assert_eq!(llm.hits(), 1);
}

#[tokio::test]
async fn tool_choice_follows_the_settings() {
    let llm = ScriptedLlm::start([
        Step::text("a"),
        Step::text("b"),
        Step::text("c"),
        Step::text("d"),
    ])
    .await;
    let without = LlmClient::new(settings(&llm)).unwrap();
    let with = LlmClient::new(LlmSettings {
        tool_choice_required: true,
        ..settings(&llm)
    })
    .unwrap();
    let tools = vec![list_tool()];
    let msgs = vec![ChatMessage::user("x")];
    // Asked for `required`, but the provider is not known to support it: `auto`.
    without
        .chat(
            ChatRequest::new(msgs.clone())
                .with_tools(tools.clone())
                .with_tool_choice(ToolChoice::Required),
        )
        .await
        .unwrap();
    // Supported: the default becomes `required`.
    with.chat(ChatRequest::new(msgs.clone()).with_tools(tools.clone()))
        .await
        .unwrap();
    // `none` is always allowed.
    with.chat(
        ChatRequest::new(msgs.clone())
            .with_tools(tools)
            .with_tool_choice(ToolChoice::None),
    )
    .await
    .unwrap();
    // No tools: neither `tools` nor `tool_choice` is sent.
    with.chat(ChatRequest::new(msgs)).await.unwrap();
    let r = llm.requests();
    assert_eq!(r[0].body["tool_choice"], "auto");
    assert_eq!(r[1].body["tool_choice"], "required");
    assert_eq!(r[2].body["tool_choice"], "none");
    assert!(r[3].body.get("tool_choice").is_none());
    assert!(r[3].body.get("tools").is_none());
}

#[tokio::test]
async fn openai_sends_bearer_key_and_max_completion_tokens() {
    let llm = ScriptedLlm::start([Step::text("ok")]).await;
    let s = LlmSettings {
        base_url: Some(llm.base_url()),
        organization: Some("org-test".into()),
        temperature: Some(0.0),
        max_completion_tokens: Some(256),
        retry: fast_retry(),
        ..LlmSettings::openai("gpt-4.1-mini", ApiKey::new("sk-test-123"))
    };
    let client = LlmClient::new(s).unwrap();
    client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap();
    let r = llm.last_request();
    assert_eq!(r.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(r.header("openai-organization"), Some("org-test"));
    assert_eq!(r.body["max_completion_tokens"], 256);
    assert!(r.body.get("max_tokens").is_none());
    assert_eq!(r.body["temperature"], 0.0);
    assert_eq!(r.body["model"], "gpt-4.1-mini");
}

#[tokio::test]
async fn openai_compatible_sends_max_tokens_and_request_overrides() {
    let llm = ScriptedLlm::start([Step::text("ok")]).await;
    let client = LlmClient::new(LlmSettings {
        max_completion_tokens: Some(100),
        temperature: Some(0.2),
        ..settings(&llm)
    })
    .unwrap();
    client
        .chat(ChatRequest {
            temperature: Some(0.7),
            max_completion_tokens: Some(64),
            ..ChatRequest::new(vec![ChatMessage::user("x")])
        })
        .await
        .unwrap();
    let r = llm.last_request();
    assert_eq!(r.body["max_tokens"], 64);
    assert!(r.body.get("max_completion_tokens").is_none());
    assert!((r.body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
}

#[tokio::test]
async fn azure_uses_the_deployment_path_and_api_key_header() {
    let llm = ScriptedLlm::start([Step::tool_call("list_all_zoho_desk_tickets", json!({}))]).await;
    let s = LlmSettings {
        retry: fast_retry(),
        ..LlmSettings::azure(
            llm.origin(),
            "triage-gpt4",
            "2024-10-21",
            ApiKey::new("azure-key-xyz"),
        )
    };
    let client = LlmClient::new(s).unwrap();
    let response = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]).with_tools(vec![list_tool()]))
        .await
        .unwrap();
    assert_eq!(response.tool_calls[0].name, "list_all_zoho_desk_tickets");
    let r = llm.last_request();
    assert_eq!(r.path, "/openai/deployments/triage-gpt4/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.header("api-key"), Some("azure-key-xyz"));
    assert_eq!(r.header("authorization"), None);
}

#[tokio::test]
async fn bad_request_carries_the_provider_message_and_is_not_retried() {
    let llm = ScriptedLlm::start([
        Step::error(
            400,
            json!({"error": {"message": "Invalid schema for function 'x': 'foo' is not valid", "type": "invalid_request_error"}}),
        ),
        Step::text("never reached"),
    ])
    .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap_err();
    match &err {
        LlmError::BadRequest {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(message.contains("Invalid schema for function"), "{message}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(llm.hits(), 1);
}

#[tokio::test]
async fn ollama_style_error_strings_are_read() {
    let llm = ScriptedLlm::start([Step::error(
        404,
        json!({"error": "model \"llama9\" not found, try pulling it first"}),
    )])
    .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("model \"llama9\" not found"),
        "{err}"
    );
}

#[tokio::test]
async fn unauthorized_names_the_provider_and_never_the_key() {
    let key = "sk-proj-SECRET-4f9a8b7c6d5e";
    let llm = ScriptedLlm::start([Step::error(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {key}."), "type": "invalid_request_error", "code": "invalid_api_key"}}),
    )])
    .await;
    let s = LlmSettings {
        base_url: Some(llm.base_url()),
        api_key_env: Some("OPENAI_API_KEY".into()),
        retry: fast_retry(),
        ..LlmSettings::openai("gpt-4.1-mini", ApiKey::new(key))
    };
    let client = LlmClient::new(s.clone()).unwrap();
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("OpenAI"), "{shown}");
    assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
    for text in [
        shown,
        format!("{err:?}"),
        format!("{s:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains("SECRET"), "key leaked: {text}");
    }
    assert_eq!(llm.hits(), 1);
}

#[tokio::test]
async fn forbidden_message_is_scrubbed_of_the_key() {
    let key = "azure-SECRET-key-000";
    let llm = ScriptedLlm::start([Step::error(
        403,
        json!({"error": {"message": format!("key {key} has no access to this deployment")}}),
    )])
    .await;
    let client = LlmClient::new(LlmSettings {
        retry: fast_retry(),
        ..LlmSettings::azure(llm.origin(), "d", "2024-10-21", ApiKey::new(key))
    })
    .unwrap();
    let err = client
        .chat(ChatRequest::new(vec![ChatMessage::user("x")]))
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, LlmError::Auth { status: 403, .. }));
    assert!(
        shown.contains("Azure OpenAI") && shown.contains("no access"),
        "{shown}"
    );
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[tokio::test]
async fn responder_drives_a_conversation_until_the_tool_result_says_done() {
    // Keep calling the tool until a tool result contains "done".
    let llm = ScriptedLlm::builder()
        .responder(|req| {
            let finished = req["messages"].as_array().into_iter().flatten().any(|m| {
                m["role"] == "tool" && m["content"].as_str().is_some_and(|c| c.contains("done"))
            });
            if finished {
                Step::text("all done")
            } else {
                Step::tool_call("list_all_zoho_desk_tickets", json!({"status": "Open"}))
            }
        })
        .start()
        .await;
    let client = LlmClient::new(settings(&llm)).unwrap();
    let mut messages = vec![ChatMessage::user("drain the queue")];
    let mut steps = 0;
    let answer = loop {
        steps += 1;
        let r = client
            .chat(ChatRequest::new(messages.clone()).with_tools(vec![list_tool()]))
            .await
            .unwrap();
        if r.tool_calls.is_empty() {
            break r.text.unwrap();
        }
        messages.push(r.to_message());
        for call in &r.tool_calls {
            let result = if steps >= 3 { "done" } else { "more" };
            messages.push(ChatMessage::tool_result(call.id.clone(), result));
        }
        assert!(steps < 10, "the loop did not stop");
    };
    assert_eq!(answer, "all done");
    assert_eq!(steps, 4);
    assert_eq!(llm.hits(), 4);
}
