//! The Zoho Desk MCP server against the sandbox over all three transports (in-process, Streamable
//! HTTP, stdio child process), driven by rmcp's client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};
use zoho_desk_mcp::catalog::ToolFilter;
use zoho_desk_mcp::registry::{Registry, ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer};
use zoho_desk_mcp::server::{GatewayPool, Scope, ZohoDeskMcpServer, transport};
use zoho_desk_sandbox::SandboxConfig;

type Client = RunningService<RoleClient, ()>;

fn args(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .expect("tools/call answered")
}

fn structured(result: &CallToolResult) -> &Value {
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

async fn in_process(backend: &deskhand::embedded::SandboxBackend, scope: Scope) -> Client {
    let server = ZohoDeskMcpServer::new(backend.gateway.clone(), scope);
    transport::connect_in_process(server).await.unwrap()
}

#[tokio::test]
async fn every_documented_tool_is_listed_with_all_hints_explicit() {
    let backend = common::sandbox().await;
    let client = in_process(&backend, Scope::default()).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for required in [
        "list_all_zoho_desk_tickets",
        "get_single_zoho_desk_ticket_by_id",
        "create_a_zoho_desk_ticket",
        "update_a_zoho_desk_ticket_by_id",
        "zoho_desk_tickets_search",
        "zoho_desk_tickets_count",
        "list_all_zoho_desk_ticket_threads",
        "get_single_zoho_desk_ticket_thread_by_id",
        "list_all_zoho_desk_ticket_comments",
        "create_a_zoho_desk_ticket_comment",
        "zoho_desk_tickets_send_reply",
        "zoho_desk_tickets_draft_reply",
        "list_all_zoho_desk_agents",
        "get_single_zoho_desk_agent_by_id",
        "list_all_zoho_desk_departments",
        "get_single_zoho_desk_department_by_id",
        "list_all_zoho_desk_teams",
        "list_all_zoho_desk_contacts",
        "get_single_zoho_desk_contact_by_id",
        "zoho_desk_contacts_search",
        "list_all_zoho_desk_kb_articles",
        "get_single_zoho_desk_kb_article_by_id",
        "zoho_desk_kb_articles_search",
        "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    for tool in &tools {
        let a = tool.annotations.as_ref().expect("annotations");
        assert!(
            a.read_only_hint.is_some()
                && a.destructive_hint.is_some()
                && a.open_world_hint.is_some(),
            "{} lacks an explicit hint",
            tool.name
        );
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
    }
    let update = tools
        .iter()
        .find(|t| t.name == "update_a_zoho_desk_ticket_by_id")
        .unwrap();
    assert_eq!(
        update.annotations.as_ref().unwrap().read_only_hint,
        Some(false)
    );
    let list = tools
        .iter()
        .find(|t| t.name == "list_all_zoho_desk_tickets")
        .unwrap();
    assert_eq!(
        list.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
}

#[tokio::test]
async fn get_ticket_returns_the_sandbox_object_and_bad_arguments_are_tool_errors() {
    let backend = common::sandbox().await;
    let client = in_process(&backend, Scope::default()).await;
    let page = call(&client, "list_all_zoho_desk_tickets", json!({"limit": 3})).await;
    assert_eq!(page.is_error, Some(false));
    let first = &structured(&page)["result"][0];
    let id = first["id"].as_str().unwrap().to_owned();

    let got = call(
        &client,
        "get_single_zoho_desk_ticket_by_id",
        json!({"id": id}),
    )
    .await;
    assert_eq!(got.is_error, Some(false));
    let expected = backend.sandbox.admin().ticket(&id).unwrap();
    assert_eq!(structured(&got)["subject"], expected["subject"]);
    assert!(
        structured(&got).get("description").is_some(),
        "single ticket carries its description"
    );

    let bad = call(
        &client,
        "get_single_zoho_desk_ticket_by_id",
        json!({"id": id, "colour": "red"}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    let err = structured(&bad);
    assert_eq!(err["status"], json!(400));
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("colour"), "{message}");
    assert!(
        err.to_string().contains("\"id\""),
        "allowed keys are listed: {err}"
    );

    let before = backend.sandbox.admin().stats().total;
    let wrong_type = call(
        &client,
        "list_all_zoho_desk_tickets",
        json!({"limit": "many"}),
    )
    .await;
    assert_eq!(wrong_type.is_error, Some(true));
    assert_eq!(
        backend.sandbox.admin().stats().total,
        before,
        "invalid arguments never reach Zoho"
    );

    let missing = call(
        &client,
        "get_single_zoho_desk_ticket_by_id",
        json!({"id": "1892000099999999"}),
    )
    .await;
    assert_eq!(missing.is_error, Some(true));
    assert_eq!(structured(&missing)["status"], json!(404));
    assert_eq!(structured(&missing)["errorCode"], json!("URL_NOT_FOUND"));
}

#[tokio::test]
async fn the_ticket_cursor_visits_every_ticket_exactly_once() {
    let backend = common::sandbox().await;
    let client = in_process(&backend, Scope::default()).await;
    let total = backend.sandbox.admin().state_json()["tickets"]
        .as_array()
        .unwrap()
        .len();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut a = json!({"limit": 37});
        if let Some(c) = &cursor {
            a["next_cursor"] = json!(c);
        }
        let page = call(&client, "list_all_zoho_desk_tickets", a).await;
        assert_eq!(page.is_error, Some(false), "{:?}", page.content);
        let body = structured(&page);
        for t in body["result"].as_array().unwrap() {
            assert!(
                seen.insert(t["id"].as_str().unwrap().to_owned()),
                "ticket listed twice"
            );
        }
        pages += 1;
        match body.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 100, "cursor never ends");
    }
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(37));
}

