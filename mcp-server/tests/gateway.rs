#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Gateway tool calls against the mock: routing, validation before upstream, cursors, envelopes,
//! the composite, and structured errors.

mod common;

use std::sync::Arc;

use common::{Mock, MockList};
use serde_json::{Map, Value, json};
use zoho_desk_mcp::{Catalog, Gateway, ToolError};

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn items(prefix: &str, n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"id": format!("{prefix}{i}"), "subject": format!("{prefix} {i}")}))
        .collect()
}

fn data_list(items: Vec<Value>, base: u64, max_limit: u64) -> MockList {
    MockList {
        items,
        base,
        max_limit,
        envelope: "data",
        with_count: false,
        one_based_clamp: false,
    }
}

/// Follows next_cursor to the end; returns the ids seen and the number of pages.
async fn walk(gw: &Gateway, tool: &str, first: Value) -> (Vec<String>, usize) {
    let limit = first.get("limit").cloned();
    let mut call = args(first);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let out = gw.call(tool, call.clone()).await.unwrap();
        pages += 1;
        for item in out["result"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match out.get("next_cursor") {
            Some(c) => {
                call = args(json!({ "next_cursor": c }));
                if let Some(l) = &limit {
                    call.insert("limit".into(), l.clone());
                }
            }
            None => return (seen, pages),
        }
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

async fn setup() -> (Mock, Gateway) {
    let mock = Mock::start().await;
    let gw = Gateway::new(Arc::new(Catalog::zoho_desk().unwrap()), mock.client());
    (mock, gw)
}

fn query_of(req: &common::Recorded) -> Vec<(String, String)> {
    req.query.clone()
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn cursor_chain_visits_every_ticket_exactly_once() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/tickets", data_list(items("t", 7), 0, 100));
    let (seen, pages) = walk(&gw, "list_all_zoho_desk_tickets", json!({"limit": 3})).await;
    assert_eq!(pages, 3);
    assert_eq!(seen, ids("t", 7));
    let reqs = mock.state.api_requests();
    assert_eq!(reqs.len(), 3, "limit+1 needs no peeks");
    assert_eq!(query_of(&reqs[0]), q(&[("from", "0"), ("limit", "4")]));
    // Past the start, one more item is asked for to recognise a 1-based reading of `from`.
    assert_eq!(query_of(&reqs[1]), q(&[("from", "3"), ("limit", "5")]));
    assert_eq!(query_of(&reqs[2]), q(&[("from", "6"), ("limit", "5")]));
}

#[tokio::test]
async fn cursor_chain_is_exact_under_a_one_based_reading_of_from() {
    let (mock, gw) = setup().await;
    let mut list = data_list(items("t", 7), 0, 100);
    list.one_based_clamp = true;
    mock.state.set_list("/tickets", list);
    let (seen, pages) = walk(&gw, "list_all_zoho_desk_tickets", json!({"limit": 3})).await;
    assert_eq!(pages, 3);
    assert_eq!(seen, ids("t", 7));
    let mut list = data_list(items("t", 6), 0, 100);
    list.one_based_clamp = true;
    mock.state.set_list("/tickets", list);
    let (seen, pages) = walk(&gw, "list_all_zoho_desk_tickets", json!({"limit": 3})).await;
    assert_eq!((seen, pages), (ids("t", 6), 2));
}

#[tokio::test]
async fn last_full_page_has_no_cursor_and_empty_lists_are_204() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/tickets", data_list(items("t", 6), 0, 100));
    let first = gw
        .call("list_all_zoho_desk_tickets", args(json!({"limit": 3})))
        .await
        .unwrap();
    let second = gw
        .call(
            "list_all_zoho_desk_tickets",
            args(json!({"next_cursor": first["next_cursor"]})),
        )
        .await
        .unwrap();
    assert_eq!(second["result"].as_array().unwrap().len(), 3);
    assert!(second.get("next_cursor").is_none(), "{second}");

    mock.state.set_list("/contacts", data_list(vec![], 0, 100));
    let empty = gw
        .call("list_all_zoho_desk_contacts", Map::new())
        .await
        .unwrap();
    assert_eq!(empty, json!({"result": []}));
}

#[tokio::test]
async fn page_at_the_endpoint_maximum_peeks_for_more() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/agents", data_list(items("a", 399), 0, 200));
    let err = gw
        .call("list_all_zoho_desk_agents", args(json!({"limit": 200})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("between 1 and 199"), "{err}");
    let (seen, pages) = walk(&gw, "list_all_zoho_desk_agents", json!({"limit": 199})).await;
    assert_eq!((seen, pages), (ids("a", 399), 3));
    let reqs = mock.state.api_requests();
    assert_eq!(query_of(&reqs[0]), q(&[("from", "0"), ("limit", "200")]));
    assert_eq!(query_of(&reqs[1]), q(&[("from", "199"), ("limit", "200")]));
    assert_eq!(
        query_of(&reqs[2]),
        q(&[("from", "398"), ("limit", "2")]),
        "peek"
    );
    assert_eq!(query_of(&reqs[3]), q(&[("from", "398"), ("limit", "200")]));
    assert_eq!(reqs.len(), 4);
}

#[tokio::test]
async fn kb_offsets_are_one_based_behind_the_cursor() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/articles", data_list(items("k", 5), 1, 50));
    let first = gw
        .call("list_all_zoho_desk_kb_articles", args(json!({"limit": 2})))
        .await
        .unwrap();
    assert_eq!(first["result"][0]["id"], "k1");
    let second = gw
        .call(
            "list_all_zoho_desk_kb_articles",
            args(json!({"limit": 2, "next_cursor": first["next_cursor"]})),
        )
        .await
        .unwrap();
    assert_eq!(second["result"][0]["id"], "k3");
    let reqs = mock.state.api_requests();
    assert_eq!(query_of(&reqs[0]), q(&[("from", "1"), ("limit", "3")]));
    assert_eq!(query_of(&reqs[1]), q(&[("from", "3"), ("limit", "3")]));
}

