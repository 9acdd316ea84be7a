//! `deskhand mcp ...`: serve the Zoho Desk MCP server (stdio or Streamable HTTP) and manage
//! hosted server URLs and admin API tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zoho_desk_mcp::catalog::{Catalog, ToolFilter, Toolset};
use zoho_desk_mcp::registry::{ApiTokenRecord, Registry, ToolExposure, database};
use zoho_desk_mcp::server::hosted::{self, CreateServer};
use zoho_desk_mcp::server::http::{self, HttpOptions, HttpState};
use zoho_desk_mcp::server::listener;
use zoho_desk_mcp::server::{DEFAULT_CONNECTION, GatewayPool, Scope, ZohoDeskMcpServer, transport};
use zoho_desk_mcp::zoho::Connections;

use super::output::outln;
use crate::embedded::SandboxBackend;
use crate::shutdown;

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    command: McpCommand,
}

#[derive(Debug, Subcommand)]
enum McpCommand {
    /// Serve the MCP server over stdio (Claude Desktop, Cursor) or Streamable HTTP (ChatGPT, Claude connectors).
    Serve(ServeArgs),
    /// Manage hosted server URLs (`/mcp/<token>`) served by `mcp serve --http`.
    Servers {
        #[command(subcommand)]
        command: ServersCommand,
    },
    /// Manage admin API tokens (for `/admin` and for servers created with --require-api-token-auth).
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Export the Zoho Desk endpoints behind the tools as an OpenAPI 3.1 document (operationId = tool name).
    Openapi(OpenapiArgs),
}

#[derive(Debug, Args)]
struct OpenapiArgs {
    /// Write the document to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The API root the document's `servers` entry names (for the sandbox: its base URL + /api/v1).
    #[arg(long, default_value = zoho_desk_mcp::catalog::DEFAULT_SERVER_URL)]
    server_url: String,
}

/// Where Zoho connections and the registry come from.
#[derive(Debug, Args, Clone)]
struct ConnectionArgs {
    /// YAML file of named Zoho connections (multi-account). The environment's `ZOHO_*` settings are the connection named `default`.
    #[arg(long, env = "DESKHAND_CONNECTIONS")]
    connections: Option<PathBuf>,
    /// Database for the registry of hosted servers: a postgres:// URL, or a SQLite file (default deskhand.db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl ConnectionArgs {
    fn connections(&self) -> anyhow::Result<Connections> {
        Ok(Connections::load_or_default(self.connections.as_deref())?)
    }

