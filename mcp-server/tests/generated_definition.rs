//! The generated half of the definition (integration/zoho-desk/generated/) is exactly what the
//! generator makes from the OAS extract and the curated resources.yaml, and the catalog built
//! from both keeps the curated core as its default listing while every generated tool holds
//! against the operation it was generated from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use zoho_desk_mcp::catalog::{Catalog, ToolFilter, Toolset, generate};

fn integration() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/zoho-desk")
}

const REGENERATE: &str =
    "run `cargo run -p zoho-desk-mcp --example generate` and commit the result";

#[test]
fn the_checked_in_generated_files_and_coverage_table_are_the_generators_output() {
    let out = generate::from_folder(&integration()).expect("the generator runs");
    let read =
        |name: &str| std::fs::read_to_string(integration().join("generated").join(name)).unwrap();
    assert!(
        read("resources.yaml") == out.resources_yaml,
        "generated/resources.yaml is stale: {REGENERATE}"
    );
    assert!(
        read("documentation.yaml") == out.documentation_yaml,
        "generated/documentation.yaml is stale: {REGENERATE}"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let curated = Catalog::zoho_desk().unwrap().tools().len();
    let table = generate::coverage_table(&out.coverage, curated);
    assert!(
        readme.contains(&format!(
            "<!-- coverage:start -->\n{table}<!-- coverage:end -->"
        )),
        "the README's coverage table is stale: {REGENERATE}"
    );
}

/// `(METHOD, path with {} placeholders)` → operation, over the whole extract.
fn extract() -> BTreeMap<(String, String), Value> {
    let mut ops = BTreeMap::new();
    for entry in std::fs::read_dir(integration().join("oas")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for op in doc["operations"].as_array().into_iter().flatten() {
            let key = (
                op["method"].as_str().unwrap().to_owned(),
                placeholders(op["path"].as_str().unwrap()),
            );
            let mut op = op.clone();
            op["$shapes"] = doc["shapes"].clone();
            ops.insert(key, op);
        }
    }
    ops
}

fn placeholders(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn yaml(name: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(integration().join(name)).unwrap()).unwrap()
}

#[test]
fn every_generated_tool_is_its_operation_with_a_valid_unique_name() {
    let core = Catalog::zoho_desk().unwrap();
    let all = Catalog::zoho_desk_all().expect("curated + generated builds");
    let ops = extract();
    let resources = yaml("generated/resources.yaml");
    let curated_resources = yaml("resources.yaml");

    // Methods and paths of every generated method, to find each tool's operation.
    let mut routes = BTreeMap::new();
    for (resource, def) in resources["resources"].as_object().unwrap() {
        for (method, m) in def["methods"].as_object().unwrap() {
            let key = (
                m["http"].as_str().unwrap().to_owned(),
                placeholders(&format!("/api/v1{}", m["path"].as_str().unwrap())),
            );
            routes.insert((resource.clone(), method.clone()), (key, m.clone()));
        }
    }
    let mut covered = BTreeSet::new();
    for def in curated_resources["resources"].as_object().unwrap().values() {
        for m in def["methods"].as_object().unwrap().values() {
            if let Some(path) = m["path"].as_str() {
                covered.insert((
                    m["http"].as_str().unwrap().to_owned(),
                    placeholders(&format!("/api/v1{path}")),
                ));
            }
        }
    }

    let mut names = BTreeSet::new();
    let generated: Vec<_> = all.tools().iter().filter(|t| t.generated).collect();
    assert!(
        generated.len() >= 200,
        "{} generated tools",
        generated.len()
    );
    assert_eq!(all.tools().len(), core.tools().len() + generated.len());
    for tool in all.tools() {
        assert!(names.insert(tool.name.clone()), "{} twice", tool.name);
        assert!(
            tool.name.len() <= 64
                && tool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{}: not a valid OpenAI function name",
            tool.name
        );
    }
    for tool in generated {
        let (key, def) = &routes[&(tool.resource.clone(), tool.method.clone())];
        assert!(
            !covered.contains(key),
            "{}: a curated method already calls {key:?}",
            tool.name
        );
        let op = ops
            .get(key)
            .unwrap_or_else(|| panic!("{}: {key:?} is not in the extract", tool.name));
        let props = tool.input_schema["properties"].as_object().unwrap();
        let required: BTreeSet<&str> = tool.input_schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let paged = def.get("pagination").is_some_and(|p| p != "none");
        let declared: BTreeMap<&str, &Value> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| Some((p["name"].as_str()?, p)))
            .collect();
        // Every declared path and query parameter is an argument (paging ones are the gateway's),
        // required exactly when Zoho requires it.
        for (name, p) in &declared {
            if paged && *name == "from" {
                assert!(
                    !props.contains_key("from"),
                    "{}: `from` is the cursor's",
                    tool.name
                );
                continue;
            }
            if paged && *name == "limit" {
                continue; // the gateway's own `limit`, bounded by the page size
            }
            if p["in"] != "query" && p["in"] != "path" {
                continue; // headers are not arguments (the description names them)
            }
            if p["in"] == "path"
                && !op["path"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{{{name}}}"))
            {
                continue; // Account.getTicketHistoryByAccount declares a path parameter its path lacks
            }
            assert!(props.contains_key(*name), "{}: `{name}` missing", tool.name);
            if p["in"] == "query" {
                assert_eq!(
                    required.contains(name),
                    p["required"] == true,
                    "{}: `{name}` required?",
                    tool.name
                );
            }
        }
        // Every argument is declared by the operation (or is the gateway's paging).
        let body_props = body_properties(op);
        for name in props.keys() {
            let known = declared.contains_key(name.as_str())
                || body_props.contains(name)
                || (paged && (name == "limit" || name == "next_cursor"));
            assert!(
                known,
                "{}: `{name}` is not declared by {}",
                tool.name, op["operationId"]
            );
        }
        // Read/write follows the HTTP method.
        assert_eq!(tool.kind.is_read(), key.0 == "GET", "{}", tool.name);
        assert_eq!(tool.annotations.read_only, key.0 == "GET", "{}", tool.name);
        // Our words, from facts only.
        let head = format!(
            "Zoho Desk {} {} (module ",
            key.0,
            op["path"].as_str().unwrap()
        );
        assert!(
            tool.description.starts_with(&head),
            "{}: {}",
            tool.name,
            tool.description
        );
    }
}

/// The top-level body fields an operation declares, through its module's shapes and every
/// `allOf`/`oneOf`/`anyOf` part.
fn body_properties(op: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    top_properties(
        &op["requestBody"]["schema"],
        &op["$shapes"],
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn top_properties(v: &Value, shapes: &Value, seen: &mut Vec<String>, out: &mut BTreeSet<String>) {
    if let Some(name) = v.get("$shape").and_then(Value::as_str) {
        if !seen.iter().any(|s| s == name) {
            seen.push(name.to_owned());
            top_properties(&shapes[name], shapes, seen, out);
        }
        return;
    }
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            top_properties(part, shapes, seen, out);
        }
    }
}

#[test]
fn the_default_listing_stays_the_curated_core_and_toolset_all_adds_the_rest() {
    let core = Catalog::zoho_desk().unwrap();
    let all = Catalog::zoho_desk_all().unwrap();
    let names = |tools: Vec<&zoho_desk_mcp::catalog::ToolSpec>| -> Vec<String> {
        tools.into_iter().map(|t| t.name.clone()).collect()
    };
    let default = names(all.filtered(&ToolFilter::all()));
    assert_eq!(default, names(core.tools().iter().collect()));
    assert!(
        default.len() <= 40,
        "{} tools in the default listing",
        default.len()
    );
    let everything = all.filtered(&ToolFilter::all().with_toolset(Toolset::All));
    assert_eq!(everything.len(), all.tools().len());

    // Tags filter the whole set under --toolset all.
    let task = ToolFilter::parse(&[], &["task".into()]).unwrap();
    assert!(all.filtered(&task).is_empty());
    let err = all.check_filter(&task).unwrap_err().to_string();
    assert!(err.contains("--toolset all"), "{err}");
    let task_all = task.with_toolset(Toolset::All);
    all.check_filter(&task_all).unwrap();
    let task_tools = names(all.filtered(&task_all));
    assert!(
        task_tools.contains(&"list_all_zoho_desk_tasks".to_owned()),
        "{task_tools:?}"
    );
    assert!(task_tools.contains(&"get_single_zoho_desk_task_by_id".to_owned()));

    // Curated tags reach the generated tools under curated collections, and methods still apply.
    let ticket_writes = ToolFilter::parse(&["write".into()], &["tickets".into()])
        .unwrap()
        .with_toolset(Toolset::All);
    let found = names(all.filtered(&ticket_writes));
    assert!(
        found.contains(&"zoho_desk_tickets_merge".to_owned()),
        "{found:?}"
    );
    assert!(found.contains(&"create_a_zoho_desk_ticket".to_owned()));
    assert!(!found.contains(&"zoho_desk_tickets_metrics".to_owned()));
}

#[test]
fn search_reaches_generated_tools_only_under_toolset_all() {
    let all = Catalog::zoho_desk_all().unwrap();
    let everything = ToolFilter::all().with_toolset(Toolset::All);
    let hits: Vec<&str> = all
        .search("time entry", 5, &everything)
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    assert!(hits.iter().any(|n| n.contains("time_entry")), "{hits:?}");
    assert!(
        all.search("time entry", 5, &ToolFilter::all())
            .iter()
            .all(|t| !t.generated)
    );
}

#[test]
fn openapi_exports_every_tool_of_the_full_catalog() {
    let all = Catalog::zoho_desk_all().unwrap();
    let doc = all.to_openapi("https://desk.zoho.com/api/v1");
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                ids.insert(id.to_owned());
            }
        }
    }
    let tools: BTreeSet<String> = all.tools().iter().map(|t| t.name.clone()).collect();
    let composite: BTreeSet<String> = all
        .tools()
        .iter()
        .filter(|t| t.kind == zoho_desk_mcp::catalog::MethodKind::Composite)
        .map(|t| t.name.clone())
        .collect();
    let missing: Vec<_> = tools
        .difference(&ids)
        .filter(|n| !composite.contains(*n))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