#[tokio::test]
async fn teams_are_unwrapped_and_searches_report_counts() {
    let (mock, gw) = setup().await;
    mock.state.set_list(
        "/teams",
        MockList {
            items: items("team", 2),
            base: 0,
            max_limit: 200,
            envelope: "teams",
            with_count: false,
            one_based_clamp: false,
        },
    );
    let teams = gw
        .call("list_all_zoho_desk_teams", Map::new())
        .await
        .unwrap();
    assert_eq!(teams["result"].as_array().unwrap().len(), 2);

    mock.state.set_list(
        "/tickets/search",
        MockList {
            items: items("s", 4),
            base: 0,
            max_limit: 100,
            envelope: "data",
            with_count: true,
            one_based_clamp: false,
        },
    );
    let found = gw
        .call(
            "zoho_desk_tickets_search",
            args(json!({"_all": "printer", "limit": 2})),
        )
        .await
        .unwrap();
    assert_eq!(found["count"], 4);
    assert_eq!(found["result"].as_array().unwrap().len(), 2);
    assert!(found["next_cursor"].is_string());
    let req = mock.state.api_requests().pop().unwrap();
    assert_eq!(req.path, "/api/v1/tickets/search");
    assert_eq!(
        query_of(&req),
        q(&[("_all", "printer"), ("from", "0"), ("limit", "3")])
    );
}