    async fn registry(&self) -> anyhow::Result<Registry> {
        let url = database::database_url(self.database_url.as_deref());
        // The registry may be the first to create the store file: user-only, like the store's.
        crate::store::secure_sqlite_file(&url);
        let db = database::connect(&url).await?;
        Ok(Registry::open(db).await?)
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Serve one server on stdin/stdout.
    #[arg(long, conflicts_with = "http", required_unless_present = "http")]
    stdio: bool,
    /// Serve hosted servers over Streamable HTTP at /mcp/<token>, with the admin API at /admin.
    #[arg(long)]
    http: bool,
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// HTTP bind address.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Extra accepted Host header values (the public host name behind a proxy), comma-separated.
    /// Loopback names and the host of --public-url are always accepted.
    #[arg(long, value_delimiter = ',', env = "DESKHAND_MCP_ALLOWED_HOSTS")]
    allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the server (e.g. https://app.example.com), comma-separated.
    /// Requests without an Origin header always pass; loopback origins pass when bound to loopback.
    #[arg(long, value_delimiter = ',', env = "DESKHAND_MCP_ALLOWED_ORIGINS")]
    allowed_origins: Vec<String>,
    /// Externally visible base URL, for printed server URLs.
    #[arg(long, env = "DESKHAND_MCP_PUBLIC_URL")]
    public_url: Option<String>,
    /// stdio: method scope (read, write, or method names such as list,get,search), comma-separated.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// stdio: tag scope, comma-separated (combined with --methods by AND).
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// stdio: expose only search_tools, get_tool_schema and call_tool.
    #[arg(long)]
    discovery: bool,
    /// core (the curated tools, the default listing) or all (adds the tools generated from Zoho's
    /// OpenAPI description); for --http, every hosted server of this process.
    #[arg(long, default_value = "core")]
    toolset: Toolset,
    /// stdio: which named connection to serve (default: the environment's).
    #[arg(long)]
    connection: Option<String>,
    /// Serve against an in-process offline sandbox instead of Zoho.
    #[arg(long)]
    sandbox: bool,
    /// With --http --sandbox: print a ready-to-use server URL (full scope) at start-up.
    #[arg(long, requires = "sandbox")]
    print_url: bool,
    #[command(flatten)]
    conn: ConnectionArgs,
}

#[derive(Debug, Subcommand)]
enum ServersCommand {
    /// Create a hosted server and print its URL (with its 256-bit token) once.
    Create(CreateServerArgs),
    /// List hosted servers (tokens are never shown again).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// Delete a hosted server by its exact id (or, with --name, its exact and unique name); its URL stops working at once.
    Revoke {
        /// The server's id (`srv_...`, see `mcp servers list`).
        #[arg(required_unless_present = "name", conflicts_with = "name")]
        id: Option<String>,
        /// Revoke the one server with exactly this name instead; refused when several share it.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
}

#[derive(Debug, Args)]
struct CreateServerArgs {
    /// Unique per connection; at most 64 printable characters.
    #[arg(long)]
    name: String,
    /// Named connection (default: the environment's Zoho settings).
    #[arg(long, default_value = DEFAULT_CONNECTION)]
    connection: String,
    /// read (get, list, read-only custom), write (create, update, delete, write custom), or exact method names.
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// Resource or method tags; a tool qualifies if it carries any of them.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// When the URL stops working (ISO 8601 / RFC 3339), at least a minute ahead.
    #[arg(long)]
    expires_at: Option<String>,
    /// Clients must also send `Authorization: Bearer <api token>`.
    #[arg(long)]
    require_api_token_auth: bool,
    /// Expose search_tools / get_tool_schema / call_tool instead of every tool.
    #[arg(long)]
    discovery: bool,
    /// Base URL printed in front of /mcp/<token>.
    #[arg(
        long,
        env = "DESKHAND_MCP_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    public_url: String,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnectionArgs,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Create an admin API token and print it once.
    Create {
        #[arg(long)]
        name: String,
        /// When the token stops working (ISO 8601 / RFC 3339); must be in the future.
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// List API tokens (names, creation and expiry dates; never the tokens).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
    /// Revoke an API token by its exact id (or, with --name, its exact and unique name).
    Revoke {
        /// The token's id (`tok_...`, see `mcp tokens list`).
        #[arg(required_unless_present = "name", conflicts_with = "name")]
        id: Option<String>,
        /// Revoke the one token with exactly this name instead; refused when several share it.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        conn: ConnectionArgs,
    },
}

pub async fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        McpCommand::Serve(serve) => run_serve(serve).await,
        McpCommand::Servers { command } => run_servers(command).await,
        McpCommand::Tokens { command } => run_tokens(command).await,
        McpCommand::Openapi(args) => run_openapi(args),
    }
}

fn run_openapi(args: OpenapiArgs) -> anyhow::Result<ExitCode> {
    let document = catalog()?.to_openapi(&args.server_url);
    let text = serde_json::to_string_pretty(&document)?;
    match &args.output {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("could not write {}", path.display()))?,
        None => outln!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the served connections before serving: the stdio one, or over HTTP the `default`
/// connection and every named one in the file. A server with no usable connection refuses to
/// start with the reason.
async fn preflight_pool(pool: &GatewayPool, stdio: Option<&str>) -> anyhow::Result<()> {
    let names: Vec<String> = match stdio {
        Some(name) => vec![name.to_owned()],
        None => {
            let mut names: Vec<String> = pool.connections().names().map(str::to_owned).collect();
            if !names.iter().any(|n| n == DEFAULT_CONNECTION) {
                names.insert(0, DEFAULT_CONNECTION.to_owned());
            }
            names
        }
    };
    let mut usable = 0;
    let mut unresolved = Vec::new();
    for name in &names {
        match pool.get(name) {
            Ok(gateway) => {
                super::doctor::preflight(gateway.client())
                    .await
                    .with_context(|| format!("connection `{name}`"))?;
                usable += 1;
            }
            Err(e) => unresolved.push(format!("{e}")),
        }
    }
    if usable == 0 {
        anyhow::bail!(
            "no usable Zoho connection, so the MCP server will not start: {}; run `deskhand connect`, set the ZOHO_* variables, or pass --sandbox",
            unresolved.join("; ")
        );
    }
    Ok(())
}

/// The curated core plus the generated tools: filters pick the toolset, and `mcp openapi`
/// exports every tool.
fn catalog() -> anyhow::Result<Arc<Catalog>> {
    Ok(Arc::new(Catalog::zoho_desk_all().context(
        "the built-in Zoho Desk integration definition is invalid",
    )?))
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let catalog = catalog()?;
    // Keeps the in-process sandbox alive for as long as we serve.
    let mut sandbox = None;
    let gateways = if args.sandbox {
        let backend = SandboxBackend::start(catalog.clone()).await?;
        let pool = GatewayPool::with_gateway(backend.gateway.clone()).with_toolset(args.toolset);
        sandbox = Some(backend);
        Arc::new(pool)
    } else {
        let mut pool =
            GatewayPool::new(catalog.clone(), args.conn.connections()?).with_toolset(args.toolset);
        let url = database::database_url(args.conn.database_url.as_deref());
        let store = crate::store::Store::connect(&url)
            .await
            .context("could not open the store that shares Zoho access tokens")?;
        if let Some(vault) = super::backend::token_vault(&store) {
            pool = pool.with_token_share(vault);
        }
        let stdio = args
            .stdio
            .then(|| args.connection.as_deref().unwrap_or(DEFAULT_CONNECTION));
        preflight_pool(&pool, stdio).await?;
        Arc::new(pool)
    };

    if args.stdio {
        let filter = ToolFilter::parse(&args.methods, &args.tags)?.with_toolset(args.toolset);
        catalog.check_filter(&filter)?;
        let connection = args.connection.as_deref().unwrap_or(DEFAULT_CONNECTION);
        let gateway = gateways.get(connection)?;
        let exposure = if args.discovery {
            ToolExposure::Discovery
        } else {
            ToolExposure::All
        };
        let server = ZohoDeskMcpServer::new(gateway, Scope { filter, exposure });
        transport::serve_stdio(server).await?;
        drop(sandbox);
        return Ok(ExitCode::SUCCESS);
    }

    let registry = args.conn.registry().await?;
    let purged = registry.purge_expired().await?;
    if purged > 0 {
        tracing::info!(purged, "deleted expired MCP servers");
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port))
        .await
        .with_context(|| format!("could not listen on {}:{}", args.host, args.port))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let cancel = CancellationToken::new();
    let state = HttpState::new(
        registry.clone(),
        gateways.clone(),
        HttpOptions {
            allowed_hosts: args.allowed_hosts.clone(),
            allowed_origins: args.allowed_origins.clone(),
            loopback_bound: args.host.is_loopback(),
            public_url: public_url.clone(),
        },
        cancel.clone(),
    );
    eprintln!(
        "deskhand MCP server listening on http://{local} (MCP at /mcp/<token>, admin at /admin)"
    );
    if args.print_url {
        let created = hosted::create(
            &registry,
            &gateways,
            CreateServer {
                // Names are unique per connection; a restart on the same port needs a new one.
                name: format!(
                    "sandbox-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
                ),
                connection: DEFAULT_CONNECTION.to_owned(),
                methods: Vec::new(),
                tags: Vec::new(),
                exposure: ToolExposure::All,
                require_api_token_auth: false,
                expires_at: None,
            },
            &public_url,
        )
        .await?;
        outln!("{}", created.url);
    }
    let app = http::router(state);
    listener::serve(listener, app, async move {
        shutdown::signal().await;
        cancel.cancel();
    })
    .await
    .context("HTTP server failed")?;
    drop(sandbox);
    Ok(ExitCode::SUCCESS)
}

async fn run_servers(command: ServersCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServersCommand::Create(args) => {
            let registry = args.conn.registry().await?;
            let gateways = server_pool(args.conn.connections()?)?;
            let hosted = create_server(
                &registry,
                &gateways,
                ServerRequest {
                    name: args.name,
                    connection: args.connection,
                    methods: args.methods,
                    tags: args.tags,
                    expires_at: args.expires_at,
                    require_api_token_auth: args.require_api_token_auth,
                    discovery: args.discovery,
                },
                &args.public_url,
            )
            .await?;
            let record = &hosted.created.record;
            if args.json {
                let mut value = serde_json::to_value(record)?;
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("url".into(), hosted.url.clone().into());
                    obj.insert("token".into(), hosted.created.token.clone().into());
                }
                outln!("{value}");
            } else {
                outln!("Created MCP server {} ({})", record.name, record.id);
                outln!("URL (shown once; it is the credential):");
                outln!("  {}", hosted.url);
            }
            Ok(ExitCode::SUCCESS)
        }
        ServersCommand::List { json, conn } => {
            let registry = conn.registry().await?;
            let servers = registry.list_servers().await?;
            if json {
                outln!("{}", json!({ "result": servers }));
            } else if servers.is_empty() {
                outln!(
                    "No hosted MCP servers. Create one with `deskhand mcp servers create --name NAME`."
                );
            } else {
                outln!(
                    "{:<22} {:<20} {:<10} {:<16} {:<16} EXPIRES",
                    "ID",
                    "NAME",
                    "CONNECTION",
                    "METHODS",
                    "TAGS"
                );
                for s in servers {
                    let expires = s.expires_at.map_or_else(|| "never".into(), format_ms);
                    outln!(
                        "{:<22} {:<20} {:<10} {:<16} {:<16} {}",
                        s.id,
                        s.name,
                        s.connection,
                        or_all(&s.methods),
                        or_all(&s.tags),
                        expires
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ServersCommand::Revoke { id, name, conn } => {
            let registry = conn.registry().await?;
            let revoked = match (id, name) {
                (Some(id), _) => {
                    revoke_server(&registry, &id).await?;
                    id
                }
                (None, Some(name)) => registry.revoke_server_named(&name).await?,
                (None, None) => anyhow::bail!("name the server to revoke: its id, or --name NAME"),
            };
            outln!("Revoked {revoked}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A hosted server to create, as `mcp servers create` and the console's form give it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerRequest {
    pub name: String,
    pub connection: String,
    pub methods: Vec<String>,
    pub tags: Vec<String>,
    /// RFC 3339, at least a minute ahead.
    pub expires_at: Option<String>,
    pub require_api_token_auth: bool,
    pub discovery: bool,
}

/// The connections a created server may name. The serving process picks the toolset (`mcp
/// serve --http --toolset`), so a filter is checked against every tool.
pub(crate) fn server_pool(connections: Connections) -> anyhow::Result<GatewayPool> {
    Ok(GatewayPool::new(catalog()?, connections).with_toolset(Toolset::All))
}

/// Creates a hosted server after the catalog's checks (methods, tags, expiry, connection); the
/// result holds its URL, which is the credential and is shown once.
pub(crate) async fn create_server(
    registry: &Registry,
    gateways: &GatewayPool,
    request: ServerRequest,
    public_url: &str,
) -> anyhow::Result<hosted::HostedServer> {
    let expires_at = request
        .expires_at
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(http::parse_expiry)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    Ok(hosted::create(
        registry,
        gateways,
        CreateServer {
            name: request.name,
            connection: request.connection,
            methods: request.methods,
            tags: request.tags,
            exposure: if request.discovery {
                ToolExposure::Discovery
            } else {
                ToolExposure::All
            },
            require_api_token_auth: request.require_api_token_auth,
            expires_at,
        },
        public_url,
    )
    .await?)
}

/// Revokes a hosted server by its exact id.
pub(crate) async fn revoke_server(registry: &Registry, id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        registry.revoke_server(id).await?,
        "no MCP server has the id {id:?}; to revoke by name, use --name"
    );
    Ok(())
}

/// Creates an admin API token (shown once by the caller); `expires_at` is RFC 3339 and must be
/// in the future.
pub(crate) async fn create_token(
    registry: &Registry,
    name: &str,
    expires_at: Option<&str>,
) -> anyhow::Result<(ApiTokenRecord, String)> {
    let expires_at = expires_at
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(http::parse_expiry)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if let Some(at) = expires_at {
        anyhow::ensure!(
            at > chrono::Utc::now().timestamp_millis(),
            "--expires-at {} is in the past; give a future instant",
            format_ms(at)
        );
    }
    Ok(registry.create_api_token(name, expires_at).await?)
}

/// Revokes an API token by its exact id.
pub(crate) async fn revoke_token(registry: &Registry, id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        registry.revoke_api_token(id).await?,
        "no API token has the id {id:?}; to revoke by name, use --name"
    );
    Ok(())
}

/// An epoch-millisecond instant as RFC 3339 (UTC, whole seconds).
pub(crate) fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

pub(crate) fn or_all(items: &[String]) -> String {
    if items.is_empty() {
        "all".into()
    } else {
        items.join(",")
    }
}

async fn run_tokens(command: TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create {
            name,
            expires_at,
            json,
            conn,
        } => {
            let registry = conn.registry().await?;
            let (record, token) = create_token(&registry, &name, expires_at.as_deref()).await?;
            if json {
                let mut value = serde_json::to_value(&record)?;
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("token".into(), token.into());
                }
                outln!("{value}");
            } else {
                outln!(
                    "Created API token {} ({}); shown once:",
                    record.name,
                    record.id
                );
                outln!("  {token}");
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::List { json, conn } => {
            let registry = conn.registry().await?;
            let tokens = registry.list_api_tokens().await?;
            if json {
                outln!("{}", json!({ "result": tokens }));
            } else if tokens.is_empty() {
                outln!("No API tokens. Create one with `deskhand mcp tokens create --name NAME`.");
            } else {
                outln!("{:<22} {:<20} {:<26} EXPIRES", "ID", "NAME", "CREATED");
                for t in tokens {
                    let expires = t.expires_at.map_or_else(|| "never".into(), format_ms);
                    outln!(
                        "{:<22} {:<20} {:<26} {}",
                        t.id,
                        t.name,
                        format_ms(t.created_at),
                        expires
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke { id, name, conn } => {
            let registry = conn.registry().await?;
            let revoked = match (id, name) {
                (Some(id), _) => {
                    revoke_token(&registry, &id).await?;
                    id
                }
                (None, Some(name)) => registry.revoke_api_token_named(&name).await?,
                (None, None) => anyhow::bail!("name the token to revoke: its id, or --name NAME"),
            };
            outln!("Revoked {revoked}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
