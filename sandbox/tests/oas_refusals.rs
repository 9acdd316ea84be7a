//! Holds the sandbox's refusals to Zoho's OpenAPI description. The extract files
//! (`mcp-server/integration/zoho-desk/oas/`) are read here on their own, not through the
//! sandbox's code: every operation the sandbox serves must refuse, with a 422 naming the field, an
//! undeclared query parameter, a missing required one, a value outside an enum or an integer
//! bound, a string over its maximum length, and a body that lacks a required field, carries an
//! undeclared one where the schema is closed, or holds a value outside an enum; a reply body
//! per `channel` variant. The few deliberate readings of its own the sandbox makes are listed
//! below with the section of `docs/zoho-contract.md` that records them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use reqwest::Method;
use serde_json::{Map, Value, json};

/// The operations the shipped workflows and the curated tools use: the sandbox must serve each.
const MUST_SERVE: &[&str] = &[
    "getOrganizations",
    "getTickets",
    "createTicket",
    "searchTickets",
    "getTicketsCount",
    "getTicket",
    "updateTicket",
    "moveTicket",
    "getThreads",
    "getThread",
    "getLastThreadMessage",
    "sendReply",
    "draftsReply",
    "getTicketComments",
    "createTicketComment",
    "getTicketComment",
    "updateTicketComment",
    "deleteTicketComment",
    "suggestArticlesForTicket",
    "mapArticlesToTicket",
    "getAgents",
    "getAgent",
    "getDepartments",
    "getDepartment",
    "getTeamsInDepartment",
    "getTeams",
    "getReplyMailAddresses",
    "getContacts",
    "searchContacts",
    "getContact",
    "getArticles",
    "searchSolutions",
    "getArticle",
];

/// Query bounds the sandbox deliberately does not enforce (docs/zoho-contract.md, "Paging bases
/// and page sizes of plain lists").
const UNENFORCED_MINIMUM: &[(&str, &str)] = &[("getAgents", "limit")];

fn extract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mcp-server/integration/zoho-desk/oas")
}

struct Module {
    ops: Vec<Value>,
    shapes: Map<String, Value>,
}

fn modules() -> Vec<Module> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(extract_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push(Module {
            ops: v["operations"].as_array().cloned().unwrap_or_default(),
            shapes: v["shapes"].as_object().cloned().unwrap_or_default(),
        });
    }
    out
}

/// The body schema with `$shape`s inlined and `allOf` branches' properties and required lists
/// gathered; `oneOf` variants by discriminator value.
#[derive(Default, Debug)]
struct Body {
    required: BTreeSet<String>,
    properties: Map<String, Value>,
    closed: bool,
    variants: Vec<(String, String, Body)>,
}

fn shape<'a>(s: &'a Value, shapes: &'a Map<String, Value>) -> &'a Value {
    match s.get("$shape").and_then(Value::as_str) {
        Some(name) => shape(&shapes[name], shapes),
        None => s,
    }
}

fn body(s: &Value, shapes: &Map<String, Value>) -> Body {
    let s = shape(s, shapes);
    let mut b = Body {
        closed: s["additionalProperties"] == json!(false),
        ..Body::default()
    };
    for branch in s["allOf"].as_array().into_iter().flatten() {
        let inner = body(branch, shapes);
        b.required.extend(inner.required);
        b.properties.extend(inner.properties);
    }
    for r in s["required"].as_array().into_iter().flatten() {
        b.required.insert(r.as_str().unwrap().to_owned());
    }
    if let Some(p) = s["properties"].as_object() {
        b.properties
            .extend(p.iter().map(|(k, v)| (k.clone(), shape(v, shapes).clone())));
    }
    if let Some(d) = s.get("discriminator") {
        let prop = d["propertyName"].as_str().unwrap().to_owned();
        for (value, name) in d["mapping"].as_object().unwrap() {
            let variant = body(&shapes[name.as_str().unwrap()], shapes);
            b.variants.push((prop.clone(), value.clone(), variant));
        }
    }
    b
}

