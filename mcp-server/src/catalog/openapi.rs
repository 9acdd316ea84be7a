//! The integration definition as an OpenAPI 3.1 document of the raw Zoho Desk v1 endpoints.
//!
//! It exists so that OpenAPI-driven tooling (generated clients, FastMCP's `from_openapi` peer in
//! the benchmarks) sees the same endpoints, arguments and schemas the gateway's tools are built
//! from. It describes Zoho, not the gateway: paged endpoints take Zoho's `from`/`limit` and answer
//! in Zoho's envelope, where the tools take `limit`/`next_cursor` and answer `{result,
//! next_cursor}`. Composite tools are implemented in Rust over several calls, so they have no
//! endpoint and are left out.

use serde_json::{Map, Value, json};

use super::definition::{EnvelopeKey, PaginationStyle};
use super::{Catalog, MethodKind, Operation, ToolSpec};

/// Zoho's documented API root for the US data centre; other data centres differ only in the host.
pub const DEFAULT_SERVER_URL: &str = "https://desk.zoho.com/api/v1";

const SECURITY_SCHEME: &str = "zohoOAuth";
/// The gateway appends this to the descriptions of paged tools; it describes the tool's cursor,
/// which the raw endpoint does not have.
const PAGED_NOTE: &str = "\n\nPaged: returns {\"result\"";

impl Catalog {
    /// One operation per HTTP-backed tool, `operationId` = the tool name; `server_url` is the API
    /// root including `/api/v1` (for the sandbox, its base URL + `/api/v1`).
    pub fn to_openapi(&self, server_url: &str) -> Value {
        let mut paths = Map::new();
        for spec in &self.tools {
            let Some((_, op)) = self.tool(&spec.name) else {
                continue;
            };
            if op.kind == MethodKind::Composite {
                continue;
            }
            let Some(route) = &op.route else {
                continue;
            };
            let verb = route.http.as_str().to_ascii_lowercase();
            let item = paths
                .entry(route.template.clone())
                .or_insert_with(|| json!({}));
            if let Some(item) = item.as_object_mut() {
                item.insert(verb, operation(spec, op));
            }
        }
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": format!("Zoho Desk API ({} integration definition)", self.integration),
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The Zoho Desk v1 endpoints behind deskhand's MCP tools, exported from the integration definition. Every call needs `Authorization: Zoho-oauthtoken <access token>` and the `orgId` header. operationId is the name of the matching MCP tool.",
            },
            "servers": [{"url": server_url}],
            "security": [{SECURITY_SCHEME: []}],
            "paths": paths,
            "components": {
                "securitySchemes": {
                    SECURITY_SCHEME: {
                        "type": "apiKey",
                        "in": "header",
                        "name": "Authorization",
                        // Zoho's scheme word is not a registered HTTP auth scheme, so `type: http`
                        // cannot express it; an API key in the Authorization header can.
                        "description": "`Zoho-oauthtoken <access token>`, from the Zoho Accounts refresh-token grant (POST {accounts}/oauth/v2/token).",
                    }
                },
                "parameters": {
                    "orgId": {
                        "name": "orgId",
                        "in": "header",
                        "required": true,
                        "description": "The Zoho Desk organisation id.",
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    }
                },
                "schemas": {
                    "ZohoError": {
                        "type": "object",
                        "properties": {
                            "errorCode": {"type": "string"},
                            "message": {"type": "string"},
                            "errors": {"type": "array"},
                        },
                    }
                },
            },
        })
    }
}

