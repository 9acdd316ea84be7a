#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The OpenAPI 3.1 export of the integration definition: one operation per HTTP-backed tool, at
//! the verb and path resources.yaml declares, and a document the reference validator accepts.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use zoho_desk_mcp::catalog::ZOHO_DESK_RESOURCES;
use zoho_desk_mcp::{Catalog, MethodKind};

const SERVER: &str = "http://127.0.0.1:9/api/v1";

fn document() -> (Catalog, Value) {
    let catalog = Catalog::zoho_desk().expect("the embedded definition builds");
    let doc = catalog.to_openapi(SERVER);
    (catalog, doc)
}

/// operationId -> (verb, path, operation), read back out of the document.
fn operations(doc: &Value) -> Vec<(String, String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for (verb, op) in item.as_object().expect("path item is an object") {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            out.push((id, verb.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn every_http_tool_is_exactly_one_operation_and_composites_are_left_out() {
    let (catalog, doc) = document();
    let ops = operations(&doc);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, ..) in &ops {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let mut http_tools = 0;
    for tool in catalog.tools() {
        let seen = counts.get(tool.name.as_str()).copied().unwrap_or(0);
        if tool.kind == MethodKind::Composite {
            assert_eq!(seen, 0, "composite {} has no endpoint", tool.name);
        } else {
            assert_eq!(seen, 1, "{} appears {seen} times", tool.name);
            http_tools += 1;
        }
    }
    assert_eq!(ops.len(), http_tools, "no operation without a tool");
    assert!(
        http_tools >= 20,
        "the catalog exports its tools ({http_tools})"
    );
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], SERVER);
}

#[test]
fn verbs_and_paths_are_the_ones_resources_yaml_declares() {
    let (catalog, doc) = document();
    let resources: Value =
        serde_saphyr::from_str(ZOHO_DESK_RESOURCES).expect("resources.yaml parses");
    let ops = operations(&doc);
    for tool in catalog.tools() {
        if tool.kind == MethodKind::Composite {
            continue;
        }
        let declared = &resources["resources"][&tool.resource]["methods"][&tool.method];
        let verb = declared["http"].as_str().expect("declared verb");
        let path = declared["path"].as_str().expect("declared path");
        let (_, got_verb, got_path, op) = ops
            .iter()
            .find(|(id, ..)| *id == tool.name)
            .expect("operation exists");
        assert_eq!(got_verb, &verb.to_ascii_lowercase(), "{}", tool.name);
        assert_eq!(got_path, path, "{}", tool.name);

        // Every `{param}` of the path is a required path parameter; every other tool argument is
        // a query parameter or a body property, except the gateway's own cursor.
        let params = op["parameters"].as_array().expect("parameters");
        let named = |name: &str, location: &str| {
            params
                .iter()
                .find(|p| p["name"] == name && p["in"] == location)
        };
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let p = named(name, "path").unwrap_or_else(|| panic!("{}: {name}", tool.name));
                assert_eq!(p["required"], true);
            }
        }
        let body = op.pointer("/requestBody/content/application~1json/schema/properties");
        for key in tool.input_schema["properties"]
            .as_object()
            .expect("props")
            .keys()
        {
            if key == "next_cursor" {
                assert!(named(key, "query").is_none(), "the cursor is the gateway's");
                continue;
            }
            let in_path = named(key, "path").is_some();
            let in_query = named(key, "query").is_some();
            let in_body = body.is_some_and(|b| b.get(key).is_some());
            // `also_in_body` arguments are sent in the query and in the body (the move).
            let twice = declared["also_in_body"]
                .as_array()
                .is_some_and(|a| a.iter().any(|k| k == key.as_str()));
            if twice {
                assert!(in_query && in_body && !in_path, "{}: `{key}`", tool.name);
                continue;
            }
            assert_eq!(
                usize::from(in_path) + usize::from(in_query) + usize::from(in_body),
                1,
                "{}: `{key}` lands in exactly one place",
                tool.name
            );
        }
        assert!(
            params
                .iter()
                .any(|p| p["$ref"] == "#/components/parameters/orgId"),
            "{} sends orgId",
            tool.name
        );
        assert!(op["responses"]["200"].is_object(), "{}", tool.name);
    }
}

#[test]
fn lists_answer_in_zoho_envelopes_with_from_and_limit() {
    let (_, doc) = document();
    let tickets = &doc["paths"]["/tickets"]["get"];
    assert_eq!(tickets["operationId"], "list_all_zoho_desk_tickets");
    let schema = &tickets["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["data"]["type"], "array");
    assert!(schema["properties"]["data"]["items"]["properties"]["subject"].is_object());
    assert!(tickets["responses"]["204"].is_object());
    let names: Vec<&str> = tickets["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"from") && names.contains(&"limit"),
        "{names:?}"
    );
    assert!(
        !tickets["description"]
            .as_str()
            .unwrap()
            .contains("next_cursor")
    );

    let teams = &doc["paths"]["/teams"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        ["properties"];
    assert_eq!(teams["teams"]["type"], "array");

    let auth = &doc["components"]["securitySchemes"]["zohoOAuth"];
    assert_eq!(auth["in"], "header");
    assert_eq!(auth["name"], "Authorization");
    let org = &doc["components"]["parameters"]["orgId"];
    assert_eq!(
        (&org["in"], &org["required"]),
        (&"header".into(), &true.into())
    );
}

#[test]
fn writes_carry_their_body_schema() {
    let (_, doc) = document();
    let create = &doc["paths"]["/tickets"]["post"];
    assert_eq!(create["operationId"], "create_a_zoho_desk_ticket");
    let body = &create["requestBody"]["content"]["application/json"]["schema"];
    assert!(body["properties"]["subject"].is_object(), "{body}");
    assert!(body["required"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(
        doc["paths"]["/tickets/{id}"]["get"]
            .get("requestBody")
            .is_none()
    );
}

fn python_has_validator() -> bool {
    Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn the_reference_validator_accepts_the_document() {
    if !python_has_validator() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with openapi-spec-validator is required under CI (tests/python/requirements.txt)"
        );
        eprintln!(
            "skipped: python3 with openapi-spec-validator is not installed (pip install -r tests/python/requirements.txt)"
        );
        return;
    }
    let (_, doc) = document();
    let file = std::env::temp_dir().join(format!("deskhand-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             from openapi_spec_validator.validation import OpenAPIV31SpecValidator\n\
             doc = json.load(open(sys.argv[1]))\n\
             validate(doc, cls=OpenAPIV31SpecValidator)\n\
             print('valid', doc['openapi'])",
        ])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "valid 3.1.0");
}