mod common;

use std::sync::Arc;

use common::{Mock, MockList};
use serde_json::{Map, json};
use zoho_desk_mcp::Gateway;
use zoho_desk_mcp::registry::ToolExposure;
use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, discovery};

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn generated_tools_call_their_operation_and_page_through_the_gateway() {
    let mock = Mock::start().await;
    let tasks: Vec<Value> = (1..=5).map(|i| json!({"id": i.to_string()})).collect();
    mock.state.set_list(
        "/tasks",
        MockList {
            items: tasks,
            base: 0,
            max_limit: 100,
            envelope: "data",
            with_count: false,
            one_based_clamp: false,
        },
    );
    mock.state
        .set_object("/tasks/7", json!({"id": "7", "subject": "call back"}));
    let gw = Gateway::new(Arc::new(Catalog::zoho_desk_all().unwrap()), mock.client());

    let got = gw
        .call(
            "get_single_zoho_desk_task_by_id",
            args(json!({"taskId": "7", "include": ["tickets"]})),
        )
        .await
        .unwrap();
    assert_eq!(got["subject"], "call back");
    let sent = mock.state.api_requests().pop().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/api/v1/tasks/7")
    );
    assert!(
        sent.query.contains(&("include".into(), "tickets".into())),
        "{:?}",
        sent.query
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut a = json!({"limit": 2});
        if let Some(c) = &cursor {
            a["next_cursor"] = json!(c);
        }
        let page = gw.call("list_all_zoho_desk_tasks", args(a)).await.unwrap();
        for item in page["result"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["1", "2", "3", "4", "5"]);

    // Validation before anything goes upstream: an enum the OAS declares, and unknown keys.
    let before = mock.state.api_request_count();
    let bad = gw
        .call(
            "get_single_zoho_desk_task_by_id",
            args(json!({"taskId": "7", "include": ["everything"]})),
        )
        .await;
    assert!(bad.is_err());
    let unknown = gw
        .call("list_all_zoho_desk_tasks", args(json!({"colour": "red"})))
        .await;
    assert!(unknown.is_err());
    assert_eq!(mock.state.api_request_count(), before);
}