#[tokio::test]
async fn both_kinds_of_429_come_back_as_tool_errors_with_ratelimit_fields() {
    let backend = common::sandbox().await;
    let client = in_process(&backend, Scope::default()).await;
    let admin = backend.sandbox.admin();

    // Credit budget: 5 credits in a 60 s window; a list costs 3.
    admin.set_limits(5, Duration::from_secs(60), 25);
    let ok = call(&client, "list_all_zoho_desk_departments", json!({})).await;
    assert_eq!(ok.is_error, Some(false));
    let limited = call(&client, "list_all_zoho_desk_departments", json!({})).await;
    assert_eq!(limited.is_error, Some(true));
    let err = structured(&limited);
    assert_eq!(err["status"], json!(429));
    assert_eq!(err["errorCode"], json!("THRESHOLD_EXCEEDED"));
    let retry_after = err["ratelimit"]["retry_after"]
        .as_u64()
        .expect("retry_after");
    assert!((1..=60).contains(&retry_after), "{err}");
    assert!(err["ratelimit"]["reset"].as_u64().is_some(), "{err}");

    // Concurrency cap: one call at a time, each held 300 ms.
    admin.set_limits(100_000, Duration::from_secs(3600), 1);
    admin.set_latency(Duration::from_millis(300));
    let calls = (0..4).map(|_| call(&client, "list_all_zoho_desk_agents", json!({})));
    let results = futures::future::join_all(calls).await;
    let limited: Vec<&CallToolResult> = results
        .iter()
        .filter(|r| r.is_error == Some(true))
        .collect();
    assert!(
        !limited.is_empty(),
        "four parallel calls against a cap of one"
    );
    assert!(results.iter().any(|r| r.is_error == Some(false)));
    for r in limited {
        assert_eq!(structured(r)["errorCode"], json!("TOO_MANY_REQUESTS"));
        assert_eq!(structured(r)["status"], json!(429));
    }
    assert!(admin.stats().rate_limited_concurrency >= 1);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_call_succeeds() {
    let backend = common::sandbox().await;
    let client = in_process(&backend, Scope::default()).await;
    let first = call(&client, "list_all_zoho_desk_departments", json!({})).await;
    assert_eq!(first.is_error, Some(false));
    backend.sandbox.admin().expire_tokens();
    let second = call(&client, "list_all_zoho_desk_departments", json!({})).await;
    assert_eq!(second.is_error, Some(false), "{:?}", second.content);
    let stats = backend.sandbox.admin().stats();
    assert_eq!(
        stats.by_status.get(&401).copied().unwrap_or(0),
        1,
        "{stats:?}"
    );
}

#[tokio::test]
async fn method_and_tag_filters_hold_on_call_not_only_on_list() {
    let backend = common::sandbox().await;
    let scope = Scope {
        filter: ToolFilter::parse(&["read".into()], &["tickets".into()]).unwrap(),
        exposure: ToolExposure::All,
    };
    let client = in_process(&backend, scope).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    assert!(
        tools.iter().all(|t| !t.name.contains("agent")),
        "tag filter keeps tickets only"
    );
    let refused = client
        .call_tool(
            CallToolRequestParams::new("update_a_zoho_desk_ticket_by_id")
                .with_arguments(args(json!({"id": "1", "priority": "High"}))),
        )
        .await;
    let err = refused.expect_err("a filtered-out tool is not callable");
    assert!(err.to_string().contains("unknown tool"), "{err}");
    let refused = client
        .call_tool(
            CallToolRequestParams::new("list_all_zoho_desk_agents").with_arguments(Map::new()),
        )
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn discovery_mode_lists_three_meta_tools_that_reach_the_catalog() {
    let backend = common::sandbox().await;
    let scope = Scope {
        filter: ToolFilter::all(),
        exposure: ToolExposure::Discovery,
    };
    let client = in_process(&backend, scope).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["search_tools", "get_tool_schema", "call_tool"]);

    let found = call(&client, "search_tools", json!({"query": "update ticket"})).await;
    let found = structured(&found)["tools"].as_array().unwrap().clone();
    assert!(
        found
            .iter()
            .any(|t| t["name"] == "update_a_zoho_desk_ticket_by_id"),
        "{found:?}"
    );

    let schema = call(
        &client,
        "get_tool_schema",
        json!({"tool_names": ["list_all_zoho_desk_teams"]}),
    )
    .await;
    assert_eq!(
        structured(&schema)["tools"][0]["name"],
        json!("list_all_zoho_desk_teams")
    );

    let teams = call(
        &client,
        "call_tool",
        json!({"tool_name": "list_all_zoho_desk_teams", "arguments": {}}),
    )
    .await;
    assert_eq!(teams.is_error, Some(false));
    assert!(!structured(&teams)["result"].as_array().unwrap().is_empty());

    let direct = client
        .call_tool(
            CallToolRequestParams::new("list_all_zoho_desk_teams").with_arguments(Map::new()),
        )
        .await;
    assert!(
        direct.is_err(),
        "real tools are not directly callable in discovery mode"
    );
}

struct HttpFixture {
    backend: deskhand::embedded::SandboxBackend,
    registry: Registry,
    gateways: Arc<GatewayPool>,
    base: String,
    _hosted: deskhand::embedded::HostedMcp,
}

async fn http_fixture(config: SandboxConfig) -> HttpFixture {
    let backend = common::sandbox_with(config).await;
    let db_path = common::temp_path("registry", "db");
    let db = database::connect(db_path.to_str().unwrap()).await.unwrap();
    let hosted = deskhand::embedded::HostedMcp::start(backend.gateway.clone(), db)
        .await
        .unwrap();
    HttpFixture {
        backend,
        registry: hosted.registry.clone(),
        gateways: hosted.gateways.clone(),
        base: hosted.base_url.clone(),
        _hosted: hosted,
    }
}

impl HttpFixture {
    async fn create(&self, request: CreateServer) -> hosted::HostedServer {
        hosted::create(&self.registry, &self.gateways, request, &self.base)
            .await
            .unwrap()
    }
}

fn server_request(name: &str) -> CreateServer {
    CreateServer {
        name: name.into(),
        connection: "default".into(),
        methods: vec![],
        tags: vec![],
        exposure: ToolExposure::All,
        require_api_token_auth: false,
        expires_at: None,
    }
}

async fn raw_post(url: &str, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"}}})
}

#[tokio::test]
async fn streamable_http_serves_a_scoped_server_per_token() {
    let fx = http_fixture(SandboxConfig::default()).await;
    let mut request = server_request("readers");
    request.methods = vec!["read".into()];
    let hosted = fx.create(request).await;
    assert!(hosted.url.starts_with(&format!("{}/mcp/dhm_", fx.base)));

    let client =
        ().serve(StreamableHttpClientTransport::from_uri(hosted.url.clone()))
            .await
            .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    let teams = call(&client, "list_all_zoho_desk_teams", json!({})).await;
    assert_eq!(teams.is_error, Some(false));
    let refused = client
        .call_tool(
            CallToolRequestParams::new("create_a_zoho_desk_ticket_comment")
                .with_arguments(args(json!({"ticketId": "1", "content": "x"}))),
        )
        .await;
    assert!(refused.is_err(), "write tool refused on a read-only URL");

    // An unknown token is a 404 with a JSON reason, never an MCP session.
    let unknown = raw_post(
        &format!("{}/mcp/dhm_nope", fx.base),
        initialize_body(),
        None,
    )
    .await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], json!("unknown_mcp_server"));

    // Revocation takes effect at once.
    assert!(
        fx.registry
            .revoke_server(&hosted.created.record.id)
            .await
            .unwrap()
    );
    let after = raw_post(&hosted.url, initialize_body(), None).await;
    assert_eq!(after.status(), 404);
}