#[tokio::test]
async fn cursors_carry_their_query_and_belong_to_their_tool() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/tickets", data_list(items("t", 5), 0, 100));
    mock.state
        .set_list("/agents", data_list(items("a", 5), 0, 200));
    let first = gw
        .call(
            "list_all_zoho_desk_tickets",
            args(json!({"status": "Open", "limit": 2})),
        )
        .await
        .unwrap();
    let cursor = first["next_cursor"].clone();
    gw.call(
        "list_all_zoho_desk_tickets",
        args(json!({"next_cursor": cursor})),
    )
    .await
    .unwrap();
    let req = mock.state.api_requests().pop().unwrap();
    assert!(query_of(&req).contains(&("status".to_string(), "Open".to_string())));
    // The cursor's limit is not carried: the default applies when it is omitted.
    assert!(query_of(&req).contains(&("limit".to_string(), "27".to_string())));

    let before = mock.state.api_request_count();
    let err = gw
        .call(
            "list_all_zoho_desk_tickets",
            args(json!({"next_cursor": cursor, "status": "Closed"})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`status`"), "{err}");
    let err = gw
        .call(
            "list_all_zoho_desk_agents",
            args(json!({"next_cursor": cursor})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another tool"), "{err}");
    let err = gw
        .call(
            "list_all_zoho_desk_agents",
            args(json!({"next_cursor": "garbage!"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_structured()["errorCode"], "INVALID_ARGUMENTS");
    assert_eq!(mock.state.api_request_count(), before);
}

#[tokio::test]
async fn arguments_are_validated_before_any_upstream_call() {
    let (mock, gw) = setup().await;
    let cases = [
        (
            "list_all_zoho_desk_tickets",
            json!({"sortOrder": "asc"}),
            "`sortOrder`",
        ),
        (
            "list_all_zoho_desk_tickets",
            json!({"limit": 500}),
            "between 1 and 99",
        ),
        (
            "list_all_zoho_desk_tickets",
            json!({"sortBy": "modifiedTime"}),
            "createdTime",
        ),
        ("get_single_zoho_desk_ticket_by_id", json!({}), "`id`"),
        (
            "create_a_zoho_desk_ticket_comment",
            json!({"ticketId": "1"}),
            "`content`",
        ),
        (
            "create_a_zoho_desk_ticket_comment",
            json!({"ticketId": "1", "content": 5.5, "isPublic": "yes"}),
            "isPublic",
        ),
        (
            "zoho_desk_tickets_search",
            json!({"_all": "ab"}),
            "at least 3",
        ),
        (
            "get_single_zoho_desk_ticket_by_id",
            json!({"id": "../agents"}),
            "expected an id",
        ),
    ];
    for (tool, a, needle) in cases {
        let err = gw.call(tool, args(a.clone())).await.unwrap_err();
        let ToolError::InvalidArguments { message, .. } = &err else {
            panic!("{tool} {a}: {err:?}")
        };
        assert!(message.contains(needle), "{tool} {a}: {message}");
        assert_eq!(err.to_structured()["status"], 400);
    }
    let err = gw
        .call("list_all_zoho_desk_tickets", args(json!({"bogus": 1})))
        .await
        .unwrap_err();
    let ToolError::InvalidArguments { allowed_keys, .. } = err else {
        panic!()
    };
    assert!(allowed_keys.contains(&"departmentId".to_string()));
    assert!(allowed_keys.contains(&"next_cursor".to_string()));
    assert_eq!(mock.state.api_request_count(), 0);
}

#[tokio::test]
async fn single_resources_are_returned_unchanged_and_ids_may_be_numbers() {
    let (mock, gw) = setup().await;
    let ticket = json!({"id": "1", "subject": "Printer on fire", "cf": {"cf_x": null}});
    mock.state.set_object("/tickets/1", ticket.clone());
    let out = gw
        .call("get_single_zoho_desk_ticket_by_id", args(json!({"id": 1})))
        .await
        .unwrap();
    assert_eq!(out, ticket);
}

#[tokio::test]
async fn writes_route_path_query_and_body() {
    let (mock, gw) = setup().await;
    mock.state
        .set_object("/tickets/9", json!({"id": "9", "status": "Closed"}));
    mock.state
        .set_object("/tickets/9/comments", json!({"id": "c1", "content": "hi"}));
    gw.call(
        "update_a_zoho_desk_ticket_by_id",
        args(json!({"id": "9", "status": "Closed", "disableClosureNotification": true})),
    )
    .await
    .unwrap();
    let out = gw
        .call(
            "create_a_zoho_desk_ticket_comment",
            args(json!({"ticketId": 9, "content": "hi", "isPublic": false})),
        )
        .await
        .unwrap();
    assert_eq!(out["id"], "c1");
    let reqs = mock.state.api_requests();
    assert_eq!(reqs[0].method, "PATCH");
    assert_eq!(reqs[0].path, "/api/v1/tickets/9");
    assert_eq!(
        query_of(&reqs[0]),
        q(&[("disableClosureNotification", "true")])
    );
    assert_eq!(reqs[0].body, Some(json!({"status": "Closed"})));
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].path, "/api/v1/tickets/9/comments");
    assert_eq!(
        reqs[1].body,
        Some(json!({"content": "hi", "isPublic": false}))
    );
}

#[tokio::test]
async fn upstream_errors_are_structured_with_ratelimit_fields() {
    let (mock, gw) = setup().await;
    let err = gw
        .call(
            "get_single_zoho_desk_ticket_by_id",
            args(json!({"id": "quota"})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_structured(),
        json!({"status": 429, "errorCode": "THRESHOLD_EXCEEDED", "message": "API credits exhausted",
               "ratelimit": {"remaining": 0, "reset": 120, "retry_after": 120}})
    );
    let err = gw
        .call(
            "get_single_zoho_desk_agent_by_id",
            args(json!({"id": "concurrency"})),
        )
        .await
        .unwrap_err();
    let s = err.to_structured();
    assert_eq!(s["errorCode"], "TOO_MANY_REQUESTS");
    assert_eq!(
        s["ratelimit"],
        json!({"limit": 5, "remaining": 0, "reset": 1})
    );
    assert_eq!(mock.state.api_request_count(), 2, "no retries");

    let err = gw.call("no_such_tool", Map::new()).await.unwrap_err();
    assert!(matches!(err, ToolError::UnknownTool { .. }));
    assert_eq!(err.to_structured()["errorCode"], "UNKNOWN_TOOL");
}

fn seed_ticket_context(mock: &Mock) {
    mock.state.set_object(
        "/tickets/1",
        json!({"id": "1", "subject": "Printer on fire"}),
    );
    mock.state.set_list(
        "/tickets/1/threads",
        data_list(
            vec![
                json!({"id": "th1", "summary": "help"}),
                json!({"id": "th2", "summary": "on it"}),
            ],
            0,
            100,
        ),
    );
    mock.state.set_object(
        "/tickets/1/threads/th1",
        json!({"id": "th1", "summary": "help", "content": "<p>It is on fire</p>"}),
    );
    mock.state.set_object(
        "/tickets/1/threads/th2",
        json!({"id": "th2", "summary": "on it", "content": "<p>Extinguisher sent</p>"}),
    );
    mock.state
        .set_list("/tickets/1/comments", data_list(items("c", 3), 0, 100));
}

#[tokio::test]
async fn full_context_is_one_call() {
    let (mock, gw) = setup().await;
    seed_ticket_context(&mock);
    let out = gw
        .call(
            "zoho_desk_tickets_get_full_context",
            args(json!({"ticketId": "1"})),
        )
        .await
        .unwrap();
    assert_eq!(out["ticket"]["subject"], "Printer on fire");
    assert_eq!(out["threads"][0]["content"], "<p>It is on fire</p>");
    assert_eq!(out["threads"][1]["content"], "<p>Extinguisher sent</p>");
    assert_eq!(out["comments"].as_array().unwrap().len(), 3);
    // ticket + thread list + 2 thread gets + comment list
    assert_eq!(mock.state.api_request_count(), 5);
}

#[tokio::test]
async fn full_context_fails_with_the_failing_part() {
    let (mock, gw) = setup().await;
    seed_ticket_context(&mock);
    mock.state.set_list(
        "/tickets/1/threads",
        data_list(
            vec![json!({"id": "th1"}), json!({"id": "server-error"})],
            0,
            100,
        ),
    );
    let err = gw
        .call(
            "zoho_desk_tickets_get_full_context",
            args(json!({"ticketId": "1"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_structured()["status"], 500);
    assert_eq!(err.to_structured()["errorCode"], "INTERNAL_SERVER_ERROR");
}

#[tokio::test]
async fn a_cursor_that_is_not_a_string_is_refused_not_ignored() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/tickets", data_list(items("t", 10), 0, 100));
    for forged in [json!(50), json!(true), json!({"o": 50}), json!(["x"])] {
        let err = gw
            .call(
                "list_all_zoho_desk_tickets",
                args(json!({"limit": 3, "next_cursor": forged})),
            )
            .await
            .unwrap_err();
        let s = err.to_structured();
        assert_eq!(s["status"], 400, "{forged}");
        assert!(
            s["message"].as_str().unwrap().contains("next_cursor"),
            "{s}"
        );
    }
    assert_eq!(mock.state.api_request_count(), 0);
}

#[tokio::test]
async fn a_forged_cursor_offset_is_refused_without_panicking() {
    let (mock, gw) = setup().await;
    mock.state
        .set_list("/tickets", data_list(items("t", 10), 0, 100));
    let first = gw
        .call("list_all_zoho_desk_tickets", args(json!({"limit": 3})))
        .await
        .unwrap();
    let issued = first["next_cursor"].as_str().unwrap();
    // A cursor is base64url JSON: re-encode it with an absurd offset, as a client could.
    let decoded = base64url_decode(issued);
    let mut cursor: Value = serde_json::from_slice(&decoded).unwrap();
    for offset in [u64::MAX, u64::MAX - 2, 1 << 50] {
        cursor["o"] = json!(offset);
        let forged = base64url_encode(&serde_json::to_vec(&cursor).unwrap());
        let err = gw
            .call(
                "list_all_zoho_desk_tickets",
                args(json!({"limit": 3, "next_cursor": forged})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.to_structured()["status"], 400, "{offset}");
        assert!(err.to_string().contains("next_cursor"), "{err}");
    }
    assert_eq!(mock.state.api_request_count(), 1);
}

#[tokio::test]
async fn the_full_context_tool_names_ticket_id_and_lists_its_keys() {
    let (mock, gw) = setup().await;
    for bad in ["../1", "1/2", ""] {
        let err = gw
            .call(
                "zoho_desk_tickets_get_full_context",
                args(json!({"ticketId": bad})),
            )
            .await
            .unwrap_err();
        let s = err.to_structured();
        let message = s["message"].as_str().unwrap();
        assert!(message.contains("`ticketId`"), "{message}");
        assert!(!message.contains("`id`"), "{message}");
        assert!(
            s["allowed_keys"]
                .as_array()
                .unwrap()
                .contains(&json!("ticketId")),
            "{s}"
        );
    }
    assert_eq!(mock.state.api_request_count(), 0);
}

/// The context carries the ticket department's active reply addresses, so an EMAIL reply can
/// name a valid from address; a refused address lookup (a missing scope) does not fail it.
#[tokio::test]
async fn full_context_lists_the_departments_from_addresses() {
    let (mock, gw) = setup().await;
    seed_ticket_context(&mock);
    mock.state.set_object(
        "/tickets/1",
        json!({"id": "1", "subject": "Printer on fire", "departmentId": "7"}),
    );
    mock.state.set_list(
        "/mailReplyAddress",
        data_list(
            vec![
                json!({"id": "m1", "address": "help@example.com", "displayName": "Help", "isActive": true, "isVerified": true}),
                json!({"id": "m2", "address": "old@example.com", "isActive": false}),
            ],
            0,
            100,
        ),
    );
    let plain = gw
        .call(
            "zoho_desk_tickets_get_full_context",
            args(json!({"ticketId": "1"})),
        )
        .await
        .unwrap();
    assert!(plain.get("fromAddresses").is_none(), "only on request");
    assert_eq!(
        mock.state.api_request_count(),
        5,
        "no address lookup unless asked"
    );
    let out = gw
        .call(
            "zoho_desk_tickets_get_full_context",
            args(json!({"ticketId": "1", "includeFromAddresses": true})),
        )
        .await
        .unwrap();
    assert_eq!(
        out["fromAddresses"],
        json!({"addresses": [{"address": "help@example.com", "displayName": "Help", "isVerified": true}]})
    );
    let asked = mock
        .state
        .api_requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/mailReplyAddress")
        .unwrap();
    assert!(asked.query.contains(&("departmentId".into(), "7".into())));

    mock.state.set_object(
        "/tickets/2",
        json!({"id": "2", "subject": "x", "departmentId": "forbidden"}),
    );
    mock.state
        .set_list("/tickets/2/comments", data_list(items("c", 1), 0, 100));
    mock.state
        .set_list("/tickets/2/threads", data_list(Vec::new(), 0, 100));
    let out = gw
        .call(
            "zoho_desk_tickets_get_full_context",
            args(json!({"ticketId": "2", "includeFromAddresses": true})),
        )
        .await
        .unwrap();
    assert_eq!(out["fromAddresses"]["addresses"], json!([]));
    assert!(out["fromAddresses"]["error"].is_string(), "{out}");
}

/// Move: departmentId as the required query parameter (and the optional body field), and a
/// true result for Zoho's empty 200 instead of an invented ticket.
#[tokio::test]
async fn move_sends_the_query_parameter_and_reports_what_it_did() {
    let (mock, gw) = setup().await;
    mock.state.set_object("/tickets/5/move", json!({}));
    let out = gw
        .call(
            "zoho_desk_tickets_move",
            args(json!({"ticketId": "5", "departmentId": "9"})),
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"moved": true, "ticketId": "5", "departmentId": "9"})
    );
    let req = mock.state.api_requests().pop().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1/tickets/5/move");
    assert_eq!(query_of(&req), q(&[("departmentId", "9")]));
    assert_eq!(req.body, Some(json!({"departmentId": "9"})));
    let err = gw
        .call("zoho_desk_tickets_move", args(json!({"ticketId": "5"})))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }), "{err:?}");
}

/// Replies and drafts: the OAS channel enum, and no EMAIL reply or draft without a from address
/// that is one e-mail address; nothing reaches Zoho when the arguments are refused.
#[tokio::test]
async fn replies_follow_the_oas_channel_variants() {
    let (mock, gw) = setup().await;
    let cases = [
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "PHONE"}),
            "channel",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "WEB"}),
            "channel",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "CHAT"}),
            "channel",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "email"}),
            "channel",
        ),
        (
            "zoho_desk_tickets_draft_reply",
            json!({"channel": "TWITTER"}),
            "channel",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "EMAIL"}),
            "`fromEmailAddress`: is required when `channel` is EMAIL",
        ),
        (
            "zoho_desk_tickets_draft_reply",
            json!({"channel": "EMAIL"}),
            "`fromEmailAddress`: is required when `channel` is EMAIL",
        ),
        (
            "zoho_desk_tickets_draft_reply",
            json!({"channel": "EMAIL", "fromEmailAddress": " "}),
            "`fromEmailAddress`",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "EMAIL", "fromEmailAddress": "Support Team"}),
            "not one e-mail address",
        ),
        (
            "zoho_desk_tickets_send_reply",
            json!({"channel": "EMAIL", "fromEmailAddress": "a@example.com,b@example.com"}),
            "not one e-mail address",
        ),
    ];
    for (tool, extra, needle) in cases {
        let mut a = args(json!({"ticketId": "1", "content": "Hello"}));
        a.extend(args(extra.clone()));
        let err = gw.call(tool, a).await.unwrap_err();
        let ToolError::InvalidArguments { message, .. } = &err else {
            panic!("{tool} {extra}: {err:?}")
        };
        assert!(message.contains(needle), "{tool} {extra}: {message}");
    }
    assert_eq!(mock.state.api_request_count(), 0, "nothing was sent");

    mock.state.set_object(
        "/tickets/1/draftReply",
        json!({"id": "th9", "status": "DRAFT"}),
    );
    let out = gw
        .call(
            "zoho_desk_tickets_draft_reply",
            args(
                json!({"ticketId": "1", "content": "Hello", "channel": "EMAIL",
                        "fromEmailAddress": "help@example.com"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(out["status"], "DRAFT");
    let out = gw
        .call(
            "zoho_desk_tickets_draft_reply",
            args(json!({"ticketId": "1", "content": "Hello", "channel": "FORUMS"})),
        )
        .await
        .unwrap();
    assert_eq!(out["id"], "th9");
}

/// The OAS contact object on create: lastName and email required, no phone.
#[tokio::test]
async fn create_ticket_contact_follows_the_oas() {
    let (mock, gw) = setup().await;
    for contact in [
        json!({"lastName": "Doe"}),
        json!({"email": "jo@example.com"}),
        json!({"lastName": "Doe", "email": "jo@example.com", "phone": "123"}),
    ] {
        let err = gw
            .call(
                "create_a_zoho_desk_ticket",
                args(json!({"subject": "Hi", "departmentId": "1", "contact": contact})),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, ToolError::InvalidArguments { .. }),
            "{contact}: {err:?}"
        );
    }
    assert_eq!(mock.state.api_request_count(), 0);
}

fn base64url_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

fn base64url_decode(text: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes() {
        acc = (acc << 6) | A.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

/// Search paging never builds a request the OAS bounds forbid (`from` 0–999, `limit` 1–100):
/// the last page neither peeks nor offers a cursor past the cap.
#[tokio::test]
async fn search_paging_stays_within_the_oas_from_cap() {
    let (mock, gw) = setup().await;
    mock.state.set_list(
        "/tickets/search",
        MockList {
            items: items("s", 1_200),
            base: 0,
            max_limit: 100,
            envelope: "data",
            with_count: true,
            one_based_clamp: false,
        },
    );
    for limit in [100, 99, 7] {
        let before = mock.state.api_request_count();
        let (seen, _) = walk(
            &gw,
            "zoho_desk_tickets_search",
            json!({"_all": "printer", "limit": limit}),
        )
        .await;
        assert!(seen.len() >= 1_000 - limit, "limit {limit}: {}", seen.len());
        assert!(seen.len() <= 1_000 + limit, "limit {limit}: {}", seen.len());
        for req in &mock.state.api_requests()[before..] {
            let get = |k: &str| {
                req.query
                    .iter()
                    .find(|(q, _)| q == k)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap()
            };
            assert!(get("from") <= 999, "limit {limit}: {:?}", req.query);
            assert!(
                (1..=100).contains(&get("limit")),
                "limit {limit}: {:?}",
                req.query
            );
        }
    }
    let err = gw
        .call(
            "zoho_desk_tickets_search",
            args(json!({"_all": "a".repeat(101)})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments { .. }));
}
