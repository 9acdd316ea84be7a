//! The embedded MCP server of each Zoho connection an engine serves. A `run` talks to one
//! connection; the scheduler may serve workflows on several (`connection:` in each workflow),
//! each with its own client, access token and rate gate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zoho_desk_mcp::zoho::connections::DEFAULT_NAME;

use crate::mcp::EmbeddedServer;
use crate::workflow::Workflow;

/// Builds the embedded server of one connection (`None`: the default connection).
pub type ConnectionFactory =
    Arc<dyn Fn(Option<&str>) -> anyhow::Result<EmbeddedServer> + Send + Sync>;

/// Embedded servers built on first use, one per connection, kept for the engine's lifetime so
/// each connection keeps one client and one access token.
pub struct ZohoConnections {
    make: ConnectionFactory,
    /// `--connection` given to the command: it replaces every workflow's `connection:`.
    forced: Option<String>,
    built: Mutex<HashMap<Option<String>, EmbeddedServer>>,
}

impl ZohoConnections {
    pub fn new(make: ConnectionFactory, forced: Option<String>) -> Self {
        ZohoConnections {
            make,
            forced: normalise(forced.as_deref()),
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The connection `workflow` uses: the command's `--connection`, else the workflow's
    /// `connection:`, else `None` (the default connection or the `ZOHO_*` environment).
    pub fn effective(&self, workflow: &Workflow) -> Option<String> {
        self.forced
            .clone()
            .or_else(|| normalise(workflow.connection.as_deref()))
    }

    /// The server of `workflow`'s connection, built the first time it is asked for.
    pub fn server_for(&self, workflow: &Workflow) -> anyhow::Result<EmbeddedServer> {
        self.server(self.effective(workflow))
    }

    /// The server of connection `name` (`None`: the default one).
    pub fn server(&self, name: Option<String>) -> anyhow::Result<EmbeddedServer> {
        let name = normalise(name.as_deref());
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = built.get(&name) {
            return Ok(server.clone());
        }
        let server = (self.make)(name.as_deref())?;
        built.insert(name, server.clone());
        Ok(server)
    }
}

/// `default` named explicitly is the connection used when none is named.
pub(crate) fn normalise(name: Option<&str>) -> Option<String> {
    name.map(str::trim)
        .filter(|n| !n.is_empty() && *n != DEFAULT_NAME)
        .map(str::to_owned)
}
