//! What the commands that run workflows share: the store, the catalog, the embedded gateway
//! (Zoho through a saved connection and/or the environment, or an in-process sandbox with
//! `--sandbox`), and finding a workflow by file or by name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_mcp::registry::database;
use zoho_desk_mcp::zoho::connections::{DEFAULT_NAME, config_dir, default_path};
use zoho_desk_mcp::zoho::{Connections, ZohoClient, ZohoConfig};
use zoho_desk_sandbox::{SandboxConfig, SeedData};

use crate::embedded::SandboxBackend;
use crate::mcp::EmbeddedServer;
use crate::store::{Store, TokenKey, TokenVault};
use crate::workflow::{McpConnection, Workflow};

/// Options of every command that runs workflows.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Where workflows are looked up by name.
    #[arg(long, default_value = "workflows", env = "DESKHAND_WORKFLOWS")]
    pub workflows: PathBuf,
    /// Run store: a postgres:// URL, a sqlite:// URL or a file path (default deskhand.db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Work against an in-process offline Zoho Desk sandbox instead of Zoho (ZOHO_* variables).
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: load this seed file (Zoho JSON shapes) instead of the generated org.
    #[arg(long, requires = "sandbox")]
    pub sandbox_seed: Option<PathBuf>,
    #[command(flatten)]
    pub zoho: ZohoArgs,
}

/// Which Zoho connection a command talks to.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ZohoArgs {
    /// The Zoho connection to use, as saved by `deskhand connect` (default: `default`).
    /// ZOHO_* environment variables override its fields.
    #[arg(long, env = "DESKHAND_CONNECTION")]
    pub connection: Option<String>,
    /// The connections file (default: connections.yaml in the user's config directory).
    #[arg(long, env = "DESKHAND_CONNECTIONS")]
    pub connections: Option<PathBuf>,
}

impl ZohoArgs {
    pub fn name(&self) -> &str {
        self.connection.as_deref().unwrap_or(DEFAULT_NAME)
    }

    /// The connection's settings, environment variables laid over the saved ones; every missing
    /// setting is named in one sentence.
    pub fn config(&self) -> anyhow::Result<ZohoConfig> {
        if let Some(problem) = self.undefined(self.name()) {
            anyhow::bail!("{problem}");
        }
        let connections = Connections::load_or_default(self.connections.as_deref())?;
        Ok(connections.resolve_overridden(self.name(), |k| std::env::var(k).ok())?)
    }

    /// These settings for `workflow`. Precedence: `--connection` (or `DESKHAND_CONNECTION`) on
    /// the command, then the workflow's `connection:`, then the `default` connection, whose
    /// fields the `ZOHO_*` variables override (with no `default` saved, they are all of it).
    pub fn for_workflow(&self, workflow: &Workflow) -> ZohoArgs {
        ZohoArgs {
            connection: self
                .connection
                .clone()
                .or_else(|| workflow.connection.clone()),
            connections: self.connections.clone(),
        }
    }

    /// The connections file these settings read, if there is a config directory to hold one.
    pub fn connections_file(&self) -> Option<PathBuf> {
        self.connections.clone().or_else(default_path)
    }

    /// Why connection `name` cannot be used, in one sentence that names the connections file;
    /// `None` when it is defined there, or is `default` (which the environment alone may supply).
    pub fn undefined(&self, name: &str) -> Option<String> {
        if name == DEFAULT_NAME {
            return None;
        }
        let save = format!("save it with `deskhand connect --name {name}`");
        let Some(path) = self.connections_file() else {
            return Some(format!(
                "connection `{name}` is named, but there is no config directory for a connections file (set HOME or DESKHAND_CONFIG_DIR, or pass --connections)"
            ));
        };
        if !path.is_file() {
            return Some(format!(
                "connection `{name}` is not defined: there is no connections file at {}; {save}",
                path.display()
            ));
        }
        match Connections::load(&path) {
            Ok(c) if c.contains(name) => None,
            Ok(c) => {
                let names: Vec<&str> = c.names().collect();
                Some(format!(
                    "connection `{name}` is not in the connections file {} (it defines: {}); {save}",
                    path.display(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ))
            }
            Err(e) => Some(e.to_string()),
        }
    }
}

/// A Zoho client whose access token is shared with every process on `store`.
pub fn zoho_client(config: ZohoConfig, store: &Store) -> anyhow::Result<ZohoClient> {
    Ok(match token_vault(store) {
        Some(vault) => ZohoClient::with_token_share(config, vault)?,
        None => ZohoClient::new(config)?,
    })
}

/// The store as the shared token cache. Without a key (no config directory and no
/// `DESKHAND_TOKEN_KEY`, as in a bare container) each process keeps its own token, and says so.
pub fn token_vault(store: &Store) -> Option<Arc<dyn zoho_desk_mcp::zoho::TokenShare>> {
    match TokenKey::load_or_create(config_dir().as_deref()) {
        Ok(key) => Some(Arc::new(TokenVault::new(store.clone(), key, owner("zoho")))),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "Zoho access tokens are not shared between processes (set DESKHAND_TOKEN_KEY); each process spends its own of Zoho's 10 tokens per 10 minutes"
            );
            None
        }
    }
}