#[tokio::test]
async fn servers_list_the_core_by_default_and_discovery_reaches_everything() {
    let mock = Mock::start().await;
    let all = Arc::new(Catalog::zoho_desk_all().unwrap());
    let core_count = Catalog::zoho_desk().unwrap().tools().len();
    let gw = Arc::new(Gateway::new(all.clone(), mock.client()));

    let core = ZohoDeskMcpServer::new(gw.clone(), Scope::default());
    assert_eq!(core.listed_tools().len(), core_count);
    assert!(core.tool_in_scope("list_all_zoho_desk_tasks").is_none());
    assert!(core.tool_in_scope("list_all_zoho_desk_tickets").is_some());

    let everything = ZohoDeskMcpServer::new(
        gw.clone(),
        Scope {
            filter: ToolFilter::all().with_toolset(Toolset::All),
            exposure: ToolExposure::All,
        },
    );
    assert_eq!(everything.listed_tools().len(), all.tools().len());

    let discovering = ZohoDeskMcpServer::new(
        gw.clone(),
        Scope {
            filter: ToolFilter::parse(&["read".into()], &[]).unwrap(),
            exposure: ToolExposure::Discovery,
        },
    );
    assert_eq!(discovering.listed_tools().len(), 3);
    let found = discovery::call(
        &discovering,
        "search_tools",
        args(json!({"query": "task", "limit": 50})),
        None,
    )
    .await
    .unwrap();
    let names: Vec<String> = found.structured_content.unwrap()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"list_all_zoho_desk_tasks".to_owned()),
        "{names:?}"
    );
    // The method filter still holds in discovery mode.
    assert!(
        !names.contains(&"create_a_zoho_desk_task".to_owned()),
        "{names:?}"
    );
    assert!(
        discovering
            .tool_in_scope("get_single_zoho_desk_task_by_id")
            .is_some()
    );
    assert!(
        discovering
            .tool_in_scope("create_a_zoho_desk_task")
            .is_none()
    );
}
