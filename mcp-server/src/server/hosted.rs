//! Creating hosted servers: the checks shared by `deskhand mcp servers create` and the admin API.

use crate::catalog::ToolFilter;
use crate::registry::{CreatedServer, NewServer, Registry, RegistryError, ToolExposure, database};
use crate::server::gateways::GatewayPool;

/// Truto's rule, kept here: an expiry closer than a minute is almost certainly a mistake.
const MIN_EXPIRY_MS: i64 = 60_000;

/// Names are shown in tables and logs; a bound and printable characters keep them readable.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone)]
pub struct CreateServer {
    pub name: String,
    pub connection: String,
    pub methods: Vec<String>,
    pub tags: Vec<String>,
    pub exposure: ToolExposure,
    pub require_api_token_auth: bool,
    /// Epoch milliseconds.
    pub expires_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateServerError {
    #[error("the server needs a non-empty name")]
    EmptyName,
    #[error(
        "the server name must be at most {MAX_NAME_CHARS} printable characters without control characters"
    )]
    BadName,
    #[error("{0}")]
    Filter(String),
    #[error("expires_at must be at least 60 seconds in the future")]
    ExpiryTooSoon,
    #[error("{0}")]
    Connection(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// A created server and the URL to hand to an MCP client.
#[derive(Debug, Clone)]
pub struct HostedServer {
    pub created: CreatedServer,
    pub url: String,
}

/// Validates and stores a hosted server. Refuses unknown methods and tags, filters that match no tool, unknown
/// connections and expiries in the past.
pub async fn create(
    registry: &Registry,
    gateways: &GatewayPool,
    request: CreateServer,
    public_url: &str,
) -> Result<HostedServer, CreateServerError> {
    if request.name.trim().is_empty() {
        return Err(CreateServerError::EmptyName);
    }
    if request.name.chars().count() > MAX_NAME_CHARS || request.name.chars().any(char::is_control) {
        return Err(CreateServerError::BadName);
    }
    let filter = ToolFilter::parse(&request.methods, &request.tags)
        .map_err(|e| CreateServerError::Filter(e.to_string()))?
        .with_toolset(gateways.toolset());
    gateways
        .catalog()
        .check_filter(&filter)
        .map_err(|e| CreateServerError::Filter(e.to_string()))?;
    if let Some(at) = request.expires_at
        && at < database::now_ms() + MIN_EXPIRY_MS
    {
        return Err(CreateServerError::ExpiryTooSoon);
    }
    let connection_identity = gateways
        .identity(&request.connection)
        .map_err(|e| CreateServerError::Connection(e.to_string()))?;
    let created = registry
        .create_server(NewServer {
            name: request.name,
            connection: request.connection,
            connection_identity,
            methods: request.methods,
            tags: request.tags,
            exposure: request.exposure,
            require_api_token_auth: request.require_api_token_auth,
            expires_at: request.expires_at,
        })
        .await?;
    let url = format!("{}/mcp/{}", public_url.trim_end_matches('/'), created.token);
    Ok(HostedServer { created, url })
}
