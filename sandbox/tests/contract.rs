//! Checks every operation in the OAS-derived contract against the generated org: each item carries
//! every required field, no undeclared field (include fields only when include is asked), and
//! every value's JSON type is one the contract declares. Nested objects are checked the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::{Map, Value, json};
use zoho_desk_sandbox::SandboxConfig;

const CONTRACT: &str = include_str!("fixtures/zoho-desk-contract.json");

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks `item` against `declared` (field → types), `required`; returns problems.
fn check(
    ctx: &str,
    item: &Map<String, Value>,
    declared: &Map<String, Value>,
    required: &[String],
    problems: &mut Vec<String>,
) {
    for r in required {
        if !item.contains_key(r) {
            problems.push(format!("{ctx}: missing required field '{r}'"));
        }
    }
    for (k, v) in item {
        match declared.get(k) {
            None => problems.push(format!("{ctx}: undeclared field '{k}'")),
            Some(types) => {
                let t = json_type(v);
                if !strs(types).iter().any(|x| x == t) {
                    problems.push(format!("{ctx}: field '{k}' is {t}, declared {types}"));
                }
            }
        }
    }
}

fn check_nested(
    ctx: &str,
    item: &Map<String, Value>,
    nested: &Map<String, Value>,
    problems: &mut Vec<String>,
) {
    for (key, shape) in nested {
        let Some(props) = shape.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let req = strs(&shape["required"]);
        for name in key.split('|') {
            let (field, is_array) = match name.strip_suffix("[]") {
                Some(f) => (f, true),
                None => (name, false),
            };
            if field.contains('.') {
                continue;
            }
            let values: Vec<&Map<String, Value>> = match item.get(field) {
                Some(Value::Object(o)) if !is_array => vec![o],
                Some(Value::Array(a)) if is_array => {
                    a.iter().filter_map(Value::as_object).collect()
                }
                _ => vec![],
            };
            for v in values {
                check(&format!("{ctx}.{name}"), v, props, &req, problems);
            }
        }
    }
}

fn union(a: &Value, extra: &Value) -> Map<String, Value> {
    let mut m = a.as_object().cloned().unwrap_or_default();
    if let Some(e) = extra.as_object() {
        for (k, v) in e {
            m.entry(k.clone()).or_insert(v.clone());
        }
    }
    m
}

