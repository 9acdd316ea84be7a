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
    let mut from = 1;
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