fn id_for(placeholder: &str) -> Option<&'static str> {
    Some(match placeholder {
        "ticketId" => "5000000001001",
        "threadId" => "5000000002001",
        "commentId" => "5000000003001",
        "agentId" => "5000000000201",
        "departmentId" => "5000000000001",
        "contactId" => "5000000000301",
        "articleId" | "id" => "5000000000401",
        "teamId" => "5000000000101",
        p if p.ends_with("Id") => "5000000000001",
        _ => return None,
    })
}

/// `/api/v1/tickets/{ticketId}` with seed ids; `None` for a path with a non-id placeholder.
fn fill(path: &str) -> Option<String> {
    let mut out = Vec::new();
    for seg in path.split('/') {
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => out.push(id_for(name)?.to_owned()),
            None => out.push(seg.to_owned()),
        }
    }
    Some(out.join("/").trim_start_matches("/api/v1").to_owned())
}

fn types(s: &Value) -> Vec<String> {
    match &s["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A value the parameter accepts, for the required parameters of a request testing another.
fn valid(schema: &Value) -> String {
    let item = if types(schema).contains(&"array".to_owned()) {
        &schema["items"]
    } else {
        schema
    };
    if let Some(first) = item["enum"].as_array().and_then(|e| e.first()) {
        return first
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| first.to_string());
    }
    if item["format"] == "int64" {
        return "5000000000001".into();
    }
    if types(item).contains(&"integer".to_owned()) {
        return item["minimum"].as_i64().unwrap_or(1).max(1).to_string();
    }
    "abc".into()
}

struct Probe<'a> {
    env: &'a Env,
    op: &'a str,
    method: Method,
    path: String,
    problems: Vec<String>,
    cases: usize,
}

impl Probe<'_> {
    async fn send(&self, query: &[(String, String)], body: Option<Value>) -> Resp {
        let mut req = self.env.req(self.method.clone(), &self.path).query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap()).await
    }

    /// A refusal naming `field` in the message or in `errors[].fieldName`.
    async fn refused(
        &mut self,
        what: &str,
        field: &str,
        query: Vec<(String, String)>,
        body: Option<Value>,
    ) {
        self.cases += 1;
        let r = self.send(&query, body).await;
        let named = r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("'{field}'")))
            || r.body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["fieldName"] == format!("/{field}"));
        if r.status != 422 || !named {
            self.problems.push(format!(
                "{}: {what}: expected a 422 naming '{field}', got {} {}",
                self.op, r.status, r.text
            ));
        }
    }
}