#[tokio::test]
async fn every_contract_operation_matches_its_schema() {
    let contract: Value = serde_json::from_str(CONTRACT).unwrap();
    let ops = contract["operations"].as_object().unwrap();
    let env = start(SandboxConfig::default()).await;
    let ticket = env.get("/tickets?limit=1&sortBy=createdTime").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A ticket with a comment and an e-mail thread.
    let with_comment = env.sb.admin().state_json()["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| !t["comments"].as_array().unwrap().is_empty())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .unwrap();
    let thread = env.get(&format!("/tickets/{ticket}/threads")).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut problems = Vec::new();
    let mut checked = 0;
    for (op, spec) in ops {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .trim_start_matches("/api/v1")
            .replace(
                "{ticketId}",
                if op.contains("comments") {
                    &with_comment
                } else {
                    &ticket
                },
            )
            .replace("{threadId}", &thread);
        let include_enum = strs(&spec["query"]["include"]["items_enum"]);
        let include = include_enum.join(",");
        let mut calls: Vec<(String, bool)> = vec![(path.clone(), false)];
        if !include.is_empty() && spec.get("include_item").is_some() {
            calls.push((format!("{path}?include={include}"), true));
        }
        if op.ends_with("/threads/{threadId}") {
            calls.push((format!("{path}?include=plainText"), true));
        }
        if op.ends_with("/articleSuggestion") {
            calls = vec![(format!("{path}?departmentId=0"), false)];
        }
        for (url, with_include) in calls {
            let r = match method {
                "GET" => env.get(&url).await,
                "PATCH" => env.patch(&url, json!({"priority": "High"})).await,
                "POST" => {
                    env.post(
                        &url,
                        json!({"content": "Contract check", "isPublic": false}),
                    )
                    .await
                }
                _ => unreachable!(),
            };
            assert_eq!(r.status, 200, "{op} {url}: {}", r.text);
            let items: Vec<Map<String, Value>> = match spec["envelope"].as_str() {
                Some(env_key) => r.body[env_key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_object().unwrap().clone())
                    .collect(),
                None => vec![r.body.as_object().unwrap().clone()],
            };
            assert!(!items.is_empty(), "{op}: nothing to check");
            let mut declared = spec["item"].as_object().unwrap().clone();
            if with_include {
                declared = union(&Value::Object(declared), &spec["include_item"]);
            }
            // Channel variants (threads) add their declared extras.
            if let Some(vars) = spec.get("variants").and_then(Value::as_object) {
                for v in vars.values() {
                    declared = union(&Value::Object(declared), &v["extra"]);
                }
            }
            let required = strs(&spec["required"]);
            for (i, item) in items.iter().enumerate() {
                let ctx = format!("{op} [{i}]");
                check(&ctx, item, &declared, &required, &mut problems);
                if let Some(n) = spec.get("nested").and_then(Value::as_object) {
                    check_nested(&ctx, item, n, &mut problems);
                }
                if with_include
                    && let Some(n) = spec.get("include_nested").and_then(Value::as_object)
                {
                    check_nested(&ctx, item, n, &mut problems);
                }
                checked += 1;
            }
            if op == "GET /api/v1/tickets/{ticketId}/threads" {
                assert!(
                    items.iter().all(|i| !i.contains_key("content")),
                    "thread lists carry no content"
                );
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn contract_status_and_enum_values_hold_on_the_generated_org() {
    let contract: Value = serde_json::from_str(CONTRACT).unwrap();
    let env = start(SandboxConfig::default()).await;
    let enums = &contract["operations"]["GET /api/v1/tickets"]["enums"];
    // 0-based, as the OAS default says.
    let mut from = 0;
    loop {
        let r = env.get(&format!("/tickets?limit=100&from={from}")).await;
        if r.status == 204 {
            break;
        }
        for t in r.body["data"].as_array().unwrap() {
            assert!(
                strs(&enums["statusType"]).contains(&t["statusType"].as_str().unwrap().to_owned())
            );
            assert!(t["createdTime"].as_str().unwrap().ends_with(".000Z"));
            assert!(
                t["id"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            );
        }
        from += 100;
    }
    assert!(from > 200, "paged through the whole org");
}

/// The fields of an item the OAS declares (`item` of a fixture operation, with its channel
/// variants' extras), and its required ones.
fn declared(spec: &Value) -> (Map<String, Value>, Vec<String>) {
    let mut d = spec["item"].as_object().cloned().unwrap_or_default();
    if let Some(vars) = spec.get("variants").and_then(Value::as_object) {
        for v in vars.values() {
            d = union(&Value::Object(d), &v["extra"]);
        }
    }
    (d, strs(&spec["required"]))
}

/// Checks `value` (an object) against `spec`: strictly (every field declared, of a declared
/// type) for operations answering with the same schema as the fixture's, or only the declared
/// fields' types and the required fields for detail views that add fields.
fn check_as(ctx: &str, value: &Value, spec: &Value, strict: bool, problems: &mut Vec<String>) {
    let Some(item) = value.as_object() else {
        problems.push(format!("{ctx}: not an object: {value}"));
        return;
    };
    let (decl, req) = declared(spec);
    if strict {
        check(ctx, item, &decl, &req, problems);
    } else {
        let known: Map<String, Value> = item
            .iter()
            .filter(|(k, _)| decl.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        check(ctx, &known, &decl, &req, problems);
    }
    if let Some(n) = spec.get("nested").and_then(Value::as_object) {
        check_nested(ctx, item, n, problems);
    }
}

/// Every operation the sandbox serves that the fixture does not list, held to the OAS: the
/// searches' `{data, count}` envelope with list items, counts, the move's empty 200, reply and
/// draft threads, created tickets, comment reads and edits, single agents, departments,
/// contacts and articles, the latest thread, department teams, organizations and the reply
/// addresses (their fields from MailReplyAddress.json's `secondListViewJson`).
#[tokio::test]
async fn every_other_served_operation_answers_in_zoho_shapes() {
    let contract: Value = serde_json::from_str(CONTRACT).unwrap();
    let ops = &contract["operations"];
    let env = start(SandboxConfig::default()).await;
    let state = env.sb.admin().state_json();
    let mut problems = Vec::new();
    let expect_ok = async |url: &str, r: common::Resp| -> Value {
        assert!(r.status == 200, "{url}: {} {}", r.status, r.text);
        r.body
    };

    // An e-mail ticket, its department and one of that department's reply addresses.
    let ticket = state["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["channel"] == "Email" && !t["comments"].as_array().unwrap().is_empty())
        .unwrap()
        .clone();
    let tid = ticket["id"].as_str().unwrap().to_owned();
    let dept = ticket["departmentId"].as_str().unwrap().to_owned();
    let comment = ticket["comments"][0]["id"].as_str().unwrap().to_owned();

    // Reply addresses: required fields, declared fields only, declared types.
    let url = format!("/mailReplyAddress?departmentId={dept}");
    let body = expect_ok(&url, env.get(&url).await).await;
    let address_fields: Map<String, Value> = serde_json::from_value(json!({
        "id": ["string", "integer", "null"], "address": ["string", "null"],
        "displayName": ["string", "null"], "departmentId": ["string", "integer", "null"],
        "isActive": ["boolean", "null"], "isVerified": ["boolean", "null"],
        "isSmtpEnabled": ["boolean", "null"], "serviceProviderType": ["string", "null"],
        "smtpDetails": ["object", "null"], "createdBy": ["object", "null"],
        "modifiedBy": ["object", "null"], "createdTime": ["string", "null"],
        "modifiedTime": ["string", "null"]
    }))
    .unwrap();
    let address_required: Vec<String> = [
        "address",
        "createdBy",
        "createdTime",
        "departmentId",
        "displayName",
        "id",
        "isActive",
        "isVerified",
        "modifiedBy",
        "modifiedTime",
        "serviceProviderType",
        "smtpDetails",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let from = body["data"][0]["address"].as_str().unwrap().to_owned();
    for a in body["data"].as_array().unwrap() {
        check(
            &url,
            a.as_object().unwrap(),
            &address_fields,
            &address_required,
            &mut problems,
        );
        let author: Map<String, Value> = serde_json::from_value(json!({
            "id": ["string", "integer", "null"], "firstName": ["string", "null"],
            "lastName": ["string", "null"], "email": ["string", "null"],
            "photoURL": ["string", "null"]
        }))
        .unwrap();
        let author_required: Vec<String> = ["email", "firstName", "id", "lastName", "photoURL"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        check(
            &format!("{url} createdBy"),
            a["createdBy"].as_object().unwrap(),
            &author,
            &author_required,
            &mut problems,
        );
    }

    // Searches: {data: [list items], count: "N"}.
    let word = ticket["subject"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.len() >= 4)
        .unwrap()
        .to_owned();
    for (url, spec) in [
        (
            format!("/tickets/search?_all={word}"),
            &ops["GET /api/v1/tickets"],
        ),
        (
            "/contacts/search?_all=example".to_owned(),
            &ops["GET /api/v1/contacts"],
        ),
    ] {
        let body = expect_ok(&url, env.get(&url).await).await;
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["count", "data"], "{url}");
        assert!(body["count"].is_string(), "{url}");
        for (i, item) in body["data"].as_array().unwrap().iter().enumerate() {
            check_as(&format!("{url} [{i}]"), item, spec, true, &mut problems);
        }
    }
    let body = expect_ok("articles", env.get("/articles/search?_all=password").await).await;
    assert!(body["count"].is_string() && body["data"].is_array());

    // Counts: {"count": N} and nothing else.
    let body = expect_ok("count", env.get("/ticketsCount").await).await;
    assert_eq!(body.as_object().unwrap().len(), 1);
    assert!(body["count"].is_string());

    // Single resources: the list's declared fields keep their types; required ones are there.
    let firsts = [
        ("agents", "GET /api/v1/agents"),
        ("departments", "GET /api/v1/departments"),
        ("contacts", "GET /api/v1/contacts"),
        ("articles", "GET /api/v1/articles"),
    ];
    for (list, op) in firsts {
        let id = state[list][0]["id"].as_str().unwrap().to_owned();
        let url = format!("/{list}/{id}");
        let body = expect_ok(&url, env.get(&url).await).await;
        check_as(&url, &body, &ops[op], false, &mut problems);
    }
    let url = format!("/departments/{dept}/teams");
    let body = expect_ok(&url, env.get(&url).await).await;
    for t in body["teams"].as_array().unwrap() {
        check_as(&url, t, &ops["GET /api/v1/teams"], true, &mut problems);
    }
    let body = expect_ok("organizations", env.get("/organizations").await).await;
    assert!(body["data"][0]["id"].is_string());

    // Threads: the latest one, a reply and a draft have the single thread's schema.
    let thread_op = &ops["GET /api/v1/tickets/{ticketId}/threads/{threadId}"];
    let url = format!("/tickets/{tid}/latestThread");
    let body = expect_ok(&url, env.get(&url).await).await;
    check_as(&url, &body, thread_op, true, &mut problems);
    for path in ["sendReply", "draftReply"] {
        let url = format!("/tickets/{tid}/{path}");
        let r = env
            .post(
                &url,
                json!({"channel": "EMAIL", "content": "Contract check", "fromEmailAddress": from}),
            )
            .await;
        let body = expect_ok(&url, r).await;
        check_as(&url, &body, thread_op, true, &mut problems);
    }

    // Comments: read, edit (the created comment's schema), delete (204).
    let comment_op = &ops["POST /api/v1/tickets/{ticketId}/comments"];
    let url = format!("/tickets/{tid}/comments/{comment}");
    let body = expect_ok(&url, env.get(&url).await).await;
    check_as(&url, &body, comment_op, true, &mut problems);
    let body = expect_ok(&url, env.patch(&url, json!({"content": "Edited"})).await).await;
    check_as(&url, &body, comment_op, true, &mut problems);
    assert_eq!(
        env.send(reqwest::Method::DELETE, &url, json!({}))
            .await
            .status,
        204
    );

    // A created ticket has the update's schema (both answer ticketResponse).
    let contact = state["contacts"][0]["id"].as_str().unwrap().to_owned();
    let r = env
        .post(
            "/tickets",
            json!({"subject": "Contract check", "departmentId": dept, "contactId": contact}),
        )
        .await;
    let created = expect_ok("create", r).await;
    check_as(
        "POST /tickets",
        &created,
        &ops["PATCH /api/v1/tickets/{ticketId}"],
        true,
        &mut problems,
    );

    // Move: an empty 200.
    let other = state["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .find(|d| *d != dept)
        .unwrap();
    let url = format!(
        "/tickets/{}/move?departmentId={other}",
        created["id"].as_str().unwrap()
    );
    let r = env.post(&url, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.is_empty(), "{url}: {}", r.text);

    // Article usage: accepted without a body to check.
    let article = state["articles"][0]["id"].as_str().unwrap().to_owned();
    let r = env
        .post(
            &format!("/tickets/{tid}/notifyArticleUsage"),
            json!({"articleIds": [article]}),
        )
        .await;
    assert_eq!(r.status, 204);

    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