#[tokio::test]
async fn an_upstream_429_carries_ratelimit_headers_over_http() {
    let fx = http_fixture(SandboxConfig::default()).await;
    let hosted = fx.create(server_request("limited")).await;
    fx.backend
        .sandbox
        .admin()
        .set_limits(3, Duration::from_secs(30), 25);
    let call_body = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "list_all_zoho_desk_departments", "arguments": {}}})
    };
    let init = raw_post(&hosted.url, initialize_body(), None).await;
    assert_eq!(init.status(), 200);
    let first = raw_post(&hosted.url, call_body(2), None).await;
    assert_eq!(first.status(), 200);
    // A success carries the budget left, but never `retry-after`: nothing to back off from.
    assert_eq!(first.headers()["ratelimit-remaining"], "0");
    assert!(
        first.headers().get("retry-after").is_none(),
        "no limit met yet"
    );
    let second = raw_post(&hosted.url, call_body(3), None).await;
    assert_eq!(
        second.status(),
        200,
        "the JSON-RPC exchange itself succeeded"
    );
    let retry_after: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after));
    assert_eq!(second.headers()["ratelimit-remaining"], "0");
    assert!(second.headers().contains_key("ratelimit-reset"));
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["result"]["isError"], json!(true));
    assert_eq!(
        body["result"]["structuredContent"]["errorCode"],
        json!("THRESHOLD_EXCEEDED")
    );
}

