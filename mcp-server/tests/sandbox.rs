#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gateway against the offline Zoho Desk sandbox (written independently from the reference):
//! every tool's happy path, validation, pagination to the end, token expiry, both 429 kinds.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use zoho_desk_mcp::{Catalog, Gateway, Secret, ToolError, ZohoClient, ZohoConfig};
use zoho_desk_sandbox::{Sandbox, SandboxConfig};

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

async fn start(config: SandboxConfig) -> (Sandbox, Gateway) {
    zoho_desk_mcp::install_crypto_provider();
    let sb = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let creds = sb.credentials().clone();
    let cfg = ZohoConfig {
        desk_base_url: sb.base_url().parse().unwrap(),
        accounts_url: sb.accounts_url().parse().unwrap(),
        org_id: creds.org_id,
        client_id: creds.client_id,
        client_secret: Secret::new(creds.client_secret),
        refresh_token: Secret::new(creds.refresh_token),
        timeout: Duration::from_secs(20),
    };
    let gw = Gateway::new(
        Arc::new(Catalog::zoho_desk().unwrap()),
        ZohoClient::new(cfg).unwrap(),
    );
    (sb, gw)
}

fn first_id(out: &Value) -> String {
    zoho_desk_mcp::lenient::as_string(&out["result"][0]["id"]).unwrap()
}

/// A word of at least 4 letters from a text, for searches that need 3+ characters.
fn word(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 4)
        .unwrap()
        .to_string()
}

/// The same scenario runs against the gateway directly and through a real MCP client session
/// (in-process transport), so every tool's happy path is proven at the protocol level too.
enum Caller {
    Gateway(Arc<Gateway>),
    Mcp(rmcp::service::RunningService<rmcp::RoleClient, ()>),
}

impl Caller {
    async fn call(&self, tool: &str, a: Value) -> Value {
        match self {
            Caller::Gateway(gw) => gw
                .call(tool, args(a.clone()))
                .await
                .unwrap_or_else(|e| panic!("{tool} {a}: {e} {}", e.to_structured())),
            Caller::Mcp(client) => {
                let result = client
                    .call_tool(
                        rmcp::model::CallToolRequestParams::new(tool.to_owned())
                            .with_arguments(args(a.clone())),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{tool} {a}: {e}"));
                assert_eq!(
                    result.is_error,
                    Some(false),
                    "{tool} {a}: {:?}",
                    result.content
                );
                result.structured_content.expect("structured content")
            }
        }
    }
}

#[tokio::test]
async fn every_tool_has_a_working_happy_path() {
    let (_sb, gw) = start(SandboxConfig::default()).await;
    every_tool_scenario(Caller::Gateway(Arc::new(gw))).await;
}

#[tokio::test]
async fn every_tool_has_a_working_happy_path_over_mcp() {
    use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, transport};
    let (_sb, gw) = start(SandboxConfig::default()).await;
    let server = ZohoDeskMcpServer::new(Arc::new(gw), Scope::default());
    let client = transport::connect_in_process(server).await.unwrap();
    every_tool_scenario(Caller::Mcp(client)).await;
}

