//! How the agent reaches the Zoho Desk MCP server.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpConnection {
    /// The MCP server in this process (no network hop, the tool list is known at load time).
    #[default]
    Embedded,
    /// Streamable HTTP; a hosted server URL carries its own token.
    Url {
        url: String,
        bearer_token_env: Option<String>,
    },
    /// A child process speaking MCP over stdio.
    Command {
        command: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

impl McpConnection {
    /// Whether the tool list is known without connecting (only the embedded catalog is).
    pub fn is_embedded(&self) -> bool {
        matches!(self, McpConnection::Embedded)
    }
}