pub fn catalog() -> anyhow::Result<Arc<Catalog>> {
    Ok(Arc::new(Catalog::zoho_desk().context(
        "the built-in Zoho Desk integration definition is invalid",
    )?))
}

pub async fn store(args: &BackendArgs) -> anyhow::Result<Store> {
    let url = database::database_url(args.database_url.as_deref());
    Store::connect(&url)
        .await
        .with_context(|| format!("could not open the run store {}", store_name(&url)))
}

/// The store as the operator knows it: the SQLite file, or the PostgreSQL URL without its
/// password.
pub fn store_name(url: &str) -> String {
    match crate::store::sqlite_file(url) {
        Some(path) => path.display().to_string(),
        None => database::redact_url(url),
    }
}

/// The embedded gateway, if any workflow needs one. With `--sandbox` the returned backend must
/// stay alive for as long as the gateway is used.
pub async fn embedded(
    args: &BackendArgs,
    catalog: Arc<Catalog>,
    needed: bool,
) -> anyhow::Result<(Option<EmbeddedServer>, Option<SandboxBackend>)> {
    embedded_checked(args, catalog, needed, false).await
}

/// The embedded gateway for `workflow` on its Zoho connection ([`ZohoArgs::for_workflow`]),
/// if it uses the embedded server; the workflow's `connection` becomes the one in effect, so
/// its rate gate and approvals are keyed by it.
pub async fn embedded_for(
    args: &BackendArgs,
    catalog: Arc<Catalog>,
    workflow: &mut Workflow,
) -> anyhow::Result<(Option<EmbeddedServer>, Option<SandboxBackend>)> {
    let needed = uses_embedded(workflow);
    let zoho = args.zoho.for_workflow(workflow);
    if needed && !args.sandbox {
        workflow.connection = zoho.connection.clone();
    }
    let args = BackendArgs {
        zoho,
        ..args.clone()
    };
    embedded_checked(&args, catalog, needed, false).await
}

/// [`embedded`], and with `preflight` the Zoho connection is checked (a token, the org) before
/// it is returned, for commands that would otherwise fail only at their first tick.
pub async fn embedded_checked(
    args: &BackendArgs,
    catalog: Arc<Catalog>,
    needed: bool,
    preflight: bool,
) -> anyhow::Result<(Option<EmbeddedServer>, Option<SandboxBackend>)> {
    if args.sandbox {
        let mut config = SandboxConfig::default();
        if let Some(path) = &args.sandbox_seed {
            config.seed_data = Some(
                SeedData::from_path(path)
                    .with_context(|| format!("could not load the seed file {}", path.display()))?,
            );
        }
        let backend = SandboxBackend::start_with(catalog, config).await?;
        return Ok((
            Some(EmbeddedServer::new(backend.gateway.clone())),
            Some(backend),
        ));
    }
    if !needed {
        return Ok((None, None));
    }
    let config = args.zoho.config().map_err(|e| {
        anyhow::anyhow!(
            "the workflow uses the embedded MCP server, which needs a Zoho connection: {e:#} (or pass --sandbox to work offline)"
        )
    })?;
    let store = store(args).await?;
    let client = zoho_client(config, &store)?;
    if preflight {
        super::doctor::preflight(&client).await?;
    }
    let server = EmbeddedServer::new(Arc::new(zoho_desk_mcp::catalog::Gateway::new(
        catalog, client,
    )));
    Ok((Some(server), None))
}

/// A workflow named on the command line: a file path, or the `name:` of a workflow in `dir`.
pub fn find_workflow(target: &str, dir: &Path, catalog: &Catalog) -> anyhow::Result<Workflow> {
    let path = Path::new(target);
    if path.is_file() {
        return Ok(Workflow::load(path, catalog)?);
    }
    let results = Workflow::load_each(dir, catalog)
        .with_context(|| format!("could not read the workflows directory {}", dir.display()))?;
    let mut known = Vec::new();
    for (file, result) in results {
        match result {
            Ok(w) if w.name == target => return Ok(w),
            Ok(w) => known.push(w.name),
            Err(e) => {
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                if stem == target {
                    return Err(e.into());
                }
            }
        }
    }
    anyhow::bail!(
        "no workflow named `{target}` in {} (found: {})",
        dir.display(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

/// Whether a workflow reaches Zoho through the embedded server.
pub fn uses_embedded(workflow: &Workflow) -> bool {
    matches!(workflow.mcp, McpConnection::Embedded)
}

/// Names this process in leases and runs.
pub fn owner(kind: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{kind}:{host}:{}", std::process::id())
}
