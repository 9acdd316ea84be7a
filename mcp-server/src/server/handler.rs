//! The rmcp `ServerHandler`: lists the tools in scope and routes `tools/call` to the gateway.
//!
//! The handler is the same for every transport; what differs is where its [`Scope`] comes from
//! (command-line flags for stdio and in-process, the hosted server record for HTTP).

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, Gateway, ToolError, ToolFilter, ToolSpec, Toolset};
use crate::registry::ToolExposure;
use crate::server::discovery;
use crate::zoho::RateLimitInfo;

/// Which tools a server exposes and how.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub filter: ToolFilter,
    pub exposure: ToolExposure,
}

/// Filled by the handler when a tool call met an upstream 429, so the HTTP layer can repeat the
/// limit in `ratelimit-*` response headers. Inserted into the HTTP request's extensions.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(pub Arc<Mutex<Option<(RateLimitInfo, bool)>>>);

impl RateLimitSlot {
    /// The fields, and whether they came with a 429 (then `retry-after` is sent too).
    pub fn take(&self) -> Option<(RateLimitInfo, bool)> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
    fn put(&self, info: RateLimitInfo, limited: bool) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((info, limited));
        }
    }
}

/// The Zoho Desk MCP server for one connection and one scope.
#[derive(Clone)]
pub struct ZohoDeskMcpServer {
    gateway: Arc<Gateway>,
    scope: Arc<Scope>,
    /// The rmcp tool definitions in scope, computed once: `tools/list` is called often and the
    /// catalog does not change while the process runs.
    listed: Arc<Vec<Tool>>,
}

impl ZohoDeskMcpServer {
    pub fn new(gateway: Arc<Gateway>, mut scope: Scope) -> Self {
        // Discovery lists three tools whatever the catalog holds, so it searches and calls every
        // tool in the filter's methods and tags, generated ones included.
        if scope.exposure == ToolExposure::Discovery {
            scope.filter = scope.filter.with_toolset(Toolset::All);
        }
        let listed = match scope.exposure {
            ToolExposure::All => gateway
                .catalog()
                .filtered(&scope.filter)
                .into_iter()
                .map(to_rmcp_tool)
                .collect(),
            ToolExposure::Discovery => discovery::tools(),
        };
        ZohoDeskMcpServer {
            gateway,
            scope: Arc::new(scope),
            listed: Arc::new(listed),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        self.gateway.catalog()
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The tools this server lists, as MCP sees them.
    pub fn listed_tools(&self) -> &[Tool] {
        &self.listed
    }

    /// The catalog entry for `name` if it is inside this server's scope.
    pub fn tool_in_scope(&self, name: &str) -> Option<&ToolSpec> {
        self.catalog()
            .get(name)
            .filter(|spec| self.scope.filter.allows(spec))
    }

    /// Runs a tool in scope and shapes the outcome as an MCP tool result. Upstream failures and
    /// bad arguments become `isError` results that the model can read and act on.
    pub async fn run_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        slot: Option<&RateLimitSlot>,
    ) -> CallToolResult {
        match self.gateway.call_metered(name, arguments).await {
            (Ok(value), seen) => {
                let mut result = CallToolResult::structured(value);
                if let Some(info) = seen.filter(|i| !i.is_empty()) {
                    let mut meta = rmcp::model::MetaObject::new();
                    meta.0.insert("ratelimit".into(), ratelimit_json(&info));
                    result.meta = Some(meta);
                    if let Some(slot) = slot {
                        slot.put(info, false);
                    }
                }
                result
            }
            (Err(err), _) => {
                if let (ToolError::Upstream(up), Some(slot)) = (&err, slot)
                    && up.status == 429
                {
                    slot.put(up.ratelimit.unwrap_or_default(), true);
                }
                error_result(&err)
            }
        }
    }
}

/// The rate-limit fields as the `ratelimit` object of a result's `_meta`: the same names as in
/// an error's structured content, only the known ones.
fn ratelimit_json(info: &RateLimitInfo) -> Value {
    let fields = [
        ("limit", info.limit),
        ("remaining", info.remaining),
        ("reset", info.reset),
        ("retry_after", info.retry_after),
        ("weight", info.weight),
    ];
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), json!(v))))
            .collect(),
    )
}

/// An `isError` result whose text starts with one readable sentence for the model, followed by
/// the same structured object that `structuredContent` carries.
pub fn error_result(err: &ToolError) -> CallToolResult {
    let structured = err.to_structured();
    let mut result = CallToolResult::structured_error(structured.clone());
    result.content = vec![ContentBlock::text(format!("{err}\n{structured}"))];
    result
}

/// Converts a catalog entry into the MCP tool definition, with every hint set explicitly
/// (ChatGPT's app review requires all three of readOnly, destructive and openWorld).
pub fn to_rmcp_tool(spec: &ToolSpec) -> Tool {
    let schema = match &spec.input_schema {
        Value::Object(map) => map.clone(),
        _ => json!({"type": "object", "additionalProperties": false})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let hints = &spec.annotations;
    let mut tool = Tool::new(
        spec.name.clone(),
        spec.description.clone(),
        Arc::new(schema),
    )
    .with_title(spec.title.clone())
    .with_annotations(
        ToolAnnotations::with_title(spec.title.clone())
            .read_only(hints.read_only)
            .destructive(hints.destructive)
            .idempotent(hints.idempotent)
            .open_world(hints.open_world),
    );
    if let Some(Value::Object(out)) = &spec.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(out.clone()));
    }
    tool
}

fn rate_limit_slot(ctx: &RequestContext<RoleServer>) -> Option<RateLimitSlot> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RateLimitSlot>())
        .cloned()
}

impl ServerHandler for ZohoDeskMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("zoho-desk", env!("CARGO_PKG_VERSION"))
                    .with_title("Zoho Desk (deskhand)"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.listed.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.listed.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let slot = rate_limit_slot(&ctx);
        let arguments = request.arguments.unwrap_or_default();
        if self.scope.exposure == ToolExposure::Discovery {
            return discovery::call(self, &request.name, arguments, slot.as_ref())
                .await
                .map(Into::into);
        }
        if self.tool_in_scope(&request.name).is_none() {
            return Err(not_in_scope(&request.name));
        }
        Ok(self
            .run_tool(&request.name, arguments, slot.as_ref())
            .await
            .into())
    }
}

/// The JSON-RPC error for a tool that is not listed here: unknown, or filtered out by the
/// server's methods and tags (filters hold on every call, not only on `tools/list`).
pub fn not_in_scope(name: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("unknown tool: {name} (not available on this MCP server)"),
        None,
    )
}

const INSTRUCTIONS: &str = "Zoho Desk tools. Arguments are one flat object; unknown keys are refused with the list of allowed keys. \
List tools take `limit` and `next_cursor` and return {result, next_cursor}; pass next_cursor back unchanged to get the next page; it is absent on the last page. \
Failures come back as isError results with {status, errorCode, message, errors?, ratelimit?}. \
This server never retries: on status 429, wait `ratelimit.retry_after` (or `ratelimit.reset`) seconds before calling again.";