#[tokio::test]
async fn expired_servers_are_refused_and_purged_and_api_token_auth_is_enforced() {
    let fx = http_fixture(SandboxConfig::default()).await;
    let mut request = server_request("short-lived");
    request.expires_at = Some(database::now_ms() + 60_500);
    let hosted = fx.create(request).await;
    let live = raw_post(&hosted.url, initialize_body(), None).await;
    assert_eq!(live.status(), 200);
    // Move the expiry into the past directly in the store, as if the minute had passed.
    sqlx::query("UPDATE mcp_servers SET expires_at = $1 WHERE id = $2")
        .bind(database::now_ms() - 1)
        .bind(hosted.created.record.id.clone())
        .execute(&fx.registry.database().pool)
        .await
        .unwrap();
    let expired = raw_post(&hosted.url, initialize_body(), None).await;
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"], json!("mcp_server_expired"));
    assert!(
        fx.registry.list_servers().await.unwrap().is_empty(),
        "purged"
    );

    let mut request = server_request("guarded");
    request.require_api_token_auth = true;
    let guarded = fx.create(request).await;
    let without = raw_post(&guarded.url, initialize_body(), None).await;
    assert_eq!(without.status(), 401);
    let (_, api_token) = fx.registry.create_api_token("ci", None).await.unwrap();
    let with = raw_post(&guarded.url, initialize_body(), Some(&api_token)).await;
    assert_eq!(with.status(), 200);
    let wrong = raw_post(&guarded.url, initialize_body(), Some("dha_wrong")).await;
    assert_eq!(wrong.status(), 401);

    // Foreign Host headers are refused (DNS rebinding protection).
    let rebound = reqwest::Client::new()
        .post(&guarded.url)
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(&api_token)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
}

