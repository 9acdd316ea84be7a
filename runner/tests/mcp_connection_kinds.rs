//! `McpSession` over the three workflow connection kinds (embedded, Streamable HTTP, stdio child),
//! against the sandbox, plus the errors a bad connection gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use deskhand::mcp::{EmbeddedServer, McpError, McpSession, ToolOutcome};
use deskhand::workflow::McpConnection;
use serde_json::{Map, Value, json};

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Lists tools, reads a page of tickets, and checks that a tool failure and a protocol error
/// come back as their distinct outcomes.
async fn exercise(session: &McpSession) {
    let tools = session.list_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "list_all_zoho_desk_tickets"),
        "{} tools",
        tools.len()
    );
    let again = session.list_tools().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&tools, &again), "the list is cached");
    assert!(
        session
            .is_safe_to_repeat("list_all_zoho_desk_tickets")
            .await
    );
    assert!(
        !session
            .is_safe_to_repeat("create_a_zoho_desk_ticket_comment")
            .await
    );

    let page = session
        .call_tool("list_all_zoho_desk_tickets", args(json!({"limit": 2})))
        .await
        .unwrap();
    let ToolOutcome::Ok(page) = page else {
        panic!("{page:?}")
    };
    assert_eq!(page["result"].as_array().unwrap().len(), 2);

    let missing = session
        .call_tool(
            "get_single_zoho_desk_ticket_by_id",
            args(json!({"id": "1892000099999999"})),
        )
        .await
        .unwrap();
    let failure = missing.failure().expect("a tool error");
    assert_eq!(failure.status, Some(404));
    assert_eq!(failure.error_code.as_deref(), Some("URL_NOT_FOUND"));

    let unknown = session.call_tool("no_such_tool", Map::new()).await.unwrap();
    let ToolOutcome::Protocol(err) = unknown else {
        panic!("{unknown:?}")
    };
    assert!(err.message.contains("no_such_tool"), "{}", err.message);
}

#[tokio::test]
async fn embedded_sessions_reach_the_supplied_gateway() {
    let backend = common::sandbox().await;
    let session = McpSession::connect(
        &McpConnection::Embedded,
        Some(EmbeddedServer::new(backend.gateway.clone())),
    )
    .await
    .unwrap();
    assert_eq!(session.target(), "the embedded MCP server");
    let before = backend.sandbox.admin().stats().total;
    exercise(&session).await;
    assert!(backend.sandbox.admin().stats().total > before);
    session.close().await;
}

#[tokio::test]
async fn streamable_http_sessions_list_and_call_tools() {
    let server = common::spawn_http_server(&[]).await;
    let session = McpSession::connect(
        &McpConnection::Url {
            url: server.url.clone(),
            bearer_token_env: None,
        },
        None,
    )
    .await
    .unwrap();
    let token = server.url.rsplit('/').next().unwrap();
    assert!(
        !session.target().contains(token),
        "the hosted token stays out of messages: {}",
        session.target()
    );
    exercise(&session).await;
    session.close().await;
}

#[tokio::test]
async fn stdio_child_sessions_list_and_call_tools() {
    let session = McpSession::connect(
        &McpConnection::Command {
            command: vec![
                env!("CARGO_BIN_EXE_deskhand").to_owned(),
                "mcp".into(),
                "serve".into(),
                "--stdio".into(),
                "--sandbox".into(),
            ],
            env: BTreeMap::from([("RUST_LOG".to_owned(), "warn".to_owned())]),
        },
        None,
    )
    .await
    .unwrap();
    assert!(session.target().contains("mcp serve --stdio"));
    exercise(&session).await;
    session.close().await;
}

#[tokio::test]
async fn connect_failures_name_the_kind_and_target_but_no_secret() {
    let missing = McpSession::connect(
        &McpConnection::Command {
            command: vec!["/nonexistent/deskhand-mcp".into(), "serve".into()],
            env: BTreeMap::new(),
        },
        None,
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(missing, McpError::Spawn { .. }), "{missing}");
    assert!(
        missing
            .to_string()
            .contains("/nonexistent/deskhand-mcp serve"),
        "{missing}"
    );

    let empty = McpSession::connect(
        &McpConnection::Command {
            command: vec![],
            env: BTreeMap::new(),
        },
        None,
    )
    .await
    .err()
    .unwrap();
    assert_eq!(empty, McpError::EmptyCommand);

    let secret_url = "http://127.0.0.1:9/mcp/dhm_SuperSecretTokenValue";
    let no_token = McpSession::connect(
        &McpConnection::Url {
            url: secret_url.into(),
            bearer_token_env: Some("DESKHAND_TEST_TOKEN_THAT_IS_NOT_SET".into()),
        },
        None,
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(no_token, McpError::MissingToken { .. }),
        "{no_token}"
    );
    assert!(
        no_token
            .to_string()
            .contains("DESKHAND_TEST_TOKEN_THAT_IS_NOT_SET")
    );
    assert!(!no_token.to_string().contains("SuperSecret"), "{no_token}");

    // Nothing listens on port 9: the handshake fails, and the message still hides the token.
    let refused = McpSession::connect(
        &McpConnection::Url {
            url: secret_url.into(),
            bearer_token_env: None,
        },
        None,
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(refused, McpError::Handshake { .. }), "{refused}");
    assert!(refused.to_string().contains("127.0.0.1:9"), "{refused}");
    assert!(!refused.to_string().contains("SuperSecret"), "{refused}");

    let not_http = McpSession::connect(
        &McpConnection::Url {
            url: "ftp://example.invalid/mcp".into(),
            bearer_token_env: None,
        },
        None,
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(not_http, McpError::InvalidUrl { .. }),
        "{not_http}"
    );
}
