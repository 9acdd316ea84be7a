//! What the commands that run workflows share: the store, the catalog, the embedded gateway
//! (Zoho from the environment, or an in-process sandbox with `--sandbox`), and finding a workflow
//! by file or by name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use zoho_desk_mcp::catalog::Catalog;
use zoho_desk_mcp::registry::database;
use zoho_desk_sandbox::{SandboxConfig, SeedData};

use crate::embedded::SandboxBackend;
use crate::mcp::EmbeddedServer;
use crate::store::Store;
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
    let server = EmbeddedServer::from_env().context(
        "the workflow uses the embedded MCP server, which needs Zoho credentials (ZOHO_* variables); pass --sandbox to work offline",
    )?;
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
