//! Discovery mode: three meta-tools instead of the whole catalog, for clients that cannot hold
//! dozens of tool definitions in context. Scope filters apply to what they find and call.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::catalog::ToolError;
use crate::server::handler::{RateLimitSlot, ZohoDeskMcpServer, error_result, to_rmcp_tool};

pub const SEARCH_TOOLS: &str = "search_tools";
pub const GET_TOOL_SCHEMA: &str = "get_tool_schema";
pub const CALL_TOOL: &str = "call_tool";

const DEFAULT_SEARCH_LIMIT: usize = 10;
const MAX_SCHEMA_NAMES: usize = 5;

fn object_schema(value: Value) -> Arc<Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

/// The three meta-tools.
pub fn tools() -> Vec<Tool> {
    let read = |title: &str| {
        ToolAnnotations::with_title(title)
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false)
    };
    vec![
        Tool::new(
            SEARCH_TOOLS,
            "Find Zoho Desk tools by what they do. Returns names and one-line descriptions; fetch full input schemas with get_tool_schema.",
            object_schema(json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "description": "Words describing the task, e.g. 'assign ticket to agent'."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": DEFAULT_SEARCH_LIMIT}
                },
                "required": ["query"],
                "additionalProperties": false
            })),
        )
        .with_annotations(read("Search tools")),
        Tool::new(
            GET_TOOL_SCHEMA,
            "Get the full definitions (description, input schema, hints) of 1 to 5 tools by name.",
            object_schema(json!({
                "type": "object",
                "properties": {
                    "tool_names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_SCHEMA_NAMES}
                },
                "required": ["tool_names"],
                "additionalProperties": false
            })),
        )
        .with_annotations(read("Get tool schema")),
        Tool::new(
            CALL_TOOL,
            "Call a Zoho Desk tool found with search_tools, with arguments matching its input schema.",
            object_schema(json!({
                "type": "object",
                "properties": {
                    "tool_name": {"type": "string"},
                    "arguments": {"type": "object"}
                },
                "required": ["tool_name"],
                "additionalProperties": false
            })),
        )
        // call_tool can reach write tools, so it cannot promise to be read-only.
        .with_annotations(
            ToolAnnotations::with_title("Call tool")
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
    ]
}

fn invalid(message: String) -> CallToolResult {
    error_result(&ToolError::InvalidArguments {
        message,
        allowed_keys: Vec::new(),
    })
}

/// Handles a `tools/call` on a discovery-mode server.
pub async fn call(
    server: &ZohoDeskMcpServer,
    name: &str,
    mut args: Map<String, Value>,
    slot: Option<&RateLimitSlot>,
) -> Result<CallToolResult, ErrorData> {
    match name {
        SEARCH_TOOLS => {
            let Some(query) = args.get("query").and_then(Value::as_str) else {
                return Ok(invalid("search_tools needs a string `query`".into()));
            };
            let limit = match args.get("limit") {
                None => DEFAULT_SEARCH_LIMIT,
                Some(v) => match v.as_u64() {
                    Some(n @ 1..=50) => n as usize,
                    _ => return Ok(invalid("`limit` must be an integer from 1 to 50".into())),
                },
            };
            let found: Vec<Value> = server
                .catalog()
                .search(query, limit, &server.scope().filter)
                .into_iter()
                .map(|spec| {
                    json!({
                        "name": spec.name,
                        "description": spec.description.lines().next().unwrap_or_default(),
                        "read_only": spec.annotations.read_only,
                    })
                })
                .collect();
            Ok(CallToolResult::structured(json!({ "tools": found })))
        }
        GET_TOOL_SCHEMA => {
            let names: Vec<String> = match args.get("tool_names").and_then(Value::as_array) {
                Some(items) if (1..=MAX_SCHEMA_NAMES).contains(&items.len()) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    return Ok(invalid(format!(
                        "`tool_names` must be an array of 1 to {MAX_SCHEMA_NAMES} tool names"
                    )));
                }
            };
            let mut tools = Vec::new();
            for name in &names {
                match server.tool_in_scope(name) {
                    Some(spec) => {
                        tools.push(serde_json::to_value(to_rmcp_tool(spec)).map_err(|e| {
                            ErrorData::internal_error(format!("tool {name}: {e}"), None)
                        })?)
                    }
                    None => return Ok(invalid(format!("unknown tool: {name}"))),
                }
            }
            Ok(CallToolResult::structured(json!({ "tools": tools })))
        }
        CALL_TOOL => {
            let Some(Value::String(tool)) = args.remove("tool_name") else {
                return Ok(invalid("call_tool needs a string `tool_name`".into()));
            };
            let arguments = match args.remove("arguments") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(map)) => map,
                Some(_) => return Ok(invalid("`arguments` must be an object".into())),
            };
            if let Some(extra) = args.keys().next() {
                return Ok(invalid(format!(
                    "unknown key `{extra}`; call_tool takes `tool_name` and `arguments`"
                )));
            }
            if server.tool_in_scope(&tool).is_none() {
                return Ok(invalid(format!(
                    "unknown tool: {tool} (use search_tools to find available tools)"
                )));
            }
            Ok(server.run_tool(&tool, arguments, slot).await)
        }
        other => Err(ErrorData::invalid_params(
            format!(
                "unknown tool: {other} (this server is in discovery mode: use search_tools, get_tool_schema and call_tool)"
            ),
            None,
        )),
    }
}
