//! Opening an MCP client session for each kind of workflow connection.

use std::sync::Arc;

use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use zoho_desk_mcp::catalog::{Catalog, Gateway};
use zoho_desk_mcp::server::{Scope, ZohoDeskMcpServer, transport};
use zoho_desk_mcp::zoho::{ZohoClient, ZohoConfig};

use crate::mcp::error::{McpError, redact_url};
use crate::workflow::McpConnection;

/// What the embedded connection serves: a gateway and the scope of tools it exposes. Production
/// builds it from the environment; the demo and tests hand in a sandbox gateway.
#[derive(Clone)]
pub struct EmbeddedServer {
    pub gateway: Arc<Gateway>,
    pub scope: Scope,
}

impl EmbeddedServer {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        EmbeddedServer {
            gateway,
            scope: Scope::default(),
        }
    }

    /// The real Zoho Desk for resolved settings, with access tokens shared through `share`
    /// (the run store) when given.
    pub fn from_config(
        config: ZohoConfig,
        share: Option<Arc<dyn zoho_desk_mcp::zoho::TokenShare>>,
    ) -> Result<Self, McpError> {
        let catalog = Catalog::zoho_desk().map_err(|e| McpError::Embedded(e.to_string()))?;
        let client = match share {
            Some(share) => ZohoClient::with_token_share(config, share),
            None => ZohoClient::new(config),
        }
        .map_err(|e| McpError::Embedded(e.to_string()))?;
        Ok(EmbeddedServer::new(Arc::new(Gateway::new(
            Arc::new(catalog),
            client,
        ))))
    }

    /// The real Zoho Desk from `ZOHO_*` variables, with every documented tool in scope (the
    /// workflow's allow-list narrows what the model sees).
    pub fn from_env() -> Result<Self, McpError> {
        let catalog = Catalog::zoho_desk().map_err(|e| McpError::Embedded(e.to_string()))?;
        let config = ZohoConfig::from_env().map_err(|e| McpError::Embedded(e.to_string()))?;
        let client = ZohoClient::new(config).map_err(|e| McpError::Embedded(e.to_string()))?;
        Ok(EmbeddedServer::new(Arc::new(Gateway::new(
            Arc::new(catalog),
            client,
        ))))
    }
}

/// Where a session goes, for messages and logs: kind plus a redacted target.
pub(crate) fn describe(connection: &McpConnection) -> String {
    match connection {
        McpConnection::Embedded => "the embedded MCP server".to_owned(),
        McpConnection::Url { url, .. } => format!("the MCP server at {}", redact_url(url)),
        McpConnection::Command { command, .. } => {
            format!("the MCP server command `{}`", command_line(command))
        }
    }
}

fn command_line(command: &[String]) -> String {
    command.join(" ")
}

pub(crate) async fn open(
    connection: &McpConnection,
    embedded: Option<EmbeddedServer>,
) -> Result<RunningService<RoleClient, ()>, McpError> {
    match connection {
        McpConnection::Embedded => {
            let embedded = match embedded {
                Some(e) => e,
                None => EmbeddedServer::from_env()?,
            };
            let server = ZohoDeskMcpServer::new(embedded.gateway, embedded.scope);
            transport::connect_in_process(server)
                .await
                .map_err(|e| McpError::Handshake {
                    target: describe(connection),
                    reason: e.to_string(),
                })
        }
        McpConnection::Url {
            url,
            bearer_token_env,
        } => open_http(url, bearer_token_env.as_deref()).await,
        McpConnection::Command { command, env } => {
            let Some((program, args)) = command.split_first() else {
                return Err(McpError::EmptyCommand);
            };
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args).envs(env);
            let (child, _stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::inherit())
                .spawn()
                .map_err(|e| McpError::Spawn {
                    command: command_line(command),
                    reason: e.to_string(),
                })?;
            ().serve(child).await.map_err(|e| McpError::Handshake {
                target: describe(connection),
                reason: super::error::reason(&e),
            })
        }
    }
}

async fn open_http(
    url: &str,
    bearer_token_env: Option<&str>,
) -> Result<RunningService<RoleClient, ()>, McpError> {
    let shown = redact_url(url);
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => return Err(McpError::InvalidUrl { url: shown }),
    }
    let token = match bearer_token_env {
        Some(name) => Some(
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| McpError::MissingToken {
                    name: name.to_owned(),
                    url: shown.clone(),
                })?,
        ),
        None => None,
    };
    // reqwest is built without a TLS provider; the transport builds its client right here.
    zoho_desk_mcp::install_crypto_provider();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = &token {
        config = config.auth_header(token.clone());
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| {
        let mut reason = handshake_reason(&e).replace(url, &shown);
        if let Some(token) = &token {
            reason = reason.replace(token.as_str(), "***");
        }
        McpError::Handshake {
            target: format!("the MCP server at {shown}"),
            reason,
        }
    })
}

/// rmcp keeps the HTTP client's error as text in its message, not as a source, so "error sending
/// request" would arrive without why; the client error is dug out and told with its causes.
fn handshake_reason(e: &rmcp::service::ClientInitializeError) -> String {
    use rmcp::service::ClientInitializeError;
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let text = super::error::reason(e);
    let ClientInitializeError::TransportError { error, .. } = e else {
        return text;
    };
    match error
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        // Its own words are already in `text`; what is missing is the cause below them.
        Some(StreamableHttpError::Client(client)) => match std::error::Error::source(client) {
            Some(cause) => format!("{text}: {}", super::error::reason(cause)),
            None => text,
        },
        _ => text,
    }
}