async fn every_tool_scenario(caller: Caller) {
    let mut called = BTreeSet::new();
    let mut call = async |tool: &str, a: Value| -> Value {
        let out = caller.call(tool, a).await;
        called.insert(tool.to_string());
        out
    };

    let tickets = call("list_all_zoho_desk_tickets", json!({"limit": 5})).await;
    let ticket_id = first_id(&tickets);
    let ticket = call(
        "get_single_zoho_desk_ticket_by_id",
        json!({"id": ticket_id}),
    )
    .await;
    assert_eq!(
        zoho_desk_mcp::lenient::as_string(&ticket["id"]),
        Some(ticket_id.clone())
    );
    let subject = ticket["subject"].as_str().unwrap().to_string();

    let threads = call(
        "list_all_zoho_desk_ticket_threads",
        json!({"ticketId": ticket_id}),
    )
    .await;
    let thread_id = first_id(&threads);
    let thread = call(
        "get_single_zoho_desk_ticket_thread_by_id",
        json!({"ticketId": ticket_id, "id": thread_id}),
    )
    .await;
    assert!(thread.get("content").is_some(), "{thread}");
    call(
        "list_all_zoho_desk_ticket_comments",
        json!({"ticketId": ticket_id}),
    )
    .await;
    let comment = call(
        "create_a_zoho_desk_ticket_comment",
        json!({"ticketId": ticket_id, "content": "Checked the logs.", "isPublic": false}),
    )
    .await;
    assert_eq!(comment["content"], "Checked the logs.");

    let context = call(
        "zoho_desk_tickets_get_full_context",
        json!({"ticketId": ticket_id, "includeFromAddresses": true}),
    )
    .await;
    assert_eq!(context["ticket"]["id"], ticket["id"]);
    let threads_all = context["threads"].as_array().unwrap();
    assert!(!threads_all.is_empty());
    assert!(
        threads_all.iter().all(|t| t.get("content").is_some()),
        "{context}"
    );
    assert!(
        context["comments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["content"] == "Checked the logs.")
    );
    // The department's reply addresses come with the context, and from their own tool.
    let from = context["fromAddresses"]["addresses"][0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}"))
        .to_string();
    let listed = call(
        "list_all_zoho_desk_mail_reply_addresses",
        json!({"departmentId": ticket["departmentId"]}),
    )
    .await;
    assert!(
        listed["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["address"] == from.as_str()),
        "{listed}"
    );

    let found = call("zoho_desk_tickets_search", json!({"_all": word(&subject)})).await;
    assert!(found["count"].as_u64().unwrap() >= 1, "{found}");
    let counted = call("zoho_desk_tickets_count", json!({})).await;
    assert!(zoho_desk_mcp::lenient::as_u64(&counted["count"]).unwrap() >= 1);
    call(
        "zoho_desk_tickets_suggest_relevant_articles_for_ticket",
        json!({"ticketId": ticket_id, "departmentId": "0"}),
    )
    .await;

    let departments = call("list_all_zoho_desk_departments", json!({})).await;
    let department_id = first_id(&departments);
    call(
        "get_single_zoho_desk_department_by_id",
        json!({"id": department_id}),
    )
    .await;
    let agents = call("list_all_zoho_desk_agents", json!({"status": "ACTIVE"})).await;
    call(
        "get_single_zoho_desk_agent_by_id",
        json!({"id": first_id(&agents)}),
    )
    .await;
    call("list_all_zoho_desk_teams", json!({})).await;
    let contacts = call("list_all_zoho_desk_contacts", json!({})).await;
    let contact_id = first_id(&contacts);
    let contact = call(
        "get_single_zoho_desk_contact_by_id",
        json!({"id": contact_id}),
    )
    .await;
    let last_name = contact["lastName"].as_str().unwrap_or("smith").to_string();
    call(
        "zoho_desk_contacts_search",
        json!({"_all": format!("{last_name:0<3}")}),
    )
    .await;

    let articles = call("list_all_zoho_desk_kb_articles", json!({})).await;
    let article = call(
        "get_single_zoho_desk_kb_article_by_id",
        json!({"id": first_id(&articles)}),
    )
    .await;
    let title = article["title"].as_str().unwrap().to_string();
    let kb = call(
        "zoho_desk_kb_articles_search",
        json!({"_all": word(&title)}),
    )
    .await;
    assert!(kb["count"].as_u64().unwrap() >= 1, "{kb}");

    let created = call(
        "create_a_zoho_desk_ticket",
        json!({"subject": "Scanner jams on page two", "departmentId": department_id,
               "contactId": contact_id, "description": "It jams.", "priority": "High",
               "channel": "Phone"}),
    )
    .await;
    let new_id = zoho_desk_mcp::lenient::as_string(&created["id"]).unwrap();
    let updated = call(
        "update_a_zoho_desk_ticket_by_id",
        json!({"id": new_id, "status": "On Hold"}),
    )
    .await;
    assert_eq!(updated["status"], "On Hold");
    let other_department = departments["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| zoho_desk_mcp::lenient::as_string(&d["id"]))
        .find(|id| *id != department_id)
        .expect("the sandbox seeds more than one department");
    let moved = call(
        "zoho_desk_tickets_move",
        json!({"ticketId": new_id, "departmentId": other_department}),
    )
    .await;
    assert_eq!(
        moved,
        json!({"moved": true, "ticketId": new_id, "departmentId": other_department})
    );
    let after = call("get_single_zoho_desk_ticket_by_id", json!({"id": new_id})).await;
    assert_eq!(
        zoho_desk_mcp::lenient::as_string(&after["departmentId"]),
        Some(other_department.clone())
    );

    let draft = call(
        "zoho_desk_tickets_draft_reply",
        json!({"ticketId": ticket_id, "channel": "EMAIL", "content": "Draft: try a restart.",
               "fromEmailAddress": from}),
    )
    .await;
    assert_eq!(draft["status"], "DRAFT");
    // A phone ticket has no reply channel of its own: it is answered by e-mail, from an address
    // of its (new) department.
    let context = call(
        "zoho_desk_tickets_get_full_context",
        json!({"ticketId": new_id, "includeFromAddresses": true}),
    )
    .await;
    let new_from = context["fromAddresses"]["addresses"][0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}"))
        .to_string();
    let sent = call(
        "zoho_desk_tickets_send_reply",
        json!({"ticketId": new_id, "channel": "EMAIL", "fromEmailAddress": new_from,
               "content": "Please restart the printer.", "contentType": "plainText"}),
    )
    .await;
    assert_eq!(sent["direction"], "out");

    let all: BTreeSet<String> = Catalog::zoho_desk()
        .unwrap()
        .tools()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(called, all, "every tool exercised");
}

#[tokio::test]
async fn ticket_pagination_visits_every_ticket_exactly_once() {
    let (sb, gw) = start(SandboxConfig::default()).await;
    let total = sb.admin().state_json()["tickets"].as_array().unwrap().len();
    assert!(
        total > 10,
        "the generated org should have a few pages of tickets"
    );
    for limit in [7, 99] {
        let mut seen = Vec::new();
        let mut call = args(json!({"limit": limit}));
        loop {
            let out = gw.call("list_all_zoho_desk_tickets", call).await.unwrap();
            for t in out["result"].as_array().unwrap() {
                seen.push(zoho_desk_mcp::lenient::as_string(&t["id"]).unwrap());
            }
            match out.get("next_cursor") {
                Some(c) => call = args(json!({"limit": limit, "next_cursor": c})),
                None => break,
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no ticket twice (limit {limit})");
        assert_eq!(seen.len(), total, "every ticket (limit {limit})");
    }
}

#[tokio::test]
async fn invalid_arguments_never_reach_the_sandbox() {
    let (sb, gw) = start(SandboxConfig::default()).await;
    for (tool, a) in [
        ("list_all_zoho_desk_tickets", json!({"sortOrder": "asc"})),
        ("list_all_zoho_desk_tickets", json!({"limit": 0})),
        ("zoho_desk_kb_articles_search", json!({"_all": "ab"})),
        ("create_a_zoho_desk_ticket", json!({"subject": "x"})),
        (
            "create_a_zoho_desk_ticket",
            json!({"subject": "x", "departmentId": "1", "contact": {"lastName": "X", "email": "x@example.com", "phone": "1"}}),
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"ticketId": "1", "channel": "PHONE", "content": "x"}),
        ),
        (
            "zoho_desk_tickets_draft_reply",
            json!({"ticketId": "1", "channel": "EMAIL", "content": "x"}),
        ),
        ("zoho_desk_tickets_count", json!({"status": "Open"})),
        ("zoho_desk_tickets_move", json!({"ticketId": "1"})),
    ] {
        let err = gw.call(tool, args(a)).await.unwrap_err();
        assert_eq!(
            err.to_structured()["errorCode"],
            "INVALID_ARGUMENTS",
            "{tool}"
        );
    }
    assert_eq!(sb.admin().stats().total, 0);
}

#[tokio::test]
async fn expired_tokens_are_refreshed_once() {
    let (sb, gw) = start(SandboxConfig::default()).await;
    gw.call("list_all_zoho_desk_departments", Map::new())
        .await
        .unwrap();
    sb.admin().expire_tokens();
    gw.call("list_all_zoho_desk_departments", Map::new())
        .await
        .unwrap();
    let stats = sb.admin().stats();
    assert_eq!(
        stats.by_status.get(&401).copied().unwrap_or(0),
        1,
        "{stats:?}"
    );
    let grants: u64 = stats
        .by_path
        .iter()
        .filter(|(k, _)| k.contains("oauth"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(grants, 2, "one grant at start, one after expiry: {stats:?}");
    assert_eq!(
        stats.by_path.get("GET /api/v1/departments"),
        Some(&3),
        "one repeat"
    );
}

#[tokio::test]
async fn credit_exhaustion_is_a_structured_429_with_retry_information() {
    let (sb, gw) = start(SandboxConfig::default()).await;
    sb.admin().set_limits(2, Duration::from_secs(3600), 25);
    let mut last = None;
    for _ in 0..3 {
        if let Err(e) = gw
            .call(
                "get_single_zoho_desk_department_by_id",
                args(json!({"id": "1"})),
            )
            .await
        {
            last = Some(e);
        }
    }
    let err = last.unwrap();
    let s = err.to_structured();
    assert_eq!(s["status"], 429, "{s}");
    assert_eq!(s["errorCode"], "THRESHOLD_EXCEEDED");
    assert!(s["ratelimit"]["retry_after"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["ratelimit"]["reset"], s["ratelimit"]["retry_after"]);
    assert_eq!(s["ratelimit"]["remaining"], 0, "{s}");
}

#[tokio::test]
async fn concurrency_cap_is_a_structured_429() {
    let (sb, gw) = start(SandboxConfig::default()).await;
    // One call at a time, each held for a while: a burst must hit the cap.
    sb.admin().set_limits(100_000, Duration::from_secs(3600), 1);
    gw.call("list_all_zoho_desk_teams", Map::new())
        .await
        .unwrap();
    sb.admin().set_latency(Duration::from_millis(300));
    let calls = (0..4).map(|_| gw.call("list_all_zoho_desk_teams", Map::new()));
    let results = futures::future::join_all(calls).await;
    let limited: Vec<Value> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(ToolError::to_structured)
        .collect();
    assert!(!limited.is_empty(), "a burst over the cap is refused");
    for s in &limited {
        assert_eq!(s["status"], 429, "{s}");
        assert_eq!(s["errorCode"], "TOO_MANY_REQUESTS", "{s}");
    }
    assert!(
        results.iter().any(Result::is_ok),
        "the call holding the slot succeeds"
    );
}

#[tokio::test]
async fn zohos_token_limit_is_a_sentence_with_the_limit_and_when_to_retry() {
    let (_sb, gw) = start(SandboxConfig {
        max_tokens_per_window: 0,
        ..SandboxConfig::default()
    })
    .await;
    let err = gw
        .client()
        .request(http::Method::GET, "/departments", &[], None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("at most 10 access tokens per refresh token in any 10 minutes"),
        "{text}"
    );
    assert!(text.contains("retry after"), "{text}");
}
