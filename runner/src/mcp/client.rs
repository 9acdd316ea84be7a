//! One MCP client session shared by every item of a run.

use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::{RunningService, ServiceError};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::mcp::connection::{self, EmbeddedServer};
use crate::mcp::error::McpError;
use crate::mcp::outcome::{ProtocolError, RateLimit, ToolOutcome, meta_ratelimit};
use crate::workflow::McpConnection;

/// A hung server must not hold an item forever; Zoho calls themselves time out well before this.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A connected MCP client. Calls take `&self`, so one session (in an `Arc`) serves all
/// concurrent items of a connection.
pub struct McpSession {
    service: RunningService<RoleClient, ()>,
    target: String,
    tools: OnceCell<Arc<Vec<Tool>>>,
    call_timeout: Duration,
}

impl McpSession {
    /// Connects as the workflow says. `embedded` supplies the gateway for the embedded kind; when
    /// `None`, it is built from `ZOHO_*` environment variables.
    pub async fn connect(
        connection: &McpConnection,
        embedded: Option<EmbeddedServer>,
    ) -> Result<McpSession, McpError> {
        let service = connection::open(connection, embedded).await?;
        Ok(McpSession {
            service,
            target: connection::describe(connection),
            tools: OnceCell::new(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The connection kind and (redacted) target, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The server's tools, fetched once: servers here do not change their list mid-run.
    pub async fn list_tools(&self) -> Result<Arc<Vec<Tool>>, McpError> {
        self.tools
            .get_or_try_init(|| async {
                let tools = tokio::time::timeout(self.call_timeout, self.service.list_all_tools())
                    .await
                    .map_err(|_| self.timeout())?
                    .map_err(|e| self.transport(e))?;
                Ok(Arc::new(tools))
            })
            .await
            .cloned()
    }

    /// Whether repeating a call of `name` cannot do harm: read-only or declared idempotent.
    /// Unknown tools and servers without annotations count as unsafe.
    pub async fn is_safe_to_repeat(&self, name: &str) -> bool {
        let Ok(tools) = self.list_tools().await else {
            return false;
        };
        tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.annotations.as_ref())
            .is_some_and(|a| a.read_only_hint == Some(true) || a.idempotent_hint == Some(true))
    }

    /// One `tools/call`, no retry. `Err` only when the connection failed; everything the server
    /// answered (tool failures, JSON-RPC errors) is a [`ToolOutcome`].
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<ToolOutcome, McpError> {
        Ok(self.call_tool_metered(name, arguments).await?.0)
    }

    /// Like [`call_tool`](Self::call_tool), with the rate-limit fields a successful result
    /// carries in its `_meta` (failures carry theirs in the outcome).
    pub async fn call_tool_metered(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<(ToolOutcome, Option<RateLimit>), McpError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        let answer = tokio::time::timeout(self.call_timeout, self.service.call_tool(params))
            .await
            .map_err(|_| self.timeout())?;
        match answer {
            Ok(result) => {
                let budget = meta_ratelimit(&result);
                Ok((ToolOutcome::from(result), budget))
            }
            Err(ServiceError::McpError(e)) => Ok((
                ToolOutcome::Protocol(ProtocolError {
                    code: e.code.0,
                    message: e.message.to_string(),
                }),
                None,
            )),
            Err(e) => Err(self.transport(e)),
        }
    }

    /// Ends the session (and a child process with it).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }

    fn transport(&self, e: ServiceError) -> McpError {
        McpError::Transport {
            target: self.target.clone(),
            reason: super::error::reason(&e),
        }
    }

    fn timeout(&self) -> McpError {
        McpError::Timeout {
            target: self.target.clone(),
            timeout: self.call_timeout,
        }
    }
}
