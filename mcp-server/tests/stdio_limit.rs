#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Over stdio, a message over the size limit is answered with a JSON-RPC error for its id, and
//! the session goes on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Mock;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, transport};
use zoho_desk_mcp::{Catalog, Gateway};

#[tokio::test]
async fn an_oversized_line_gets_an_error_for_its_id_and_the_session_continues() {
    let mock = Mock::start().await;
    let gateway = Gateway::new(Arc::new(Catalog::zoho_desk().unwrap()), mock.client());
    let server = ZohoDeskMcpServer::new(Arc::new(gateway), Scope::default());
    let (mut client_in, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, client_out) = tokio::io::duplex(1 << 16);
    let limit = 4096;
    let served = tokio::spawn(transport::serve_lines(server, server_in, server_out, limit));
    let mut replies = BufReader::new(client_out).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), replies.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap()
    };

    let send = |v: Value| format!("{v}\n").into_bytes();
    client_in
        .write_all(&send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "stdio-test", "version": "0"}}}),
        ))
        .await
        .unwrap();
    assert_eq!(next().await["id"], 1);
    client_in
        .write_all(&send(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ))
        .await
        .unwrap();

    let big = json!({"jsonrpc": "2.0", "method": "tools/call", "params": {
        "name": "list_all_zoho_desk_tickets", "arguments": {"id": 3, "pad": "x".repeat(3 * limit)}},
        "id": "big-42"});
    client_in.write_all(&send(big)).await.unwrap();
    let refused = next().await;
    assert_eq!(refused["id"], "big-42", "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&limit.to_string()),
        "{refused}"
    );

    client_in
        .write_all(&send(json!({"jsonrpc": "2.0", "id": 43, "method": "ping"})))
        .await
        .unwrap();
    assert_eq!(next().await["id"], 43, "the session goes on");

    drop(client_in);
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("the server stops when stdin closes")
        .unwrap()
        .unwrap();
}