fn operation(spec: &ToolSpec, op: &Operation) -> Value {
    let props = spec
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = spec
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    let mut parameters = vec![json!({"$ref": "#/components/parameters/orgId"})];
    if let Some(route) = &op.route {
        for name in &route.params {
            parameters.push(parameter(name, "path", true, props.get(name)));
        }
    }
    for name in &op.query_keys {
        parameters.push(parameter(
            name,
            "query",
            required.contains(&name.as_str()),
            props.get(name),
        ));
    }
    if let Some(paging) = &op.paging {
        let first = u64::from(paging.style == PaginationStyle::Offset1);
        let mut from = json!({"type": "integer", "minimum": first});
        if let Some(max) = paging.max_offset {
            from["maximum"] = json!(max);
        }
        parameters.push(json!({
            "name": "from", "in": "query", "required": false,
            "description": format!("Index of the first item (starts at {first})."),
            "schema": from,
        }));
        let s = paging.size;
        parameters.push(json!({
            "name": "limit", "in": "query", "required": false,
            "description": format!("Page size, {}–{} (Zoho's default when omitted).", s.min, s.max),
            "schema": {"type": "integer", "minimum": s.min, "maximum": s.max},
        }));
    }

    let description = match spec.description.find(PAGED_NOTE) {
        Some(cut) if op.paging.is_some() => &spec.description[..cut],
        _ => spec.description.as_str(),
    };
    let mut out = json!({
        "operationId": spec.name,
        "summary": spec.title,
        "description": description,
        "tags": spec.tags,
        "parameters": parameters,
        "responses": responses(spec, op),
    });
    if op.has_body {
        let mut body_props = Map::new();
        for key in &op.body_keys {
            if let Some(s) = props.get(key) {
                body_props.insert(key.clone(), s.clone());
            }
        }
        let body_required: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| op.body_keys.iter().any(|k| k == r))
            .collect();
        let mut schema = json!({"type": "object", "properties": body_props});
        if !body_required.is_empty() {
            schema["required"] = json!(body_required);
        }
        out["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        });
    }
    out
}

/// A parameter with its description lifted out of the schema, where OpenAPI tooling looks for it.
/// Array-capable query values are comma-separated, as Zoho expects them.
fn parameter(name: &str, location: &str, required: bool, schema: Option<&Value>) -> Value {
    let mut schema = schema.cloned().unwrap_or_else(|| json!({"type": "string"}));
    let description = schema.as_object_mut().and_then(|s| s.remove("description"));
    let mut out = json!({"name": name, "in": location, "required": required, "schema": schema});
    if let Some(d) = description {
        out["description"] = d;
    }
    if location == "query" && accepts_array(&out["schema"]) {
        out["style"] = json!("form");
        out["explode"] = json!(false);
    }
    out
}

fn accepts_array(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    }
}

fn responses(spec: &ToolSpec, op: &Operation) -> Value {
    let error = json!({
        "description": "A Zoho error (401 INVALID_OAUTH, 422, 429 THRESHOLD_EXCEEDED or TOO_MANY_REQUESTS, ...).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ZohoError"}}},
    });
    let schema = response_schema(spec, op);
    let mut ok = json!({"description": "Success."});
    if let Some(schema) = schema {
        ok["content"] = json!({"application/json": {"schema": schema}});
    }
    let mut out = json!({"200": ok, "default": error});
    if op.paging.is_some() || op.kind == MethodKind::List {
        out["204"] =
            json!({"description": "No items (Zoho answers an empty list with 204 and no body)."});
    }
    out
}

/// Zoho's own response shape, recovered from the tool's output schema: list tools (paged or
/// whole) wrap the item schema as `{result: [item]}`, which becomes Zoho's envelope again.
fn response_schema(spec: &ToolSpec, op: &Operation) -> Option<Value> {
    let output = spec.output_schema.as_ref()?;
    if op.paging.is_none() && op.kind != MethodKind::List {
        // Tool results must be objects, so a non-object response was wrapped as `{result}`.
        let wrapped = output.as_object().is_some_and(|o| o.len() == 2)
            && output.get("type").and_then(Value::as_str) == Some("object")
            && output
                .pointer("/properties/result/type")
                .and_then(Value::as_str)
                != Some("object")
            && output
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.len() == 1 && p.contains_key("result"));
        return Some(match output.pointer("/properties/result") {
            Some(inner) if wrapped => inner.clone(),
            _ => output.clone(),
        });
    }
    let item = output
        .pointer("/properties/result/items")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let key = match op.envelope {
        EnvelopeKey::Teams => "teams",
        EnvelopeKey::Data | EnvelopeKey::None => "data",
    };
    let mut props = Map::new();
    props.insert(key.into(), json!({"type": "array", "items": item}));
    if op.count {
        props.insert(
            "count".into(),
            json!({"type": ["string", "integer"], "description": "Total matches."}),
        );
    }
    Some(json!({"type": "object", "properties": props}))
}