#[tokio::test]
async fn creating_a_server_whose_filters_match_nothing_is_refused() {
    let fx = http_fixture(SandboxConfig::default()).await;
    let mut request = server_request("nothing");
    request.methods = vec!["write".into()];
    request.tags = vec!["knowledge_base".into()];
    let err = hosted::create(&fx.registry, &fx.gateways, request, &fx.base)
        .await
        .expect_err("write AND knowledge_base match no tool");
    assert!(err.to_string().contains("match"), "{err}");
    let mut request = server_request("typo");
    request.methods = vec!["reed".into()];
    assert!(
        hosted::create(&fx.registry, &fx.gateways, request, &fx.base)
            .await
            .is_err()
    );
    let mut request = server_request("past");
    request.expires_at = Some(database::now_ms() - 1000);
    assert!(
        hosted::create(&fx.registry, &fx.gateways, request, &fx.base)
            .await
            .is_err()
    );
    assert!(fx.registry.list_servers().await.unwrap().is_empty());
}

#[tokio::test]
async fn stdio_child_process_serves_the_scoped_catalog() {
    zoho_desk_mcp::install_crypto_provider();
    let exe = env!("CARGO_BIN_EXE_deskhand");
    let transport = TokioChildProcess::new(tokio::process::Command::new(exe).configure(|cmd| {
        cmd.args(["mcp", "serve", "--stdio", "--sandbox", "--methods", "read"]);
        cmd.env("RUST_LOG", "warn");
    }))
    .unwrap();
    let client = ().serve(transport).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 15, "{}", tools.len());
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    let page = call(&client, "list_all_zoho_desk_tickets", json!({"limit": 5})).await;
    assert_eq!(page.is_error, Some(false), "{:?}", page.content);
    assert_eq!(structured(&page)["result"].as_array().unwrap().len(), 5);
    assert!(structured(&page)["next_cursor"].is_string());
    client.cancel().await.unwrap();
}

/// The newest revision rmcp speaks (2026-07-28: stateless, `server/discover` instead of
/// `initialize`) works in-process and over HTTP, besides the default 2025-11-25 handshake.
#[tokio::test]
async fn the_newest_protocol_revision_works_in_process_and_over_http() {
    use rmcp::model::ProtocolVersion;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

    let lifecycle = || ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::LATEST],
    };
    let fx = http_fixture(SandboxConfig::default()).await;

    let (server_io, client_io) = tokio::io::duplex(256 * 1024);
    let server = ZohoDeskMcpServer::new(fx.backend.gateway.clone(), Scope::default());
    tokio::spawn(async move {
        let running = server.serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let local = ().serve_with_lifecycle(client_io, lifecycle()).await.unwrap();

    let hosted = fx.create(server_request("newest")).await;
    let remote = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(hosted.url.clone()),
            lifecycle(),
        )
        .await
        .unwrap();

    for client in [&local, &remote] {
        let version = client.peer_info().map(|info| info.protocol_version.clone());
        assert_eq!(version, Some(ProtocolVersion::LATEST));
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.len() >= 24);
        let teams = call(client, "list_all_zoho_desk_teams", json!({})).await;
        assert_eq!(teams.is_error, Some(false));
    }
}

#[tokio::test]
async fn the_admin_api_creates_lists_and_revokes_servers_behind_an_api_token() {
    let fx = http_fixture(SandboxConfig::default()).await;
    let http = reqwest::Client::new();
    let servers = format!("{}/admin/servers", fx.base);

    let anonymous = http.get(&servers).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let (_, api_token) = fx.registry.create_api_token("admin", None).await.unwrap();
    let created = http
        .post(&servers)
        .bearer_auth(&api_token)
        .json(&json!({"name": "kb-only", "methods": ["read"], "tags": ["knowledge_base"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let url = created["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/mcp/dhm_", fx.base)));

    let client = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        names.contains(&"zoho_desk_kb_articles_search".to_owned()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| !n.contains("agent")), "{names:?}");

    let listed: Value = http
        .get(&servers)
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = listed["result"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert!(
        records[0].get("token").is_none(),
        "tokens are shown only at creation"
    );

    let invalid = http
        .post(&servers)
        .bearer_auth(&api_token)
        .json(&json!({"name": "bad", "methods": ["write"], "tags": ["knowledge_base"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let unknown_field = http
        .post(&servers)
        .bearer_auth(&api_token)
        .json(&json!({"name": "bad", "method": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), 400);

    let id = created["id"].as_str().unwrap();
    let revoked = http
        .delete(format!("{servers}/{id}"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(raw_post(&url, initialize_body(), None).await.status(), 404);
}