#[tokio::test]
async fn every_served_operation_refuses_what_the_extract_forbids() {
    let env = small().await;
    env.sb
        .admin()
        .set_limits(10_000_000, std::time::Duration::from_secs(3600), 100);
    let mut served = BTreeSet::new();
    let mut problems = Vec::new();
    let mut cases = 0;
    for module in modules() {
        for op in &module.ops {
            let id = op["operationId"].as_str().unwrap();
            let Some(path) = fill(op["path"].as_str().unwrap()) else {
                continue;
            };
            let method = Method::from_bytes(op["method"].as_str().unwrap().as_bytes()).unwrap();
            let mut probe = Probe {
                env: &env,
                op: id,
                method,
                path,
                problems: Vec::new(),
                cases: 0,
            };
            // Served or not: the sandbox names the operation it answered as.
            let r = probe
                .send(&[("deskhandProbe".into(), "1".into())], None)
                .await;
            if r.header(zoho_desk_sandbox::OPERATION_HEADER).as_deref() != Some(id) {
                continue;
            }
            served.insert(id.to_owned());
            probe.cases += 1;
            if r.status != 422 || !r.text.contains("Extra query parameter 'deskhandProbe'") {
                probe.problems.push(format!(
                    "{id}: an undeclared query parameter: got {} {}",
                    r.status, r.text
                ));
            }

            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .collect();
            let required: Vec<(String, String)> = params
                .iter()
                .filter(|p| p["required"] == json!(true))
                .map(|p| (p["name"].as_str().unwrap().to_owned(), valid(&p["schema"])))
                .collect();
            let with = |name: &str, value: String| {
                let mut q: Vec<(String, String)> = required
                    .iter()
                    .filter(|(n, _)| n != name)
                    .cloned()
                    .collect();
                q.push((name.to_owned(), value));
                q
            };
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let s = &p["schema"];
                if p["required"] == json!(true) {
                    let q = required
                        .iter()
                        .filter(|(n, _)| n != name)
                        .cloned()
                        .collect();
                    probe
                        .refused("a required parameter left out", name, q, None)
                        .await;
                }
                let item = if types(s).contains(&"array".to_owned()) {
                    &s["items"]
                } else {
                    s
                };
                if item["enum"].is_array() && !(id == "getTickets" && name == "assignee") {
                    probe
                        .refused(
                            "a value outside the enum",
                            name,
                            with(name, "zzNotAValue".into()),
                            None,
                        )
                        .await;
                }
                if let Some(max) = s["maximum"].as_i64() {
                    probe
                        .refused(
                            "a value above the maximum",
                            name,
                            with(name, (max + 1).to_string()),
                            None,
                        )
                        .await;
                }
                if let Some(min) = s["minimum"].as_i64()
                    && !UNENFORCED_MINIMUM.contains(&(id, name))
                {
                    probe
                        .refused(
                            "a value below the minimum",
                            name,
                            with(name, (min - 1).to_string()),
                            None,
                        )
                        .await;
                }
                if let Some(max) = s["maxLength"].as_u64()
                    && max < 5000
                    && types(s) != ["array"]
                {
                    probe
                        .refused(
                            "a value over the maximum length",
                            name,
                            with(name, "a".repeat(max as usize + 1)),
                            None,
                        )
                        .await;
                }
            }

            let Some(schema) = op["requestBody"]["schema"]
                .as_object()
                .map(|o| Value::Object(o.clone()))
            else {
                problems.append(&mut probe.problems);
                cases += probe.cases;
                continue;
            };
            let b = body(&schema, &module.shapes);
            let q = required.clone();
            for (prop, value, variant) in &b.variants {
                for r in &variant.required {
                    if r != prop {
                        probe
                            .refused(
                                &format!("{prop} {value} without a required field"),
                                r,
                                q.clone(),
                                Some(json!({prop: value})),
                            )
                            .await;
                    }
                }
            }
            if let Some((prop, _, _)) = b.variants.first() {
                probe
                    .refused(
                        "an unknown variant",
                        prop,
                        q.clone(),
                        Some(json!({prop: "NOT_A_VARIANT"})),
                    )
                    .await;
            }
            for r in &b.required {
                // "Creating a ticket": `contact` may stand in for `contactId`.
                if id == "createTicket" && r == "contactId" {
                    probe
                        .refused(
                            "neither contactId nor contact",
                            r,
                            q.clone(),
                            Some(json!({"subject": "x"})),
                        )
                        .await;
                    continue;
                }
                probe
                    .refused(
                        "a required field left out",
                        r,
                        q.clone(),
                        Some(json!({"deskhandOther": null})),
                    )
                    .await;
            }
            if b.closed {
                probe
                    .refused(
                        "an undeclared field",
                        "deskhandProbe",
                        q.clone(),
                        Some(json!({"deskhandProbe": 1})),
                    )
                    .await;
            }
            for (name, s) in &b.properties {
                if s["enum"].is_array() {
                    probe
                        .refused(
                            "a value outside the enum",
                            name,
                            q.clone(),
                            Some(json!({name: "zzNotAValue"})),
                        )
                        .await;
                }
            }
            problems.append(&mut probe.problems);
            cases += probe.cases;
        }
    }
    let missing: Vec<&&str> = MUST_SERVE
        .iter()
        .filter(|o| !served.contains(**o))
        .collect();
    assert!(missing.is_empty(), "not served: {missing:?}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Not vacuous: every served operation was probed, most of them several ways.
    assert!(served.len() >= MUST_SERVE.len(), "{served:?}");
    assert!(
        cases > 3 * served.len(),
        "only {cases} cases for {} operations",
        served.len()
    );
    eprintln!(
        "{} operations served, {cases} refusals held to the extract",
        served.len()
    );
}
